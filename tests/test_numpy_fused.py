"""The NumPy forward's two ways of forming the gate pre-activations for cells whose gates read x and h only
through gi + gh: one product [x_t | 1 | h] @ W per step where W is small (the contract tests' sizes), the
input projections in blocks plus a recurrent product per step above FUSED_MAX_BYTES. The second path runs
here at the tests' sizes by lowering the limit, and must agree with the first."""

from __future__ import annotations

import pytest

from tests.conftest import assert_close, make_problem
from tests.support import CELLS, kernel


@pytest.mark.parametrize("sizes", [(9, 3, 4, 6), (70, 64, 8, 128)])  # the second: blocks of 8 steps, T*B*G*H > 2**20
@pytest.mark.parametrize("cell", [c for c in CELLS if hasattr(kernel(c), "FUSED_MAX_BYTES")])
def test_one_product_per_step_matches_the_blocked_input_projections(cell, sizes, monkeypatch):
    """Cells whose gates read x and h only through gi + gh: the forward's two paths (one product per step
    where the weights are small, the input projections in blocks above FUSED_MAX_BYTES) agree."""
    k = kernel(cell)
    p = make_problem(k, sizes, seed=12, wscale=0.2 if sizes[0] > 9 else 1.5)  # gates in range over 70 steps
    runs = []
    for limit in (1 << 62, 0):
        monkeypatch.setattr(k, "FUSED_MAX_BYTES", limit)
        y, state, tape = k.forward(p.x, p.params, p.state0, save=True)
        runs.append((y, state, tape.slots, k.backward(tape, p.dy, p.dstate)))
    (y, state, slots, grads), (y_ref, state_ref, slots_ref, grads_ref) = runs
    assert_close(y, y_ref, 1e-12, "y")
    assert_close(slots, slots_ref, 1e-12, "tape slots")
    for j, s in enumerate(k.STATES):
        assert_close(state[j], state_ref[j], 1e-12, f"final {s}")
    for name in grads_ref:
        if name != "state0":
            assert_close(grads[name], grads_ref[name], 1e-12, f"gradient of {name}")
