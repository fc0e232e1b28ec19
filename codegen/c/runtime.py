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
class RuntimeType:
    """One floating type's part of the runtime: its activations and its functions' prototypes by stem."""

    c: CType
    fast: FastActivations | None
    protos: dict[str, str]


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
    return tuple(RuntimeType(ct, fast_activations(ct), {stem: prototype(stem, ps, ct) for stem, ps in FUNCTIONS})
                 for ct in CTYPES)


def runtime_files() -> dict[str, str]:
    """The two runtime files, keyed by their path under generated/."""
    types = runtime_types()
    return {f"c/{HEADER}": render("c/runtime.h.jinja", types=types),
            f"c/{SOURCE}": render("c/runtime.c.jinja", types=types)}
