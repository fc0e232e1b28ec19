"""The cell abstraction: what a recurrent cell declares, and the registry that validates it.

A cell is described for ONE hidden unit. It names its states (``h`` first: ``h`` is what the recurrent
matrix multiplies and what the cell outputs), its gates, and its elementwise update. Each gate k has a
pre-activation split the way PyTorch splits it::

    a_k = gi_k + gh_k,   gi_k = (W_ih x + b_ih)_k,   gh_k = (W_hh m_k + b_hh)_k

where the recurrent input m_k is ``h`` unless the cell's ``hidden_input`` says otherwise (GRU v3 feeds
r * h). The products W x and W h are opaque here: they are GEMMs in the templates. Everything else
(backward, Jacobians, bounds, kernels, tests) is derived from ``update`` and ``hidden_input``.
"""

from __future__ import annotations

import inspect
import keyword
from dataclasses import dataclass
from types import SimpleNamespace
from typing import ClassVar

import sympy

from .activations import ACTIVATIONS

_REGISTRY: dict[str, Cell] = {}

#: The name prefixes and whole names symcell derives and generates from a cell's own names: gi_f, gh_f (gate
#: parts), a_f (pre-activations), d_h, dm_g, ds_h, dgi_f, dgh_f, dp_w (adjoints and gradients), next_c, m_r, pre_f,
#: tape_gi_f (kernel values), _t0 (temporaries), and the NumPy kernels' arguments and module (H, S, N, T, ...).
#: A user's name in this space becomes u_<name> in every symbol (see symbol_name), and u_ is reserved itself.
GENERATED_PREFIXES = ("_", "a_", "d_", "dgh_", "dgi_", "dm_", "dp_", "ds_", "gh_", "gi_", "m_", "next_", "pre_",
                      "tape_", "u_")
GENERATED_WORDS = frozenset({"D", "DM", "DP", "DS", "H", "N", "P", "S", "T", "dgh", "dgi", "gh", "gi", "numpy"})


def symbol_name(name: str) -> str:
    """The SymPy symbol name (and so the generated code's name) of a state, gate or unit parameter.

    The identity for every name outside the generator's own space; any other name gains the reserved
    prefix ``u_``. Injective, and its image never meets a generated name: every generated name starts with
    a reserved prefix other than ``u_``, or is one of GENERATED_WORDS, and an unescaped name does neither.
    Each prefix is letters and one underscore, so no two of them overlap.
    """
    return f"u_{name}" if name in GENERATED_WORDS or name.startswith(GENERATED_PREFIXES) else name


class CellError(ValueError):
    """A cell definition is inconsistent; the message names the cell and the problem."""


class UnknownCellError(KeyError):
    """No registered cell has the requested name."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want a readable sentence
        return str(self.args[0])


@dataclass(frozen=True)
class GateInputs:
    """The symbols a cell's update reads for its gates: ``a.k`` (total), ``a.ih.k``, ``a.hh.k``."""

    ih: SimpleNamespace
    hh: SimpleNamespace

    def __getattr__(self, gate: str) -> sympy.Expr:
        try:
            return getattr(self.ih, gate) + getattr(self.hh, gate)
        except AttributeError:
            raise AttributeError(f"no gate named {gate!r}") from None


class Cell:
    """Base class of a recurrent cell. Subclass, set the class attributes, define ``update``, register.

    Attributes:
        name: the registry key and the generated module's name (a C identifier).
        states: state names; the first must be ``"h"``, the output and recurrent input.
        gates: gate names in weight-row order (PyTorch's order for the PyTorch cells).
        torch_module: the torch.nn class name this cell matches, or None.
        torch_kwargs: keyword arguments that make the torch module match (e.g. nonlinearity).
        citation: where the equations come from.
        unit_params: extra parameters with one value per hidden unit (shape (H,)), such as peephole
            weights; the update reads them as ``self.p.<name>``.
        recurrent_matrix: False for cells with no weight_hh (IndRNN): then gh_k is bias_hh alone, and
            any recurrence is written elementwise with unit_params.
    """

    name: ClassVar[str]
    states: ClassVar[tuple[str, ...]]
    gates: ClassVar[tuple[str, ...]]
    unit_params: ClassVar[tuple[str, ...]] = ()
    recurrent_matrix: ClassVar[bool] = True
    torch_module: ClassVar[str | None] = None
    torch_kwargs: ClassVar[dict] = {}
    citation: ClassVar[str] = ""

    def update(self, s: SimpleNamespace, a: GateInputs) -> dict[str, sympy.Expr]:
        """The new value of every state, for one unit, in terms of ``s`` (old states) and ``a``."""
        raise NotImplementedError

    def hidden_input(self, s: SimpleNamespace, a: GateInputs) -> dict[str, sympy.Expr]:
        """Gates whose recurrent matrix multiplies something other than ``h`` (default: none).

        Such gates form a second stage: their GEMM runs after the first-stage gates are known, so
        their expressions may read only states and first-stage gates.
        """
        return {}

    # --- symbols -------------------------------------------------------------------------------
    def state_symbols(self) -> dict[str, sympy.Symbol]:
        return {n: sympy.Symbol(symbol_name(n), real=True) for n in self.states}

    def gate_symbols(self) -> tuple[dict[str, sympy.Symbol], dict[str, sympy.Symbol]]:
        gi = {g: sympy.Symbol(f"gi_{symbol_name(g)}", real=True) for g in self.gates}
        gh = {g: sympy.Symbol(f"gh_{symbol_name(g)}", real=True) for g in self.gates}
        return gi, gh

    def unit_param_symbols(self) -> dict[str, sympy.Symbol]:
        return {n: sympy.Symbol(symbol_name(n), real=True) for n in self.unit_params}

    @property
    def p(self) -> SimpleNamespace:
        """The per-unit parameters as symbols: ``self.p.w_ci``."""
        return SimpleNamespace(**self.unit_param_symbols())

    def param_names(self) -> tuple[str, ...]:
        """The keys of this cell's params dict, in a fixed order."""
        standard = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if self.recurrent_matrix else (
            "weight_ih", "bias_ih", "bias_hh")
        return standard + tuple(self.unit_params)

    def namespaces(self) -> tuple[SimpleNamespace, GateInputs]:
        gi, gh = self.gate_symbols()
        return SimpleNamespace(**self.state_symbols()), GateInputs(SimpleNamespace(**gi), SimpleNamespace(**gh))

    def doc(self) -> str:
        return inspect.cleandoc(type(self).__doc__ or "")

    def __repr__(self) -> str:
        return f"<cell {self.name}>"


def register(cls: type[Cell]) -> type[Cell]:
    """Class decorator: validate the cell and add it to the registry under ``cls.name``."""
    cell = cls()
    validate(cell)
    if cell.name in _REGISTRY and type(_REGISTRY[cell.name]) is not cls:
        raise CellError(
            f"cell {cell.name!r} is registered twice: that name is taken (built-in or loaded before); rename the cell"
        )
    _REGISTRY[cell.name] = cell
    return cls


def _check_identifier(cell_name: str, what: str, name: str) -> None:
    if not (isinstance(name, str) and name.isidentifier() and name.isascii() and not keyword.iskeyword(name)):
        raise CellError(f"cell {cell_name!r}: {what} name {name!r} is not a valid C/Python identifier")


def validate(cell: Cell) -> None:
    """Raise CellError naming the problem if the cell cannot be generated."""
    name = getattr(cell, "name", None)
    if not isinstance(name, str):
        raise CellError(f"{type(cell).__name__}: set the class attribute 'name'")
    _check_identifier(name, "cell", name)
    for what in ("states", "gates", "unit_params"):
        value = getattr(cell, what, None)
        if not isinstance(value, tuple) or (not value and what != "unit_params"):
            raise CellError(f"cell {name!r}: '{what}' must be a {'' if what == 'unit_params' else 'non-empty '}"
                            "tuple of names")
        for item in value:
            _check_identifier(name, what[:-1], item)
        if len(set(value)) != len(value):
            raise CellError(f"cell {name!r}: duplicate {what[:-1]} names in {value}")
    if cell.states[0] != "h":
        raise CellError(f"cell {name!r}: the first state must be 'h', got {cell.states[0]!r}")
    clash = set(cell.states) & set(cell.gates)
    if clash:
        raise CellError(f"cell {name!r}: names used both as state and gate: {sorted(clash)}")
    reserved = {"weight_ih", "weight_hh", "bias_ih", "bias_hh", *cell.states, *cell.gates}
    clash = sorted(set(cell.unit_params) & reserved)
    if clash:
        raise CellError(f"cell {name!r}: unit_params {clash} clash with state, gate or standard parameter names")

    s, a = cell.namespaces()
    update = cell.update(s, a)
    hidden = cell.hidden_input(s, a)
    if not isinstance(update, dict) or set(update) != set(cell.states):
        missing = sorted(set(cell.states) - set(update or {}))
        extra = sorted(set(update or {}) - set(cell.states))
        raise CellError(f"cell {name!r}: update must return every state; missing {missing}, unknown {extra}")
    unknown_stage2 = sorted(set(hidden) - set(cell.gates))
    if unknown_stage2:
        raise CellError(f"cell {name!r}: hidden_input names unknown gates {unknown_stage2}")
    stage2 = [g for g in cell.gates if g in hidden]
    if stage2 and list(cell.gates[-len(stage2):]) != stage2:
        raise CellError(f"cell {name!r}: gates with a hidden_input must come last in 'gates'")

    if hidden and not cell.recurrent_matrix:
        raise CellError(f"cell {name!r}: hidden_input needs a recurrent matrix (recurrent_matrix = False)")
    gi, gh = cell.gate_symbols()
    units = cell.unit_param_symbols()
    allowed = set(cell.state_symbols().values()) | set(gi.values()) | set(gh.values()) | set(units.values())
    for target, expr in [*update.items(), *hidden.items()]:
        expr = sympy.sympify(expr)
        stray = sorted(map(str, expr.free_symbols - allowed))
        if stray:
            raise CellError(
                f"cell {name!r}: the expression for {target!r} uses unknown symbols {stray}; a parameter must be "
                "declared in unit_params and read as self.p.<name>"
            )
        funcs = {type(f) for f in expr.atoms(sympy.Function)} - set(ACTIVATIONS)
        if funcs:
            names = sorted(f.__name__ for f in funcs)
            raise CellError(f"cell {name!r}: {target!r} uses functions {names}; use symcell.derive.activations")
    used = set().union(*(sympy.sympify(e).free_symbols for e in [*update.values(), *hidden.values()]))
    for g in cell.gates:
        if gi[g] not in used:
            raise CellError(f"cell {name!r}: gate {g!r} is declared but its input part a.ih.{g} is unused")
        if gh[g] not in used:
            raise CellError(f"cell {name!r}: gate {g!r} is declared but its hidden part a.hh.{g} is unused")
    for n, sym in units.items():
        if sym not in used:
            raise CellError(f"cell {name!r}: unit parameter {n!r} is declared but never used")
    for g in stage2:
        bad = sympy.sympify(hidden[g]).free_symbols & ({gi[k] for k in stage2} | {gh[k] for k in stage2})
        if bad:
            raise CellError(f"cell {name!r}: hidden_input of {g!r} reads second-stage gates {sorted(map(str, bad))}")


def registry() -> dict[str, Cell]:
    """All registered cells, by name, in sorted order (importing derive.cells registers the built-ins)."""
    from . import cells  # noqa: F401 - registers the built-in cells on first use

    return dict(sorted(_REGISTRY.items()))


def load_cell_file(path) -> list[str]:
    """Import a Python file that defines and @register-s cells; return the names it registered.

    For users who keep their cells outside the package: the file is imported under a private module
    name, so it may import ``derive`` like the built-in cells do.
    """
    import importlib.util
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise CellError(f"cell file {str(path)!r} does not exist")
    registry()  # the built-ins first, so a clash with one of them is reported as such
    before = set(_REGISTRY)
    spec = importlib.util.spec_from_file_location(f"_symcell_user_cells.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    added = sorted(set(_REGISTRY) - before)
    if not added:
        raise CellError(f"cell file {str(path)!r} registered no cell; decorate the class with @register")
    return added


def get_cell(name: str | Cell) -> Cell:
    """The registered cell called ``name`` (a Cell passes through); UnknownCellError lists the choices."""
    if isinstance(name, Cell):
        return name
    cells = registry()
    if name not in cells:
        raise UnknownCellError(f"unknown cell {name!r}; registered cells: {', '.join(cells)}")
    return cells[name]
