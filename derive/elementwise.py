"""The elementwise system of a cell, for one hidden unit, and its vector-Jacobian product.

Forward: new states s'_j = update_j(s, gi, gh), plus the second-stage recurrent inputs m_k(s, gi, gh).
Backward: given adjoints d_j of the new states, the gradient of sum_j d_j s'_j with respect to every
elementwise input (gi_k, gh_k, s_j), by SymPy differentiation of the forward expressions. For second-stage
gates, the adjoint dm_k of m_k arrives after a GEMM and is pulled back through m_k the same way.
Nothing here is written by hand per cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from .activations import ACTIVATIONS
from .cell import Cell, get_cell, symbol_name


@dataclass(frozen=True)
class Elementwise:
    """Symbols and expressions of one cell's per-unit computation.

    Attributes:
        cell: the cell.
        state: old-state symbols by name (``h``, ``c``).
        gi, gh: input-part and hidden-part gate pre-activation symbols by gate name.
        update: new-state expressions by state name.
        hidden_input: second-stage recurrent-input expressions by gate name (empty for most cells).
        unit: per-unit parameter symbols by name (empty for most cells).
    """

    cell: Cell
    state: dict[str, sympy.Symbol]
    gi: dict[str, sympy.Symbol]
    gh: dict[str, sympy.Symbol]
    update: dict[str, sympy.Expr]
    hidden_input: dict[str, sympy.Expr]
    unit: dict[str, sympy.Symbol]

    @property
    def stage1_gates(self) -> tuple[str, ...]:
        return tuple(g for g in self.cell.gates if g not in self.hidden_input)

    @property
    def stage2_gates(self) -> tuple[str, ...]:
        return tuple(g for g in self.cell.gates if g in self.hidden_input)

    def inputs(self) -> list[sympy.Symbol]:
        """Every elementwise input symbol, in a fixed order: gate parts by gate, states, unit params."""
        out = []
        for g in self.cell.gates:
            out += [self.gi[g], self.gh[g]]
        return out + [self.state[n] for n in self.cell.states] + list(self.unit.values())

    def adjoint_symbols(self) -> dict[str, sympy.Symbol]:
        """Adjoint (upstream gradient) symbols of the new states: d_h, d_c."""
        return {n: sympy.Symbol(f"d_{symbol_name(n)}", real=True) for n in self.cell.states}

    def hidden_adjoint_symbols(self) -> dict[str, sympy.Symbol]:
        """Adjoints of the second-stage recurrent inputs, dm_k (they arrive through a GEMM)."""
        return {g: sympy.Symbol(f"dm_{symbol_name(g)}", real=True) for g in self.stage2_gates}

    def vjp(self) -> dict[sympy.Symbol, sympy.Expr]:
        """d/d(input) of sum_j d_j * update_j, for every input symbol (zeros included)."""
        adj = self.adjoint_symbols()
        return _pullback(self.update, adj, self.inputs())

    def hidden_vjp(self) -> dict[sympy.Symbol, sympy.Expr]:
        """d/d(input) of sum_k dm_k * m_k: the extra gradient through second-stage recurrent inputs."""
        return _pullback(self.hidden_input, self.hidden_adjoint_symbols(), self.inputs())

    def partial(self, new_state: str, wrt: sympy.Symbol) -> sympy.Expr:
        """The elementwise partial derivative d update_{new_state} / d wrt (for Jacobians)."""
        return sympy.diff(self.update[new_state], wrt)


def _pullback(outputs: dict[str, sympy.Expr], adjoints: dict[str, sympy.Symbol], inputs) -> dict:
    result = {}
    for x in inputs:
        total = sympy.Integer(0)
        for name, expr in outputs.items():
            total += adjoints[name] * sympy.diff(expr, x)
        result[x] = _factor_outside_activations(total)  # d_c*g*i*(1-i) + d_h*... -> g*i*(1-i)*(d_c + ...)
    return result


def _factor_outside_activations(expr: sympy.Expr) -> sympy.Expr:
    """factor_terms, with every activation application held as one opaque symbol: an application keeps
    the exact form it has in the update (factor_terms would pull a sign out of relu(-1 - h), and codegen
    finds each application by its form)."""
    apps = sorted(expr.atoms(*ACTIVATIONS), key=sympy.default_sort_key)
    held = {app: sympy.Dummy(f"act{k}") for k, app in enumerate(apps)}
    factored = sympy.factor_terms(expr.xreplace(held))
    return factored.xreplace({d: app for app, d in held.items()})


def elementwise(cell: Cell | str) -> Elementwise:
    """Build the elementwise system of a registered cell (or a cell object)."""
    cell = get_cell(cell)
    s, a = cell.namespaces()
    gi, gh = cell.gate_symbols()
    update = {k: sympy.sympify(v) for k, v in cell.update(s, a).items()}
    hidden = {k: sympy.sympify(v) for k, v in cell.hidden_input(s, a).items()}
    return Elementwise(
        cell=cell,
        state=cell.state_symbols(),
        gi=gi,
        gh=gh,
        update={n: update[n] for n in cell.states},
        hidden_input={g: hidden[g] for g in cell.gates if g in hidden},
        unit=cell.unit_param_symbols(),
    )
