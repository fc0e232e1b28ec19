"""Generation is deterministic and the committed generated/ tree is exactly what it produces.

Every test writes into a temporary folder; the real generated/ is only read.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from symcell.analysis import FIGURE_OUTPUTS
from symcell.codegen import cli
from symcell.codegen import generate as gen
from symcell.codegen.render import GENERATED
from symcell.derive import registry

from tests.support import ROOT

UPDATE = "update with `pytest tests/test_generation.py --update-golden`, review `git diff generated/`, commit"


@pytest.fixture(scope="module")
def plan():
    return gen.plan()


def _tree(folder) -> dict[str, bytes]:
    """Every file under ``folder`` but Python caches and hidden temporaries, by relative path."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith(".")
        and path.suffix != ".pdf"  # `make paper` builds generated/latex/derivations.pdf (gitignored)
        and not path.relative_to(folder).as_posix().startswith(FIGURE_OUTPUTS)  # `make figures` writes these
    }


def test_golden_regeneration_matches_the_committed_tree_byte_for_byte(plan, tmp_path, request):
    """Regenerate into a temporary folder; it must equal generated/ file for file, byte for byte, with no
    file missing and no orphan left in generated/ by a renamed cell or backend.

    To update the golden tree after an intended change: `make kernels` (or this test with --update-golden,
    which also deletes orphans), then review `git diff generated/` and commit it."""
    if request.config.getoption("--update-golden"):
        gen.write(plan)
        for rel in gen.orphans(plan):
            (GENERATED / rel).unlink()
    written = gen.write(plan, tmp_path)
    assert sorted(written) == sorted(plan.files)
    fresh, committed = _tree(tmp_path), _tree(GENERATED)
    assert sorted(fresh) == sorted(plan.files)
    missing = sorted(set(fresh) - set(committed))
    orphans = sorted(set(committed) - set(fresh))
    assert not missing, f"generated/ lacks {missing}; {UPDATE}"
    assert not orphans, f"generated/ holds files generation no longer writes: {orphans}; {UPDATE}"
    differ = [rel for rel in fresh if fresh[rel] != committed[rel]]
    assert not differ, f"generated/ differs from a fresh generation in {differ}; {UPDATE}"


def test_regenerating_twice_is_identical_and_the_second_write_changes_nothing(plan, tmp_path):
    again = gen.plan()
    assert again.files == plan.files
    assert again.cells == plan.cells == list(registry())
    assert sorted(gen.write(plan, tmp_path)) == sorted(plan.files)
    before = {rel: (tmp_path / rel).stat().st_mtime_ns for rel in plan.files}
    assert gen.write(again, tmp_path) == []
    assert gen.stale(again, tmp_path) == []
    assert {rel: (tmp_path / rel).stat().st_mtime_ns for rel in plan.files} == before


def test_generate_command_reports_what_changed(tmp_path, capsys):
    out = tmp_path / "generated"
    assert cli.main(["generate", "--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert "written" in first and "numpy/" in first
    assert cli.main(["generate", "--out", str(out)]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert {rel: text.encode() for rel, text in gen.plan().files.items()} == _tree(out)


def test_check_command_is_clean_on_the_committed_tree():
    """The installed console script, as a user runs it: `symcell check`, beside this interpreter."""
    script = Path(sys.executable).with_name("symcell")
    assert script.exists(), f"no console script {script}: install the project (make) first"
    result = subprocess.run([str(script), "check"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


@pytest.mark.parametrize("change", ["edit", "delete"])
def test_check_command_names_an_edited_or_missing_file(plan, tmp_path, capsys, change):
    """On a freshly generated copy (so the real generated/, even if stale, is neither touched nor
    involved): hand-edit (or delete) one file; check exits 1 and names exactly that file."""
    copy = tmp_path / "generated"
    gen.write(plan, copy)
    assert cli.main(["check", "--out", str(copy)]) == 0
    victim = f"numpy/{plan.cells[0]}.py"
    target = copy / victim
    if change == "edit":
        target.write_text(target.read_text() + "# a hand edit\n")
    else:
        target.unlink()
    assert cli.main(["check", "--out", str(copy)]) == 1
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    named = [rel for rel in plan.files if any(line == rel or line.endswith(f"/{rel}") for line in lines)]
    assert named == [victim], f"check named {named}, expected exactly [{victim!r}]:\n" + "\n".join(lines)


def test_check_command_names_orphaned_files(plan, tmp_path, capsys):
    """A file generation no longer writes (a removed cell's module) makes check fail and is named; what
    `make figures` and `make paper` write beside the kernels is not an orphan."""
    from symcell.analysis import FIGURE_OUTPUTS

    copy = tmp_path / "generated"
    gen.write(plan, copy)
    (copy / "figures").mkdir()
    (copy / "figures" / "gradflow_default.png").write_bytes(b"")
    (copy / "latex" / "derivations.pdf").write_bytes(b"")
    assert cli.main(["check", "--out", str(copy)]) == 0
    assert all(prefix.startswith(gen.NOT_GENERATED) for prefix in FIGURE_OUTPUTS)
    for rel in ("numpy/removed_cell.py", "c/removed_cell.c", "c/removed_cell.json"):
        (copy / rel).write_text("left behind\n")
    capsys.readouterr()
    assert cli.main(["check", "--out", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "no registered cell generates" in out
    assert [line.strip() for line in out.splitlines() if "removed_cell" in line] == [
        str(copy / rel) for rel in ("c/removed_cell.c", "c/removed_cell.json", "numpy/removed_cell.py")]


def test_every_generated_file_says_it_is_generated_and_not_to_be_edited(plan):
    for rel, text in plan.files.items():
        head = "\n".join(text.splitlines()[:3])
        assert "Generated by symcell" in head and "Do not edit" in head, f"{rel} lacks the header:\n{head}"
        if rel.endswith(".json"):  # JSON has no comments: the manifests carry the header as their first field
            assert '"_generated": "Generated by symcell (codegen/c/manifest.py)' in head, rel
        else:
            assert "templates/" in head, f"{rel}: the header should name its template"
        if rel.endswith(".py"):
            compile(text, rel, "exec")  # valid Python, whichever backend wrote it


@pytest.mark.parametrize("cell", list(registry()))
def test_generated_numpy_modules_import_with_the_contract(cell):
    module = importlib.import_module(f"symcell.kernels.numpy.{cell}")
    spec = registry()[cell]
    assert module.CELL == cell
    assert module.STATES == spec.states and module.GATES == spec.gates
    for name in ("param_shapes", "init_params", "params_from_state_dict", "forward", "backward", "step"):
        assert callable(getattr(module, name)), f"symcell.kernels.numpy.{cell} lacks {name}"
    G = len(spec.gates)
    shapes = {"weight_ih": (G * 4, 3), "weight_hh": (G * 4, 4), "bias_ih": (G * 4,), "bias_hh": (G * 4,)}
    shapes |= {name: (4,) for name in spec.unit_params}
    assert module.param_shapes(3, 4) == {name: shapes[name] for name in spec.param_names()}
    assert list(module.param_shapes(3, 4)) == list(spec.param_names())
    assert importlib.import_module("symcell.kernels.numpy").CELLS == list(registry())
