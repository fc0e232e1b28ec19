"""Cells with per-unit parameters and without a recurrent matrix (the layouts issue 7's cells use) on
the C backend: the same numbers as the NumPy backend, the fixed-size variant compiles and matches.

The cells here are throwaway test cells, never registered, so the registry-wide suites do not see them;
the registered cells of that kind are covered there on both backends.
"""

from __future__ import annotations

import ctypes
import subprocess
import types

import numpy
import pytest
from symcell.codegen.c.backend import c_files
from symcell.codegen.c.fixed import generate
from symcell.codegen.generate import numpy_files
from symcell.codegen.ir import lower
from symcell.derive import Cell, relu, sigmoid, tanh

from symcell.cbuild import compiler
from tests.conftest import assert_close, make_problem
from tests.support import c_kernels

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wshadow", "-O2"]


class Peephole(Cell):
    """LSTM with peephole weights from c to i, f (old c) and o (new c): three per-unit vectors."""

    name = "peephole_test"
    states = ("h", "c")
    gates = ("i", "f", "g", "o")
    unit_params = ("w_ci", "w_cf", "w_co")

    def update(self, s, a):
        i, f = sigmoid(a.i + self.p.w_ci * s.c), sigmoid(a.f + self.p.w_cf * s.c)
        c = f * s.c + i * tanh(a.g)
        return {"h": sigmoid(a.o + self.p.w_co * c) * tanh(c), "c": c}


class IndRNN(Cell):
    """IndRNN: an elementwise recurrent weight u instead of weight_hh."""

    name = "indrnn_test"
    states = ("h",)
    gates = ("a",)
    unit_params = ("u",)
    recurrent_matrix = False

    def update(self, s, a):
        return {"h": relu(a.a + self.p.u * s.h)}


def _numpy_module(ir):
    """The NumPy backend's module for an unregistered cell, imported beside the real ones."""
    module = types.ModuleType(f"symcell.kernels.numpy.{ir.name}")
    module.__package__ = "symcell.kernels.numpy"
    exec(numpy_files([ir])[f"numpy/{ir.name}.py"], module.__dict__)  # the generated text, as import would run it
    return module


def _c_module(ir, tmp_path, dtype=numpy.float64):
    for rel, text in c_files([ir]).items():
        (tmp_path / rel.split("/")[1]).write_text(text)
    run = subprocess.run([*compiler(), *STRICT, "-fPIC", "-shared", "-o", f"{ir.name}.so", f"{ir.name}.c",
                          "symcell_runtime.c", "-lm"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0 and not run.stderr, run.stderr
    return c_kernels(ir, ctypes.CDLL(str(tmp_path / f"{ir.name}.so")), numpy.dtype(dtype))


@pytest.mark.parametrize("cell", [Peephole(), IndRNN()], ids=lambda c: c.name)
def test_c_matches_numpy_with_unusual_parameters(cell, tmp_path):
    ir = lower(cell)
    kn, kc = _numpy_module(ir), _c_module(ir, tmp_path)
    assert kc.param_shapes(3, 4) == kn.param_shapes(3, 4)
    p = make_problem(kn, (5, 3, 2, 4), seed=4, wscale=0.8)
    yn, sn, tn = kn.forward(p.x, p.params, p.state0, save=True)
    yc, sc, tc = kc.forward(p.x, p.params, p.state0, save=True)
    assert_close(yc, yn, 1e-12, "y")
    for j in range(len(ir.states)):
        assert_close(sc[j], sn[j], 1e-12, f"state[{j}]")
    gn, gc = kn.backward(tn, p.dy, p.dstate), kc.backward(tc, p.dy, p.dstate)
    assert list(gc) == list(gn)
    for name in gn:
        if name != "state0":
            assert_close(gc[name], gn[name], 1e-12, f"d {name}")
    for j in range(len(ir.states)):
        assert_close(gc["state0"][j], gn["state0"][j], 1e-12, f"d state0[{j}]")
    for a, b in zip(kc.step(p.x[0], p.params, p.state0), kn.step(p.x[0], p.params, p.state0), strict=True):
        assert_close(a, b, 1e-12, "step")
    with pytest.raises(ValueError, match="params"):
        kc.forward(p.x, {k: v for k, v in p.params.items() if k != ir.unit_params[0]})


@pytest.mark.parametrize("cell", [Peephole(), IndRNN()], ids=lambda c: c.name)
def test_fixed_size_with_unusual_parameters(cell, tmp_path):
    ir = lower(cell)
    kn = _numpy_module(ir)
    X, H, T = 2, 3, 6
    params = kn.init_params(X, H, numpy.random.default_rng(3))
    params = {k: 3 * v for k, v in params.items()}  # away from the linear range
    weights = params | {"dense_weight": numpy.eye(H), "dense_bias": numpy.zeros(H)}
    for rel, text in generate(cell, X, H, weights, H, name="m", dtype="double").items():
        (tmp_path / rel).write_text(text)
    xs = numpy.random.default_rng(5).standard_normal((T, X))
    rows = ", ".join("{" + ", ".join(repr(float(v)) for v in r) + "}" for r in xs)
    (tmp_path / "main.c").write_text(f"""#include <stdio.h>
#include "m.h"
static const double xs[{T}][{X}] = {{{rows}}};
int main(void)
{{
    m_state s;
    double out[{H}];
    int t, j;
    m_reset(&s);
    for (t = 0; t < {T}; ++t) {{
        m_step(&m_weights, &s, xs[t], out);
        for (j = 0; j < {H}; ++j) printf("%.17g\\n", out[j]);
    }}
    return 0;
}}
""")
    cc = subprocess.run([*compiler(), *STRICT, "-o", "main", "main.c", "m.c", "-lm"], cwd=tmp_path,
                        capture_output=True, text=True)
    assert cc.returncode == 0 and not cc.stderr, cc.stderr
    run = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, timeout=60)
    got = numpy.array([float(v) for v in run.stdout.split()]).reshape(T, H)
    want, _ = kn.forward(xs[:, None, :], params, None)
    assert_close(got, want[:, 0, :], 1e-12, "fixed-size h")
