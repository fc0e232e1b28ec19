"""The registry refuses inconsistent cells with a message naming the cell and the problem.

Throwaway cells here are checked with ``derive.validate`` directly and never registered, so the global
registry (and with it every parametrised test) is left as it was.
"""

from __future__ import annotations

import re

import pytest
import sympy
from symcell.derive import Cell, sigmoid, tanh, validate
from symcell.derive.cell import CellError, UnknownCellError, get_cell, register, registry


class Coupled(Cell):
    """A valid toy cell (one coupled gate, as in STYLE.md): the baseline every broken variant edits."""

    name = "coupled"
    states = ("h",)
    gates = ("f", "c")

    def update(self, s, a):
        f = sigmoid(a.f)
        return {"h": f * s.h + (1 - f) * tanh(a.c)}


def _variant(**attributes):
    """A subclass of Coupled with some attributes (or methods) replaced."""
    return type("Variant", (Coupled,), attributes)()


def _refused(cell, *patterns):
    with pytest.raises(CellError) as info:
        validate(cell)
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"message {message!r} lacks {pattern!r}"
    return message


def test_the_baseline_cell_is_valid():
    validate(Coupled())  # so every refusal below is caused by its one edit


def test_a_state_with_no_update():
    cell = _variant(states=("h", "m"))
    _refused(cell, "'coupled'", r"missing \['m'\]")


def test_an_unknown_state_in_update():
    cell = _variant(update=lambda self, s, a: {"h": tanh(a.c) * sigmoid(a.f), "q": s.h})
    _refused(cell, "'coupled'", r"unknown \['q'\]")


def test_an_unknown_symbol():
    w = sympy.Symbol("w")
    cell = _variant(update=lambda self, s, a: {"h": w * sigmoid(a.f) * tanh(a.c)})
    _refused(cell, "'coupled'", "'h'", r"unknown symbols \['w'\]")


def test_an_unknown_gate_attribute():
    cell = _variant(update=lambda self, s, a: {"h": sigmoid(a.f) * tanh(a.zz)})
    with pytest.raises(AttributeError, match="zz"):
        validate(cell)


def test_a_gate_declared_but_unused():
    cell = _variant(gates=("f", "c", "o"))
    _refused(cell, "'coupled'", "gate 'o'", "unused")


def test_a_gate_whose_hidden_part_is_unused():
    cell = _variant(update=lambda self, s, a: {"h": sigmoid(a.f) * s.h + tanh(a.ih.c)})
    _refused(cell, "gate 'c'", "hidden part", "unused")


@pytest.mark.parametrize(
    ("attribute", "value", "what"),
    [
        ("name", "my-cell", "cell name 'my-cell'"),
        ("name", "class", "cell name 'class'"),
        ("states", ("h", "2c"), "state name '2c'"),
        ("gates", ("f", "c d"), "gate name 'c d'"),
        ("gates", ("f", "for"), "gate name 'for'"),
    ],
)
def test_a_name_that_is_not_an_identifier(attribute, value, what):
    _refused(_variant(**{attribute: value}), re.escape(what), "not a valid")


def test_the_first_state_must_be_h():
    cell = _variant(
        states=("c", "h"),
        update=lambda self, s, a: {"c": s.c, "h": sigmoid(a.f) * s.h + tanh(a.c)},
    )
    _refused(cell, "'coupled'", "first state must be 'h'", "'c'")


@pytest.mark.parametrize("function", [sympy.exp, sympy.sin, sympy.Abs, sympy.Function("mystery")])
def test_functions_other_than_the_activations(function):
    cell = _variant(update=lambda self, s, a: {"h": sigmoid(a.f) * s.h + function(a.c)})
    name = getattr(function, "__name__", None) or type(function(sympy.Symbol("t"))).__name__
    _refused(cell, "'coupled'", re.escape(name), "symcell.derive.activations")


def test_other_malformed_declarations():
    _refused(_variant(name=None), "Variant", "'name'")
    _refused(_variant(states=()), "'states' must be a non-empty tuple")
    _refused(_variant(gates=["f", "c"]), "'gates' must be a non-empty tuple")
    _refused(_variant(gates=("f", "c", "f")), "duplicate gate")
    _refused(_variant(states=("h", "f"), update=lambda self, s, a: {"h": s.f, "f": sigmoid(a.f) * tanh(a.c)}),
             r"both as state and gate: \['f'\]")


def test_second_stage_gates():
    unknown = _variant(hidden_input=lambda self, s, a: {"q": s.h})
    _refused(unknown, r"hidden_input names unknown gates \['q'\]")
    not_last = _variant(hidden_input=lambda self, s, a: {"f": s.h})
    _refused(not_last, "must come last")
    self_reading = _variant(hidden_input=lambda self, s, a: {"c": s.h * sigmoid(a.c)})
    _refused(self_reading, "reads second-stage gates")


def test_a_second_cell_under_a_registered_name_is_refused():
    """register() validates first, then refuses the clash before touching the registry."""
    before = registry()
    taken = next(iter(before))
    clash = type("Clash", (Coupled,), {"name": taken})
    with pytest.raises(CellError, match=f"{taken!r} is registered twice"):
        register(clash)
    assert registry() == before


def test_an_unknown_cell_name_lists_the_registered_cells():
    with pytest.raises(UnknownCellError) as info:
        get_cell("nope")
    message = str(info.value)
    assert "'nope'" in message
    for name in registry():
        assert name in message
    assert isinstance(info.value, KeyError)  # callers that catch KeyError keep working


def test_every_registered_cell_is_valid_and_found_by_name():
    for name, cell in registry().items():
        validate(cell)
        assert get_cell(name) is cell and get_cell(cell) is cell
