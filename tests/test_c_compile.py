"""Every piece of generated C compiles warning-free under -Wall -Wextra -Werror -pedantic -std=c99:
the committed runtime, per-cell sources and headers (with and without OpenMP), and the fixed-size variant
in each of its shapes."""

from __future__ import annotations

import ctypes
import subprocess

import numpy
import pytest
from symcell.codegen.c.backend import c_files
from symcell.codegen.c.fixed import generate
from symcell.codegen.c.printer import c_name
from symcell.codegen.ir import lower
from symcell.codegen.render import GENERATED
from symcell.derive import Cell, sigmoid, tanh

from symcell.cbuild import compiler
from tests.support import CELLS, c_kernels, kernel

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]


def _compile(cwd, *args):
    run = subprocess.run([*compiler(), *STRICT, *args], cwd=cwd, capture_output=True, text=True)
    assert run.returncode == 0 and not run.stderr, run.stderr


@pytest.mark.parametrize("omp", [[], ["-fopenmp"]], ids=["serial", "openmp"])
@pytest.mark.parametrize("cell", CELLS)
def test_cell_source_compiles_strictly(cell, omp, tmp_path):
    """With -Wshadow as well: printed kernels declare many locals beside the loop's own."""
    _compile(tmp_path, "-Wshadow", *omp, "-I", str(GENERATED / "c"), "-c", str(GENERATED / "c" / f"{cell}.c"))


@pytest.mark.parametrize("omp", [[], ["-fopenmp"]], ids=["serial", "openmp"])
def test_runtime_compiles_strictly_and_its_header_stands_alone(omp, tmp_path):
    _compile(tmp_path, "-Wshadow", "-O3", "-march=native", *omp, "-I", str(GENERATED / "c"), "-c",
             str(GENERATED / "c" / "symcell_runtime.c"))
    (tmp_path / "use.c").write_text('#include "symcell_runtime.h"\nint main(void) { return 0; }\n')
    _compile(tmp_path, *omp, "-I", str(GENERATED / "c"), "-c", "use.c")


def test_every_cell_links_with_one_runtime(tmp_path):
    """A program may link every cell and the runtime once: no cell defines a symbol another does."""
    (tmp_path / "main.c").write_text("".join(f'#include "{c}.h"\n' for c in CELLS) + "int main(void) { return "
                                     + " + ".join(f"(int)symcell_{c}_tape_size(1, 1, 1)" for c in CELLS) + " < 0; }\n")
    _compile(tmp_path, "-I", str(GENERATED / "c"), "-o", "main", "main.c", str(GENERATED / "c" / "symcell_runtime.c"),
             *(str(GENERATED / "c" / f"{c}.c") for c in CELLS), "-lm")
    assert subprocess.run([str(tmp_path / "main")]).returncode == 0


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
    # as a real-time user builds it: GCC's -O3 loop analysis warns about code -O2 accepts
    _compile(tmp_path, "-O3", "-march=native", "-c", *(f"{v['name']}.c" for v in variants))


def test_c_hostile_names_compile(tmp_path):
    """Cell names are Python identifiers, so they may be C keywords, libm functions or our own sc_
    prefix: the printer escapes them (injectively); the result compiles strictly and computes the LSTM
    it is (its gates are the LSTM's i, g, o, f under other names and in another row order)."""
    class Hostile(Cell):
        """A throwaway LSTM-like cell whose names collide with C: never registered."""

        name = "hostile"
        states = ("h", "double")
        gates = ("int", "exp", "sc_u", "int_")

        def update(self, s, a):
            i, e, u = sigmoid(a.int), tanh(a.exp), sigmoid(a.sc_u)
            c = s.double * sigmoid(a.int_) + i * e
            return {"h": u * tanh(c), "double": c}

    names = ["int", "int_", "int__", "exp", "sc_u", "sc_u_", "h", "double", "tanh", "i"]
    assert len({c_name(n) for n in names}) == len(names)
    assert c_name("i") == "i" and c_name("int") == "int_" and c_name("int_") == "int__"
    for rel, text in c_files([lower(Hostile())]).items():
        (tmp_path / rel.split("/")[1]).write_text(text)
    _compile(tmp_path, "-Wshadow", "-c", "hostile.c")
    _compile(tmp_path, "-fPIC", "-shared", "-o", "hostile.so", "hostile.c", "symcell_runtime.c", "-lm")

    hostile = c_kernels(lower(Hostile()), ctypes.CDLL(str(tmp_path / "hostile.so")), numpy.dtype(numpy.float64))
    lstm = kernel("lstm", "c")
    X, H = 3, 4
    p = lstm.init_params(X, H, numpy.random.default_rng(1))
    order = [0, 2, 3, 1]  # hostile rows (int, exp, sc_u, int_) = LSTM rows (i, g, o, f)
    q = {k: numpy.concatenate([v[j * H:(j + 1) * H] for j in order]) for k, v in p.items()}
    x = numpy.random.default_rng(2).standard_normal((5, 2, X))
    (y1, s1), (y2, s2) = lstm.forward(x, p), hostile.forward(x, q)
    assert numpy.allclose(y1, y2, rtol=1e-14, atol=1e-15) and numpy.allclose(s1[1], s2[1], rtol=1e-14, atol=1e-15)
