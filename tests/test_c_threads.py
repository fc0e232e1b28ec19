"""The OpenMP build of the C kernels gives the same bits on any number of threads, and the NumPy answer.

Each run is a subprocess (libgomp reads OMP_NUM_THREADS once, and the loader keeps one library per cell
per process) built with SYMCELL_CFLAGS forcing the threaded path and small product tiles even at these
small shapes, so that whole tiles, edge tiles, slices of k, several row blocks and the unit blocks of the
elementwise loops all occur. It runs forward (with tape) and backward for every cell in float64, on one
and three threads, and once more with k in one pass, without the forward's batch split and with the weight
gradients' bigger row blocks (those past SC_REREAD_BYTES): all three give the same bits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy
import pytest

from symcell.cbuild import compiler, openmp
from tests.support import CELLS, FORCE_THREADED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORCE = " ".join(FORCE_THREADED)
SHAPES = [(4, 3, 2, 9), (2, 5, 3, 4), (3, 7, 2, 5), (5, 1, 3, 6)]  # B = 7 on 3 threads: the forward splits the
# batch; B = 1: the one-row products (sc_row) split by panels, input projections 3 steps at a time (sc_chunk)

SCRIPT = r"""
import importlib, json, sys, numpy
from symcell.ckernels import load
out = {}
for cell in sys.argv[1].split(","):
    backends = (("c", load(cell, numpy.float64)), ("numpy", importlib.import_module(f"symcell.kernels.numpy.{cell}")))
    for T, B, X, H in json.loads(sys.argv[2]):
        results = {}
        for name, mod in backends:
            r = numpy.random.default_rng(T * 1000 + B * 100 + X * 10 + H)
            p = mod.init_params(X, H, r, numpy.float64)
            x = r.standard_normal((T, B, X))
            dy = r.standard_normal((T, B, H))
            y, state, tape = mod.forward(x, p, save=True)
            grads = mod.backward(tape, dy)
            flat = [y, state] + [grads[k] for k in sorted(grads)]
            results[name] = numpy.concatenate([numpy.ravel(a) for a in flat]).tolist()
        out[f"{cell} {T} {B} {X} {H}"] = results
print(json.dumps(out))
"""


def _run(threads: int, flags: str = FORCE) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), SYMCELL_CFLAGS=flags)
    run = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(CELLS), json.dumps(SHAPES)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_threaded_kernels_match_numpy_and_do_not_depend_on_the_thread_count():
    if not openmp(tuple(compiler())):
        pytest.fail("the C compiler does not build OpenMP code (gcc needs libgomp): the threaded path is untested")
    one, three = _run(1), _run(3)
    # every product in one pass over k, the forward's steps split by outputs even where the batch could be, and
    # the weight gradients in the row blocks of products too big for the cache
    whole = _run(3, FORCE.replace("-DSC_KC=3", "-DSC_KC=100000") + " -DSC_SPLIT_BYTES=0 -DSC_REREAD_BYTES=0")
    assert one.keys() == three.keys() == whole.keys() and len(one) == len(CELLS) * len(SHAPES)
    for key in one:
        c1, c3, cw, ref = (numpy.array(v) for v in (one[key]["c"], three[key]["c"], whole[key]["c"], one[key]["numpy"]))
        assert numpy.array_equal(c1, c3), f"{key}: 1 and 3 threads differ (max {numpy.abs(c1 - c3).max():.3g})"
        assert numpy.array_equal(cw, c3), (f"{key}: slicing k or the blocks changed the bits "
                                           f"(max {numpy.abs(cw - c3).max():.3g})")
        numpy.testing.assert_allclose(c3, ref, rtol=1e-12, atol=1e-12, err_msg=key)
