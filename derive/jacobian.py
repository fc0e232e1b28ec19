"""One-step state Jacobians of any registered cell, as SymPy matrix expressions with named blocks.

A cell only declares its elementwise update (derive.elementwise), so the matrix form is assembled here
by the chain rule, the same way for every cell. For the block d s'_j / d s_i (rows: new state j,
columns: old state i), with n x n recurrent matrices U_k (the gate-k rows of weight_hh)::

    D(d u_j / d s_i)                                  direct elementwise path
  + sum_k  D(d u_j / d gh_k) U_k                      first-stage gates (only in the h column)
  + sum_k  D(d u_j / d gh_k) U_k (dm_k / d s_i)       second-stage gates, m_k = hidden_input_k
  + sum_l  D(d u_j / d s'_l) (d s'_l / d s_i)         another new state used inside u_j (LSTM: c')

where D(v) = diag(v) and the partials are SymPy derivatives of the cell's own expressions. A cell with
no recurrent matrix (IndRNN) has only the first and last lines: gh_k is then bias_hh, constant in h.
Per-unit parameters (peephole weights, IndRNN's u) are constants of the step, like the matrices. Holding
s'_l fixed in the last line is what turns the LSTM's h row into THEORY.md's D(o(1-tanh^2 c)) A_t form.
Nothing here names a particular cell. Numeric evaluation lives in derive.jacobian_numeric.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy
from sympy import MatAdd, MatMul, MatrixExpr, MatrixSymbol, Symbol

from .activations import ACTIVATIONS
from .cell import Cell, get_cell, symbol_name
from .elementwise import Elementwise, elementwise

#: The hidden size n of the matrix expressions.
n = Symbol("n", integer=True, positive=True)


class Diag(MatrixExpr):
    """D(v): the n x n diagonal matrix of a per-unit expression v (the elementwise partials)."""

    def __new__(cls, v):
        return super().__new__(cls, sympy.sympify(v))

    @property
    def value(self) -> sympy.Expr:
        return self.args[0]

    @property
    def shape(self):
        return (n, n)

    def _entry(self, i, j, **kwargs):
        return sympy.KroneckerDelta(i, j) * self.value


class BlockRef(MatrixExpr):
    """A reference to another block d s'_new / d s_old, so a derivation can name it instead of inlining."""

    def __new__(cls, new: str, old: str):
        return super().__new__(cls, *(Symbol(str(s)) for s in (new, old)))

    @property
    def new(self) -> str:
        return self.args[0].name

    @property
    def old(self) -> str:
        return self.args[1].name

    @property
    def shape(self):
        return (n, n)


def recurrent_matrix(gate: str) -> MatrixSymbol:
    """U_k: the rows of weight_hh for gate k (n x n)."""
    return MatrixSymbol(f"U_{gate}", n, n)


@dataclass(frozen=True)
class Names:
    """Readable names for a cell's values, and what each stands for.

    Attributes:
        replace: raw SymPy subexpression -> its readable form (sigmoid(gi_f + gh_f) -> f).
        values: readable symbol -> raw expression in gi_k, gh_k and the old states (for evaluation).
        defs: readable symbol -> its definition in readable terms (f -> sigmoid(a_f)), in layout order.
        preactivation: gate -> a_k symbol (a_k = gi_k + gh_k).
        new_state: state -> its new-value symbol (next_h, next_c).
        parts: (gi_k, gh_k) -> a_k, to merge the two halves inside longer sums.
    """

    replace: dict
    values: dict
    defs: dict
    preactivation: dict
    new_state: dict
    parts: dict

    def readable(self, expr: sympy.Expr, keep: sympy.Expr | None = None) -> sympy.Expr:
        """``expr`` in readable names; ``keep`` (a whole update) is spelled out rather than named."""
        replace = self.replace
        if keep is not None and keep in replace:
            replace = {k: v for k, v in replace.items() if k != keep}
        return sympy.factor_terms(merge_preactivations(sympy.sympify(expr).xreplace(replace), self.parts))


def _depth(app) -> int:
    return 1 + max((_depth(a) for a in app.args[0].atoms(*ACTIVATIONS)), default=0)


def merge_preactivations(expr: sympy.Expr, parts: dict) -> sympy.Expr:
    """Write gi_k + gh_k as a_k inside any sum: a_i + w_ci c reads better than gi_i + gh_i + w_ci c.

    ``parts`` maps each gate's (gi_k, gh_k) pair to its a_k symbol.
    """
    def has_pair(e):
        return e.is_Add and any(gi in e.args and gh in e.args for gi, gh in parts)

    def merged(e):
        args = list(e.args)
        for (gi, gh), a in parts.items():
            if gi in args and gh in args:
                args.remove(gi)
                args.remove(gh)
                args.append(a)
        return sympy.Add(*args)

    return sympy.sympify(expr).replace(has_pair, merged)


def names(ew: Elementwise) -> Names:
    """Name every activation the way a paper would: by its gate (f, g, ...) or by the new state it is.

    An activation that reads another new state (a peephole's o = sigma(a_o + w_co c')) is named too, and
    registered in both spellings: with that state spelled out and held as next_c (the Jacobian's form).
    """
    cell = ew.cell
    gate_of = {sym: g for g in cell.gates for sym in (ew.gi[g], ew.gh[g])}
    order = {g: k for k, g in enumerate(cell.gates)}
    pre = {g: Symbol(f"a_{symbol_name(g)}", real=True) for g in cell.gates}
    new = {s: Symbol(f"next_{symbol_name(s)}", real=True) for s in cell.states}
    parts = {(ew.gi[g], ew.gh[g]): pre[g] for g in cell.gates}
    replace = {ew.gi[g] + ew.gh[g]: pre[g] for g in cell.gates}
    gate_of.update({pre[g]: g for g in cell.gates})
    values = {pre[g]: ew.gi[g] + ew.gh[g] for g in cell.gates}
    defs: dict = {}
    exprs = [*ew.update.values(), *ew.hidden_input.values()]
    apps = set().union(*(e.atoms(*ACTIVATIONS) for e in exprs))
    compound = {ew.update[s]: new[s] for s in cell.states if not ew.update[s].is_Atom}

    def key(app):  # inner first; by gate; the plain sigma(a_k) before a shifted sigma(a_k - 1)
        gates = [order[gate_of[s]] for s in app.free_symbols if s in gate_of]
        plain = app.args[0] in values.values()
        return (_depth(app), min(gates, default=len(order)), not plain, sympy.default_sort_key(app))

    taken = {symbol_name(s) for s in cell.states}
    for app in sorted(apps, key=key):
        held = app.xreplace({e: v for e, v in compound.items() if e != app})
        arg = merge_preactivations(held.args[0].xreplace(replace), parts)
        gates = {gate_of[s] for s in arg.free_symbols if s in gate_of}
        whole = [s for s in cell.states if ew.update[s] == app]
        if whole:
            sym = new[whole[0]]
        elif len(gates) == 1 and symbol_name(next(iter(gates))) not in taken:
            sym = Symbol(symbol_name(next(iter(gates))), real=True)
        else:  # e.g. tanh(c'): keep the function, applied to the new state it reads
            for s in cell.states:
                if merge_preactivations(ew.update[s].xreplace(replace), parts) == arg:
                    values.setdefault(new[s], ew.update[s])
                    replace.setdefault(ew.update[s], new[s])
                    arg = new[s]
            replace[app] = replace[held] = type(app)(arg)
            continue
        taken.add(sym.name)
        replace[app] = replace[held] = sym
        values[sym] = app
        defs[sym] = type(app)(arg)
    for s in cell.states:  # a new state that is not itself an activation: c' = f c + i g
        values.setdefault(new[s], ew.update[s])
    return Names(replace=replace, values=values, defs=defs, preactivation=pre, new_state=new, parts=parts)


@dataclass(frozen=True)
class Jacobian:
    """The one-step Jacobian d(s_t)/d(s_{t-1}) of a cell in block form.

    Attributes:
        cell: the cell.
        states: block order (the cell's STATES order).
        blocks: (new state, old state) -> n x n matrix expression (ZeroMatrix when absent); may hold
            BlockRef to another block (see ``expanded``).
        names: readable names and their raw values.
        equations: new state -> its update in readable terms (what the blocks differentiate).
        hidden_input: second-stage gate -> its recurrent input m_k in readable terms.
        intermediates: new state -> the other new states its update reads, held fixed in its partials.
    """

    cell: Cell
    states: tuple[str, ...]
    blocks: dict
    names: Names
    equations: dict
    hidden_input: dict
    intermediates: dict

    def block(self, new: str, old: str) -> MatrixExpr:
        return self.blocks[(new, old)]

    def expanded(self, new: str, old: str) -> MatrixExpr:
        """The block with every BlockRef replaced by the block it names."""
        expr = self.blocks[(new, old)]
        refs = {r: self.expanded(r.new, r.old) for r in expr.atoms(BlockRef)}
        return expr.xreplace(refs) if refs else expr

    def matrix(self) -> sympy.BlockMatrix:
        """The whole S n x S n Jacobian as a BlockMatrix (references expanded)."""
        return sympy.BlockMatrix([[self.expanded(j, i) for i in self.states] for j in self.states])


def _mat_sum(terms: list) -> MatrixExpr:
    if not terms:
        return sympy.ZeroMatrix(n, n)
    return terms[0] if len(terms) == 1 else MatAdd(*terms, evaluate=False)


def _times(coef: sympy.Expr, *rest) -> MatrixExpr:
    return MatMul(Diag(coef), *rest, evaluate=False) if rest else Diag(coef)


def _intermediates(ew: Elementwise) -> dict[str, dict]:
    """For each new state, the other new-state expressions that occur inside its update (no cycles)."""
    found: dict[str, dict] = {}
    for j, expr in ew.update.items():
        inner = {}
        for k, other in ew.update.items():
            if k != j and not other.is_Atom and expr.has(other) and not other.has(expr):
                inner[k] = other
        found[j] = inner
    return found


def jacobian(cell: Cell | str) -> Jacobian:
    """The symbolic one-step state Jacobian of a registered cell (or cell object)."""
    return _jacobian(get_cell(cell))


@cache
def _jacobian(cell: Cell) -> Jacobian:  # cached per cell object: bounds and printers ask many times
    ew = elementwise(cell)
    nm = names(ew)
    states = ew.cell.states
    inner = _intermediates(ew)
    blocks = {}
    equations = {}
    for j in states:
        held = {expr: nm.new_state[k] for k, expr in inner[j].items()}
        u = ew.update[j].xreplace(held)
        equations[j] = nm.readable(u, keep=ew.update[j])
        for i in states:
            terms = []
            direct = nm.readable(sympy.diff(u, ew.state[i]))
            if direct != 0:
                terms.append(_times(direct))
            for g in ew.cell.gates if ew.cell.recurrent_matrix else ():  # else gh_k is bias_hh alone
                coef = nm.readable(sympy.diff(u, ew.gh[g]))
                if coef == 0:
                    continue
                if g not in ew.hidden_input:
                    if i == "h":
                        terms.append(_times(coef, recurrent_matrix(g)))
                    continue
                chain = _hidden_chain(ew, nm, g, i)
                if chain is not None:
                    terms.append(_times(coef, recurrent_matrix(g), chain))
            for k in inner[j]:
                coef = nm.readable(sympy.diff(u, nm.new_state[k]))
                if coef != 0:
                    terms.append(_times(coef, BlockRef(k, i)))
            blocks[(j, i)] = _mat_sum(terms)
    for (j, i), expr in list(blocks.items()):  # drop references to zero blocks
        zero = {r: sympy.ZeroMatrix(n, n) for r in expr.atoms(BlockRef) if blocks[(r.new, r.old)].is_ZeroMatrix}
        if zero:
            blocks[(j, i)] = _mat_sum([t for t in _terms(expr) if not (t.atoms(BlockRef) & set(zero))])
    hidden = {g: nm.readable(e) for g, e in ew.hidden_input.items()}
    return Jacobian(
        cell=ew.cell,
        states=states,
        blocks=blocks,
        names=nm,
        equations=equations,
        hidden_input=hidden,
        intermediates={j: tuple(inner[j]) for j in states},
    )


def _terms(expr: MatrixExpr) -> list:
    return list(expr.args) if isinstance(expr, MatAdd) else [expr]


def _hidden_chain(ew: Elementwise, nm: Names, gate: str, old: str):
    """dm_k / d s_old for a second-stage gate k: its direct partial plus first-stage gates through U_l."""
    m = ew.hidden_input[gate]
    terms = []
    direct = nm.readable(sympy.diff(m, ew.state[old]))
    if direct != 0:
        terms.append(_times(direct))
    if old == "h":
        for g in ew.cell.gates:
            if g in ew.hidden_input:
                continue
            coef = nm.readable(sympy.diff(m, ew.gh[g]))
            if coef != 0:
                terms.append(_times(coef, recurrent_matrix(g)))
    return _mat_sum(terms) if terms else None


__all__ = [
    "BlockRef", "Diag", "Jacobian", "Names", "jacobian", "merge_preactivations", "n", "names", "recurrent_matrix",
]
