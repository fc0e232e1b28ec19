"""Print kernels as NumPy statements on (B, H) arrays.

Each kernel becomes a Python function over whole (batch x hidden) slices: the template owns the loops
over time and the GEMMs; this module owns the text of the elementwise math.
"""

from __future__ import annotations

import sympy
from sympy.printing.numpy import NumPyPrinter

from derive import relu, sigmoid

from .schedule import Kernel, Stmt

#: Primitive helpers the printed code calls; rendered once into generated/numpy/_runtime.py.
SIGMOID_SOURCE = '''\
def _sigmoid(x, out=None):
    """Logistic sigmoid as 1/(1 + exp(-x)) in four passes over ``out`` (the exp(-|x|) form with a
    where() took seven and twice the time; this is on every step of the gated cells). Relatively accurate
    for x << 0 too, down to the smallest normal number: below it exp(-x) overflows to inf and the result
    is 0, not a subnormal. The caller silences that overflow: the cell modules' forward() enters
    ``numpy.errstate(over="ignore")`` once around its time loop (entering it here, on every call, took
    1 us of the 6 a (32, 128) float32 sigmoid took)."""
    out = numpy.exp(numpy.negative(x, out=out), out=out)
    out += 1
    return numpy.reciprocal(out, out=out)
'''


class KernelPrinter(NumPyPrinter):
    """NumPyPrinter with symcell's activations and plain float literals."""

    def _print_sigmoid(self, expr):  # the helper: 1/(1 + exp(-x)), accurate for x << 0
        return f"_sigmoid({self._print(expr.args[0])})"

    def _print_relu(self, expr):  # max(x, 0) keeps the dtype; Max() would print a reduce
        return f"numpy.maximum({self._print(expr.args[0])}, 0)"

    def _print_Heaviside(self, expr):  # H(0) = 0 here, as the relu derivative needs
        return f"numpy.heaviside({self._print(expr.args[0])}, 0)"

    def _print_Rational(self, expr):  # 0.5, not (1/2): a Python float stays weakly typed in NumPy 2
        return repr(float(expr))

    def _print_Half(self, expr):  # same reason as _print_Rational
        return "0.5"


_OUT_FUNCS = {sigmoid: "_sigmoid", sympy.tanh: "numpy.tanh"}
_OUT_BINARY = {sympy.Add: "numpy.add", sympy.Mul: "numpy.multiply"}


def print_stmt(stmt: Stmt, printer: KernelPrinter) -> str:
    """One statement; tape slots and outputs are written in place (``out=``) into bound views."""
    expr = stmt.expr
    if stmt.role == "temp":
        return f"{stmt.target} = {printer.doprint(expr)}"
    if stmt.role == "accumulate":
        return f"{stmt.target} += {printer.doprint(expr)}"
    if type(expr) in _OUT_FUNCS:
        return f"{_OUT_FUNCS[type(expr)]}({printer.doprint(expr.args[0])}, out={stmt.target})"
    if isinstance(expr, relu):
        return f"numpy.maximum({printer.doprint(expr.args[0])}, 0, out={stmt.target})"
    if type(expr) in _OUT_BINARY and len(expr.args) >= 2 and not expr.args[-1].is_number:
        # the last operation writes into the target: no temporary array and copy (x*y*z: x*y, then *z)
        head, last = expr.func(*expr.args[:-1]), expr.args[-1]
        return f"{_OUT_BINARY[type(expr)]}({printer.doprint(head)}, {printer.doprint(last)}, out={stmt.target})"
    return f"{stmt.target}[...] = {printer.doprint(expr)}"


def print_kernel(kernel: Kernel, bindings: dict[str, str]) -> list[str]:
    """The body of a kernel function: bind every name it reads or writes, then its statements.

    Args:
        bindings: name -> Python expression that yields the (B, H) array for that name (an argument
            view such as ``S[0]`` or ``gi[:, 0 * H:1 * H]``).
    """
    printer = KernelPrinter()
    names = set(kernel.inputs) | {s.target for s in kernel.stmts if s.role != "temp"}
    lines = [f"{name} = {bindings[name]}" for name in sorted(names, key=_binding_order(bindings))]
    return lines + [print_stmt(s, printer) for s in kernel.stmts]


def _binding_order(bindings: dict[str, str]):
    order = {name: k for k, name in enumerate(bindings)}
    return lambda name: order[name]
