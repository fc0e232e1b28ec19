"""How long an escape path lasts: the direct path over T steps, the gate value and bias that keep it.

The escape statements (derive.escape) are limits: f -> 1 gives the carousel I. At a finite lag the
direct path of the cell state is prod_t D(f_t); per unit with a constant gate value f it is f^T. Keeping
it above 1/e over T steps needs f >= exp(-1/T), i.e. 1 - f of about 1/T, and with f = sigma(b) a bias
of log(T - 1). That is the chrono initialisation of Tallec and Ollivier (2018), b_f ~ log U[1, T_max - 1]:
the forget gate's characteristic memory time 1/(1 - f) = 1 + e^b set to the lags the task needs. The
same holds for GRU's update gate z. The direct path is one term of d c_T / d c_k, not all of it.
"""

from __future__ import annotations

from functools import cache

import sympy
from sympy import Symbol, exp, oo

from .activations import sigmoid
from .norms import At, Dg, Eq, StateDerivative, Statement, Step, T, k, t

f = Symbol("f", positive=True)
b = Symbol("b", real=True)
lag = Symbol("T", integer=True, positive=True)  # the lag the direct path must bridge (T - k, with k = 0)


@cache
def escape_rate() -> Statement:
    """f^T >= 1/e needs 1 - f ~ 1/T, and sigma(b) = 1 - 1/T gives b = log(T - 1)."""
    direct = sympy.Product(At(f, t), (t, 1, lag))
    threshold = exp(-1 / lag)
    gap = sympy.series(1 - threshold, lag, oo, n=3).removeO()
    (bias,) = sympy.solve(sympy.Eq(sigmoid(b).rewrite(exp), 1 - 1 / lag), b)
    bias = sympy.expand_log(sympy.simplify(bias), force=True)
    memory = sympy.simplify((1 / (1 - sigmoid(b))).rewrite(exp))
    (chrono,) = sympy.solve(sympy.Eq(memory, lag), b)
    at_bias = sympy.limit((1 - 1 / lag) ** lag, lag, oo)
    steps = (
        Step(Eq(direct, f**lag), "one unit, the gate at a constant value f"),
        Step(sympy.Ge(f**lag, exp(-1)), "keep the direct path above 1/e"),
        Step(sympy.Ge(f, threshold), "take the T-th root"),
        Step(Eq(1 - threshold, gap + sympy.Order(lag**-3, (lag, oo))), "expand at large T: 1 - f of about 1/T"),
        Step(Eq(sigmoid(b), 1 - 1 / lag), "the gate value 1 - 1/T as a bias, f = sigma(b)"),
        Step(Eq(b, bias), "solve for the bias"),
        Step(Eq(sympy.Limit((1 - 1 / lag) ** lag, lag, oo), at_bias), "the direct path at that bias, for large T"),
        Step(Eq(1 / (1 - sigmoid(b)), memory), "the gate's memory time 1/(1 - f)"),
        Step(Eq(b, chrono), "chrono initialisation: memory time T"),
    )
    return Statement("escape_rate", "rate", sympy.Ge(f**lag, exp(-1)), Eq(b, bias), steps)


class Path(sympy.Function):
    """A named Jacobian factor at a time index, printed by the LaTeX printer (A_t, the c-from-h block)."""

    is_commutative = False


@cache
def direct_path_is_not_everything() -> Statement:
    """Two steps of the LSTM-style chain: d c_{k+2}/d c_k = D(f_{k+2}) D(f_{k+1}) + A_{k+2} dh_{k+1}/dc_k."""
    c, h = Symbol("c"), Symbol("h")
    two = StateDerivative(c, k + 2, k)
    direct = Dg(At(f, k + 2)) * Dg(At(f, k + 1))
    through_h = Path(Symbol("A"), k + 2) * StateDerivative(h, k + 1, k, c)
    steps = (
        Step(Eq(two, direct + through_h), "two steps of the block product: the c row times the c column"),
        Step(Eq(StateDerivative(c, T, k), sympy.Add(sympy.Product(Dg(At(f, t)), (t, k + 1, T)),
                                                  Symbol("R", commutative=False), evaluate=False)),
             "the direct path plus R, every path that visits h"),
    )
    return Statement("direct_path_part", "path", None, steps[-1].expr, steps)


__all__ = ["Path", "direct_path_is_not_everything", "escape_rate"]
