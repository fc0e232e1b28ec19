"""Non-finite input and NumPy's floating-point error state (docs/bad-input.md): both backends compute in IEEE
arithmetic, so NaN and inf propagate to the same outputs, with no warning and no exception whatever
numpy.seterr says, and the caller's error state is left as it was.
"""

from __future__ import annotations

import warnings

import numpy
import pytest

from tests.support import CELLS, kernel

T, B, X, H = 4, 2, 3, 5
BAD = (numpy.inf, -numpy.inf, numpy.nan, 1e4, -1e4, 1e30)


def _pattern(a, exact=True):
    """Where ``a`` is NaN, +inf and -inf; with exact=False only where it is not finite: float32 C's fast tanh
    and sigmoid saturate within their error bound of 1, not at 1, so a gradient NumPy gets as 0 * inf = NaN
    can be a nonzero * inf = -inf there."""
    return (numpy.isnan(a), numpy.isposinf(a), numpy.isneginf(a)) if exact else (~numpy.isfinite(a),)


def _forward_backward(k, x, params):
    y, state, tape = k.forward(x, params, save=True)
    return y, state, k.backward(tape, numpy.ones_like(y), tuple(numpy.ones_like(s) for s in state))


def _compare(a, b, rtol, exact=True):
    """The same non-finite pattern, and the finite values within rtol."""
    for pa, pb in zip(_pattern(a, exact), _pattern(b, exact), strict=True):
        numpy.testing.assert_array_equal(pa, pb)
    fin = numpy.isfinite(a)
    numpy.testing.assert_allclose(a[fin], b[fin], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@pytest.mark.parametrize("cell", CELLS)
def test_both_backends_agree_under_seterr_raise(cell, dtype):
    """One non-finite or huge entry of x, and of weight_ih, under numpy.seterr(all="raise") with warnings as
    errors: no exception, and the NumPy and C outputs and gradients have the same NaN/inf pattern."""
    nk, ck = kernel(cell, "numpy"), kernel(cell, "c", dtype)
    rng = numpy.random.default_rng(3)
    params = {n: a.astype(dtype) for n, a in nk.init_params(X, H, rng).items()}
    x = rng.standard_normal((T, B, X)).astype(dtype)
    exact = dtype == numpy.float64
    rtol = 1e-9 if exact else 2e-3  # float32 C uses its bounded fast tanh/sigmoid
    before = numpy.geterr()
    with numpy.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        for value in BAD:
            for where in ("x", "weight_ih"):
                xb, pb = x.copy(), dict(params)
                if where == "x":
                    xb[1, 0, 2] = value
                else:
                    pb["weight_ih"] = params["weight_ih"].copy()
                    pb["weight_ih"][0, 1] = value
                yn, sn, gn = _forward_backward(nk, xb, pb)
                yc, sc, gc = _forward_backward(ck, xb, pb)
                _compare(yn, yc, rtol, exact)
                for u, v in zip(sn, sc, strict=True):
                    _compare(u, v, rtol, exact)
                for n in pb:
                    for pa, pc in zip(_pattern(gn[n], exact), _pattern(gc[n], exact), strict=True):
                        numpy.testing.assert_array_equal(pa, pc, err_msg=f"{cell} {where}={value}: d{n}")
                nk.step(xb[0], pb, None)
                ck.step(xb[0], pb, None)
                yc + 1.0  # noqa: B018 - C leaves no floating-point flag that a later NumPy operation reports
        assert numpy.geterr() == {k: "raise" for k in before}
    assert numpy.geterr() == before


def test_nan_propagates_and_finite_input_stays_finite():
    """NaN in one step of x: NaN in that step's outputs and every later one (it reaches the state), none before."""
    for backend in ("numpy", "c"):
        k = kernel("lstm", backend)
        params = k.init_params(X, H, 0)
        x = numpy.random.default_rng(0).standard_normal((T, B, X))
        y = k.forward(x, params)[0]
        assert numpy.isfinite(y).all()
        x[2, 0, 0] = numpy.nan
        y = k.forward(x, params)[0]
        assert numpy.isfinite(y[:2]).all() and numpy.isfinite(y[:, 1]).all()  # other batch rows untouched
        assert numpy.isnan(y[2:, 0]).all()


def test_huge_inputs_saturate_without_noise():
    """|x| = 1e4 (the issue's underflow under seterr(under="raise")) saturates the gates: outputs are finite,
    the same on both backends, and no warning is raised."""
    with numpy.errstate(under="raise", over="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        ys = []
        for backend in ("numpy", "c"):
            k = kernel("gru", backend)
            params = k.init_params(X, H, 1)
            x = numpy.full((T, B, X), 1e4)
            x[:, 1] *= -1
            ys.append(k.forward(x, params)[0])
        assert numpy.isfinite(ys[0]).all()
        numpy.testing.assert_allclose(ys[0], ys[1], rtol=1e-12, atol=1e-12)
