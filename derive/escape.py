"""Gated cells: the triangle bound on every Jacobian block, and the paths that escape vanishing.

An escape path is a set of gate pre-activations going to +-infinity (every sigmoid and tanh of them
saturating, everything else held finite) under which a state's diagonal block becomes the identity:
the LSTM's a_f -> +oo (Gers' carousel), GRU's a_z -> +oo, MGU's a_f -> -oo. Found by trying the
limits on the cell's own Jacobian blocks, smallest sets first; nothing names a cell.
"""

from __future__ import annotations

import itertools

import sympy
from sympy import Function, S, Symbol, oo, tanh
from sympy.logic.boolalg import BooleanFunction

from .activations import ACTIVATIONS, sigmoid
from .cell import get_cell
from .jacobian import BlockRef, Diag, jacobian, n
from .norms import At, Dg, Eq, MaxAbs, OpNorm, SigmaMax, StateDerivative, Statement, Step, T, k, t


# --- gated cells: the triangle bound and the paths that escape it -------------------------------
def _terms(expr) -> list:
    return list(expr.args) if isinstance(expr, sympy.MatAdd) else [expr]


def norm_bound(expr) -> sympy.Expr:
    """An upper bound on ||expr|| by the triangle inequality and submultiplicativity, term by term."""
    if isinstance(expr, sympy.ZeroMatrix):
        return S.Zero
    if isinstance(expr, sympy.MatAdd):
        return sympy.Add(*(norm_bound(a) for a in expr.args), evaluate=False)
    if isinstance(expr, sympy.MatMul):
        return sympy.Mul(*(norm_bound(a) for a in expr.args), evaluate=False)
    if isinstance(expr, Diag):
        return S.One if expr.value == 1 else MaxAbs(expr.value)
    if isinstance(expr, sympy.MatrixSymbol):
        return SigmaMax(Symbol(expr.name, commutative=False))
    if isinstance(expr, BlockRef):
        return OpNorm(StateDerivative(Symbol(expr.new), Symbol(expr.old)))
    raise TypeError(f"no norm bound for {expr!r}")


def block_bounds(cell) -> Statement:
    """||d s'_j / d s_i|| <= sum over terms of max|D| times singular values, for every block."""
    jac = jacobian(get_cell(cell))
    steps = []
    for (j, i), expr in jac.blocks.items():
        lhs = OpNorm(StateDerivative(Symbol(j), Symbol(i)))
        bound = sympy.expand(norm_bound(expr), deep=False)  # distribute over nested sums: shorter terms
        steps.append(Step(sympy.Le(lhs, bound), "triangle inequality, submultiplicativity"))
    conclusion = sympy.And(*(st.expr for st in steps)) if len(steps) > 1 else steps[0].expr
    return Statement("block_bound", "bound", None, conclusion, tuple(steps))


class InputPartial(Function):
    """d s'_j / d a^x_g: how the new state j moves with gate g's input pre-activation (one unit)."""


def _input_steps(jac, j: str, values: dict) -> tuple[Step, ...]:
    """Every gate's input partial of state j at the limit: all 0 means the state ignores its input x."""
    from .elementwise import elementwise

    ew = elementwise(jac.cell)
    out = []
    for g in jac.cell.gates:
        partial = jac.names.readable(ew.partial(j, Symbol(f"gi_{g}", real=True)))
        at_limit = partial.xreplace(values)
        at_limit = S.Zero if sympy.simplify(at_limit) == 0 else at_limit
        reason = "the input no longer reaches the state" if at_limit == 0 else "the input still enters"
        out.append(Step(Eq(InputPartial(Symbol(j), Symbol(g)), at_limit), f"{reason} through gate {g}"))
    return tuple(out)


def ignores_input(statement: Statement) -> bool:
    """True when every input partial in an escape statement is 0 at its limit (GRU at z = 1, MGU at f = 0)."""
    parts = [st.expr.rhs for st in statement.steps if isinstance(st.expr, sympy.Eq) and
             isinstance(st.expr.lhs, InputPartial)]
    return bool(parts) and all(p == 0 for p in parts)


class Tends(BooleanFunction):
    """Tends(a, oo): the pre-activation a goes to +infinity (-oo: to minus infinity), all else fixed."""

    @classmethod
    def eval(cls, *args):
        return None


_SATURATE = {sigmoid: (S.One, S.Zero), tanh: (S.One, S.NegativeOne)}  # value at +oo, at -oo


def _saturated(jac, limits: dict) -> dict | None:
    """Every activation the limits drive, mapped to its limit (f -> 1, sigma(a_f - 1) -> 1, c -> -1).

    ``limits`` maps a pre-activation symbol a_k to +1 or -1. An activation whose argument is linear in
    limiting pre-activations, all pushing it the same way, saturates; anything else (relu, opposing
    directions, a nonlinear argument) makes the limit undecidable here: None.
    """
    apps = set().union(*(e.atoms(*ACTIVATIONS) for b in jac.blocks.values() for e in
                         (d.value for d in b.atoms(Diag))))
    found = {}
    candidates = [(sym, d) for sym, d in jac.names.defs.items()] + [(a, a) for a in apps]
    for sym, app in candidates:
        arg = app.args[0]
        signs = set()
        for a, direction in limits.items():
            if not arg.has(a):
                continue
            coef = sympy.diff(arg, a)
            if not coef.is_number or coef == 0 or sympy.diff(arg, a, 2) != 0:
                return None
            signs.add(direction * sympy.sign(coef))
        if not signs:
            continue
        if len(signs) > 1 or type(app) not in _SATURATE:
            return None
        found[sym] = _SATURATE[type(app)][0 if signs == {1} else 1]
    return found


def _block_at(block, jac, limits: dict):
    """The block with every coefficient at the limit (zero terms dropped, D(1) alone read as I), or None."""
    values = _saturated(jac, limits)
    if not values:
        return None
    raw = {s for a in limits for g, p in jac.names.preactivation.items() if p == a
           for s in (a, Symbol(f"gi_{g}", real=True), Symbol(f"gh_{g}", real=True))}

    def sub(e):
        if isinstance(e, Diag):
            v = sympy.factor(e.value.xreplace(values))  # polynomial in bounded gate values: exact
            if v.free_symbols & raw:  # an unsaturated use of a limiting pre-activation: undecided
                raise ValueError
            return Diag(v)
        if isinstance(e, (sympy.MatAdd, sympy.MatMul)):
            return type(e)(*(sub(a) for a in e.args), evaluate=False)
        return e

    try:
        kept = [a for a in (sub(a) for a in _terms(block)) if not any(d.value == 0 for d in a.atoms(Diag))]
    except ValueError:
        return None
    if len(kept) == 1 and kept[0] == Diag(1):
        return sympy.Identity(n)
    return sympy.MatAdd(*kept, evaluate=False) if kept else sympy.ZeroMatrix(n, n)


def _limit_sets(jac, block) -> list[dict]:
    """The smallest sets of saturated pre-activations {a_k: +-1} that make ``block`` the identity."""
    gates = [g for g in jac.cell.gates if block.has(Symbol(g, real=True)) or any(
        d.value.has(jac.names.preactivation[g]) for d in block.atoms(Diag))]
    options = [(jac.names.preactivation[g], sign) for g in gates for sign in (1, -1)]
    found: list[dict] = []
    for size in range(1, len(gates) + 1):
        for combo in itertools.combinations(options, size):
            limits = dict(combo)
            if len(limits) < size or any(f.items() <= limits.items() for f in found):
                continue
            if _block_at(block, jac, limits) == sympy.Identity(n):
                found.append(limits)
    return found


def escape_paths(cell) -> list[Statement]:
    """States whose diagonal block becomes I as gate pre-activations go to +-infinity.

    The LSTM's forget gate, f -> 1; GRU's update gate, z -> 1; MGU's f -> 0; JANET's a_f -> +oo, which
    saturates both sigma(a_f) and the shifted sigma(a_f - 1); the peephole LSTM needs f -> 1 and the
    input gate saturated too (its peephole term w_ci c i (1 - i) must vanish). Each statement's
    hypothesis names the limit. ``carousel``: the block is D(v) exactly (no recurrent matrix), so the
    direct path over steps is prod_s D(v_s), equal to I in the limit. ``gate_path``: the block also
    has recurrent terms, and all of them vanish in the limit (their coefficients are polynomials in
    bounded gate values, so the limit is the value at the saturated gates).
    """
    jac = jacobian(get_cell(cell))
    found = []
    for j in jac.states:
        block = jac.expanded(j, j)
        sets = _limit_sets(jac, block)
        for number, limits in enumerate(sets):
            hyp = sympy.And(*(Tends(a, oo * d) for a, d in limits.items()))
            gates = [Step(Eq(sym, v), "saturated at the limit") for sym, v in _saturated(jac, limits).items()]
            ref = BlockRef(j, j)
            suffix = f"_{number + 1}" if len(sets) > 1 else ""
            if isinstance(block, Diag):
                path = sympy.Product(Dg(At(block.value, t)), (t, k + 1, T))
                direct = StateDerivative(Symbol(j), T, k)
                steps = (
                    *gates,
                    Step(Eq(ref, block), "its block: no recurrent matrix"),
                    Step(Eq(Symbol(f"direct_{j}"), path), "the direct path through every step"),
                    Step(Eq(sympy.Product(Dg(At(block.value.xreplace(_saturated(jac, limits)), t)), (t, k + 1, T)),
                            Symbol("I", commutative=False)), "the limit at every step"),
                    *_input_steps(jac, j, _saturated(jac, limits)),
                )
                found.append(Statement(f"carousel_{j}{suffix}", "carousel", hyp, Eq(direct, path), steps))
            else:
                steps = (
                    *gates,
                    Step(Eq(ref, block), "the diagonal block"),
                    Step(Eq(ref, _block_at(block, jac, limits)), "every coefficient at the limit"),
                    *_input_steps(jac, j, _saturated(jac, limits)),
                )
                found.append(Statement(f"gate_path_{j}{suffix}", "gate_path", hyp,
                                       Eq(ref, sympy.Identity(n)), steps))
    return found


__all__ = ["InputPartial", "Tends", "block_bounds", "escape_paths", "ignores_input", "norm_bound"]
