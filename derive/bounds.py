"""Why gradients vanish: gamma = sup|f'| by calculus, and the norm statements built on it.

Every result is a Statement: a hypothesis, a conclusion and the derivation steps, all SymPy objects
(relations between operator norms, singular values, products over time). A short reason string says
which rule each step uses; the mathematics itself is never a string. Which statements apply to a cell
is read from its expressions (derive.jacobian), not from its name: a cell is Elman-like when it has one
state and h' = f(a_k) for a single gate; diagonal when it has no recurrent matrix and h' = f(z) with
dz/dh a per-unit constant (IndRNN); otherwise gated. A state has an escape path when some gate
pre-activations going to +-infinity (every sigmoid and tanh of them saturating) turn its diagonal
Jacobian block into the identity.
"""

from __future__ import annotations

from functools import cache

import sympy
from sympy import Abs, Function, Piecewise, S, Symbol, exp, oo

from .activations import ACTIVATIONS, sigmoid
from .cell import get_cell
from .escape import Tends, block_bounds, escape_paths, norm_bound
from .jacobian import BlockRef, Diag, jacobian, n, recurrent_matrix
from .norms import (
    At,
    Dg,
    Eq,
    Jt,
    MaxAbs,
    OpNorm,
    SigmaMax,
    SpectralRadius,
    StateDerivative,
    Statement,
    Step,
    T,
    eta,
    k,
    m,
    t,
    x,
)


# --- gamma ------------------------------------------------------------------------------------
def _activation(f) -> type:
    for act in ACTIVATIONS:
        if f is act or f == act.__name__:
            return act
    raise ValueError(f"unknown activation {f!r}; known: {', '.join(a.__name__ for a in ACTIVATIONS)}")


def gamma_statement(f) -> Statement:
    """sup_x |f'(x)| by calculus: critical points of f' and its limits at +-oo (pieces for relu)."""
    return _gamma_statement(_activation(f))


@cache
def _gamma_statement(act) -> Statement:  # limits and solveset are slow; an activation never changes
    fp = sympy.diff(act(x), x)
    elementary = sympy.diff(act(x).rewrite(exp if act is sigmoid else Piecewise), x)
    steps = [Step(Eq(sympy.Derivative(act(x), x), fp), "chain rule of the activation")]
    if elementary != fp:
        steps.append(Step(Eq(fp, elementary), "in elementary functions"))
    if elementary.has(Piecewise):
        pieces = [(v, cond) for v, cond in elementary.args]
        values = [Abs(v) for v, _ in pieces]
        absolute = Piecewise(*((Abs(v), cond) for v, cond in pieces))
        steps.append(Step(Eq(Abs(fp), absolute), "constant on each piece: the sup is the largest piece"))
        where = [cond for v, cond in pieces if Abs(v) == max(values)]
    else:
        crit = sympy.solveset(sympy.diff(elementary, x), x, S.Reals)
        second = sympy.factor(sympy.diff(elementary, x))
        steps.append(Step(Eq(sympy.Derivative(fp, x), second), "differentiate once more"))
        values, where = [], []
        for c in sorted(crit):
            v = sympy.simplify(elementary.subs(x, c))
            steps.append(Step(Eq(x, c), "the only zero of f'' (critical point)" if len(crit) == 1 else "a zero of f''"))
            steps.append(Step(Eq(sympy.Subs(fp, x, c), v), "value at the critical point"))
            values.append(Abs(v))
            where.append(Eq(x, c))
        for end in (oo, -oo):
            lim = sympy.limit(elementary, x, end)
            steps.append(Step(Eq(sympy.Limit(fp, x, end), lim), "limit at infinity"))
            values.append(Abs(lim))
    g = sympy.Max(*values)
    where = [w for w, v in zip(where, values, strict=False) if v == g] if not elementary.has(Piecewise) else where
    conclusion = Eq(Symbol("gamma"), g)
    steps.append(Step(conclusion, "the largest candidate"))
    return Statement(f"gamma_{act.__name__}", "gamma", None, conclusion, tuple(steps))


def gamma(f) -> sympy.Expr:
    """sup |f'| of an activation (name or class), derived by calculus: tanh 1, sigmoid 1/4, relu 1."""
    return gamma_statement(f).conclusion.rhs


def gamma_argmax(f) -> list:
    """Where |f'| attains gamma (the relations from the last derivation step, e.g. x = 0)."""
    st = gamma_statement(f)
    act = _activation(f)
    fp = sympy.diff(act(x).rewrite(exp if act is sigmoid else Piecewise), x)
    if fp.has(Piecewise):
        return [cond for v, cond in fp.args if Abs(v) == st.conclusion.rhs]
    crit = sympy.solveset(sympy.diff(fp, x), x, S.Reals)
    return [c for c in sorted(crit) if sympy.simplify(Abs(fp.subs(x, c)) - st.conclusion.rhs) == 0]


# --- which statements apply -------------------------------------------------------------------
def elman_form(cell) -> tuple[type, str] | None:
    """(activation, gate) when the cell is h' = f(a_k) with one state and one first-stage gate."""
    jac = jacobian(get_cell(cell))
    eq = jac.equations
    if jac.states != ("h",) or jac.hidden_input:
        return None
    expr = eq["h"]
    if type(expr) in ACTIVATIONS and expr.args[0] in jac.names.preactivation.values():
        gate = next(g for g, a in jac.names.preactivation.items() if a == expr.args[0])
        return type(expr), gate
    return None


def activations(cell) -> list[str]:
    """Names of the activation functions the cell applies, in sorted order."""
    jac = jacobian(get_cell(cell))
    apps = set().union(*(e.atoms(*ACTIVATIONS) for e in jac.names.values.values()))
    return sorted({type(a).__name__ for a in apps})


def _W(gate: str) -> Symbol:
    return Symbol(recurrent_matrix(gate).name, commutative=False)


def elman_statements(cell) -> list[Statement]:
    """One-step bound, product bound, sufficient vanishing and necessary exploding conditions."""
    act, gate = elman_form(cell)
    jac = jacobian(get_cell(cell))
    g = gamma(act)
    W = _W(gate)
    diag = next(iter(jac.block("h", "h").atoms(Diag))).value
    fprime = Symbol("fprime")
    one = sympy.Le(OpNorm(Jt(t)), g * SigmaMax(W))
    s1 = Statement("one_step_bound", "bound", None, one, (
        Step(Eq(Jt(t), Dg(At(fprime, t)) * W), "the only block of the one-step Jacobian"),
        Step(Eq(At(fprime, t), At(diag, t)), "f' in terms of the forward value"),
        Step(sympy.Le(OpNorm(Jt(t)), sympy.Mul(OpNorm(Dg(At(fprime, t))), OpNorm(W), evaluate=False)),
             "submultiplicativity"),
        Step(Eq(OpNorm(Dg(At(fprime, t))), MaxAbs(At(fprime, t))), "norm of a diagonal matrix"),
        Step(sympy.Le(MaxAbs(At(fprime, t)), g), "by the definition of gamma"),
        Step(Eq(OpNorm(W), SigmaMax(W)), "the 2-norm is the largest singular value"),
        Step(one, "combine"),
    ))
    prod = sympy.Product(g * SigmaMax(W), (t, k + 1, T))
    bound = prod.doit()
    dh = StateDerivative(Symbol("h"), T, k)
    s2 = Statement("product_bound", "product", None, sympy.Le(OpNorm(dh), bound), (
        Step(Eq(dh, sympy.Product(Jt(t), (t, k + 1, T))), "chain rule, latest factor first"),
        Step(sympy.Le(OpNorm(dh), sympy.Product(OpNorm(Jt(t)), (t, k + 1, T))), "submultiplicativity"),
        Step(sympy.Le(OpNorm(dh), prod), "the one-step bound"),
        Step(sympy.Le(OpNorm(dh), bound), "a product of T - k equal factors"),
    ))
    hyp = sympy.Lt(SigmaMax(W), 1 / g)
    s3 = Statement("vanishing_sufficient", "sufficient", hyp, Eq(sympy.Limit(OpNorm(dh), T, oo), 0), (
        Step(Eq(eta, g * SigmaMax(W)), "the per-step factor"),
        Step(sympy.Lt(eta, 1), "the hypothesis times gamma"),
        Step(sympy.Le(OpNorm(dh), eta ** (T - k)), "the product bound"),
        Step(Eq(sympy.Limit(eta**m, m, oo), 0), "geometric decay, the factor being below 1"),
    ))
    bounded = sympy.Implies(sympy.Le(SigmaMax(W), 1 / g), sympy.Le(OpNorm(dh), 1))
    s4 = Statement("exploding_necessary", "necessary", sympy.Gt(SigmaMax(W), 1 / g), bounded, (
        Step(sympy.Le(SigmaMax(W), 1 / g), "suppose the condition fails"),
        Step(sympy.Le(OpNorm(dh), bound), "the product bound"),
        Step(sympy.Le(OpNorm(dh), bound.subs(SigmaMax(W), 1 / g)), "each factor is at most 1: no growth"),
    ))
    return [s1, s2, s3, s4]


# --- diagonal cells: no recurrent matrix, so the Jacobian is D(q) -------------------------------
def diagonal_form(cell) -> tuple[type, sympy.Expr] | None:
    """(activation, r) when the cell is h' = f(z) with one state, no recurrent matrix, and dz/dh = r a
    constant of the step (per-unit parameters and numbers only): IndRNN's relu(a + u h) gives r = u."""
    jac = jacobian(get_cell(cell))
    if jac.states != ("h",) or jac.hidden_input or jac.block("h", "h").atoms(sympy.MatrixSymbol):
        return None
    expr = jac.equations["h"]
    if type(expr) not in ACTIVATIONS:
        return None
    h = Symbol("h", real=True)
    r = sympy.diff(expr.args[0], h)
    constants = {sym for sym in get_cell(cell).unit_param_symbols().values()}
    if r == 0 or not r.free_symbols <= constants:
        return None
    return type(expr), r


def diagonal_statements(cell) -> list[Statement]:
    """The Elman statements with max|r| in place of sigma_max(W); per unit the product is exact."""
    act, r = diagonal_form(cell)
    jac = jacobian(get_cell(cell))
    g = gamma(act)
    q = jac.block("h", "h").value
    fprime = Symbol("fprime_z")
    dh = StateDerivative(Symbol("h"), T, k)
    one = sympy.Le(OpNorm(Jt(t)), g * MaxAbs(r))
    s1 = Statement("one_step_bound", "bound", None, one, (
        Step(Eq(Symbol("z"), jac.equations["h"].args[0]), "the argument of the activation: h' = f(z)"),
        Step(Eq(Jt(t), Dg(At(q, t))), "the only block: no recurrent matrix, so the Jacobian is diagonal"),
        Step(Eq(At(q, t), sympy.Mul(At(fprime, t), r, evaluate=False)), "chain rule: f'(z) times dz/dh"),
        Step(Eq(OpNorm(Jt(t)), MaxAbs(At(q, t))), "norm of a diagonal matrix"),
        Step(sympy.Le(MaxAbs(At(q, t)), g * MaxAbs(r)), "by the definition of gamma"),
        Step(one, "combine"),
    ))
    bound = sympy.Product(g * MaxAbs(r), (t, k + 1, T)).doit()
    s2 = Statement("product_bound", "product", None, sympy.Le(OpNorm(dh), bound), (
        Step(Eq(dh, sympy.Product(Jt(t), (t, k + 1, T))), "chain rule, latest factor first"),
        Step(Eq(dh, Dg(sympy.Product(At(q, t), (t, k + 1, T)))), "a product of diagonal matrices is diagonal"),
        Step(Eq(OpNorm(dh), MaxAbs(sympy.Product(At(q, t), (t, k + 1, T)))), "norm of a diagonal matrix"),
        Step(sympy.Le(OpNorm(dh), bound), "the one-step bound, T - k times"),
    ))
    hyp = sympy.Lt(MaxAbs(r), 1 / g)
    s3 = Statement("vanishing_sufficient", "sufficient", hyp, Eq(sympy.Limit(OpNorm(dh), T, oo), 0), (
        Step(Eq(eta, g * MaxAbs(r)), "the per-step factor"),
        Step(sympy.Lt(eta, 1), "the hypothesis times gamma"),
        Step(sympy.Le(OpNorm(dh), eta ** (T - k)), "the product bound"),
        Step(Eq(sympy.Limit(eta**m, m, oo), 0), "geometric decay, the factor being below 1"),
    ))
    bounded = sympy.Implies(sympy.Le(MaxAbs(r), 1 / g), sympy.Le(OpNorm(dh), 1))
    s4 = Statement("exploding_necessary", "necessary", sympy.Gt(MaxAbs(r), 1 / g), bounded, (
        Step(sympy.Le(MaxAbs(r), 1 / g), "suppose the condition fails"),
        Step(sympy.Le(OpNorm(dh), bound.subs(MaxAbs(r), 1 / g)), "the product bound: no growth"),
        Step(Eq(At(q, t), g * r), "where f' = gamma at every step (a unit in the linear regime)"),
        Step(Eq(MaxAbs(sympy.Product(At(q, t), (t, k + 1, T))), bound),
             "the bound is attained: the condition is sharp, unit by unit"),
    ))
    return [s1, s2, s3, s4]


def classify(cell) -> str:
    """'elman' (h' = f(W h + ...)), 'diagonal' (no recurrent matrix, h' = f(z(h))), else 'gated'."""
    if elman_form(cell) is not None:
        return "elman"
    if diagonal_form(cell) is not None:
        return "diagonal"
    return "gated"



@cache
def spectral_radius_counterexample(size: int = 3, scale=2) -> Statement:
    """A nilpotent W (spectral radius 0) whose products grow as scale^k for k < size.

    It refutes the eigenvalue version of the vanishing condition: rho(W) < 1/gamma does not bound
    ||W^k||, while sigma_max(W) = scale > 1 correctly fails the singular-value condition.
    """
    W = sympy.Matrix(size, size, lambda i, j: scale if j == i + 1 else 0)
    rho = max((Abs(v) for v in W.eigenvals()), default=S.Zero)
    smax = sympy.sqrt(max((W.T * W).eigenvals()))
    Wsym = Symbol("W", commutative=False)
    steps = [
        Step(Eq(sympy.MatrixSymbol("W", size, size), sympy.ImmutableMatrix(W)), "a scaled shift matrix"),
        Step(Eq(SpectralRadius(Wsym), rho), "every eigenvalue is 0 (strictly upper triangular)"),
        Step(Eq(SigmaMax(Wsym), smax), "largest singular value"),
    ]
    for p in range(1, size):
        norm = sympy.sqrt(max(((W**p).T * W**p).eigenvals()))
        steps.append(Step(Eq(OpNorm(Wsym**p), norm), "grows although every eigenvalue is 0"))
    hyp = sympy.Lt(SpectralRadius(Wsym), 1)
    return Statement("spectral_radius_counterexample", "counterexample", hyp,
                     sympy.Gt(OpNorm(Wsym ** (size - 1)), 1), tuple(steps))


class Gradient(Function):
    """g_k = dL/ds_k, the gradient reaching the state at step k (non-commutative column)."""

    is_commutative = False


class LocalGradient(Function):
    """dL_k/ds_k: the loss term of step k differentiated directly (non-commutative column)."""

    is_commutative = False


class Selector(Function):
    """E_s: the n x S n matrix picking state s out of the stacked state (its transpose embeds it)."""

    is_commutative = False


def exact_blocks(cell) -> list[Statement]:
    """Blocks that are exactly a nonzero number times I (no gate, no recurrent matrix): ``identity`` for I
    itself, on the diagonal the constant error carousel with no hypothesis (the 1997 LSTM's dc'/dc = I:
    the direct path keeps the error unchanged over any number of steps); ``constant`` otherwise."""
    jac = jacobian(get_cell(cell))
    found = []
    for (j, i), block in jac.blocks.items():
        if not (isinstance(block, Diag) and block.value.is_number and block.value != 0):
            continue
        c, ref = block.value, BlockRef(j, i)
        value = sympy.Identity(n) if c == 1 else c * sympy.Identity(n)
        steps = [Step(Eq(ref, block), "its block: a number on the diagonal, no gate and no recurrent matrix"),
                 Step(Eq(ref, value), "exactly, at every step and for every input")]
        if j == i:
            steps.append(Step(Eq(Symbol(f"direct_{j}"), value if c == 1 else c ** (T - k) * sympy.Identity(n)),
                              "the direct path through every step, a product of equal factors"))
        kind = "identity" if c == 1 else "constant"
        found.append(Statement(f"{kind}_{j}_{i}", kind, None, Eq(ref, value), tuple(steps)))
    return found


def recursion(cell) -> Statement:
    """The ordered product and the BPTT recursion for a cell's stacked state (S blocks of n)."""
    states = get_cell(cell).states
    stacked = Symbol("s" if len(states) > 1 else states[0])
    steps = [Step(Eq(StateDerivative(stacked, T, k), sympy.Product(Jt(t), (t, k + 1, T))),
                  "chain rule: the latest Jacobian on the left")]
    if len(states) > 1:
        h = Symbol("h")
        sel = Selector(h)
        steps.append(Step(Eq(StateDerivative(h, T, k), sel * StateDerivative(stacked, T, k) * sympy.transpose(sel)),
                          "select h from the stacked state"))
    rec = Eq(Gradient(k), sympy.transpose(Jt(k + 1)) * Gradient(k + 1) + LocalGradient(k, stacked))
    steps.append(Step(rec, "backpropagation through time, from g_T down to g_0"))
    return Statement("bptt", "recursion", None, rec, tuple(steps))


def statements(cell) -> list[Statement]:
    """Everything derivable for a cell: Elman bounds, or the block bound plus escape paths."""
    return list(_statements(get_cell(cell)))


@cache
def _statements(cell) -> tuple[Statement, ...]:  # per cell object: printers and the CLI ask repeatedly
    kind = classify(cell)
    if kind == "elman":
        return tuple(elman_statements(cell))
    if kind == "diagonal":
        return tuple(diagonal_statements(cell))
    return (block_bounds(cell), *exact_blocks(cell), *escape_paths(cell))


__all__ = [
    "At", "Dg", "Gradient", "Jt", "LocalGradient", "MaxAbs", "OpNorm", "Selector", "SigmaMax", "SpectralRadius",
    "StateDerivative", "Statement", "Step", "Tends", "activations", "block_bounds", "classify", "diagonal_form",
    "exact_blocks",
    "diagonal_statements", "elman_form", "elman_statements", "escape_paths", "gamma", "gamma_argmax",
    "gamma_statement", "norm_bound", "recursion", "spectral_radius_counterexample", "statements",
]
