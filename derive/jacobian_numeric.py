"""Numeric values of the symbolic Jacobians: one step, the ordered product, and the BPTT recursion.

Everything is evaluated from derive.jacobian's matrix expressions and the cell's own elementwise
expressions (SymPy ``lambdify``), never from a hand-written formula, so a test that compares these
numbers with finite differences of the generated kernels checks the derivation itself. Arrays are
batched: per-unit values are (B, H); matrices are (B, S*H, S*H) with blocks in the cell's STATES
order (rows: new state, columns: previous state).
"""

from __future__ import annotations

from functools import cache

import numpy
import sympy
from sympy import MatAdd, MatMul, MatrixSymbol

from .cell import get_cell
from .elementwise import elementwise
from .jacobian import BlockRef, Diag, jacobian


def _sigmoid(x):
    e = numpy.exp(-numpy.abs(x))
    return numpy.where(x >= 0, 1 / (1 + e), e / (1 + e))


_MODULES = [{"sigmoid": _sigmoid, "relu": lambda x: numpy.maximum(x, 0)}, "numpy"]


@cache
def _compiled(cell):
    """Lambdified raw expressions of one cell: stage-2 inputs, updates, and every Diag coefficient."""
    ew = elementwise(cell)
    jac = jacobian(cell)
    args = ew.inputs()
    fn = lambda e: sympy.lambdify(args, e, modules=_MODULES)  # noqa: E731
    values = jac.names.values
    diags = {}
    for expr in jac.blocks.values():
        for d in expr.atoms(Diag):
            diags[d] = fn(d.value.xreplace(values))
    hidden = {g: fn(e) for g, e in ew.hidden_input.items()}
    update = {s: fn(e) for s, e in ew.update.items()}
    return ew, jac, hidden, update, diags


def _check(cell, params, x_t, state):
    """The parameters as float64 arrays (by name) and the hidden size; ValueError names what is wrong."""
    names = cell.param_names()
    missing = [k for k in names if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; expected the keys {names}")
    p = {k: numpy.asarray(params[k], dtype=numpy.float64) for k in names}
    gates = len(cell.gates)
    b_hh = p["bias_hh"]
    hidden = b_hh.shape[0] // gates if b_hh.ndim == 1 else -1
    if "weight_hh" in p:
        hidden = p["weight_hh"].shape[1] if p["weight_hh"].ndim == 2 else -1
        if p["weight_hh"].shape != (gates * hidden, hidden):
            raise ValueError(f"weight_hh must have shape ({gates}*H, H) for {cell.name}; got {p['weight_hh'].shape}")
    for k in ("bias_ih", "bias_hh"):
        if p[k].shape != (gates * hidden,):
            raise ValueError(f"{k} must have shape ({gates}*H,) = ({gates * hidden},); got {p[k].shape}")
    for k in cell.unit_params:
        if p[k].shape != (hidden,):
            raise ValueError(f"{k} must have shape (H,) = ({hidden},) for {cell.name}; got {p[k].shape}")
    x_t = numpy.asarray(x_t, dtype=numpy.float64)
    if x_t.ndim != 2 or p["weight_ih"].shape != (gates * hidden, x_t.shape[1]):
        raise ValueError(f"x_t must be (B, X) and weight_ih ({gates}*H, X); got {x_t.shape} and {p['weight_ih'].shape}")
    if state is None:
        state = tuple(numpy.zeros((x_t.shape[0], hidden)) for _ in cell.states)
    state = tuple(numpy.asarray(s, dtype=numpy.float64) for s in state)
    if len(state) != len(cell.states) or any(s.shape != (x_t.shape[0], hidden) for s in state):
        raise ValueError(f"state must be a tuple of {len(cell.states)} arrays (B, H) = ({x_t.shape[0]}, {hidden})")
    return p, hidden, x_t, state


def _inputs(cell, params, x_t, state):
    """Every elementwise input (gi_k, gh_k, old states, unit params) for one step, and the blocks U_k.

    Without a recurrent matrix, gh_k is bias_hh alone (the h dependence is in the update itself).
    """
    ew, _, hidden_fns, _, _ = _compiled(cell)
    p, H, x_t, state = _check(cell, params, x_t, state)
    gi_all = x_t @ p["weight_ih"].T + p["bias_ih"]
    b_hh = p["bias_hh"]
    rows = {g: slice(k * H, (k + 1) * H) for k, g in enumerate(cell.gates)}
    values = {ew.gi[g]: gi_all[:, rows[g]] for g in cell.gates}
    values.update({ew.state[s]: v for s, v in zip(cell.states, state, strict=True)})
    h = values[ew.state["h"]]
    values.update({sym: numpy.broadcast_to(p[name], h.shape) for name, sym in ew.unit.items()})
    w_hh = p.get("weight_hh")
    for g in ew.stage1_gates:
        values[ew.gh[g]] = numpy.broadcast_to(b_hh[rows[g]], h.shape) if w_hh is None else \
            h @ w_hh[rows[g]].T + b_hh[rows[g]]
    args = ew.inputs()
    for g in ew.stage2_gates:  # placeholders: hidden_input reads only first-stage gates and states
        values[ew.gh[g]] = numpy.zeros_like(h)
    for g in ew.stage2_gates:
        m = numpy.broadcast_to(hidden_fns[g](*[values[a] for a in args]), h.shape)
        values[ew.gh[g]] = m @ w_hh[rows[g]].T + b_hh[rows[g]]
    mats = {} if w_hh is None else {f"U_{g}": w_hh[rows[g]] for g in cell.gates}
    return [values[a] for a in args], mats, h.shape


def step_numeric(cell, params, x_t, state=None) -> tuple[numpy.ndarray, ...]:
    """The next state tuple, evaluated from the cell's update expressions (an independent forward)."""
    cell = get_cell(cell)
    args, _, shape = _inputs(cell, params, x_t, state)
    update = _compiled(cell)[3]
    return tuple(numpy.broadcast_to(update[s](*args), shape).copy() for s in cell.states)


def _evaluate(expr, diag_values, mats, blocks, shape):
    """A (B, H, H) array for a matrix expression made of Diag, U_k, BlockRef, sums and products."""
    B, H = shape
    if isinstance(expr, Diag):
        v = numpy.broadcast_to(diag_values[expr], shape)
        return v[:, :, None] * numpy.eye(H)
    if isinstance(expr, MatrixSymbol):
        return numpy.broadcast_to(mats[expr.name], (B, H, H))
    if isinstance(expr, BlockRef):
        return blocks[(expr.new, expr.old)]
    if isinstance(expr, sympy.ZeroMatrix):
        return numpy.zeros((B, H, H))
    if isinstance(expr, MatAdd):
        return sum(_evaluate(a, diag_values, mats, blocks, shape) for a in expr.args)
    if isinstance(expr, MatMul):
        diag = numpy.ones(shape)  # a leading run of Diag factors stays a vector until a full matrix comes
        out = None
        for a in expr.args:
            if isinstance(a, Diag):
                v = numpy.broadcast_to(diag_values[a], shape)
                if out is None:
                    diag = diag * v
                else:  # right-multiplying by a diagonal scales columns
                    out = out * v[:, None, :]
                continue
            val = _evaluate(a, diag_values, mats, blocks, shape)
            out = diag[:, :, None] * val if out is None else out @ val
        return diag[:, :, None] * numpy.eye(H) if out is None else out
    raise TypeError(f"cannot evaluate matrix expression {expr!r}")


def jacobian_numeric(cell, params, x_t, state=None) -> numpy.ndarray:
    """d(state_t)/d(state_{t-1}) at one step: (B, S*H, S*H), blocks in STATES order.

    Args:
        cell: a registered cell or its name.
        params: the cell's param_names() in PyTorch shapes and gate order (weight_ih, weight_hh, bias_ih,
            bias_hh; no weight_hh without a recurrent matrix; then each unit parameter, shape (H,)).
        x_t: the input at this step, (B, X).
        state: the previous state tuple in STATES order, each (B, H); None means zeros.
    """
    cell = get_cell(cell)
    args, mats, shape = _inputs(cell, params, x_t, state)
    _, jac, _, _, diag_fns = _compiled(cell)
    diag_values = {d: f(*args) for d, f in diag_fns.items()}
    blocks: dict = {}
    order = sorted(jac.blocks, key=lambda k: bool(jac.blocks[k].atoms(BlockRef)))  # referenced blocks first
    for key in order:
        blocks[key] = _evaluate(jac.blocks[key], diag_values, mats, blocks, shape)
    rows = [numpy.concatenate([blocks[(j, i)] for i in cell.states], axis=2) for j in cell.states]
    return numpy.concatenate(rows, axis=1)


def jacobian_sequence(cell, params, xs, state0=None) -> tuple[list[numpy.ndarray], list[tuple]]:
    """J_1..J_T along a sequence xs (T, B, X) and the states s_0..s_T that produced them."""
    states = [state0 if state0 is None else tuple(state0)]
    jacs = []
    for x_t in numpy.asarray(xs, dtype=numpy.float64):
        jacs.append(jacobian_numeric(cell, params, x_t, states[-1]))
        states.append(step_numeric(cell, params, x_t, states[-1]))
    return jacs, states


def jacobian_product(jacs: list[numpy.ndarray], k: int = 0) -> numpy.ndarray:
    """d s_T / d s_k = J_T J_{T-1} ... J_{k+1} (latest first) from the list J_1..J_T."""
    out = numpy.broadcast_to(numpy.eye(jacs[0].shape[-1]), jacs[0].shape).copy()
    for jac in jacs[k:]:
        out = jac @ out
    return out


def bptt(jacs: list[numpy.ndarray], g_last: numpy.ndarray, local=None) -> list[numpy.ndarray]:
    """The BPTT recursion g_k = J_{k+1}^T g_{k+1} + dL_k/ds_k, from g_T (B, S*H) back to g_0.

    ``local`` optionally gives dL_k/ds_k for k = 0..T (a list of (B, S*H) arrays or None).
    """
    T = len(jacs)
    g = [None] * (T + 1)
    g[T] = numpy.asarray(g_last, dtype=numpy.float64) + (0 if local is None else local[T])
    for k in range(T - 1, -1, -1):
        g[k] = numpy.einsum("bij,bi->bj", jacs[k], g[k + 1]) + (0 if local is None else local[k])
    return g


__all__ = ["bptt", "jacobian_numeric", "jacobian_product", "jacobian_sequence", "step_numeric"]
