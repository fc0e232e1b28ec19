"""The C and NumPy backends agree to 1e-12 in float64 on every output and gradient, and their tapes
are the same data: slots (T, K, B, H) named by TAPE and the sequences of the other states.

Both backends evaluate the same printed kernels; only the summation order of the GEMMs differs, so
anything beyond a few ulps of round-off is a layout or indexing bug in the C template.
"""

from __future__ import annotations

import numpy
import pytest

from tests.conftest import assert_close, make_problem
from tests.support import CELLS, kernel

RTOL = 1e-12
# (T, B, X, H): all sizes distinct (a swapped stride cannot pass), the degenerate 1s, one larger, and a batch of
# one wide enough that its products (the one-row path, sc_row) meet full, more than half full and half full panels.
# (Its input projections in more than one chunk (sc_chunk, 64 steps here) are checked against NumPy by the forced
# builds of test_c_threads and test_c_sanitize, 3 steps a chunk: over 64 steps the round-off of a chaotic cell
# such as janet outgrows 1e-12 whatever the code.)
SIZES = [(4, 3, 2, 5), (1, 1, 1, 1), (7, 2, 9, 3), (3, 5, 4, 16), (3, 1, 2, 20)]


def _both(cell):
    return kernel(cell, "numpy"), kernel(cell, "c", numpy.float64)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("cell", CELLS)
def test_forward_backward_agree(cell, sizes):
    kn, kc = _both(cell)
    p = make_problem(kn, sizes, seed=sum(sizes), wscale=1.0)
    yn, sn, tn = kn.forward(p.x, p.params, p.state0, save=True)
    yc, sc, tc = kc.forward(p.x, p.params, p.state0, save=True)
    assert_close(yc, yn, RTOL, "y")
    for j, name in enumerate(kn.STATES):
        assert_close(sc[j], sn[j], RTOL, f"state[{j}] ({name})")
    assert kc.TAPE == kn.TAPE
    assert_close(tc.slots, tn.slots, RTOL, "tape slots")
    assert sorted(tc.seq) == sorted(tn.seq)
    for name in tn.seq:
        assert_close(tc.seq[name], tn.seq[name], RTOL, f"tape sequence {name}")
    gn = kn.backward(tn, p.dy, p.dstate)
    gc = kc.backward(tc, p.dy, p.dstate)
    assert sorted(gc) == sorted(gn)
    for name in gn:
        if name == "state0":
            for j in range(len(kn.STATES)):
                assert_close(gc[name][j], gn[name][j], RTOL, f"d state0[{j}]")
        else:
            assert_close(gc[name], gn[name], RTOL, f"d {name}")


@pytest.mark.parametrize("cell", CELLS)
def test_c_backward_reads_a_numpy_tape(cell):
    """The layouts match, so C's backward accepts the NumPy forward's tape (copied into one buffer)."""
    kn, kc = _both(cell)
    p = make_problem(kn, (5, 2, 3, 4), seed=3)
    _, _, tn = kn.forward(p.x, p.params, p.state0, save=True)
    gn, gc = kn.backward(tn, p.dy, p.dstate), kc.backward(tn, p.dy, p.dstate)
    assert list(gc) == list(gn)
    for name in ("x", *p.params):
        assert_close(gc[name], gn[name], RTOL, f"d {name}")


@pytest.mark.parametrize("cell", CELLS)
def test_zero_state_and_gradient_defaults_agree(cell):
    """state0=None and dstate=None take C's NULL (zeros) path; it must equal explicit zeros in NumPy."""
    kn, kc = _both(cell)
    p = make_problem(kn, (3, 2, 3, 4), seed=11)
    yn, _, tn = kn.forward(p.x, p.params, None, save=True)
    yc, _, tc = kc.forward(p.x, p.params, None, save=True)
    assert_close(yc, yn, RTOL, "y")
    gn, gc = kn.backward(tn, p.dy), kc.backward(tc, p.dy)
    for name in ("x", *p.params):
        assert_close(gc[name], gn[name], RTOL, f"d {name}")


@pytest.mark.parametrize("cell", CELLS)
def test_step_agrees_and_streams(cell):
    """C's step agrees with NumPy's, and T steps reproduce C's whole-sequence forward."""
    kn, kc = _both(cell)
    p = make_problem(kn, (6, 3, 2, 5), seed=5)
    sn, sc = p.state0, p.state0
    for t in range(p.x.shape[0]):
        sn, sc = kn.step(p.x[t], p.params, sn), kc.step(p.x[t], p.params, sc)
        for j in range(len(kn.STATES)):
            assert_close(sc[j], sn[j], RTOL, f"step {t} state[{j}]")
    _, whole = kc.forward(p.x, p.params, p.state0)
    for j in range(len(kn.STATES)):
        assert_close(sc[j], whole[j], RTOL, f"stepped vs whole state[{j}]")


@pytest.mark.parametrize("cell", CELLS)
def test_noncontiguous_inputs_give_the_same_result(cell):
    """Strided views and Fortran-ordered params are copied to C order before the call, not misread."""
    kc = kernel(cell, "c", numpy.float64)
    p = make_problem(kc, (4, 3, 5, 4), seed=2)
    y, _ = kc.forward(p.x, p.params, p.state0)
    wide = numpy.zeros((8, 3, 10))
    wide[::2, :, ::2] = p.x
    fortran = {k: numpy.asfortranarray(v) for k, v in p.params.items()}
    y2, _ = kc.forward(wide[::2, :, ::2], fortran, tuple(numpy.asfortranarray(s) for s in p.state0))
    assert numpy.array_equal(y, y2)
