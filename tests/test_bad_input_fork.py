"""Fork safety of the C kernels (docs/bad-input.md): after they ran with OpenMP, a forked child's calls finish
and give the parent's bits, whatever made the child (os.fork, multiprocessing's fork start, a DataLoader
worker) and whether or not the OpenMP runtime could end its team before the fork.

Each case runs in a fresh interpreter under a timeout, so a hang fails the test instead of stalling the suite.
The batch (64) is big enough for the kernels to start a team of threads (the parent's calls use OpenMP).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from symcell.cbuild import compiler, openmp
from tests.support import ROOT

pytestmark = pytest.mark.skipif(not openmp(tuple(compiler())), reason="the C kernels are built without OpenMP here")

SETUP = """
import os, sys, threading
import numpy as np
import symcell
from symcell import ckernels
k = symcell.load("lstm", "c")
p = k.init_params(8, 64, rng=0)
x = np.random.default_rng(0).standard_normal((12, 64, 8))
y, s, tape = k.forward(x, p, save=True)
g = k.backward(tape, np.ones_like(y))["weight_hh"]

def same():
    y2, _, t2 = k.forward(x, p, save=True)
    return bool(np.array_equal(y2, y) and np.array_equal(k.backward(t2, np.ones_like(y2))["weight_hh"], g))
"""


def _run(body: str, timeout: float = 120) -> str:
    script = SETUP + textwrap.dedent(body)
    try:
        run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                             timeout=timeout, env={"OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired:
        pytest.fail("the forked child hung (timeout)")
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_os_fork_child_runs_and_matches():
    out = _run("""
        pid = os.fork()
        if pid == 0:
            os._exit(0 if same() else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), same())
    """)
    assert out.split() == ["0", "True"]


def test_multiprocessing_fork_pool():
    out = _run("""
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(2) as pool:
            print(pool.starmap(same, [()] * 4))
    """)
    assert out.strip() == "[True, True, True, True]"


def test_child_of_a_child_and_threads_in_the_child():
    """A grandchild, and new threads in a child, each with a team of their own."""
    out = _run("""
        pid = os.fork()
        if pid == 0:
            ok = []
            t = threading.Thread(target=lambda: ok.append(same()))
            t.start(); t.join()
            inner = os.fork()
            if inner == 0:
                os._exit(0 if same() else 3)
            _, status = os.waitpid(inner, 0)
            os._exit(0 if ok == [True] and os.waitstatus_to_exitcode(status) == 0 and same() else 4)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    assert out.strip() == "0"


def test_a_runtime_that_cannot_pause_falls_back_to_one_thread():
    """When omp_pause_resource_all fails (or is missing), the child's forking thread runs on one thread: it
    still finishes, with the same bits (results do not depend on the thread count)."""
    out = _run("""
        import ctypes
        for lib in ckernels._OPENMP:
            lib.omp_pause_resource_all = lambda kind: -1  # the runtime refuses to pause
        pid = os.fork()
        if pid == 0:
            lib = next(iter(ckernels._OPENMP))
            lib.omp_get_max_threads.restype = ctypes.c_int
            os._exit(0 if same() and lib.omp_get_max_threads() == 1 else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    assert out.strip() == "0"


def test_dataloader_workers():
    pytest.importorskip("torch")
    out = _run("""
        import torch
        class Data(torch.utils.data.Dataset):
            def __len__(self):
                return 4
            def __getitem__(self, i):
                return same()
        loader = torch.utils.data.DataLoader(Data(), num_workers=2, multiprocessing_context="fork")
        print(all(bool(b) for b in loader))
    """, timeout=240)
    assert out.strip() == "True"
