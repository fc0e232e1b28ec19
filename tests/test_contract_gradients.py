"""backward() is the exact gradient of forward(): finite differences, Taylor remainders, adjoint test.

All three checks run in float64 on every registered cell and every backend, through the contract
only. The loss is L = sum(y * dy) + sum_j sum(state[j] * dstate[j]) with random dy, dstate, so every
output (each step's h and every final state) carries a random weight.
"""

from __future__ import annotations

import numpy
import pytest
from hypothesis import example, given, settings

from tests.conftest import SEEDS, SIZES, assert_close, by_leaf, gradients, loss_terms, make_problem
from tests.support import BACKENDS, CELLS, kernel

#: Central-difference step. The error of (L(t+e) - L(t-e)) / 2e is about e^2/6 |L'''| (truncation,
#: ~1e-13 here) plus u |L| / e (round-off, u = 1.1e-16): e = 1e-6 keeps both far below the tolerance.
EPS = 1e-6
RTOL = 1e-6
#: Absolute floor, relative to S = sum |terms of L|. Evaluating L rounds each term (a short forward
#: pass) and the pairwise sum of the terms, so L carries an error of a few ulp of S, below ~10 u S; the
#: difference quotient divides two such errors by 2e: 10 * 1.1e-16 / 2e-6 = 5.5e-10 S. 1e-9 S bounds
#: that (the largest floor the six built-in cells needed at T, B, X, H = 6, 3, 4, 5 was 4e-11 S).
ATOL_PER_LOSS_SCALE = 1e-9


def _central_differences(k, p):
    """d L / d(every entry of every leaf) by float64 central differences with step EPS."""
    result = {}
    for name, leaf in p.leaves().items():
        fd = numpy.empty_like(leaf)
        for idx in numpy.ndindex(leaf.shape):
            values = []
            for sign in (1.0, -1.0):
                bumped = leaf.copy()
                bumped[idx] += sign * EPS
                values.append(loss_terms(k, p.with_leaves({**p.leaves(), name: bumped})).sum())
            fd[idx] = (values[0] - values[1]) / (2 * EPS)
        result[name] = fd
    return result


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
@settings(max_examples=20)
@given(sizes=SIZES, seed=SEEDS)
@example(sizes=(6, 3, 4, 5), seed=0)  # the largest sizes, always
def test_every_gradient_matches_float64_central_differences(cell, backend, sizes, seed):
    """Every gradient output (x, each state0 entry, each param) against central differences,
    eps = 1e-6, float64, rtol 1e-6 plus the round-off floor ATOL_PER_LOSS_SCALE * sum|terms of L|."""
    k = kernel(cell, backend, numpy.float64)
    p = make_problem(k, sizes, seed)
    grads = gradients(k, p)
    fd = _central_differences(k, p)
    assert set(grads) == set(fd)
    atol = ATOL_PER_LOSS_SCALE * numpy.abs(loss_terms(k, p)).sum()
    for name, want in fd.items():
        got = grads[name]
        assert got.shape == want.shape, f"{name}: gradient shape {got.shape}, expected {want.shape}"
        err = numpy.abs(got - want)
        bound = RTOL * numpy.abs(want) + atol
        assert numpy.all(err <= bound), (
            f"{cell}/{backend} d L/d {name}, sizes (T, B, X, H) = {sizes}: max error {err.max():.3g} "
            f"(bound {bound[numpy.unravel_index(err.argmax(), err.shape)]:.3g})\nbackward:\n{got}\nfd:\n{want}"
        )


def _dot(a: dict, b: dict) -> float:
    return sum(float(numpy.vdot(a[name], b[name])) for name in a)


def _random_direction(p, rng) -> dict:
    return {name: rng.standard_normal(leaf.shape) for name, leaf in p.leaves().items()}


def _loss_along(k, p, v, h) -> float:
    return loss_terms(k, p.with_leaves({n: a + h * v[n] for n, a in p.leaves().items()})).sum()


#: Steps of the Taylor test, 1e-4 down to 1e-4 / 2^7 ~ 8e-7. At the bottom, float64 round-off in L
#: (~1e-15 |L|) is still far below the second-order remainder (~1e-13 for O(0.1) curvature). Slopes are
#: fitted over the smallest five steps: the asymptotic rate is what Taylor's theorem predicts, and a
#: relu pre-activation that crosses its kink within the largest steps (a feature of relu, not a
#: gradient error) bends only the top of the curve.
TAYLOR_STEPS = 1e-4 * 0.5 ** numpy.arange(8)
FITTED = slice(3, None)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_taylor_remainder_slopes(cell, backend, seed):
    """|L(t + h v) - L(t)| falls like h (slope 1 on log-log axes); subtracting h <grad L, v> leaves a
    remainder that falls like h^2 (slope 2). A wrong gradient in any direction spoils slope 2."""
    k = kernel(cell, backend, numpy.float64)
    p = make_problem(k, (4, 2, 3, 4), seed)
    v = _random_direction(p, numpy.random.default_rng(1000 + seed))
    base = loss_terms(k, p).sum()
    directional = _dot(gradients(k, p), v)
    deltas = numpy.array([_loss_along(k, p, v, h) - base for h in TAYLOR_STEPS])
    slopes = {}
    for order, remainder in ((1, numpy.abs(deltas)), (2, numpy.abs(deltas - TAYLOR_STEPS * directional))):
        slopes[order] = numpy.polyfit(numpy.log(TAYLOR_STEPS[FITTED]), numpy.log(remainder[FITTED]), 1)[0]
    assert abs(slopes[1] - 1) < 0.1, f"{cell}: first-order remainder slope {slopes[1]:.3f}, expected 1"
    assert abs(slopes[2] - 2) < 0.1, f"{cell}: second-order remainder slope {slopes[2]:.3f}, expected 2"


def _outputs(k, p) -> dict:
    y, state = k.forward(p.x, p.params, p.state0)
    return {"y": y, **{f"state[{j}]": s for j, s in enumerate(state)}}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
@settings(max_examples=5)
@given(sizes=SIZES, seed=SEEDS)
def test_dot_product_adjoint(cell, backend, sizes, seed):
    """<w, J v> == <J^T w, v> for the Jacobian J of (y, state) with respect to (x, state0, params).

    J v is a float64 central difference (eps = 1e-6) of forward along v; J^T w is backward with
    cotangents w = (dy, dstate). Several w share one J v, so this checks backward as a linear map in
    every direction at once. backward must also be exactly linear in (dy, dstate).
    """
    k = kernel(cell, backend, numpy.float64)
    p = make_problem(k, sizes, seed)
    rng = numpy.random.default_rng(seed)
    v = _random_direction(p, rng)
    plus = _outputs(k, p.with_leaves({n: a + EPS * v[n] for n, a in p.leaves().items()}))
    minus = _outputs(k, p.with_leaves({n: a - EPS * v[n] for n, a in p.leaves().items()}))
    jv = {n: (plus[n] - minus[n]) / (2 * EPS) for n in plus}
    _, _, tape = k.forward(p.x, p.params, p.state0, save=True)
    outputs = _outputs(k, p)
    transposed = []
    for _ in range(3):
        w = {n: rng.standard_normal(a.shape) for n, a in jv.items()}
        jtw = by_leaf(k.backward(tape, w["y"], tuple(w[f"state[{j}]"] for j in range(len(k.STATES)))))
        assert set(jtw) == set(v), f"{cell}: backward returned {sorted(jtw)}"
        transposed.append((w, jtw))
        lhs, rhs = _dot(w, jv), _dot(jtw, v)
        # Same error model as the gradient test, with L = <w, F> and the terms of <w, F>.
        floor = ATOL_PER_LOSS_SCALE * sum(float(numpy.abs(w[n] * outputs[n]).sum()) for n in w)
        scale = sum(float(numpy.abs(w[n] * jv[n]).sum()) for n in w)
        assert abs(lhs - rhs) <= RTOL * scale + floor, f"{cell}: <w, Jv> = {lhs!r} but <J^T w, v> = {rhs!r}"
    (w1, g1), (w2, g2) = transposed[:2]
    combined = by_leaf(k.backward(
        tape, 2.0 * w1["y"] - 3.0 * w2["y"],
        tuple(2.0 * w1[f"state[{j}]"] - 3.0 * w2[f"state[{j}]"] for j in range(len(k.STATES))),
    ))
    for name in g1:
        assert_close(combined[name], 2.0 * g1[name] - 3.0 * g2[name], 1e-12, f"{cell}: linearity of backward in {name}")
