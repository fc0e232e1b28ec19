"""The README's promises, checked: its example runs, its C program is the one the C tests compile and
run, and it lists every registered cell."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy

from tests.support import CELLS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_python_example_runs_and_its_gradients_have_the_promised_shapes():
    example = _blocks(README, "python")[0]
    run = subprocess.run([sys.executable, "-c", example], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["(32,", "8)", "(20,", "4,", "3)", "(4,", "8)"]


def test_c_program_is_the_one_the_c_tests_compile_and_run():
    (readme_program,) = [b for b in _blocks(README, "c") if "int main" in b]
    docs = (ROOT / "docs" / "c-api.md").read_text()
    assert readme_program in _blocks(docs, "c")


def test_every_registered_cell_is_in_the_cell_table():
    table = README.split("## Cells", 1)[1].split("\n## ", 1)[0]
    missing = [c for c in CELLS if f"| `{c}` |" not in table]
    assert not missing, f"README's cell table lacks {missing}"


def test_example_state_has_the_documented_dtype():
    from symcell.kernels.numpy import lstm

    params = lstm.init_params(3, 8, rng=0, dtype=numpy.float32)
    y, (h, c) = lstm.forward(numpy.zeros((2, 1, 3), numpy.float32), params)
    assert y.dtype == h.dtype == c.dtype == numpy.float32
