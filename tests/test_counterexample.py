"""The spectral-radius counterexample (derive.counterexample): exact in SymPy, and the generated kernels agree.

W = [[8, 8], [-8, -8]] is nilpotent (rho(W) = 0), yet a tanh RNN held at the fixed point h* = (0, 1/2)
has the one-step Jacobian J = D W with rho(J) = 2, so dh_T/dh_0 = J^T = 2^(T-1) J. The kernels' own
backward (NumPy and C, float64) must reproduce that product: the gradient doubles every step.
"""

from __future__ import annotations

import numpy
import pytest
import sympy
from symcell.derive.counterexample import counterexample_values, linear_case, spectral_radius_counterexample
from symcell.derive.norms import SpectralRadius

import symcell

V = counterexample_values()
STEPS = 20  # the state leaves the (unstable) fixed point by ~2^T eps: at T = 20 about 1e-10


def test_the_sympy_quantities_are_exact():
    assert V["W2"].is_zero_matrix and V["rho_W"] == 0 and V["sigma_W"] == 16
    assert V["fixed_point"].is_zero_matrix
    assert V["D"] == sympy.diag(1, sympy.Rational(3, 4))
    assert V["J"] == sympy.Matrix([[8, 8], [-6, -6]])
    assert V["rho_J"] == 2 and V["J2_minus"].is_zero_matrix
    assert V["norm_J"] == 10 * sympy.sqrt(2)


def test_the_statement_concludes_growth_under_a_zero_spectral_radius():
    st = spectral_radius_counterexample()
    rho = [s.expr.rhs for s in st.steps if isinstance(s.expr, sympy.Eq) and isinstance(s.expr.lhs, SpectralRadius)]
    assert rho == [0, 2]
    assert st.conclusion.rhs == sympy.oo
    assert linear_case().conclusion.rhs == 0  # and the linear case does vanish


def _params():
    W = numpy.array(V["W"].tolist(), dtype=numpy.float64)
    bias = numpy.array([float(v) for v in V["bias"]], dtype=numpy.float64)
    return {"weight_ih": numpy.zeros((2, 1)), "weight_hh": W, "bias_ih": bias, "bias_hh": numpy.zeros(2)}


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_kernels_hold_the_fixed_point_and_double_the_gradient_every_step(backend):
    mod = symcell.load("rnn_tanh", backend)
    params = _params()
    h_star = numpy.array([float(v) for v in V["h_star"]])
    J = numpy.array(V["J"].tolist(), dtype=numpy.float64)
    for steps in (1, 5, STEPS):
        x = numpy.zeros((steps, 2, 1))
        state0 = (numpy.tile(h_star, (2, 1)),)
        y, _, tape = mod.forward(x, params, state0, save=True)
        assert numpy.abs(y - h_star).max() < 1e-9  # still at the fixed point
        # batch row b carries the cotangent e_b on h_T, so its state0 gradient is row b of dh_T/dh_0
        grads = mod.backward(tape, numpy.zeros_like(y), (numpy.eye(2),))
        product = grads["state0"][0]
        expected = 2.0 ** (steps - 1) * J
        numpy.testing.assert_allclose(product, expected, rtol=1e-8, atol=0)
    assert numpy.linalg.norm(product, 2) == pytest.approx(2.0 ** (STEPS - 1) * 10 * numpy.sqrt(2), rel=1e-8)
