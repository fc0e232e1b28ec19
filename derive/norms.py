"""The vocabulary of derive.bounds: norms and per-step quantities as SymPy functions, and Statement.

Kept apart so the statement builders (derive.bounds for Elman and diagonal cells, derive.escape for
gated ones) share one set of symbols; nothing here knows about cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy
from sympy import Function, Symbol

x = Symbol("x", real=True)
t, k, T, m = sympy.symbols("t k T m", integer=True)
gamma_sym = Symbol("gamma", positive=True)
eta = Symbol("eta", nonnegative=True)


def Eq(lhs, rhs) -> sympy.Eq:  # noqa: N802 - reads like SymPy's Eq
    """An unevaluated equation: a derivation step must keep both sides, even when SymPy could decide it."""
    return sympy.Eq(lhs, rhs, evaluate=False)


class OpNorm(Function):
    """||A||: the operator 2-norm (largest singular value) of a matrix expression."""

    is_real = True
    is_nonnegative = True


class SigmaMax(Function):
    """sigma_max(A): the largest singular value."""

    is_real = True
    is_nonnegative = True


class SpectralRadius(Function):
    """rho(A): the largest eigenvalue modulus."""

    is_real = True
    is_nonnegative = True


class MaxAbs(Function):
    """max_i |v_i| over the units: the operator norm of D(v)."""

    is_real = True
    is_nonnegative = True


class At(Function):
    """A per-step quantity at time index t: At(f, t) is f_t (printed per notation)."""


class Dg(Function):
    """D(v) as a non-commutative factor, for products over time."""

    is_commutative = False


class Jt(Function):
    """J_t: the one-step Jacobian at step t (non-commutative)."""

    is_commutative = False


class StateDerivative(Function):
    """d s_T / d s_k for a state name s (non-commutative)."""

    is_commutative = False


@dataclass(frozen=True)
class Step:
    """One derivation step: a SymPy relation and the rule that justifies it."""

    expr: sympy.Basic
    reason: str


@dataclass(frozen=True)
class Statement:
    """A derived claim. kind: gamma, bound, product, sufficient, necessary, carousel, gate_path, counterexample."""

    name: str
    kind: str
    hypothesis: sympy.Basic | None
    conclusion: sympy.Basic
    steps: tuple[Step, ...]


__all__ = [
    "At", "Dg", "Eq", "Jt", "MaxAbs", "OpNorm", "SigmaMax", "SpectralRadius", "StateDerivative", "Statement", "Step",
    "T", "eta", "gamma_sym", "k", "m", "t", "x",
]
