"""symcell.load(cell, "c"): the NumPy module's API, argument checks in Python before any C call, a clear error
without a compiler, and a build cache keyed by source, compiler and flags."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from types import MappingProxyType

import numpy
import pytest
from symcell.codegen.c.api import functions
from symcell.codegen.ir import lower
from symcell.codegen.render import GENERATED

from symcell import cbuild as build
from symcell import ckernels as loader
from symcell.ckernels import load
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
                assert "float *" in param and argtype is ctypes.c_void_p  # an address, after _pointer's checks


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
    run = subprocess.run([sys.executable, "-m", "symcell.codegen", "build-c", "--cell", "rnn_tanh"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 2 and "C compiler" in run.stderr and "Traceback" not in run.stderr


def test_cache_reuses_and_is_keyed_by_compiler_and_flags(monkeypatch, tmp_path):
    monkeypatch.setenv("SYMCELL_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    first = build.library("rnn_tanh")
    stamp = first.stat().st_mtime_ns
    assert build.library("rnn_tanh") == first and first.stat().st_mtime_ns == stamp
    runtime = build.runtime_object()
    monkeypatch.setenv("CC", "cc -DSYMCELL_TEST_FLAG")
    other = build.library("rnn_tanh")
    assert other != first and other.exists()
    other_runtime = build.runtime_object()
    assert other_runtime != runtime  # the runtime object is keyed by the flags too
    # no temp files left
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (first, other, runtime, other_runtime))


def test_runtime_is_compiled_once_for_every_cell(monkeypatch, tmp_path):
    """Every cell's library links the one cached runtime object; a library's hash covers it."""
    monkeypatch.setenv("SYMCELL_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    build.library("rnn_tanh")
    build.library("gru")
    objects = [p for p in tmp_path.iterdir() if p.suffix == ".o"]
    assert len(objects) == 1 and objects[0].name.startswith("symcell_runtime-")
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".so"]) == 2


def test_compile_error_names_the_file(monkeypatch, tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "rnn_tanh.c").write_text("this is not C\n")
    (tmp_path / "c" / "rnn_tanh.h").write_text("")
    monkeypatch.setenv("SYMCELL_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="symcell_runtime.c.*symcell generate"):
        build.library("rnn_tanh", tmp_path)  # a folder without the runtime
    for suffix in (".c", ".h"):
        shutil.copy(GENERATED / "c" / f"symcell_runtime{suffix}", tmp_path / "c")
    with pytest.raises(build.CompileError, match="rnn_tanh.c"):
        build.library("rnn_tanh", tmp_path)
    with pytest.raises(FileNotFoundError, match="symcell generate"):
        build.library("rnn_tanh", tmp_path / "empty")


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


def test_a_manifest_from_another_generation_is_refused(monkeypatch, tmp_path):
    """The loader takes argtypes and the tape layout from c/<cell>.json; a library built from another
    generation than that file (its compiled-in digest differs) is refused instead of called."""
    (tmp_path / "c").mkdir()
    for name in ("rnn_tanh.c", "rnn_tanh.h", "rnn_tanh.json", "symcell_runtime.c", "symcell_runtime.h"):
        shutil.copy(GENERATED / "c" / name, tmp_path / "c")
    monkeypatch.setenv("SYMCELL_CACHE_DIR", str(tmp_path / "cache"))
    assert load("rnn_tanh", path=tmp_path).CELL == "rnn_tanh"  # a faithful copy loads
    manifest = tmp_path / "c" / "rnn_tanh.json"
    manifest.write_text(manifest.read_text().replace('"tape": []', '"tape": ["h"]'))
    monkeypatch.setattr(loader, "_LOADED", {})
    with pytest.raises(RuntimeError, match="another generation.*symcell generate"):
        load("rnn_tanh", path=tmp_path)
    manifest.write_text("{not json")
    with pytest.raises(ValueError, match="rnn_tanh.json is not a symcell C manifest"):
        load("rnn_tanh", path=tmp_path)


def test_an_unknown_cell_names_the_cells_there(tmp_path):
    with pytest.raises(ValueError, match="no C kernels for cell 'nope'.*lstm.*--cell-file"):
        load("nope")
    with pytest.raises(ValueError, match="it has none"):
        load("lstm", path=tmp_path)
    with pytest.raises(TypeError, match="cell must be a cell name"):
        load(3)


def test_addresses_only_for_arrays_c_can_read():
    """The last guard before C: a pointer to a C-contiguous array of the build's dtype, else TypeError."""
    k = load("lstm", numpy.float32)

    def address(ptr):
        return ptr.value if isinstance(ptr, ctypes.c_void_p) else ctypes.addressof(ptr)

    a = numpy.zeros((3, 4), numpy.float32)
    assert address(k._pointer(a)) == a.ctypes.data
    assert k._pointer(None, optional=True) is None
    a.flags.writeable = False  # read-only arrays (e.g. weights a caller froze) take the other path
    assert address(k._pointer(a)) == a.ctypes.data
    for bad in (a.astype(numpy.float64), a.T, a.tolist(), None):
        with pytest.raises(TypeError, match="C-contiguous float32"):
            k._pointer(bad)


def _outcome(call):
    """What a call gives: its arrays flattened, or the type and message of what it raised."""
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - any exception is an outcome to compare
        return type(exc), str(exc)
    if isinstance(result, dict):  # a backward: the gradients
        return [(n, numpy.array(a)) for n, a in result.items()]
    if all(isinstance(a, numpy.ndarray) for a in result):  # a step: the next state
        return [numpy.array(result)]
    y, state, tape = result
    return [y, numpy.array(state), tape.x, *tape.params.values(), numpy.array(tape.state0), tape.slots,
            *tape.seq.values()]


def _same(a, b) -> bool:
    if isinstance(a, tuple):
        return a == b
    return len(a) == len(b) and all(
        numpy.array_equal(u[1], v[1]) and u[0] == v[0] if isinstance(u, tuple) else numpy.array_equal(u, v)
        for u, v in zip(a, b, strict=True))


def _forward_variants(k, p):
    """forward's arguments: the common case, and each argument wrong, or right but not as C reads it."""
    bump = lambda a: numpy.zeros((a.shape[0] + 1, *a.shape[1:]), a.dtype)  # noqa: E731
    readonly = p.x.copy()
    readonly.flags.writeable = False
    yield "ready", p.x, p.params, p.state0
    yield "no state0", p.x, p.params, None
    yield "state0 a list", p.x, p.params, list(p.state0)
    yield "state0 strided", p.x, p.params, tuple(numpy.repeat(s, 2, axis=1)[:, ::2] for s in p.state0)
    yield "state0 short", p.x, p.params, p.state0[:-1]
    yield "state0 wide", p.x, p.params, tuple(numpy.zeros((s.shape[0], s.shape[1] + 1)) for s in p.state0)
    yield "state0 float32", p.x, p.params, tuple(s.astype(numpy.float32) for s in p.state0)
    yield "state0 an array", p.x, p.params, numpy.stack(p.state0)
    yield "x float32", p.x.astype(numpy.float32), p.params, p.state0
    yield "x big-endian", p.x.astype(">f8"), p.params, p.state0
    yield "x Fortran", numpy.asfortranarray(p.x), p.params, p.state0
    yield "x read-only", readonly, p.params, p.state0
    yield "x a list", p.x.tolist(), p.params, p.state0
    yield "x a subclass", p.x.view(type("Sub", (numpy.ndarray,), {})), p.params, p.state0
    yield "x 2-d", p.x[0], p.params, p.state0
    yield "x empty", p.x[:0], p.params, p.state0
    yield "x wider", numpy.zeros((*p.x.shape[:2], p.x.shape[2] + 1)), p.params, p.state0
    yield "params a mapping proxy", p.x, MappingProxyType(p.params), p.state0
    yield "params extra key", p.x, {**p.params, "weight_ih_l0": p.params["weight_ih"]}, p.state0
    for n, a in p.params.items():
        yield f"{n} missing", p.x, {m: b for m, b in p.params.items() if m != n}, p.state0
        yield f"{n} longer", p.x, {**p.params, n: bump(a)}, p.state0
        yield f"{n} float32", p.x, {**p.params, n: a.astype(numpy.float32)}, p.state0
        yield f"{n} 0-d", p.x, {**p.params, n: numpy.zeros(())}, p.state0
        yield f"{n} strided", p.x, {**p.params, n: numpy.repeat(a, 2, axis=0)[::2]}, p.state0
    G, H = len(k.GATES), p.dy.shape[2]
    yield "bias_hh of H - 1", p.x, {**p.params, "bias_hh": numpy.zeros(G * (H - 1))}, p.state0
    yield "bias_hh of H + 1", p.x, {**p.params, "bias_hh": numpy.zeros(G * (H + 1))}, p.state0
    yield "bias_hh of 1", p.x, {**p.params, "bias_hh": numpy.zeros(1)}, p.state0


def _backward_variants(k, p, tape, other):
    """backward's arguments: the common case, and each argument or tape field wrong, or right but copied."""
    yield "ready", tape, p.dy, None
    yield "dstate", tape, p.dy, p.dstate
    yield "dstate a list", tape, p.dy, list(p.dstate)
    yield "dstate short", tape, p.dy, p.dstate[:-1]
    yield "dstate float32", tape, p.dy, tuple(d.astype(numpy.float32) for d in p.dstate)
    yield "dy float32", tape, p.dy.astype(numpy.float32), None
    yield "dy strided", tape, numpy.repeat(p.dy, 2, axis=2)[..., ::2], None
    yield "dy short", tape, p.dy[:-1], None
    yield "not a tape", {"x": p.x}, p.dy, None
    yield "the NumPy module's tape", other, p.dy, None
    yield "another cell's tape", replace(tape, cell="rnn_tanh" if k.CELL != "rnn_tanh" else "gru"), p.dy, None
    yield "x strided", replace(tape, x=numpy.repeat(tape.x, 2, axis=2)[..., ::2]), p.dy, None
    yield "x short", replace(tape, x=tape.x[:, :1]), p.dy, None
    yield "x float32", replace(tape, x=tape.x.astype(numpy.float32)), p.dy, None
    yield "y copied", replace(tape, y=numpy.asfortranarray(tape.y)), p.dy, None
    yield "y 2-d", replace(tape, y=tape.y[0]), p.dy[0], None
    yield "state0 short", replace(tape, state0=tape.state0[:-1]), p.dy, None
    yield "state0 wide", replace(tape, state0=tuple(numpy.zeros((s.shape[0], s.shape[1] + 1))
                                                    for s in tape.state0)), p.dy, None
    for n, a in tape.params.items():
        yield f"{n} shorter", replace(tape, params={**tape.params, n: a[:-1]}), p.dy, None
        yield f"{n} missing", replace(tape, params={m: b for m, b in tape.params.items() if m != n}), p.dy, None
    yield "slots copied", replace(tape, slots=tape.slots.copy()), p.dy, None
    yield "slots short", replace(tape, slots=tape.slots[:, :-1]), p.dy, None
    yield "slots of another tape", replace(tape, slots=other.slots), p.dy, None
    yield "slots retyped", replace(tape, slots=tape.slots.view(numpy.float32)), p.dy, None
    yield "seq a list", replace(tape, seq=list(tape.seq.values())), p.dy, None
    yield "seq with an extra key", replace(tape, seq={**tape.seq, "z": p.dy}), p.dy, None
    for s, a in tape.seq.items():
        yield f"seq {s} copied", replace(tape, seq={**tape.seq, s: a.copy()}), p.dy, None
        yield f"seq {s} missing", replace(tape, seq={q: b for q, b in tape.seq.items() if q != s}), p.dy, None
        yield f"seq {s} of another tape", replace(tape, seq={**tape.seq, s: other.seq[s]}), p.dy, None


@pytest.mark.parametrize("cell", ["lstm", "gru", "indrnn", "lstm_peephole", "rnn_tanh"])
def test_ready_path_changes_no_outcome(cell, monkeypatch):
    """forward and backward hand C the caller's arrays themselves when they already are what C reads (the
    _ready_* methods), and take the full checks otherwise. Over good and bad arguments, the two give the same
    outcome as the full checks alone: the same arrays, or the same exception and message."""
    k = load(cell)
    p = make_problem(k, (3, 2, 3, 4), 0)
    *_, tape = k.forward(p.x, p.params, p.state0, save=True)
    *_, other = kernel(cell, "numpy").forward(p.x, p.params, p.state0, save=True)
    forward_cases = list(_forward_variants(k, p))
    backward_cases = list(_backward_variants(k, p, tape, other))
    # step's arguments: forward's, with each sequence's first step (x_t of shape (B, X), or a list of its rows)
    step_cases = [(name, x[0] if len(x) else x, params, state) for name, x, params, state in forward_cases]

    def outcomes():
        return [[_outcome(lambda a=a: k.forward(*a, save=True)) for _, *a in forward_cases],
                [_outcome(lambda a=a: k.backward(*a)) for _, *a in backward_cases],
                [_outcome(lambda a=a: k.step(*a)) for _, *a in step_cases]]

    both = outcomes()
    monkeypatch.setattr(loader.CKernels, "_ready_forward", lambda *a: None)
    monkeypatch.setattr(loader.CKernels, "_ready_backward", lambda *a: None)
    checked = outcomes()
    for cases, got, want in zip((forward_cases, backward_cases, step_cases), both, checked, strict=True):
        for (name, *_), g, w in zip(cases, got, want, strict=True):
            assert _same(g, w), f"{cell}, {name}: {g!r:.300} != {w!r:.300}"


@pytest.mark.parametrize("cell", ["lstm", "indrnn", "lstm_peephole"])
def test_ready_path_serves_the_common_cases(cell, monkeypatch):
    """C-contiguous arrays of the build's dtype, with or without initial state and cotangents of the state,
    and a tape of either backend, never take the general path (whose checks and copies cost three times as
    much Python)."""
    k = load(cell, numpy.float32)
    p = make_problem(k, (3, 2, 3, 4), 0, dtype=numpy.float32)
    *_, other = kernel(cell, "numpy").forward(p.x, p.params, p.state0, save=True)

    def refuse(*_):
        raise AssertionError("took the general path")

    monkeypatch.setattr(loader.CKernels, "_checked_forward", refuse)
    monkeypatch.setattr(loader.CKernels, "_checked_backward", refuse)
    monkeypatch.setattr(loader.CKernels, "_checked_step", refuse)
    for state0, dstate in ((None, None), (p.state0, p.dstate), (list(p.state0), list(p.dstate))):
        y, state, tape = k.forward(p.x, p.params, state0, save=True)
        k.backward(tape, p.dy, dstate)
        k.forward(p.x, p.params, state0)
        k.step(p.x[0], p.params, state0)
    k.backward(other, p.dy)


def test_arrays_changed_in_place_are_checked_again():
    """No check is remembered by array identity: an array whose shape or dtype was changed in place since a
    call that accepted it is refused by the next call like any other wrong array."""
    k = load("lstm")
    p = make_problem(k, (3, 2, 3, 4), 0)
    x, params = p.x.copy(), {n: a.copy() for n, a in p.params.items()}
    *_, tape = k.forward(x, params, save=True)
    k.backward(tape, p.dy)
    w = params["weight_hh"]
    w.shape = (w.size,)
    with pytest.raises(ValueError, match="weight_hh"):
        k.forward(x, params)
    w.shape = p.params["weight_hh"].shape
    x.dtype = numpy.float32  # (T, B, X) float64 read as (T, B, 2X) float32
    with pytest.raises(TypeError, match="float32"):
        k.forward(x, params)
    x.dtype = numpy.float64  # tape.x is this array
    tape.slots.shape = (tape.slots.shape[0], -1)
    with pytest.raises(ValueError, match="slots"):
        k.backward(tape, p.dy)
    tape.slots.shape = (3, len(k.TAPE), 2, 4)
    k.backward(tape, p.dy)
    tape.seq["c"].dtype = numpy.float32
    with pytest.raises((TypeError, ValueError), match="seq"):
        k.backward(tape, p.dy)
