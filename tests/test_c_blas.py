"""The C kernels' BLAS path: the CBLAS the project installs is found, the BLAS build compiles strictly,
and it computes what the portable loops compute.

The sizes here are chosen so that every GEMM shape (C += A B^T, A B, A^T B) is above the size at
which the kernels hand a product to the BLAS, so the BLAS calls are what runs; the portable build of
the same source is the reference, and both are compared with the NumPy backend too.
"""

from __future__ import annotations

import ctypes
import subprocess

import numpy
import pytest
from symcell.codegen.ir import lower
from symcell.codegen.render import GENERATED

from symcell import cbuild as build
from tests.conftest import assert_close, make_problem
from tests.support import c_kernels, kernel

# T*B*X*G*H and B*H*G*H are well above SYMCELL_BLAS_MIN (8192 multiply-adds) for every cell
SIZES = (6, 8, 24, 32)
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]


def test_the_projects_blas_is_found():
    """`make` installs the blas extra, so the loader builds against it (not silently the loops)."""
    cflags, libs = build.blas()
    assert "-DSYMCELL_USE_CBLAS" in cflags and libs


def test_blas_choice_is_validated(monkeypatch):
    monkeypatch.setenv("SYMCELL_BLAS", "mkl-please")
    with pytest.raises(ValueError, match="SYMCELL_BLAS"):
        build.blas()
    monkeypatch.setenv("SYMCELL_BLAS", "none")
    assert build.blas() == ((), ())


@pytest.mark.parametrize("source", ["symcell_runtime", "rnn_tanh", "gru", "gru_v3", "lstm"])
def test_blas_source_compiles_strictly(source, tmp_path):
    """The runtime holds the BLAS calls; the cells compile alike with the BLAS flags."""
    cflags, _ = build.blas()
    run = subprocess.run([*build.compiler(), *STRICT, "-Wshadow", *cflags, "-I", str(GENERATED / "c"), "-c",
                          str(GENERATED / "c" / f"{source}.c"), "-o", str(tmp_path / "k.o")],
                         capture_output=True, text=True)
    assert run.returncode == 0 and not run.stderr, run.stderr


def _kernels(cell: str, monkeypatch, choice: str | None, dtype):
    """A fresh build of ``cell`` with SYMCELL_BLAS = choice (the loader's own cache is keyed by cell only)."""
    if choice is None:
        monkeypatch.delenv("SYMCELL_BLAS", raising=False)
    else:
        monkeypatch.setenv("SYMCELL_BLAS", choice)
    return c_kernels(lower(cell), ctypes.CDLL(str(build.library(cell))), numpy.dtype(dtype))


@pytest.mark.parametrize("cell", ["rnn_tanh", "gru", "gru_v3", "lstm"])
def test_blas_build_matches_portable_loops_and_numpy(cell, monkeypatch):
    kb = _kernels(cell, monkeypatch, None, numpy.float64)
    kp = _kernels(cell, monkeypatch, "none", numpy.float64)
    kn = kernel(cell, "numpy")
    p = make_problem(kn, SIZES, seed=5, wscale=1.0)
    results = []
    for k in (kb, kp, kn):
        y, s, tape = k.forward(p.x, p.params, p.state0, save=True)
        results.append((y, s, k.backward(tape, p.dy, p.dstate)))
    y, s, g = results[0]
    for (y_r, s_r, g_r), ref in zip(results[1:], ("portable loops", "numpy"), strict=True):
        assert_close(y, y_r, 1e-12, f"y vs {ref}")
        assert_close(numpy.stack(s), numpy.stack(s_r), 1e-12, f"state vs {ref}")
        for name in g:
            assert_close(numpy.stack(g[name]) if name == "state0" else g[name],
                         numpy.stack(g_r[name]) if name == "state0" else g_r[name], 1e-12, f"d{name} vs {ref}")
