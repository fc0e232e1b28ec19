"""Spectral radius against singular values: the linear case, and a tanh RNN whose gradient grows for ever.

For a linear RNN h' = W h the Jacobian product is W^m, and Gelfand's formula ||W^m||^(1/m) -> rho(W)
makes rho(W) < 1 sufficient for vanishing (a non-normal W may grow for a few steps first). For a
nonlinear RNN the product is D_T W ... D_{k+1} W with 0 <= D_t <= gamma I, and what governs it is the
joint spectral radius of {D W}, not rho(W). The counterexample: the nilpotent W = [[8, 8], [-8, -8]]
(rho(W) = 0, W^2 = 0) and a bias that makes h* = (0, 1/2) a fixed point of tanh(W h + b), so that
D = diag(1 - h*^2) = diag(1, 3/4) at every step and rho(D W) = 2: the gradient doubles every step.
Everything is computed here with exact SymPy matrices; the tests run the same numbers through the
generated kernels.
"""

from __future__ import annotations

from functools import cache

import sympy
from sympy import Matrix, MatrixSymbol, Rational, Symbol, atanh, tanh

from .norms import Eq, OpNorm, SpectralRadius, StateDerivative, Statement, Step, T, k, m

#: The nilpotent recurrent matrix and the fixed point of the counterexample (exact).
W_COUNTER = sympy.ImmutableMatrix([[8, 8], [-8, -8]])
H_STAR = sympy.ImmutableMatrix([0, Rational(1, 2)])


def _rho(A: Matrix) -> sympy.Expr:
    return max(abs(v) for v in A.eigenvals())


def _smax(A: Matrix) -> sympy.Expr:
    return sympy.sqrt(max((A.T * A).eigenvals()))


def counterexample_values(W=W_COUNTER, h_star=H_STAR) -> dict:
    """The exact quantities of the counterexample: bias, D, J = D W, rho(W), rho(J), ||J||, J^2 - rho J."""
    W, h_star = Matrix(W), Matrix(h_star)
    bias = h_star.applyfunc(atanh) - W * h_star  # tanh(W h* + b) = h*: b = atanh(h*) - W h*
    D = sympy.diag(*[1 - v**2 for v in h_star])  # tanh' at the fixed point, 1 - tanh^2
    J = D * W
    return {
        "W": W, "bias": bias, "h_star": h_star, "D": D, "J": J,
        "fixed_point": (W * h_star + bias).applyfunc(tanh) - h_star,
        "rho_W": _rho(W), "sigma_W": _smax(W), "W2": W * W,
        "rho_J": _rho(J), "norm_J": _smax(J), "J2_minus": J * J - J.trace() * J,
    }


@cache
def spectral_radius_counterexample() -> Statement:
    """rho(W) = 0 < 1, yet at the fixed point ||dh_T/dh_k|| = 2^(T-k-1) ||D W|| grows without bound."""
    v = counterexample_values()
    Wm, hs, b = MatrixSymbol("W", 2, 2), MatrixSymbol("hstar", 2, 1), MatrixSymbol("b", 2, 1)
    D, J = MatrixSymbol("D", 2, 2), MatrixSymbol("Jstar", 2, 2)
    Wn, Jn = Symbol("W", commutative=False), Symbol("Jstar", commutative=False)
    im = sympy.ImmutableMatrix
    mm = Symbol("m", integer=True, positive=True)
    grow = 2 ** (mm - 1) * v["norm_J"]
    steps = (
        Step(Eq(Wm, im(v["W"])), "a nilpotent recurrent matrix"),
        Step(Eq(Wm**2, im(v["W2"])), "so every eigenvalue is 0"),
        Step(Eq(SpectralRadius(Wn), v["rho_W"]), "the spectral radius"),
        Step(Eq(hs, im(v["h_star"])), "the state to hold fixed"),
        Step(Eq(b, im(v["bias"])), "atanh of the fixed point, minus W times it"),
        Step(Eq(im((v["W"] * v["h_star"] + v["bias"]).applyfunc(lambda e: tanh(e, evaluate=False))), im(v["h_star"])),
             "h* is a fixed point at x = 0"),
        Step(Eq(D, im(v["D"])), "the derivative of tanh at the fixed point"),
        Step(Eq(J, im(v["J"])), "the one-step Jacobian D W, at every step"),
        Step(Eq(SpectralRadius(Jn), v["rho_J"]), "its eigenvalues are 0 and 2"),
        Step(Eq(J**2, 2 * J), "Cayley-Hamilton: trace 2, determinant 0"),
        Step(Eq(OpNorm(Jn**mm), grow), "over m steps: the gradient doubles every step"),
    )
    hyp = sympy.Lt(SpectralRadius(Wn), 1)
    return Statement("spectral_radius_counterexample", "counterexample", hyp,
                     Eq(sympy.Limit(OpNorm(Jn**mm), mm, sympy.oo), sympy.oo), steps)


@cache
def linear_case() -> Statement:
    """Linear h' = W h: dh_T/dh_k = W^m, and rho(W) < 1 gives vanishing by Gelfand's formula."""
    Wn = Symbol("W", commutative=False)
    steps = (
        Step(Eq(StateDerivative(Symbol("h"), T, k), Wn**m), "every Jacobian is W; m = T - k"),
        Step(Eq(sympy.Limit(OpNorm(Wn**m) ** (1 / m), m, sympy.oo), SpectralRadius(Wn)), "Gelfand's formula"),
    )
    hyp = sympy.Lt(SpectralRadius(Wn), 1)
    return Statement("linear_spectral_radius", "linear", hyp, Eq(sympy.Limit(OpNorm(Wn**m), m, sympy.oo), 0), steps)


__all__ = ["H_STAR", "W_COUNTER", "counterexample_values", "linear_case", "spectral_radius_counterexample"]
