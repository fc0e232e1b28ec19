"""Every piece of generated C compiles warning-free under -Wall -Wextra -Werror -pedantic -std=c99:
the committed per-cell sources and headers, and the fixed-size variant in each of its shapes."""

from __future__ import annotations

import subprocess

import numpy
import pytest

from codegen.c.build import compiler
from codegen.c.fixed import generate
from codegen.render import GENERATED
from tests.support import CELLS, kernel

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]


def _compile(cwd, *args):
    run = subprocess.run([*compiler(), *STRICT, *args], cwd=cwd, capture_output=True, text=True)
    assert run.returncode == 0 and not run.stderr, run.stderr


@pytest.mark.parametrize("cell", CELLS)
def test_cell_source_compiles_strictly(cell, tmp_path):
    """With -Wshadow as well: printed kernels declare many locals beside the loop's own."""
    _compile(tmp_path, "-Wshadow", "-I", str(GENERATED / "c"), "-c", str(GENERATED / "c" / f"{cell}.c"))


@pytest.mark.parametrize("cell", CELLS)
def test_cell_header_stands_alone(cell, tmp_path):
    """The header includes what it needs: a file that includes only it compiles."""
    (tmp_path / "use.c").write_text(f'#include "{cell}.h"\nint main(void) {{ return 0; }}\n')
    _compile(tmp_path, "-I", str(GENERATED / "c"), "-c", "use.c")


@pytest.mark.parametrize("cell", CELLS)
def test_fixed_size_variants_compile_strictly(cell, tmp_path):
    """Each shape of the fixed-size output: float/double, with and without baked weights and dense head."""
    X, H, N = 3, 5, 2
    weights = kernel(cell, "numpy").init_params(X, H, numpy.random.default_rng(0))
    weights |= {"dense_weight": numpy.ones((N, H)), "dense_bias": numpy.zeros(N)}
    variants = [
        dict(weights=None, dense=None, dtype="float", name="plain"),
        dict(weights=weights, dense=N, dtype="float", name="baked"),
        dict(weights=weights, dense=None, dtype="double", name="baked64"),
        dict(weights=None, dense=N, dtype="double", name="dense64"),
    ]
    for v in variants:
        for rel, text in generate(cell, X, H, **v).items():
            (tmp_path / rel).write_text(text)
    _compile(tmp_path, "-Wshadow", "-c", *(f"{v['name']}.c" for v in variants))
