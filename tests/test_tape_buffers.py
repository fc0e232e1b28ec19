"""Tape buffers: a forward records its tape into one of its last two buffers that no array refers to any
more (codegen's runtime TapeBuffers, used by the NumPy modules and the C loader alike), else a new one."""

from __future__ import annotations

import numpy
import pytest

from tests.conftest import make_problem
from tests.support import BACKENDS, kernel


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "indrnn"])
def test_tape_memory_is_reused_only_when_nothing_reads_it(cell, backend):
    """The forward hands out one of its last two tape buffers again only when no array refers to it: a tape
    (or any view of it) a caller keeps is never overwritten by a later forward, and a dropped one is reused,
    also in a loop that rebinds its tape name (the old tape is alive while the next forward runs)."""
    k = kernel(cell, backend)
    k.release()
    first, second = make_problem(k, (5, 3, 2, 4), 0), make_problem(k, (5, 3, 2, 4), 1)

    def base_address(tape):
        return tape.slots.base.__array_interface__["data"][0]

    *_, tape = k.forward(first.x, first.params, first.state0, save=True)
    kept = tape.slots.copy()
    grads = k.backward(tape, first.dy, first.dstate)
    *_, other = k.forward(second.x, second.params, second.state0, save=True)
    *_, third = k.forward(second.x, second.params, second.state0, save=True)
    assert len({base_address(t) for t in (tape, other, third)}) == 3  # all three held: three buffers
    numpy.testing.assert_array_equal(tape.slots, kept)
    again = k.backward(tape, first.dy, first.dstate)
    for name, g in grads.items():
        numpy.testing.assert_array_equal(numpy.asarray(again[name]), numpy.asarray(g), err_msg=name)

    view = third.slots[2]  # a view of a part keeps the buffer too
    addresses = {base_address(other), base_address(third)}  # the two the forward keeps
    del third
    *_, fourth = k.forward(first.x, first.params, first.state0, save=True)
    assert base_address(fourth) not in addresses
    kept = view.copy()
    del view, other
    *_, fifth = k.forward(second.x, second.params, second.state0, save=True)  # the buffer of the old `other`
    assert base_address(fifth) in addresses
    numpy.testing.assert_array_equal(fifth.slots[2], kept)  # its stale values all overwritten

    seen = set()
    for _ in range(4):  # tape = forward(...) in a loop: two buffers in turn
        *_, tape = k.forward(first.x, first.params, first.state0, save=True)
        seen.add(base_address(tape))
    assert len(seen) == 2
    k.release()
    *_, fresh = k.forward(first.x, first.params, first.state0, save=True)
    numpy.testing.assert_array_equal(fresh.slots, tape.slots)
