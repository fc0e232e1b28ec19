"""The cell fuzzer (tests/fuzz_cells.py) in CI, and the name cases that broke the generator before it.

The bounded run draws SYMCELL_FUZZ_CELLS cells (default 30) derandomized, so CI sees the same cells on
every run; `make fuzz` runs a long random one (python -m tests.fuzz_cells) and prints its seed. Fuzzed C is
compiled with -O1 ($SYMCELL_CFLAGS appends it): the checks are about correctness, not speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from symcell.derive import Cell, CellError, sigmoid, tanh, validate

from tests.fuzz_cells import CellSpec, cell_specs, check_cell, generated_files
from tests.support import ROOT

CELLS = int(os.environ.get("SYMCELL_FUZZ_CELLS", "30"))


@settings(max_examples=CELLS, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=cell_specs())
def test_fuzzed_cells_generate_correct_kernels(spec):
    """Each drawn cell: refused by a documented rule, or NumPy and C kernels whose gradients match float64
    central differences (eps 1e-6), which agree with each other, whose symbolic Jacobian matches central
    differences of the generated step, and whose files regenerate byte for byte."""
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as folder:
        mp.setenv("SYMCELL_CFLAGS", "-O1")
        check_cell(spec, Path(folder))


def _spec(states=("h", "c"), gates=("i", "g", "o"), params=(), recurrent=True, hidden=None):
    """An LSTM-1997-like spec under other names: c' = c + i g, h' = o tanh(c') (+ p * h in o's argument)."""
    o = ("sigmoid", "param", (0, 0)) if params else ("sigmoid", "sum", None)
    return CellSpec("named", states, gates, params, recurrent, (("sigmoid", "sum", None), ("tanh", "sum", None), o),
                    (("mul", ("gate", 2), ("act", "tanh", ("add", ("state", 1), ("mul", ("gate", 0), ("gate", 1))))),
                     ("add", ("state", 1), ("mul", ("gate", 0), ("gate", 1)))), hidden)


#: The names issue 18 found broken (gate d_h: gradients off by 4; parameter DP: wrong NumPy gradients; gate T,
#: state N or numpy: kernels that failed; state next_h: the generator crashed), and their relatives.
NAMED = {
    "gate d_h": _spec(gates=("d_h", "g", "o")),
    "parameter DP": _spec(params=("DP",)),
    "gate T": _spec(gates=("i", "T", "o")),
    "state N": _spec(states=("h", "N")),
    "state numpy": _spec(states=("h", "numpy")),
    "state next_h": _spec(states=("h", "next_h")),
    "gates gi_i and i": _spec(gates=("i", "gi_i", "o")),
    "state u_T, gate T": _spec(states=("h", "u_T"), gates=("i", "T", "o")),
    "parameter dp_w, gate w": _spec(gates=("w", "g", "o"), params=("dp_w",)),
    "gate sigmoid_o, state tanh_c": _spec(states=("h", "tanh_c"), gates=("i", "g", "sigmoid_o")),
    "C names": _spec(states=("h", "double"), gates=("int", "exp", "sc_u")),
    "second stage reads a state named m_o": _spec(states=("h", "m_o"), hidden=(1, 0)),
}


#: One cell of each class of failure the fuzzer found, each fixed in the generator (see the commit log).
FOUND = {
    "unit parameter in the generated space (its gradient overwrote instead of adding up)":
        CellSpec("found", ("h", "int", "spare"), ("y",), ("m_r",), True, (("relu", "param", (0, 0)),),
                 (("act", "relu", ("act", "tanh", ("state", 0))),
                  ("mul", ("mul", ("state", 2), ("act", "sigmoid", ("gate", 0))), ("act", "sigmoid", ("state", 0))),
                  ("add", ("state", 0), ("const", -1))), None),
    "an activation of a constant (printed as an array operation on a number)":
        CellSpec("found", ("h", "int"), ("C",), (), True, (("sigmoid", "sum", None),),
                 (("act", "sigmoid", ("gate", 0)), ("act", "tanh", ("act", "sigmoid", ("const", "1/2")))), None),
    "a hidden input reading a gate that is also a new state (left unbound)":
        CellSpec("found", ("h", "o", "l"), ("r", "b8", "S", "dHd"), (), True,
                 (("sigmoid", "sum", None), ("tanh", "split", 0), ("sigmoid", "split", 1), ("tanh", "sum", None)),
                 (("add", ("mul", ("gate", 2), ("gate", 1)), ("gate", 3)), ("gate", 1), ("gate", 1)), (1, 1)),
    "a sign factored out of an activation's argument (the backward lost the saved value)":
        CellSpec("found", ("h",), ("A", "_", "sigmoid_h", "YyyaC"), (), True,
                 (("tanh", "sum", None), ("relu", "split", 0), ("tanh", "sum", None), ("relu", "sum", None)),
                 (("add", ("add", ("act", "relu", ("sub", ("sub", ("const", -1), ("state", 0)), ("gate", 0))),
                           ("gate", 2)), ("gate", 3)),), (0, 1)),
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_failures_the_fuzzer_found_stay_fixed(case, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCELL_CFLAGS", "-O1")
    assert check_cell(FOUND[case], tmp_path) == "ok"


@pytest.mark.parametrize("case", sorted(NAMED))
def test_names_the_generator_uses_itself_are_safe(case, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCELL_CFLAGS", "-O1")
    assert check_cell(NAMED[case], tmp_path) == "ok"


@pytest.mark.parametrize("bad", ["lambda", "1x", "h-x", "caf\u00e9", "", "with space"])
def test_a_name_that_is_no_identifier_is_refused_naming_the_name_and_the_rule(bad):
    class Bad(Cell):
        name = "bad_names"
        states = ("h",)
        gates = (bad,)

        def update(self, s, a):
            return {"h": tanh(a.ih.x + a.hh.x)}

    with pytest.raises(CellError) as err:
        validate(Bad())
    assert repr(bad) in str(err.value) and "not a valid C/Python identifier" in str(err.value)


def test_every_registration_rule_the_fuzzer_accepts_is_stated_in_docs_cells_md():
    from tests.fuzz_cells import RULES

    doc = (ROOT / "docs" / "cells.md").read_text()
    for rule in ("input part", "hidden part", "never used", "not a valid", "first state must be"):
        assert rule in doc, rule
    assert len(RULES) == 3


def test_regeneration_of_hostile_cells_is_byte_identical_across_hash_seeds():
    """Generation in two other processes, each with its own PYTHONHASHSEED, writes what this one does."""
    specs = [NAMED["gate d_h"], NAMED["C names"], NAMED["second stage reads a state named m_o"]]
    script = ("import sys, json\nfrom tests.fuzz_cells import CellSpec, generated_files\n"
              "print(json.dumps([generated_files(eval(s).cell()) for s in sys.argv[1:]]))\n")
    import json

    want = [generated_files(s.cell()) for s in specs]
    for hash_seed in ("1", "2"):
        run = subprocess.run([sys.executable, "-c", script, *map(repr, specs)], cwd=ROOT, capture_output=True,
                             text=True, timeout=300, env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout) == want


def test_the_1997_lstm_as_a_user_writes_it(tmp_path, monkeypatch):
    """The issue's ten-line cell file, unregistered: NumPy and C kernels pass every fuzz check."""
    class Original(Cell):
        """c' = c + i g, h' = o tanh(c')."""

        name = "original_lstm"
        states = ("h", "c")
        gates = ("i", "g", "o")

        def update(self, s, a):
            c = s.c + sigmoid(a.i) * tanh(a.g)
            return {"h": sigmoid(a.o) * tanh(c), "c": c}

    spec = _spec()
    cell = spec.cell()
    assert cell.update(*cell.namespaces()) == Original().update(*Original().namespaces())
    monkeypatch.setenv("SYMCELL_CFLAGS", "-O1")
    assert check_cell(spec, tmp_path) == "ok"


def test_the_grammar_cell_in_docs_cells_md_generates_correct_kernels(tmp_path, monkeypatch):
    """docs/cells.md's one cell that uses every feature of the fuzzer's grammar: registered from the doc's
    text, checked like a fuzzed cell (through the same spec-free path: the registered Cell itself)."""
    import re

    from symcell.derive.cell import _REGISTRY

    doc = (ROOT / "docs" / "cells.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", doc, flags=re.S) if "EveryFeature" in b)
    namespace: dict = {}
    exec(compile(block, "docs/cells.md", "exec"), namespace)  # noqa: S102 - the doc's own example
    try:
        cell = _REGISTRY["every_feature"]
        monkeypatch.setenv("SYMCELL_CFLAGS", "-O1")

        class Wrapped(CellSpec):
            def cell(self):
                return cell

        spec = Wrapped("every_feature", cell.states, cell.gates, cell.unit_params, True, (), (), None)
        assert check_cell(spec, tmp_path) == "ok"
        assert len(cell.states) == 3 and cell.hidden_input(*cell.namespaces()) and cell.unit_params
    finally:
        _REGISTRY.pop("every_feature", None)
