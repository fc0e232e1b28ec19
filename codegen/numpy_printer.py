"""Print kernels as NumPy statements on (B, H) arrays.

Each kernel becomes a Python function over whole (batch x hidden) slices: the template owns the loops
over time and the GEMMs; this module owns the text of the elementwise math.
"""

from __future__ import annotations

import re

import sympy
from symcell.derive import relu, sigmoid
from sympy.printing.numpy import NumPyPrinter

from .schedule import Kernel, Stmt

#: Primitive helpers the printed code calls; rendered once into generated/numpy/_runtime.py.
SIGMOID_SOURCE = '''\
def _sigmoid(x, out=None):
    """Logistic sigmoid as 1/(1 + exp(-x)) in four passes over ``out`` (the exp(-|x|) form with a
    where() takes seven; this is on every step of the gated cells). Relatively accurate
    for x << 0 too, down to the smallest normal number: below it exp(-x) overflows to inf and the result
    is 0, not a subnormal. The caller silences that overflow: the cell modules' forward() enters
    ``numpy.errstate(over="ignore")`` once around its time loop, not here on every call (entering it
    costs a sizeable part of a small sigmoid)."""
    out = numpy.exp(numpy.negative(x, out=out), out=out)
    out += 1
    return numpy.reciprocal(out, out=out)


def _sigmoid_neg(x, out=None):
    """_sigmoid(-x) as 1/(1 + exp(x)) in three passes: for the pre-activations a forward computes negated
    (its weight rows and bias negated once, which negates every product exactly), the same bits as
    _sigmoid(a) without its negation pass."""
    out = numpy.exp(x, out=out)
    out += 1
    return numpy.reciprocal(out, out=out)
'''


class sigmoid_neg(sympy.Function):  # noqa: N801 - like derive's sigmoid
    """sigmoid(-x), printed as the _sigmoid_neg helper: where a forward computes a gate's pre-activation
    negated (numpy_backend.neg_gates)."""


class KernelPrinter(NumPyPrinter):
    """NumPyPrinter with symcell's activations and plain float literals."""

    def _print_sigmoid(self, expr):  # the helper: 1/(1 + exp(-x)), accurate for x << 0
        return f"_sigmoid({self._print(expr.args[0])})"

    def _print_sigmoid_neg(self, expr):
        return f"_sigmoid_neg({self._print(expr.args[0])})"

    def _print_relu(self, expr):  # max(x, 0) keeps the dtype; Max() would print a reduce
        return f"numpy.maximum({self._print(expr.args[0])}, 0)"

    def _print_Heaviside(self, expr):  # H(0) = 0 here, as the relu derivative needs
        return f"numpy.heaviside({self._print(expr.args[0])}, 0)"

    def _print_Rational(self, expr):  # 0.5, not (1/2): a Python float stays weakly typed in NumPy 2
        return repr(float(expr))

    def _print_Half(self, expr):  # same reason as _print_Rational
        return "0.5"


_OUT_FUNCS = {sigmoid: "_sigmoid", sigmoid_neg: "_sigmoid_neg", sympy.tanh: "numpy.tanh"}
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


def print_kernel(kernel: Kernel, bindings: dict[str, str], group: bool = True) -> list[str]:
    """The body of a kernel function: bind every name its statements read or write, then the statements.

    Args:
        bindings: name -> Python expression that yields the (B, H) array for that name (an argument
            view such as ``S[0]`` or ``gi[:, 0 * H:1 * H]``).
        group: print runs of the same activation over consecutive slots as one call (see _runs).
    """
    printer = KernelPrinter()
    runs = _runs(kernel.stmts, bindings) if group else [[s] for s in kernel.stmts]
    single = [run[0] for run in runs if len(run) == 1]
    used = {sym.name for s in single for sym in s.expr.free_symbols} | {s.target for s in single}
    names = (set(kernel.inputs) | {s.target for s in kernel.stmts if s.role != "temp"}) & used
    lines = [f"{name} = {bindings[name]}" for name in sorted(names, key=_binding_order(bindings))]
    return lines + [print_stmt(run[0], printer) if len(run) == 1 else _print_run(run, bindings) for run in runs]


def _binding_order(bindings: dict[str, str]):
    order = {name: k for k, name in enumerate(bindings)}
    return lambda name: order[name]


_SLOT = re.compile(r"^(\w+)\[(\d+)\]$")  # a binding that is one slot of a stacked array: T[3], gh[1]


def _slot(name: str, bindings: dict[str, str]) -> tuple[str, int] | None:
    match = _SLOT.match(bindings.get(name, ""))
    return (match[1], int(match[2])) if match else None


def _activation(stmt: Stmt) -> tuple[str, int, str, int] | None:
    """(argument array, slot, target array, slot) of ``target = act(arg)`` written in place, or None."""
    if stmt.role == "temp" or not (type(stmt.expr) in _OUT_FUNCS or isinstance(stmt.expr, relu)):
        return None
    arg = stmt.expr.args[0]
    return (arg.name, stmt.target) if isinstance(arg, sympy.Symbol) else None


def _runs(stmts, bindings: dict[str, str]) -> list[list[Stmt]]:
    """Consecutive statements grouped where they apply the same activation to consecutive slots of one
    array, writing consecutive slots of another (LSTM's i, f = sigmoid(gh[0]), sigmoid(gh[1]) into
    T[0], T[1]): one ufunc call per pass over (n, B, H) instead of n calls over (B, H) (NumPy's fixed
    cost per call is comparable to the work at the small sizes)."""
    runs: list[list[Stmt]] = []
    for st in stmts:
        if runs and _extends(runs[-1], st, bindings):
            runs[-1].append(st)
        else:
            runs.append([st])
    return runs


def _extends(run: list[Stmt], st: Stmt, bindings: dict[str, str]) -> bool:
    first, names = run[0], (_activation(run[0]), _activation(st))
    if None in names or type(first.expr) is not type(st.expr):
        return False
    (a0, t0), (a1, t1) = ([_slot(n, bindings) for n in pair] for pair in names)
    if None in (a0, t0, a1, t1) or a0[0] != a1[0] or t0[0] != t1[0]:
        return False
    n = len(run)
    if (a1[1], t1[1]) != (a0[1] + n, t0[1] + n):
        return False
    # the grouped call reads all arguments before writing: they must not overlap the targets
    return a0[0] != t0[0] or a0[1] + n + 1 <= t0[1] or t0[1] + n + 1 <= a0[1]


def _print_run(run: list[Stmt], bindings: dict[str, str]) -> str:
    """One call for a run from _runs: the activation over slots [k, k + n) of both arrays."""
    (arr, a), (out, t) = (_slot(name, bindings) for name in _activation(run[0]))
    n = len(run)
    arg, target = f"{arr}[{a}:{a + n}]", f"{out}[{t}:{t + n}]"
    if isinstance(run[0].expr, relu):
        return f"numpy.maximum({arg}, 0, out={target})"
    return f"{_OUT_FUNCS[type(run[0].expr)]}({arg}, out={target})"
