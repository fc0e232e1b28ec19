"""Print kernels as C99 statements for one (batch, unit) element.

The template owns the loops over batch x hidden and the GEMMs; this module owns the text of the
elementwise math. Every value a kernel reads is loaded into a local first, so an element only ever
reads its own index of a buffer before writing it (in-place state updates stay correct).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy
from sympy.codegen.ast import float32, float64, real
from sympy.printing.c import C99CodePrinter

from ..schedule import Kernel

#: Names the generated C uses itself (loop indices, buffers, helpers) all start with this prefix.
PREFIX = "sc_"

_LIBM = {"exp", "expf", "tanh", "tanhf", "fabs", "fabsf", "pow", "powf", "sqrt", "sqrtf", "log", "logf"}
_MACROS = {"NULL", "EOF", "NAN", "INFINITY", "HUGE_VAL", "errno", "assert", "size_t"}


@dataclass(frozen=True)
class CType:
    """One C floating type: its name, the suffix of its functions and the sympy type it aliases."""

    name: str  # "double" / "float"
    suffix: str  # appended to every exported and static function: "f64" / "f32"
    numpy: str  # numpy dtype name


DOUBLE = CType("double", "f64", "float64")
FLOAT = CType("float", "f32", "float32")
CTYPES = (DOUBLE, FLOAT)


def c_name(name: str) -> str:
    """A cell symbol as a C identifier: names that could clash with C gain a trailing underscore.

    The mapping is injective: an escaped name is itself reserved, so no plain name can equal it.
    """
    base = name.rstrip("_")
    reserved = base in C99CodePrinter.reserved_words or base in _LIBM or base in _MACROS
    return name + "_" if reserved or name.startswith(PREFIX) else name


class CKernelPrinter(C99CodePrinter):
    """C99CodePrinter with symcell's activations, for one floating type."""

    def __init__(self, ctype: CType, fast: bool = False):
        alias = float64 if ctype is DOUBLE else float32
        super().__init__(settings={"type_aliases": {real: alias}})
        self.ctype = ctype
        self.fast = fast  # float only: tanh is the vectorizable helper of codegen.c.approx, not libm

    def _print_tanh(self, expr):
        if self.fast:
            return f"{PREFIX}tanh_{self.ctype.suffix}({self._print(expr.args[0])})"
        return super()._print_tanh(expr)  # libm's tanh / tanhf

    def _print_Symbol(self, expr):  # escape C keywords and our own sc_ names (see c_name)
        return c_name(expr.name)

    def _print_sigmoid(self, expr):  # the stable helper: exp only ever of -|x|, no overflow
        return f"{PREFIX}sigmoid_{self.ctype.suffix}({self._print(expr.args[0])})"

    def _print_relu(self, expr):  # NaN propagates as in numpy.maximum; no fmax, which drops NaN
        return f"{PREFIX}relu_{self.ctype.suffix}({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):  # H(0) = 0, as the relu derivative needs; NaN propagates
        return f"{PREFIX}step_{self.ctype.suffix}({self._print(expr.args[0])})"

    def _print_Pow(self, expr):  # x*x rather than pow(x, 2): exact, fast, as NumPy computes x**2
        base, e = expr.args
        if e.is_Integer and 2 <= int(e) <= 4:
            b = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Mul"] + 1)
            return "(" + "*".join([b] * int(e)) + ")"
        return super()._print_Pow(expr)

    def _print_Rational(self, expr):  # one literal (0.5), not a division (1.0/2.0)
        text = repr(float(expr))
        return text + ("F" if self.ctype is FLOAT else "")


def print_kernel(kernel: Kernel, bindings: dict[str, str | None], ctype: CType, fast: bool = False) -> list[str]:
    """The body of the per-element loop: load inputs, then one line per statement.

    Args:
        bindings: name -> C lvalue for this element (e.g. ``sc_S1[sc_u]``); ``None`` means the
            value is not stored anywhere (a tape slot in a kernel that keeps no tape).
        fast: print tanh as ``sc_tanh_f32`` (float only; the template then defines the fast helpers).
    """
    if fast and ctype is not FLOAT:
        raise ValueError("fast activations exist for float only")
    printer = CKernelPrinter(ctype, fast)
    t = ctype.name
    stmts = _live(kernel, bindings)
    used = {str(f) for s in stmts for f in s.expr.free_symbols}
    lines = [f"const {t} {c_name(n)} = {bindings[n]};" for n in kernel.inputs if n in used]
    stored = {s.target for s in stmts if s.role == "accumulate"}
    if used & stored:
        raise AssertionError(f"a statement reads an accumulated output {sorted(used & stored)}")
    for s in stmts:
        code = printer.doprint(s.expr)
        if s.role == "accumulate":
            lines.append(f"{bindings[s.target]} += {code};")
            continue
        name = c_name(s.target)
        lines.append(f"const {t} {name} = {code};")
        if bindings.get(s.target) is not None:
            lines.append(f"{bindings[s.target]} = {name};")
    return lines


def _live(kernel: Kernel, bindings: dict[str, str | None]) -> list:
    """The statements whose value is stored or read by a stored one (drops unbound tape copies)."""
    live: list = []
    needed: set[str] = set()
    for s in reversed(kernel.stmts):
        if s.role != "temp" and s.target not in bindings:
            raise KeyError(f"no C binding for {s.target!r}")
        if bindings.get(s.target) is not None or s.target in needed:
            live.append(s)
            needed |= {str(f) for f in s.expr.free_symbols}
    return live[::-1]
