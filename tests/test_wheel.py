"""symcell as a user installs it: the wheel, built from this checkout, installed into a fresh venv with no
checkout beside it, used from another folder.

Two stages in one venv. First the wheel with numpy alone (no SymPy, no Jinja2): the NumPy and C kernels
load and agree (tests/installed/runtime_smoke.py). Then the generator's dependencies too: every README
command runs, a cell file is generated with --out and that folder's kernels load in both backends, again
without the generator imported. The working folder holds a `generated/` of its own, which must not shadow
the installed kernels. Building the wheel must leave the checkout's git status as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.support import ROOT
from tests.test_cell_file import TOY  # the same cell file a user keeps outside the project


def _run(cmd, cwd, env, timeout=600) -> str:
    run = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{run.stdout}\n{run.stderr}"
    return run.stdout


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def _requirement(name: str) -> str:
    """The version of ``name`` this test's own environment runs, pinned: the venv gets what the suite checked."""
    from importlib.metadata import version

    return f"{name}=={version(name)}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin folder, work folder, environment) with the wheel and numpy only installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    before = _git_status()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["SYMCELL_CACHE_DIR"] = str(tmp / "cache")
    # setuptools never prunes its build folder (.cache/build, git-ignored): a file the checkout has since removed
    # would still ship, so the wheel is built from an empty one, as on a fresh clone
    shutil.rmtree(ROOT / ".cache" / "build", ignore_errors=True)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "dist"), str(ROOT)], tmp, env)
    assert _git_status() == before, "building the wheel changed the checkout"
    (wheel,) = (tmp / "dist").glob("symcell-*.whl")
    _run([sys.executable, "-m", "venv", str(tmp / "venv")], tmp, env)
    bin_ = tmp / "venv" / "bin"
    _run([str(bin_ / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel), _requirement("numpy")],
         tmp, env)
    work = tmp / "work"
    (work / "generated" / "numpy").mkdir(parents=True)  # a user's own folder of that name
    (work / "generated" / "__init__.py").write_text("")
    return bin_, work, env


def test_the_wheel_installs_one_namespace_and_its_data(installed):
    bin_, work, env = installed
    listing = _run([str(bin_ / "python"), "-c", textwrap.dedent("""
        import importlib.metadata as m
        files = [str(f) for f in m.files("symcell")]
        print(sorted({f.split("/")[0] for f in files if not f.startswith(("symcell-", "../"))}))
        print(sum(f.startswith("symcell/kernels/c/") and f.endswith(".json") for f in files),
              sum(f.startswith("symcell/templates/") and f.endswith(".jinja") for f in files))
    """)], work, env).splitlines()
    assert listing[0] == "['symcell']", "the wheel installs a top-level name other than symcell"
    manifests, templates = map(int, listing[1].split())
    assert manifests == len(list((ROOT / "generated" / "c").glob("*.json"))) and manifests >= 11
    assert templates == len(list((ROOT / "templates").rglob("*.jinja")))


def test_kernels_run_with_numpy_alone_then_every_readme_command(installed):
    bin_, work, env = installed
    smoke = str(ROOT / "tests" / "installed" / "runtime_smoke.py")
    assert _run([str(bin_ / "python"), smoke, ""], work, env).strip() == "OK"
    _run([str(bin_ / "python"), "-m", "pip", "install", "--quiet", _requirement("sympy"), _requirement("jinja2")],
         work, env)
    symcell = str(bin_ / "symcell")
    assert "lstm" in _run([symcell, "list"], work, env)
    assert r"\begin{document}" in _run([symcell, "latex", "gru", "--standalone"], work, env)
    assert "rnn_tanh" in _run([symcell, "bounds"], work, env)
    assert "lag" in _run([symcell, "gradflow", "rnn_tanh", "--input-size", "3", "--hidden-size", "4",
                          "--max-lag", "5", "--seeds", "1"], work, env)
    assert "up to date" in _run([symcell, "check"], work, env)
    _run([symcell, "generate-c", "lstm", "--input-size", "1", "--hidden-size", "4", "--dense", "1",
          "--out", "model"], work, env)
    assert (work / "model" / "lstm_model.c").is_file() and (work / "model" / "lstm_model.h").is_file()
    (work / "my_cell.py").write_text(TOY)
    _run([symcell, "generate", "--cell-file", "my_cell.py", "--out", "toy"], work, env)
    assert _run([str(bin_ / "python"), smoke, "toy"], work, env).strip() == "OK"
    assert not (work / "toy" / "numpy" / "lstm.py").exists()  # --cell-file generates only that file's cells
