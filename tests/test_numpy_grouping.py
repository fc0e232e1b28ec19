"""The NumPy printer's grouping: consecutive statements applying one activation to consecutive slots of an
array, into consecutive slots of another, print as one call over the slots (LSTM's i and f, GRU's r and z).
A wrong slot range would compute a gate from another gate's pre-activation or write it into another gate's
tape slot; every cell's generated module is compared with the same module printed without grouping."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
import sympy
from symcell.codegen.generate import _kernels
from symcell.codegen.ir import lower
from symcell.codegen.numpy_backend import context
from symcell.codegen.numpy_printer import print_kernel
from symcell.codegen.render import GENERATED, render
from symcell.codegen.schedule import Kernel, Stmt
from symcell.derive import sigmoid

from tests.conftest import assert_close, make_problem
from tests.support import CELLS, kernel

a, b, c, d = sympy.symbols("a b c d")
BINDINGS = {"a": "gh[0]", "b": "gh[1]", "c": "gh[2]", "d": "S[0]", "x": "T[0]", "y": "T[1]", "z": "T[2]",
            "u": "T[3]", "v": "T[4]"}


def _printed(*stmts):
    inputs = tuple(sorted({s.name for st in stmts for s in st.expr.free_symbols} - {st.target for st in stmts}))
    return print_kernel(Kernel(inputs, tuple(stmts), ()), BINDINGS)


def test_a_run_of_one_activation_over_consecutive_slots_is_one_call():
    assert _printed(Stmt("x", sigmoid(a), "saved"), Stmt("y", sigmoid(b), "saved"),
                    Stmt("z", sigmoid(c), "saved")) == ["_sigmoid(gh[0:3], out=T[0:3])"]


def test_targets_read_later_stay_bound_and_arguments_read_only_by_the_run_are_dropped():
    lines = _printed(Stmt("x", sympy.tanh(a), "saved"), Stmt("y", sympy.tanh(b), "saved"),
                     Stmt("u", sympy.Symbol("x") * d, "output"))
    assert lines == ["d = S[0]", "x = T[0]", "u = T[3]", "numpy.tanh(gh[0:2], out=T[0:2])",
                     "numpy.multiply(d, x, out=u)"]


@pytest.mark.parametrize("stmts", [
    (Stmt("x", sigmoid(a), "saved"), Stmt("z", sigmoid(b), "saved")),  # target slots 0, 2
    (Stmt("x", sigmoid(a), "saved"), Stmt("y", sigmoid(c), "saved")),  # argument slots 0, 2
    (Stmt("x", sigmoid(a), "saved"), Stmt("y", sympy.tanh(b), "saved")),  # two activations
    (Stmt("x", sigmoid(a), "saved"), Stmt("u", d, "output"), Stmt("y", sigmoid(b), "saved")),  # not adjacent
    (Stmt("y", sigmoid(sympy.Symbol("x")), "saved"), Stmt("z", sigmoid(sympy.Symbol("y")), "saved")),  # overlap
])
def test_no_grouping_where_the_slots_are_not_a_run(stmts):
    lines = _printed(*stmts)
    assert not any(":" in line for line in lines), lines


def _ungrouped_module(cell: str, root: Path):
    """``cell``'s NumPy module printed without grouping, imported from a package under ``root``."""
    pkg = root / f"ungrouped_{cell}"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    shutil.copy(GENERATED / "numpy" / "_runtime.py", pkg / "_runtime.py")
    ctx = context(lower(cell), group=False)
    (pkg / f"{cell}.py").write_text(render("numpy/cell.py.jinja", **ctx, kernels=_kernels(ctx)))
    return importlib.import_module(f"ungrouped_{cell}.{cell}")


def test_lstm_and_gru_are_grouped():
    """The comparison below covers grouped calls: the committed LSTM and GRU modules have them."""
    for cell in ("lstm", "gru"):
        assert "(gh[0:2], out=T[0:2])" in (GENERATED / "numpy" / f"{cell}.py").read_text()  # _sigmoid(_neg)


@pytest.mark.parametrize("cell", CELLS)
def test_grouped_matches_ungrouped(cell, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    k, ref = kernel(cell), _ungrouped_module(cell, tmp_path)
    p = make_problem(k, (5, 3, 4, 6), seed=11, wscale=1.5)  # gates well inside their nonlinear range
    y, state, tape = k.forward(p.x, p.params, p.state0, save=True)
    y_ref, state_ref, tape_ref = ref.forward(p.x, p.params, p.state0, save=True)
    assert_close(y, y_ref, 1e-14, "y")
    assert_close(tape.slots, tape_ref.slots, 1e-14, "tape slots")
    for j, s in enumerate(k.STATES):
        assert_close(state[j], state_ref[j], 1e-14, f"final {s}")
    grads, grads_ref = k.backward(tape, p.dy, p.dstate), ref.backward(tape_ref, p.dy, p.dstate)
    for name in grads_ref:
        pairs = zip(grads[name], grads_ref[name], strict=True) if name == "state0" else [(grads[name], grads_ref[name])]
        for j, (g, g_ref) in enumerate(pairs):
            assert_close(g, g_ref, 1e-14, f"gradient of {name} [{j}]")
