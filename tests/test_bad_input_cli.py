"""CLI mistakes (docs/bad-input.md): one line `symcell: error: ...` naming the file and what to do, exit status 2;
never a traceback, and never a write into the project's committed generated/ for a partial generation,
however its path is spelled. generate-c sizes are checked against the emitted C's int indices.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import numpy
import pytest
from symcell.codegen.c.limits import C_INT_MAX, check_fixed_sizes
from symcell.codegen.cli import main

from symcell.paths import KERNELS
from tests.support import ROOT

TOY = '''
from symcell.derive import Cell, register, tanh


@register
class GuardToy(Cell):
    """h' = tanh(a_h)."""

    name = "guard_toy"
    states = ("h",)
    gates = ("h",)
    citation = "a test of the generated/ guard"

    def update(self, s, a):
        return {"h": tanh(a.h)}
'''


def _error(capsys, argv) -> str:
    """The one stderr line of ``symcell argv``, which must exit 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symcell: error: "), err
    return err


def _digest(folder) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def _symcell() -> list[str]:
    exe = shutil.which("symcell", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "symcell.codegen"]


def test_partial_generation_never_touches_the_projects_output(tmp_path):
    """--cell-file (and --cell) with --out naming generated/ any way: relative, ./, trailing slash, through
    ../<checkout>/, absolute, a symlink, a folder inside it. Run from the project root, in subprocesses (the
    cell file's cell must not join this process's registry); generated/ is unchanged, byte for byte."""
    cell_file = tmp_path / "f.py"
    cell_file.write_text(TOY)
    link = tmp_path / "link"
    link.symlink_to(KERNELS)
    rel = os.path.relpath(KERNELS, ROOT)
    spellings = [rel, rel + "/", f"./{rel}", f"../{ROOT.name}/{rel}", str(KERNELS), str(link), str(link) + "/",
                 f"{rel}/numpy", f"{rel}/latex/"]
    before = _digest(KERNELS)
    for i, out in enumerate(spellings):
        for option in (["--cell-file", str(cell_file)], ["--cell", "lstm"])[: 1 + i % 3 // 2]:
            run = subprocess.run([*_symcell(), "generate", *option, "--out", out], cwd=ROOT, capture_output=True,
                                 text=True, timeout=300)
            assert run.returncode == 2, (out, run.stdout, run.stderr)
            assert run.stderr.count("\n") == 1 and "the project's generated/" in run.stderr
            assert "--out DIR" in run.stderr and not run.stdout
    assert _digest(KERNELS) == before
    run = subprocess.run([*_symcell(), "generate", "--cell", "lstm"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)  # the default --out is the project's generated/ too
    assert run.returncode == 2 and "the project's generated/" in run.stderr
    assert _digest(KERNELS) == before


def test_out_that_cannot_be_a_folder(capsys, tmp_path, monkeypatch):
    """--out a file, below a file, not writable, or where the system refuses to make it; generate and generate-c."""
    afile = tmp_path / "afile"
    afile.write_text("")
    c_cmd = ["generate-c", "rnn_tanh", "--input-size", "2", "--hidden-size", "3"]
    for cmd in (["generate", "--cell", "rnn_tanh"], c_cmd):
        assert f"--out {afile} is a file" in _error(capsys, [*cmd, "--out", str(afile)])
        err = _error(capsys, [*cmd, "--out", str(afile / "sub" / "dir")])
        assert f"is below {afile}, which is a file" in err
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked) else real_access(p, mode))
    base = ["generate-c", "rnn_tanh", "--input-size", "2", "--hidden-size", "3"]
    assert f"--out {locked} is not writable;" in _error(capsys, [*base, "--out", str(locked)])
    assert f"its parent {locked} is not writable" in _error(capsys, [*base, "--out", str(locked / "new")])
    err = _error(capsys, [*base, "--out", "/proc/symcell-cannot-be-made"])  # an OSError from the system
    assert "/proc/symcell-cannot-be-made" in err and "check the path" in err


@pytest.fixture
def bad_weights(tmp_path):
    """Weights files of every broken kind, each with what its error must say."""
    good = tmp_path / "good.npz"
    numpy.savez(good, weight_ih=numpy.zeros((3, 2)))
    raw = good.read_bytes()
    files = {"empty.npz": (b"", "is empty; write it again with numpy.savez"),
             "truncated.npz": (raw[: len(raw) // 2], "cannot be read (BadZipFile"),
             "corrupt.npz": (raw[:40] + bytes(len(raw) - 40), "cannot be read"),
             "text.npz": (b"not an npz at all\n" * 4, "cannot be read"),
             "junk.pt": (b"\x00junk" * 20, "is neither an .npz nor a file torch.load reads")}
    out = {}
    for name, (data, says) in files.items():
        (tmp_path / name).write_bytes(data)
        out[tmp_path / name] = says
    numpy.savez(tmp_path / "nothing.npz")
    out[tmp_path / "nothing.npz"] = "holds no arrays"
    out[tmp_path / "missing.npz"] = "does not exist"
    out[tmp_path] = "is not a file"
    torch = pytest.importorskip("torch")
    torch.save(torch.nn.RNN(2, 3), tmp_path / "module.pt")
    out[tmp_path / "module.pt"] = "(a whole torch.nn.Module?); save the weights alone with torch.save(model.state_"
    torch.save({"model": torch.nn.RNN(2, 3).state_dict(), "epoch": 1}, tmp_path / "checkpoint.pt")
    out[tmp_path / "checkpoint.pt"] = "holds dicts under ['model'] (a training checkpoint?)"
    torch.save(torch.nn.RNN(2, 3, num_layers=2).state_dict(), tmp_path / "two_layers.pt")
    out[tmp_path / "two_layers.pt"] = "only one-layer, one-direction cells are supported"
    return out


def test_weights_files_generate_c(capsys, tmp_path, bad_weights):
    for path, says in bad_weights.items():
        err = _error(capsys, ["generate-c", "rnn_tanh", "--input-size", "2", "--hidden-size", "3",
                              "--weights", str(path), "--out", str(tmp_path / "out")])
        assert str(path) in err or path.name in err, err
        assert says in err, (path.name, err)


def test_weights_files_gradflow(capsys, bad_weights):
    for path, says in bad_weights.items():
        if path.name == "two_layers.pt":
            says = "holds 2 layers (_l0, _l1)"  # gradflow converts with params_from_state_dict
        elif path.is_dir():
            says = "--weights: no such file"  # analysis.weights' own words for a folder
        err = _error(capsys, ["gradflow", "rnn_tanh", "--weights", str(path), "--max-lag", "2", "--seeds", "1"])
        assert says in err, (path.name, err)


def test_a_subprocess_sees_one_line_and_status_2(tmp_path):
    """The console script itself: no traceback for a truncated .npz."""
    (tmp_path / "t.npz").write_bytes(b"PK\x03\x04" + bytes(30))
    run = subprocess.run([*_symcell(), "generate-c", "lstm", "--input-size", "2", "--hidden-size", "3", "--weights",
                          str(tmp_path / "t.npz"), "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize(("cell", "G"), [("lstm", 4), ("gru", 3), ("rnn_tanh", 1)])
def test_generate_c_sizes_fit_the_emitted_int_indices(capsys, tmp_path, cell, G):
    """The largest sizes whose arrays fit in int pass; one more, an input size past 2^31 (a loop that never
    ended), a dense head too big, and non-positive sizes are errors naming the size and the array."""
    H = int((C_INT_MAX / G) ** 0.5)
    check_fixed_sizes(G, 1, H)
    with pytest.raises(ValueError, match=rf"hidden size {H + 1}: weight_hh would hold {G} x {H + 1} x {H + 1}"):
        check_fixed_sizes(G, 1, H + 1)
    with pytest.raises(ValueError, match=r"weight_ih would hold .* 3000000000 = .*int indices"):
        check_fixed_sizes(G, 3_000_000_000, 4)
    with pytest.raises(ValueError, match=r"dense_weight would hold"):
        check_fixed_sizes(G, 1, 4, dense=C_INT_MAX // 4 + 1)
    for bad in (0, -3, True):
        with pytest.raises(ValueError, match="must be a positive integer"):
            check_fixed_sizes(G, bad, 4)
    base = ["generate-c", cell, "--out", str(tmp_path)]
    assert "int indices" in _error(capsys, [*base, "--input-size", "1", "--hidden-size", str(H + 1)])
    assert "int indices" in _error(capsys, [*base, "--input-size", "3000000000", "--hidden-size", "4"])
    assert "dense size" in _error(capsys, [*base, "--input-size", "2", "--hidden-size", "4", "--dense", "0"])
    assert not list(tmp_path.iterdir())


def test_the_largest_accepted_size_compiles_clean(tmp_path):
    """At the limit (LSTM, H = 23170: 4 H^2 = 2147395600 elements) the emitted C compiles with -Wall -Wextra
    -Werror, where H = 23171 emitted int arithmetic that -Werror rejected."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler")
    assert main(["generate-c", "lstm", "--input-size", "1", "--hidden-size", "23170", "--out", str(tmp_path)]) == 0
    run = subprocess.run([cc, "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-c", str(tmp_path / "lstm_model.c"),
                          "-o", str(tmp_path / "m.o")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
