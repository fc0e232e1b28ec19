"""codegen.c.load: the NumPy module's API, argument checks in Python before any C call, a clear error
without a compiler, and a build cache keyed by source, compiler and flags."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from dataclasses import replace

import numpy
import pytest

from codegen.c import build, load, loader
from codegen.c.api import functions
from codegen.ir import lower
from codegen.render import GENERATED
from tests.conftest import make_problem
from tests.support import CELLS, kernel

API = ("CELL", "STATES", "GATES", "TAPE", "param_shapes", "init_params", "params_from_state_dict",
       "forward", "backward", "step", "release")


@pytest.mark.parametrize("cell", CELLS)
def test_same_api_and_constants_as_the_numpy_module(cell):
    kn, kc = kernel(cell, "numpy"), load(cell)
    for name in API:
        assert hasattr(kc, name), name
    assert (kc.CELL, kc.STATES, kc.GATES, kc.TAPE) == (kn.CELL, kn.STATES, kn.GATES, kn.TAPE)
    assert kc.param_shapes(3, 4) == kn.param_shapes(3, 4)
    assert load(cell, numpy.float64) is kc and load(cell, "float32") is not kc


@pytest.mark.parametrize("cell", CELLS)
def test_argtypes_match_the_header(cell):
    """The ctypes signatures and the header's prototypes come from one description: same functions,
    same parameter counts, pointer types of the build's dtype."""
    header = (GENERATED / "c" / f"{cell}.h").read_text()
    protos = dict(re.findall(r"^(?:int|size_t) (symcell_\w+)\((.*)\);$", header, re.M))
    kc = load(cell, numpy.float32)
    assert len(protos) == 4 + 3 * 2
    for f in functions(lower(cell)):
        fn = kc._fn[f.stem]
        c_name = fn.__name__
        assert c_name in protos
        params = protos[c_name].split(", ")
        assert len(fn.argtypes) == len(params)
        for argtype, param in zip(fn.argtypes, params, strict=True):
            if param.startswith("size_t"):
                assert argtype is ctypes.c_size_t
            else:
                assert "float *" in param and argtype is ctypes.c_void_p  # an address, after _addr's checks


@pytest.mark.parametrize("cell", ["lstm", "gru_v3"])
def test_bad_input_raises_before_c(cell):
    k = load(cell)
    p = make_problem(k, (3, 2, 3, 4), 0)
    with pytest.raises(TypeError, match="float32"):
        k.forward(p.x.astype(numpy.float32), {n: a.astype(numpy.float32) for n, a in p.params.items()})
    with pytest.raises(TypeError, match="dtype"):
        load(cell, numpy.int32)
    with pytest.raises(TypeError, match="x"):
        k.forward("not an array", p.params)
    with pytest.raises(ValueError, match="weight_hh"):
        k.forward(p.x, {**p.params, "weight_hh": p.params["weight_hh"][:, :-1]})
    _, _, tape = k.forward(p.x, p.params, p.state0, save=True)
    with pytest.raises(TypeError, match="tape"):
        k.backward({"not": "a tape"}, p.dy)
    with pytest.raises(ValueError, match="dy"):
        k.backward(tape, p.dy[:-1])
    with pytest.raises(ValueError, match="slots"):
        k.backward(replace(tape, slots=tape.slots[:, :-1]), p.dy)
    with pytest.raises(ValueError, match="tape.x"):
        k.backward(replace(tape, x=tape.x[:, :1]), p.dy)
    with pytest.raises(ValueError, match="weight_ih"):
        k.backward(replace(tape, params={**tape.params, "weight_ih": tape.params["weight_ih"][:-1]}), p.dy)
    with pytest.raises(ValueError, match="state0"):
        k.backward(replace(tape, state0=tape.state0[:-1]), p.dy)
    with pytest.raises(TypeError, match="dtype"):
        load(cell, numpy.float32).backward(tape, p.dy.astype(numpy.float32))
    other = load("rnn_tanh")
    with pytest.raises(ValueError, match="cell"):
        other.backward(tape, p.dy)
    with pytest.raises(ValueError, match="x_t"):
        k.step(p.x, p.params, p.state0)


def test_missing_compiler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("SYMCELL_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(build.CompilerNotFoundError, match="C compiler.*not found"):
        build.library("rnn_tanh")
    env = dict(os.environ, CC=str(tmp_path / "no-such-cc"), SYMCELL_CACHE_DIR=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-m", "codegen", "build-c", "--cell", "rnn_tanh"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 2 and "C compiler" in run.stderr and "Traceback" not in run.stderr


def test_cache_reuses_and_is_keyed_by_compiler_and_flags(monkeypatch, tmp_path):
    monkeypatch.setenv("SYMCELL_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    first = build.library("rnn_tanh")
    stamp = first.stat().st_mtime_ns
    assert build.library("rnn_tanh") == first and first.stat().st_mtime_ns == stamp
    monkeypatch.setenv("CC", "cc -DSYMCELL_TEST_FLAG")
    other = build.library("rnn_tanh")
    assert other != first and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])  # no temp files left


def test_compile_error_names_the_file(monkeypatch, tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "rnn_tanh.c").write_text("this is not C\n")
    (tmp_path / "c" / "rnn_tanh.h").write_text("")
    monkeypatch.setattr(build, "GENERATED", tmp_path)
    monkeypatch.setenv("SYMCELL_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(build.CompileError, match="rnn_tanh.c"):
        build.library("rnn_tanh")
    monkeypatch.setattr(build, "GENERATED", tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="make kernels"):
        build.library("rnn_tanh")


def test_doc_python_example_runs():
    """The Python snippet of docs/c-api.md runs as printed and gives the NumPy module's results."""
    text = (GENERATED.parent / "docs" / "c-api.md").read_text()
    scope: dict = {}
    exec(re.search(r"```python\n(.*?)```", text, re.S).group(1), scope)  # the docs are ours
    kn = kernel("lstm", "numpy")
    y, _, tape = kn.forward(scope["x"], scope["params"], save=True)
    assert numpy.allclose(scope["y"], y, rtol=1e-12, atol=1e-14)
    want = kn.backward(tape, numpy.ones_like(y))
    assert numpy.allclose(scope["grads"]["weight_hh"], want["weight_hh"], rtol=1e-12, atol=1e-14)


def test_stale_generated_source_is_refused(monkeypatch, tmp_path):
    """A generated/c file that no longer matches the cell would disagree with the argtypes and tape
    layout taken from the cell's IR; load refuses it instead of calling into it."""
    (tmp_path / "c").mkdir()
    for suffix in (".c", ".h"):
        text = (GENERATED / "c" / f"rnn_tanh{suffix}").read_text()
        (tmp_path / "c" / f"rnn_tanh{suffix}").write_text(text.replace("0 on success", "0 if fine"))
    monkeypatch.setattr(loader, "GENERATED", tmp_path)
    monkeypatch.setattr(loader, "_LOADED", {})
    with pytest.raises(RuntimeError, match="stale.*make kernels"):
        loader.load("rnn_tanh")


def test_addresses_only_for_arrays_c_can_read():
    """The last guard before C: the address of a C-contiguous array of the build's dtype, else TypeError."""
    k = load("lstm", numpy.float32)
    a = numpy.zeros((3, 4), numpy.float32)
    assert k._addr(a, False) == a.ctypes.data
    assert k._addr(None, True) is None
    a.flags.writeable = False  # read-only arrays (e.g. weights a caller froze) take the other path
    assert k._addr(a, False) == a.ctypes.data
    for bad in (a.astype(numpy.float64), a.T, a.tolist(), None):
        with pytest.raises(TypeError, match="C-contiguous float32"):
            k._addr(bad, False)

