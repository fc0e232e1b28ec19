"""generated/c/symcell_runtime.{c,h}: the products and activations every cell's kernels share, rendered once.

The runtime is cell-independent: the same two files serve every cell, compiled once and linked with any
number of <cell>.c (symcell.cbuild caches it as one object per build configuration). Its exported
functions are listed here once; the header's prototypes and the definitions' signatures are both printed
from this list, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..render import render
from . import approx
from .printer import CTYPES, FLOAT, CType

#: Names of the runtime's two files under generated/c/.
SOURCE, HEADER = "symcell_runtime.c", "symcell_runtime.h"
#: Every exported function's name starts with this (then the stem and the type suffix).
RT_PREFIX = "symcell_rt_"

#: (stem, parameters) of each exported function, ``R`` standing for the floating type.
FUNCTIONS = (
    ("gemm_nn", "size_t M, size_t N, size_t K, const R *A, size_t lda, const R *B, size_t ldb, R *C, size_t ldc"),
    ("gemm_tn", "size_t M, size_t N, size_t K, const R *A, size_t lda, const R *B, size_t ldb, R *C, size_t ldc"),
    ("pack", "size_t K, size_t N, const R *W, size_t rs, size_t cs, R *Wp"),
    ("gemm_packed", "size_t M, size_t N, size_t K, const R *restrict A, size_t lda, const R *restrict Bp, "
                    "const R *restrict bias, int acc, const R *restrict add, R *restrict C, size_t ldc, size_t groups"),
    ("rows", "size_t M, size_t N, const R *v, R *C, size_t ldc"),
    ("copy", "size_t n, const R *src, R *dst, int add"),
    ("colsum", "size_t M, size_t N, const R *restrict A, size_t lda, R *restrict out"),
)


@dataclass(frozen=True)
class FastActivations:
    """The printed float tanh and sigmoid (codegen.c.approx) and the error bound the tests hold them to."""

    tanh: tuple[str, ...]
    sigmoid: tuple[str, ...]
    bound: float


@dataclass(frozen=True)
class Chain:
    """One chain of sums of a one-row product: sums s<index>, reading a[<k>] and the panel's row <row>."""

    index: int
    k: str
    row: str


@dataclass(frozen=True)
class RowFunction:
    """A one-row product over a packed panel of ``width`` columns with its sums in independent chains (k mod the
    chain count), added at the end in a fixed order: two chains for full panels, four for narrow ones."""

    name: str
    width: str
    chains: tuple[Chain, ...]
    declare: str  # the chains' sum arrays
    zero: str  # the statement clearing them
    total: str  # the chains' sum, in its order


def row_function(name: str, width: str, n: int) -> RowFunction:
    chains = tuple(Chain(c, f"k + {c}" if c else "k", f"(k + {c})" if c else "k") for c in range(n))
    pairs = [f"s{c}[l] + s{c + 1}[l]" for c in range(0, n, 2)]
    return RowFunction(name, width, chains, ", ".join(f"s{c}[{width}]" for c in range(n)),
                       " = ".join(f"s{c}[l]" for c in range(n)) + " = 0",
                       pairs[0] if len(pairs) == 1 else " + ".join(f"({p})" for p in pairs))


ROWS = (row_function("sc_row", "SC_NR", 2), row_function("sc_row_half", "SC_NR / 2", 4),
        row_function("sc_row_quarter", "SC_NR / 4", 4))


@dataclass(frozen=True)
class RuntimeType:
    """One floating type's part of the runtime: its activations, its functions' prototypes by stem, the one-row
    products, its FMA macro and its BLAS GEMM."""

    c: CType
    fast: FastActivations | None
    protos: dict[str, str]
    rows: tuple[RowFunction, ...] = ROWS
    fma: str = "SC_FMA_D"
    gemm: str = "dgemm"


def fast_activations(ctype: CType) -> FastActivations | None:
    """float's vectorizable activations; None for double, which keeps libm."""
    if ctype is not FLOAT:
        return None
    return FastActivations(tuple(approx.tanh_lines()), tuple(approx.sigmoid_lines()), approx.MAX_ABS_ERROR)


def prototype(stem: str, params: str, ctype: CType) -> str:
    """``void symcell_rt_<stem>_<suffix>(<params with R as ctype>)``."""
    typed = ", ".join(" ".join(ctype.name if w == "R" else w for w in p.split(" ")) for p in params.split(", "))
    return f"void {RT_PREFIX}{stem}_{ctype.suffix}({typed})"


def runtime_types() -> tuple[RuntimeType, ...]:
    return tuple(RuntimeType(ct, fast_activations(ct), {stem: prototype(stem, ps, ct) for stem, ps in FUNCTIONS},
                             fma="SC_FMA" if ct is FLOAT else "SC_FMA_D", gemm="sgemm" if ct is FLOAT else "dgemm")
                 for ct in CTYPES)


def runtime_files() -> dict[str, str]:
    """The two runtime files, keyed by their path under generated/."""
    types = runtime_types()
    return {f"c/{HEADER}": render("c/runtime.h.jinja", types=types),
            f"c/{SOURCE}": render("c/runtime.c.jinja", types=types)}
