"""The symbolic Jacobians against float64 central differences of the generated kernels.

Every check differentiates the generated forward step (symcell.kernels.numpy.<cell>.step) by central
differences in float64 with eps = 1e-6 (error ~ eps^2 |f'''| + 1e-16 |f| / eps, about 1e-10 here) and
compares with rtol = 1e-6, atol = 1e-8. The Jacobian side is derive.jacobian_numeric, evaluated from the
symbolic blocks, so a wrong block (a missed gate path, a wrong chain through the second stage) fails.
"""

from __future__ import annotations

import numpy
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from symcell.derive import Cell, jacobian, jacobian_numeric, jacobian_product, jacobian_sequence, sigmoid, tanh
from symcell.derive.jacobian import BlockRef, Diag, recurrent_matrix
from symcell.derive.jacobian_numeric import bptt, step_numeric

from tests.conftest import assert_close
from tests.support import CELLS, kernel

EPS = 1e-6
RTOL, ATOL = 1e-6, 1e-8
SIZES = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5))  # B, X, H
SEEDS = st.integers(0, 2**32 - 1)


def problem(mod, B, X, H, seed, scale=2.0):
    """Parameters scaled past PyTorch's init so gates are away from 1/2 and every path matters."""
    rng = numpy.random.default_rng(seed)
    params = {k: v * scale for k, v in mod.init_params(X, H, rng).items()}
    x = rng.normal(size=(B, X))
    state = tuple(rng.normal(size=(B, H)) for _ in mod.STATES)
    return params, x, state


def stack(state):
    return numpy.concatenate(state, axis=1)


def unstack(flat, S):
    return tuple(part.copy() for part in numpy.split(flat, S, axis=1))


def fd_jacobian(f, state):
    """Central differences of f(state tuple) -> state tuple, as (B, S*H, S*H) (rows: outputs)."""
    flat, S = stack(state), len(state)
    out = numpy.zeros((flat.shape[0], flat.shape[1], flat.shape[1]))
    for col in range(flat.shape[1]):
        plus, minus = flat.copy(), flat.copy()
        plus[:, col] += EPS
        minus[:, col] -= EPS
        out[:, :, col] = (stack(f(unstack(plus, S))) - stack(f(unstack(minus, S)))) / (2 * EPS)
    return out


@pytest.mark.parametrize("cell", CELLS)
@given(sizes=SIZES, seed=SEEDS)
def test_one_step_jacobian_matches_central_differences_of_the_generated_step(cell, sizes, seed):
    mod = kernel(cell)
    B, X, H = sizes
    params, x, state = problem(mod, B, X, H, seed)
    J = jacobian_numeric(cell, params, x, state)
    assert J.shape == (B, len(mod.STATES) * H, len(mod.STATES) * H)
    fd = fd_jacobian(lambda s: mod.step(x, params, s), state)
    numpy.testing.assert_allclose(J, fd, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("cell", CELLS)
def test_blocks_are_in_the_generated_modules_states_order(cell):
    assert jacobian(cell).states == kernel(cell).STATES


@pytest.mark.parametrize("cell", CELLS)
@given(seed=SEEDS, T=st.integers(1, 5))
def test_ordered_product_matches_differences_over_several_steps(cell, seed, T):
    """d s_T / d s_0 = J_T ... J_1 (latest first) against differences of the generated forward."""
    mod = kernel(cell)
    B, X, H = 2, 3, 4
    params, _, state = problem(mod, B, X, H, seed)
    xs = numpy.random.default_rng(seed + 1).normal(size=(T, B, X))
    jacs, states = jacobian_sequence(cell, params, xs, state)
    fd = fd_jacobian(lambda s: mod.forward(xs, params, s)[1], state)
    numpy.testing.assert_allclose(jacobian_product(jacs), fd, rtol=RTOL, atol=ATOL)
    # relative to the state's scale, not entry by entry: the 1997 LSTM's c = c_0 + sum of i g cancels to entries
    # far below its largest, which carry that largest's round-off
    assert_close(stack(states[-1]), stack(mod.forward(xs, params, state)[1]), 1e-12, "s_T")


@pytest.mark.parametrize("cell", CELLS)
@given(seed=SEEDS)
def test_bptt_recursion_equals_the_generated_backward(cell, seed):
    """g_0 from g_k = J_{k+1}^T g_{k+1} equals the generated backward's state0 gradient (dy = 0)."""
    mod = kernel(cell)
    T, B, X, H = 4, 2, 3, 3
    params, _, state = problem(mod, B, X, H, seed)
    rng = numpy.random.default_rng(seed + 2)
    xs = rng.normal(size=(T, B, X))
    g_T = tuple(rng.normal(size=(B, H)) for _ in mod.STATES)
    jacs, _ = jacobian_sequence(cell, params, xs, state)
    g = bptt(jacs, stack(g_T))
    _, _, tape = mod.forward(xs, params, state, save=True)
    grads = mod.backward(tape, numpy.zeros((T, B, H)), g_T)
    numpy.testing.assert_allclose(g[0], stack(grads["state0"]), rtol=1e-10, atol=1e-12)


@given(seed=SEEDS)
def test_lstm_block_chain_matches_differences_but_the_naive_hidden_chain_does_not(seed):
    """Chaining the 2n x 2n blocks is right; chaining the n x n dh_t/dh_{t-1} blocks alone is wrong,
    because it drops every path through the cell state."""
    mod = kernel("lstm")
    T, B, X, H = 4, 2, 3, 4
    params, _, state = problem(mod, B, X, H, seed, scale=3.0)
    xs = numpy.random.default_rng(seed + 3).normal(size=(T, B, X))
    jacs, _ = jacobian_sequence("lstm", params, xs, state)
    h0, c0 = state

    def h_T(h):  # dh_T/dh_0 with c_0 held fixed: what the [I 0] ... [I; 0] selection of the chain means
        return (mod.forward(xs, params, (h[0], c0))[1][0],)

    fd = fd_jacobian(h_T, (h0,))
    chain = jacobian_product(jacs)[:, :H, :H]
    naive = jacobian_product([j[:, :H, :H] for j in jacs])
    numpy.testing.assert_allclose(chain, fd, rtol=RTOL, atol=ATOL)
    assert not numpy.allclose(naive, fd, rtol=RTOL, atol=ATOL)
    assert numpy.abs(naive - fd).max() > 1e-2 * numpy.abs(fd).max()  # wrong at the 1% level, not by rounding


def test_lstm_hidden_row_factors_through_the_cell_block_as_in_theory():
    """dh'/dh = D(tanh(c') o(1-o)) U_o + D(o (1 - tanh^2 c')) dc'/dh, and dc'/dc = D(f)."""
    jac = jacobian("lstm")
    f = sympy.Symbol("f", real=True)
    assert jac.block("c", "c") == Diag(f)
    hh = jac.block("h", "h")
    assert recurrent_matrix("o") in hh.atoms(sympy.MatrixSymbol)
    assert {(r.new, r.old) for r in hh.atoms(BlockRef)} == {("c", "h")}
    assert jac.intermediates["h"] == ("c",)


def test_gru_v3_second_stage_multiplies_two_recurrent_matrices():
    """gh_n reads m_n = r * h, so dh'/dh has a U_n (D(r) + D(h r(1-r)) U_r) term."""
    hh = jacobian("gru_v3").block("h", "h")
    products = [t for t in hh.args if isinstance(t, sympy.MatMul)
                and {recurrent_matrix("n"), recurrent_matrix("r")} <= t.atoms(sympy.MatrixSymbol)]
    assert len(products) == 1


class CoupledGate(Cell):
    """STYLE.md's toy cell, NOT registered: h' = f h + (1 - f) tanh(a_c)."""

    name = "coupled_gate_test"
    states = ("h",)
    gates = ("f", "c")

    def update(self, s, a):
        f = sigmoid(a.f)
        return {"h": f * s.h + (1 - f) * tanh(a.c)}


@given(seed=SEEDS)
def test_an_unregistered_new_cell_gets_a_correct_jacobian_with_no_other_code(seed):
    cell = CoupledGate()
    rng = numpy.random.default_rng(seed)
    B, X, H = 2, 3, 4
    params = {"weight_ih": rng.normal(size=(2 * H, X)), "weight_hh": rng.normal(size=(2 * H, H)),
              "bias_ih": rng.normal(size=2 * H), "bias_hh": rng.normal(size=2 * H)}
    x, state = rng.normal(size=(B, X)), (rng.normal(size=(B, H)),)
    fd = fd_jacobian(lambda s: step_numeric(cell, params, x, s), state)
    numpy.testing.assert_allclose(jacobian_numeric(cell, params, x, state), fd, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("bad, message", [
    ({"weight_hh": numpy.zeros((5, 4))}, "weight_hh"),
    ({"bias_ih": None}, "bias_ih"),
])
def test_bad_parameters_raise_a_clear_error(bad, message):
    mod = kernel("rnn_tanh")
    params, x, state = problem(mod, 2, 3, 4, 0)
    params.update(bad)
    if bad.get("bias_ih", 0) is None:
        del params["bias_ih"]
    with pytest.raises(ValueError, match=message):
        jacobian_numeric("rnn_tanh", params, x, state)


def test_a_state_of_the_wrong_shape_raises():
    mod = kernel("lstm")
    params, x, _ = problem(mod, 2, 3, 4, 0)
    with pytest.raises(ValueError, match="state"):
        jacobian_numeric("lstm", params, x, (numpy.zeros((2, 4)),))


STANDARD = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}


@pytest.mark.parametrize("cell", [c for c in CELLS if kernel(c).param_shapes(1, 1).keys() - STANDARD])
def test_a_unit_parameter_of_the_wrong_shape_or_missing_raises(cell):
    mod = kernel(cell)
    params, x, state = problem(mod, 2, 3, 4, 0)
    for name in sorted(mod.param_shapes(3, 4).keys() - STANDARD):
        with pytest.raises(ValueError, match=name):
            jacobian_numeric(cell, {**params, name: numpy.zeros(5)}, x, state)
        with pytest.raises(ValueError, match=name):
            jacobian_numeric(cell, {k: v for k, v in params.items() if k != name}, x, state)
