"""The NumPy kernels' blocked paths: for sequences whose T * B * G * H exceeds a million values the forward
computes the input projections, and the backward (cells with shared gate gradients) the input and weight
gradients, a block of steps at a time inside the time loop. The contract tests' sizes are far below that,
so here a long sequence is compared with the same sequence run as short segments (each on the
whole-sequence path), chained through the state and, backwards, through the state gradient."""

from __future__ import annotations

import numpy
import pytest

from tests.conftest import assert_close, make_problem
from tests.support import CELLS, kernel

#: T * B * G * H > 2**20 for every cell with two or more gates; T is not a multiple of the blocks (8 steps)
SIZES = (70, 64, 8, 128)
SEGMENT = 10  # 10 * 64 * 4 * 128 < 2**20: each segment runs on the whole-sequence path


def _segments(k, p, seg):
    """forward and backward of problem ``p`` as segments of ``seg`` steps: y, final state, gradients."""
    T = p.x.shape[0]
    ys, tapes, state = [], [], p.state0
    for s in range(0, T, seg):
        y, state, tape = k.forward(p.x[s:s + seg], p.params, state, save=True)
        ys.append(y)
        tapes.append(tape)
    grads, d = [], p.dstate
    for i in reversed(range(len(tapes))):
        g = k.backward(tapes[i], p.dy[i * seg:(i + 1) * seg], d)
        d = g["state0"]
        grads.insert(0, g)
    total = {name: sum(g[name] for g in grads) for name in p.params}
    return numpy.concatenate(ys), state, total | {"x": numpy.concatenate([g["x"] for g in grads]), "state0": d}


@pytest.mark.parametrize("cell", CELLS)
def test_blocked_matches_segments(cell):
    k = kernel(cell)
    p = make_problem(k, SIZES, seed=5, wscale=0.2)  # gates in range over 70 steps
    y, state, tape = k.forward(p.x, p.params, p.state0, save=True)
    grads = k.backward(tape, p.dy, p.dstate)
    y_ref, state_ref, grads_ref = _segments(k, p, SEGMENT)
    assert_close(y, y_ref, 1e-10, "y")
    for j, s in enumerate(k.STATES):
        assert_close(state[j], state_ref[j], 1e-10, f"final {s}")
        assert_close(grads["state0"][j], grads_ref["state0"][j], 1e-10, f"gradient of state0 {s}")
    for name in grads_ref:
        if name != "state0":
            assert_close(grads[name], grads_ref[name], 1e-10, f"gradient of {name}")
