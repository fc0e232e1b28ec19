"""The parameter gradient of BPTT as a double sum (Pascanu, Mikolov, Bengio 2013, eqs. 3-5).

dL/dtheta = sum_t dL_t/dtheta, and each dL_t/dtheta = sum_{k <= t} (dL_t/dh_t)(dh_t/dh_k)(d+h_k/dtheta),
where d+h_k/dtheta is the immediate partial (h_{k-1} held fixed) and dh_t/dh_k the ordered product of
one-step Jacobians. The product bound eta^(t-k) applies to each term: what vanishes is the long-term
terms (t - k large) relative to the short-term ones, not the total gradient.
"""

from __future__ import annotations

from functools import cache

import sympy
from sympy import Function, Symbol

from .norms import Jt, OpNorm, StateDerivative, Statement, Step, T, eta, k, t

i = Symbol("i", integer=True)
theta = Symbol("theta", commutative=False)


class LossDerivative(Function):
    """dL/dtheta (one argument) or dL_t/dtheta (step t, theta): a row, non-commutative."""

    is_commutative = False


class StepLossGrad(Function):
    """dL_t/dh_t: the loss of step t differentiated by the state of step t (a row)."""

    is_commutative = False


class Immediate(Function):
    """d+h_k/dtheta: the immediate partial of h_k in the parameters, h_{k-1} held fixed."""

    is_commutative = False


@cache
def parameter_gradient() -> Statement:
    h = Symbol("h")
    term = StepLossGrad(t) * StateDerivative(h, t, k) * Immediate(k)
    inner = sympy.Sum(term, (k, 1, t))
    total = sympy.Sum(LossDerivative(t, theta), (t, 1, T))
    bound = sympy.Le(OpNorm(term), sympy.Mul(OpNorm(StepLossGrad(t)), eta ** (t - k), OpNorm(Immediate(k)),
                                             evaluate=False))
    steps = (
        Step(sympy.Eq(LossDerivative(theta), total, evaluate=False), "the loss is a sum over steps"),
        Step(sympy.Eq(LossDerivative(t, theta), inner, evaluate=False), "theta acts at every step k up to t"),
        Step(sympy.Eq(StateDerivative(h, t, k), sympy.Product(Jt(i), (i, k + 1, t)), evaluate=False),
             "the ordered product, latest first"),
        Step(bound, "the product bound: long-term terms shrink geometrically"),
    )
    return Statement("parameter_gradient", "sum", None, steps[1].expr, steps)


__all__ = ["Immediate", "LossDerivative", "StepLossGrad", "parameter_gradient", "theta"]
