"""Parity with PyTorch: outputs, final states and every gradient, against references that share no
code with the generated kernels.

Three references, all differentiated by torch autograd (not by SymPy):
- the torch.nn module a cell names in ``torch_module`` (RNN, GRU, LSTM), its weights handed to the
  kernel through the kernel's own ``params_from_state_dict``;
- equations written out in this file from the papers, for the cells PyTorch lacks (rnn_sigmoid,
  gru_v3 and the published cells of derive/cells: peephole and CIFG LSTM, MGU, IndRNN, JANET);
- the cell's own SymPy ``update`` evaluated on torch tensors: no CSE, no lowering, no templates, no
  symbolic derivative, so it checks code generation for every cell, including one added tomorrow.
float64 must agree to rtol 1e-10, float32 to rtol 1e-4, each relative to the entry and to the array's
largest entry (assert_close).
"""

from __future__ import annotations

import numpy
import pytest
import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from symcell.derive import get_cell

from tests.conftest import SEEDS, assert_close, make_problem
from tests.support import BACKENDS, CELLS, kernel

#: dtype -> (torch dtype, rtol)
DTYPES = {numpy.float64: (torch.float64, 1e-10), numpy.float32: (torch.float32, 1e-4)}
#: Somewhat larger than the finite-difference sizes: torch is fast, and bigger GEMMs exercise the layout.
SIZES = st.tuples(st.integers(1, 8), st.integers(1, 4), st.integers(1, 6), st.integers(1, 8))
TORCH_CELLS = [c for c in CELLS if get_cell(c).torch_module]


def _compare(cell, k, torch_run, problem, dtype, params=None):
    """Run the kernel and ``torch_run(leaves) -> (y, states, param tensors)`` on the same problem and
    compare y, the final states and the gradients of sum(y dy) + sum(state dstate) for every input."""
    tdtype, rtol = DTYPES[dtype]
    params = problem.params if params is None else params
    leaves = {"x": torch.tensor(problem.x, dtype=tdtype, requires_grad=True)}
    for j, s in enumerate(problem.state0):
        leaves[f"state0[{j}]"] = torch.tensor(s, dtype=tdtype, requires_grad=True)
    y_ref, state_ref, param_ref = torch_run(leaves)
    loss = (y_ref * torch.tensor(problem.dy, dtype=tdtype)).sum()
    for s, d in zip(state_ref, problem.dstate, strict=True):
        loss = loss + (s * torch.tensor(d, dtype=tdtype)).sum()
    loss.backward()

    y, state, tape = k.forward(problem.x, params, problem.state0, save=True)
    grads = k.backward(tape, problem.dy, problem.dstate)
    assert y.dtype == dtype and all(s.dtype == dtype for s in state)
    assert_close(y, y_ref.detach().numpy(), rtol, f"{cell}: y")
    for j, (s, s_ref) in enumerate(zip(state, state_ref, strict=True)):
        assert_close(s, s_ref.detach().numpy(), rtol, f"{cell}: final state {k.STATES[j]}")
    assert_close(grads["x"], leaves["x"].grad.numpy(), rtol, f"{cell}: d/dx")
    for j, g in enumerate(grads["state0"]):
        assert_close(g, _grad(leaves[f"state0[{j}]"]), rtol, f"{cell}: d/d state0 {k.STATES[j]}")
    for name, ref in param_ref.items():
        assert_close(grads[name], ref.grad.numpy(), rtol, f"{cell}: d/d {name}")


def _grad(leaf):
    """A leaf's gradient; zeros where the loss never reads it (SRU's old h: h' reads only c and x)."""
    return numpy.zeros(tuple(leaf.shape)) if leaf.grad is None else leaf.grad.numpy()


def _check_torch_module(cell, backend, dtype, sizes, seed, weight_bound):
    """One-layer torch.nn.<torch_module>(X, H, **torch_kwargs), weights U(-bound, bound) (0: all zero),
    copied into the kernel through params_from_state_dict; x, state0, dy and dstate random."""
    spec = get_cell(cell)
    k = kernel(cell, backend, dtype)
    T, B, X, H = sizes
    tdtype, _ = DTYPES[dtype]
    module = getattr(torch.nn, spec.torch_module)(X, H, **spec.torch_kwargs).to(tdtype)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for w in module.parameters():
            w.uniform_(-weight_bound, weight_bound, generator=generator) if weight_bound else w.zero_()
    problem = make_problem(k, sizes, seed, dtype=dtype)
    params = k.params_from_state_dict(module.state_dict())
    assert sorted(params) == sorted(k.param_shapes(X, H))

    def run(leaves):
        h0 = tuple(leaves[f"state0[{j}]"][None] for j in range(len(k.STATES)))
        y, hn = module(leaves["x"], h0 if len(h0) > 1 else h0[0])
        hn = hn if isinstance(hn, tuple) else (hn,)
        return y, tuple(s[0] for s in hn), {name: getattr(module, f"{name}_l0") for name in params}

    _compare(cell, k, run, problem, dtype, params)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", TORCH_CELLS)
@settings(max_examples=10)
@given(sizes=SIZES, seed=SEEDS)
def test_matches_torch_nn_module(cell, backend, dtype, sizes, seed):
    """Weights U(-1, 1), wider than PyTorch's default init, so the gates leave their linear range."""
    _check_torch_module(cell, backend, dtype, sizes, seed, weight_bound=1.0)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", TORCH_CELLS)
def test_matches_torch_nn_module_at_zero_pre_activations(cell, backend, dtype):
    """All weights zero: every pre-activation is exactly 0, where relu has its kink. PyTorch takes
    relu'(0) = 0; the kernels must take the same value (and sigma(0), tanh(0) exactly)."""
    _check_torch_module(cell, backend, dtype, (3, 2, 3, 4), 0, weight_bound=0.0)


def _rnn_sigmoid(x, p, state0):
    """Elman network with the logistic function: h_t = sigma(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""
    h, ys = state0[0], []
    for x_t in x:
        h = torch.sigmoid(x_t @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])
        ys.append(h)
    return torch.stack(ys), (h,)


def _gru_v3(x, p, state0):
    """Cho et al. 2014 (arXiv:1406.1078 v3) eqs. 5-8, with the biases PyTorch's layout carries:
    r = sigma(W_r x + U_r h), z = sigma(W_z x + U_z h), h~ = tanh(W x + U (r * h)), h' = z h + (1 - z) h~.
    Rows of weight_ih / weight_hh: r, z, then the candidate (W, U)."""
    W_r, W_z, W = p["weight_ih"].chunk(3)
    U_r, U_z, U = p["weight_hh"].chunk(3)
    b_r, b_z, b = (p["bias_ih"] + p["bias_hh"]).chunk(3)
    h, ys = state0[0], []
    for x_t in x:
        r = torch.sigmoid(x_t @ W_r.T + h @ U_r.T + b_r)
        z = torch.sigmoid(x_t @ W_z.T + h @ U_z.T + b_z)
        candidate = torch.tanh(x_t @ W.T + (r * h) @ U.T + b)
        h = z * h + (1 - z) * candidate
        ys.append(h)
    return torch.stack(ys), (h,)


def _pre(x_t, h, p, gates):
    """W x + U h + b per gate, in the rows order of ``gates`` (U h left out without a weight_hh)."""
    n = len(gates)
    W, b = p["weight_ih"].chunk(n), (p["bias_ih"] + p["bias_hh"]).chunk(n)
    U = p["weight_hh"].chunk(n) if "weight_hh" in p else [None] * n
    return {g: x_t @ W[j].T + b[j] + (0 if U[j] is None else h @ U[j].T) for j, g in enumerate(gates)}


def _lstm_peephole(x, p, state0):
    """Gers, Schraudolph, Schmidhuber 2002: i, f peek at c_{t-1}, o at c_t, through diagonal weights."""
    (h, c), ys = state0, []
    for x_t in x:
        a = _pre(x_t, h, p, "ifgo")
        i, f = torch.sigmoid(a["i"] + p["w_ci"] * c), torch.sigmoid(a["f"] + p["w_cf"] * c)
        c = f * c + i * torch.tanh(a["g"])
        h = torch.sigmoid(a["o"] + p["w_co"] * c) * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys), (h, c)


def _lstm_cifg(x, p, state0):
    """Greff et al. 2017, CIFG variant: the input gate is 1 - f."""
    (h, c), ys = state0, []
    for x_t in x:
        a = _pre(x_t, h, p, "fgo")
        f = torch.sigmoid(a["f"])
        c = f * c + (1 - f) * torch.tanh(a["g"])
        h = torch.sigmoid(a["o"]) * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys), (h, c)


def _mgu(x, p, state0):
    """Zhou et al. 2016: f = sigma(W_f [h, x] + b_f), h~ = tanh(W_h [f * h, x] + b_h),
    h' = (1 - f) h + f h~."""
    W_f, W_n = p["weight_ih"].chunk(2)
    U_f, U_n = p["weight_hh"].chunk(2)
    b_f, b_n = (p["bias_ih"] + p["bias_hh"]).chunk(2)
    h, ys = state0[0], []
    for x_t in x:
        f = torch.sigmoid(x_t @ W_f.T + h @ U_f.T + b_f)
        h = (1 - f) * h + f * torch.tanh(x_t @ W_n.T + (f * h) @ U_n.T + b_n)
        ys.append(h)
    return torch.stack(ys), (h,)


def _indrnn(x, p, state0):
    """Li et al. 2018: h_t = relu(W x_t + u * h_{t-1} + b), u a vector (no recurrent matrix)."""
    h, ys = state0[0], []
    for x_t in x:
        h = torch.relu(x_t @ p["weight_ih"].T + p["u"] * h + p["bias_ih"] + p["bias_hh"])
        ys.append(h)
    return torch.stack(ys), (h,)


def _janet(x, p, state0):
    """van der Westhuizen, Lasenby 2018, with beta = 1: s_f = U_f h + W_f x + b_f,
    h' = sigma(s_f) h + (1 - sigma(s_f - beta)) tanh(U_c h + W_c x + b_c)."""
    h, ys = state0[0], []
    for x_t in x:
        a = _pre(x_t, h, p, "fc")
        h = torch.sigmoid(a["f"]) * h + (1 - torch.sigmoid(a["f"] - 1)) * torch.tanh(a["c"])
        ys.append(h)
    return torch.stack(ys), (h,)


#: Cells PyTorch has no module for, checked against equations written from their papers.
WRITTEN = {"rnn_sigmoid": _rnn_sigmoid, "gru_v3": _gru_v3, "lstm_peephole": _lstm_peephole,
           "lstm_cifg": _lstm_cifg, "mgu": _mgu, "indrnn": _indrnn, "janet": _janet}


def _param_leaves(problem, tdtype):
    return {n: torch.tensor(v, dtype=tdtype, requires_grad=True) for n, v in problem.params.items()}


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", sorted(WRITTEN))
@settings(max_examples=10)
@given(sizes=SIZES, seed=SEEDS)
def test_matches_written_equations(cell, backend, dtype, sizes, seed):
    """The cells without a torch module against their paper's equations, differentiated by autograd."""
    k = kernel(cell, backend, dtype)
    problem = make_problem(k, sizes, seed, dtype=dtype)
    tdtype, _ = DTYPES[dtype]
    p = _param_leaves(problem, tdtype)

    def run(leaves):
        y, state = WRITTEN[cell](leaves["x"], p, tuple(leaves[f"state0[{j}]"] for j in range(len(k.STATES))))
        return y, state, p

    _compare(cell, k, run, problem, dtype)


_TORCH_FUNCTIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def _definition_runner(cell_name, p):
    """Evaluate the cell's SymPy definition step by step on torch tensors (autograd differentiates)."""
    cell = get_cell(cell_name)
    s, a = cell.namespaces()
    states = cell.state_symbols()
    hidden = cell.hidden_input(s, a)
    update = cell.update(s, a)
    def as_function(expr):
        names = sorted(map(str, sympy.sympify(expr).free_symbols))
        fn = sympy.lambdify(names, expr, modules=[_TORCH_FUNCTIONS])
        return lambda env: fn(*(env[n] for n in names))

    update_fns = {n: as_function(update[n]) for n in cell.states}
    hidden_fns = {g: as_function(hidden[g]) for g in hidden}
    G = len(cell.gates)
    w_ih, b_ih, b_hh = p["weight_ih"].chunk(G), p["bias_ih"].chunk(G), p["bias_hh"].chunk(G)
    w_hh = p["weight_hh"].chunk(G) if cell.recurrent_matrix else None  # else gh_k is bias_hh alone
    units = {str(sym): p[name] for name, sym in cell.unit_param_symbols().items()}  # (H,): broadcast

    def run(x, state0):
        S, ys = dict(zip(cell.states, state0, strict=True)), []
        for x_t in x:
            env = {str(states[n]): S[n] for n in cell.states} | units
            for j, g in enumerate(cell.gates):
                env[f"gi_{g}"] = x_t @ w_ih[j].T + b_ih[j]
                if g not in hidden:
                    env[f"gh_{g}"] = b_hh[j] if w_hh is None else S["h"] @ w_hh[j].T + b_hh[j]
            for j, g in enumerate(cell.gates):
                if g in hidden:  # second stage: its recurrent input is a function of the first stage (or a constant)
                    env[f"gh_{g}"] = (hidden_fns[g](env) + torch.zeros_like(S["h"])) @ w_hh[j].T + b_hh[j]
            S = {n: update_fns[n](env) for n in cell.states}
            ys.append(S["h"])
        return torch.stack(ys), tuple(S[n] for n in cell.states)

    return run


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
@settings(max_examples=6)
@given(sizes=SIZES, seed=SEEDS)
def test_matches_autograd_of_the_cell_definition(cell, backend, dtype, sizes, seed):
    """The generated forward and backward against the cell's SymPy update run on torch tensors."""
    k = kernel(cell, backend, dtype)
    problem = make_problem(k, sizes, seed, dtype=dtype)
    tdtype, _ = DTYPES[dtype]
    p = _param_leaves(problem, tdtype)
    definition = _definition_runner(cell, p)

    def run(leaves):
        y, state = definition(leaves["x"], tuple(leaves[f"state0[{j}]"] for j in range(len(k.STATES))))
        return y, state, p

    _compare(cell, k, run, problem, dtype)
