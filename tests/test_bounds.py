"""gamma, the norm bounds and the escape paths, checked on numbers the derivation did not produce.

Norms are numpy.linalg.norm(., 2) of derive.jacobian_numeric (itself checked against finite differences
in test_jacobian.py); the bound's right-hand side is the SymPy statement with sigma_max(W) substituted.
"""

from __future__ import annotations

import numpy
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from symcell.derive import Cell, gamma, jacobian, jacobian_numeric, jacobian_product, jacobian_sequence, sigmoid, tanh
from symcell.derive.bounds import (
    MaxAbs,
    SigmaMax,
    SpectralRadius,
    Tends,
    classify,
    diagonal_form,
    elman_form,
    escape_paths,
    gamma_argmax,
    gamma_statement,
    spectral_radius_counterexample,
    statements,
)

from tests.support import CELLS, kernel

SEEDS = st.integers(0, 2**32 - 1)
ELMAN = [c for c in CELLS if classify(c) == "elman"]
DIAGONAL = [c for c in CELLS if classify(c) == "diagonal"]
GATED = [c for c in CELLS if classify(c) == "gated"]
#: (cell, statement name) for every escape path derived.
ESCAPES = [(c, s.name) for c in CELLS for s in escape_paths(c)]


def test_gamma_values_are_derived():
    assert gamma("tanh") == 1
    assert gamma("sigmoid") == sympy.Rational(1, 4)
    assert gamma("relu") == 1


def test_gamma_is_attained_at_zero_for_tanh_and_sigmoid_and_on_x_positive_for_relu():
    assert gamma_argmax("tanh") == [0]
    assert gamma_argmax("sigmoid") == [0]
    x = sympy.Symbol("x", real=True)
    assert gamma_argmax("relu") == [x > 0]


@pytest.mark.parametrize("name, f", [("tanh", numpy.tanh), ("sigmoid", lambda v: 1 / (1 + numpy.exp(-v)))])
def test_gamma_is_the_numeric_sup_of_the_derivative(name, f):
    """Central differences of numpy's function on a grid: the max |f'| is gamma, found at 0."""
    grid = numpy.linspace(-8, 8, 16001)
    slope = (f(grid + 1e-6) - f(grid - 1e-6)) / 2e-6
    assert abs(slope.max() - float(gamma(name))) < 1e-8
    assert abs(grid[slope.argmax()]) < 1e-9


def test_gamma_statement_carries_sympy_steps():
    st_ = gamma_statement("sigmoid")
    assert st_.kind == "gamma" and len(st_.steps) >= 4
    assert all(isinstance(s.expr, sympy.Basic) for s in st_.steps)
    with pytest.raises(ValueError, match="unknown activation"):
        gamma("softplus")


def test_cells_are_classified_from_their_expressions():
    """The classic cells by what they are; every registered cell in exactly one class."""
    assert {"rnn_relu", "rnn_sigmoid", "rnn_tanh"} <= set(ELMAN)
    assert {"gru", "gru_v3", "lstm"} <= set(GATED)
    assert sorted(ELMAN + DIAGONAL + GATED) == sorted(CELLS)
    for c in ELMAN:
        assert elman_form(c) is not None and diagonal_form(c) is None
    for c in DIAGONAL:  # no recurrent matrix: no sigma_max anywhere in its statements
        assert "weight_hh" not in kernel(c).param_shapes(2, 3)
        assert not any(st_.conclusion.atoms(SigmaMax) for st_ in statements(c))


def _rhs(cell, statement_name, sigma):
    st_ = next(s for s in statements(cell) if s.name == statement_name)
    (smax,) = st_.conclusion.rhs.atoms(SigmaMax) or st_.conclusion.atoms(SigmaMax)
    return st_.conclusion.rhs.subs(smax, sigma)


@pytest.mark.parametrize("cell", ELMAN)
@given(seed=SEEDS, scale=st.floats(0.1, 4.0))
def test_one_step_and_product_bounds_hold_on_random_draws(cell, seed, scale):
    mod = kernel(cell)
    rng = numpy.random.default_rng(seed)
    T, B, X, H = 5, 3, 3, 5
    params = {k: v * scale for k, v in mod.init_params(X, H, rng).items()}
    xs = rng.normal(size=(T, B, X))
    sigma = numpy.linalg.norm(params["weight_hh"], 2)
    one = float(_rhs(cell, "one_step_bound", sigma))
    jacs, _ = jacobian_sequence(cell, params, xs, (rng.normal(size=(B, H)),))
    for J in jacs:
        assert numpy.linalg.norm(J, 2, axis=(1, 2)).max() <= one * (1 + 1e-12)
    prod = _rhs(cell, "product_bound", sigma)
    T_sym, k_sym = sympy.Symbol("T", integer=True), sympy.Symbol("k", integer=True)
    total = float(prod.subs({T_sym: T, k_sym: 0}))
    assert numpy.linalg.norm(jacobian_product(jacs), 2, axis=(1, 2)).max() <= total * (1 + 1e-10)


@pytest.mark.parametrize("cell", ELMAN)
def test_the_bound_is_tight_in_the_linear_regime(cell):
    """Where f' = gamma at every unit (a = 0 for tanh/sigmoid, a > 0 for relu), ||J|| = gamma sigma_max."""
    mod = kernel(cell)
    rng = numpy.random.default_rng(7)
    B, X, H = 2, 3, 6
    params = mod.init_params(X, H, rng)
    x = numpy.zeros((B, X))
    if cell == "rnn_relu":  # every pre-activation positive: relu is the identity there
        params["bias_ih"] = numpy.full(H, 5.0)
        state = (numpy.abs(rng.normal(size=(B, H))) * 0.01,)
    else:
        params["bias_ih"] = numpy.zeros(H)
        params["bias_hh"] = numpy.zeros(H)
        state = (numpy.zeros((B, H)),)
    sigma = numpy.linalg.norm(params["weight_hh"], 2)
    bound = float(_rhs(cell, "one_step_bound", sigma))
    norms = numpy.linalg.norm(jacobian_numeric(cell, params, x, state), 2, axis=(1, 2))
    numpy.testing.assert_allclose(norms, bound, rtol=1e-12)


@pytest.mark.parametrize("cell", ELMAN)
@given(seed=SEEDS)
def test_sufficient_condition_gives_geometric_decay(cell, seed):
    mod = kernel(cell)
    rng = numpy.random.default_rng(seed)
    T, B, X, H = 8, 2, 3, 4
    params = mod.init_params(X, H, rng)
    vanish = next(s for s in statements(cell) if s.kind == "sufficient")
    limit = float(vanish.hypothesis.rhs)  # sigma_max(W) < 1/gamma
    W = params["weight_hh"]
    params["weight_hh"] = W * (0.9 * limit / numpy.linalg.norm(W, 2))  # sigma_max = 0.9 / gamma
    jacs, _ = jacobian_sequence(cell, params, rng.normal(size=(T, B, X)), None)
    norms = [numpy.linalg.norm(jacobian_product(jacs, k), 2, axis=(1, 2)).max() for k in range(T)]
    for k, n in enumerate(norms):
        assert n <= 0.9 ** (T - k) * (1 + 1e-10)


def test_spectral_radius_counterexample_statement():
    st_ = spectral_radius_counterexample()
    W = sympy.Symbol("W", commutative=False)
    values = {type(s.expr.lhs): s.expr.rhs for s in st_.steps if isinstance(s.expr, sympy.Eq)}
    assert values[SpectralRadius] == 0 and values[SigmaMax] == 2
    assert st_.conclusion.has(W)


def test_spectral_radius_zero_yet_gradients_grow_in_an_elman_rnn():
    """rho(W) = 0 < 1/gamma, so the eigenvalue version would promise ||dh_T/dh_0|| <= (gamma rho)^T = 0;
    in the linear regime of a tanh RNN the gradient norm instead grows as 2^k for k < n."""
    n, scale = 5, 2.0
    W = numpy.diag(numpy.full(n - 1, scale), 1)  # nilpotent: all eigenvalues are 0
    assert numpy.abs(numpy.linalg.eigvals(W)).max() == 0
    params = {"weight_ih": numpy.zeros((n, 1)), "weight_hh": W, "bias_ih": numpy.zeros(n), "bias_hh": numpy.zeros(n)}
    jacs, _ = jacobian_sequence("rnn_tanh", params, numpy.zeros((n - 1, 1, 1)), None)
    norms = [numpy.linalg.norm(jacobian_product(jacs[: k + 1]), 2, axis=(1, 2))[0] for k in range(n - 1)]
    numpy.testing.assert_allclose(norms, scale ** numpy.arange(1, n), rtol=1e-12)
    assert norms[-1] > 1 and all(b > a for a, b in zip(norms, norms[1:], strict=False))


def _limits(statement) -> dict[str, int]:
    """gate -> +1 / -1 from an escape statement's hypothesis (a_k -> +-infinity)."""
    parts = statement.hypothesis.args if isinstance(statement.hypothesis, sympy.And) else (statement.hypothesis,)
    assert all(isinstance(p, Tends) for p in parts)
    return {p.args[0].name.removeprefix("a_"): 1 if p.args[1] == sympy.oo else -1 for p in parts}


def test_escape_paths_are_found_from_the_jacobian():
    """The classic paths (Gers' carousel, GRU's update gate) and the published cells' (each paper's own
    argument: MGU's f -> 0, JANET's forget gate, the peephole LSTM's f -> 1 with i saturated)."""
    kinds = {c: [(s.kind, _limits(s)) for s in escape_paths(c)] for c in CELLS}
    assert kinds["lstm"] == [("carousel", {"f": 1})]
    assert kinds["gru"] == kinds["gru_v3"] == [("gate_path", {"z": 1})]
    assert all(kinds[c] == [] for c in ELMAN + DIAGONAL)
    expected = {"lstm_cifg": [("carousel", {"f": 1})], "mgu": [("gate_path", {"f": -1})],
                "janet": [("gate_path", {"f": 1})],
                "lstm_peephole": [("carousel", {"f": 1, "i": 1}), ("carousel", {"f": 1, "i": -1})]}
    for cell, want in expected.items():
        assert kinds[cell] == want, cell


@pytest.mark.parametrize("cell, name", ESCAPES)
def test_saturated_gates_make_the_block_the_identity_numerically(cell, name):
    """Every escape path derived, realised: the limiting gates' input biases at +-60 (sigma(60) rounds to
    1, sigma(-60) ~ 1e-26) make the stated block the identity in jacobian_numeric."""
    st_ = next(s for s in escape_paths(cell) if s.name == name)
    mod = kernel(cell)
    rng = numpy.random.default_rng(3)
    B, X, H = 2, 3, 4
    params = mod.init_params(X, H, rng)
    for gate, sign in _limits(st_).items():
        k = mod.GATES.index(gate)
        params["bias_ih"][k * H:(k + 1) * H] = 60.0 * sign
    state = tuple(rng.normal(size=(B, H)) for _ in mod.STATES)
    J = jacobian_numeric(cell, params, rng.normal(size=(B, X)), state)
    j = mod.STATES.index(st_.conclusion.lhs.args[0].name)
    block = J[:, j * H:(j + 1) * H, j * H:(j + 1) * H]
    numpy.testing.assert_allclose(block, numpy.broadcast_to(numpy.eye(H), block.shape), atol=1e-15)
    params["bias_ih"][:] = 0.0  # and it is the limit that does it: at neutral biases the block is not I
    J = jacobian_numeric(cell, params, rng.normal(size=(B, X)), state)
    assert numpy.abs(J[:, j * H:(j + 1) * H, j * H:(j + 1) * H] - numpy.eye(H)).max() > 1e-3


def _max_abs_of_params(expr, params):
    """A statement's right-hand side with each max|r| (r in unit parameters) evaluated on ``params``."""
    values = {}
    for m in expr.atoms(MaxAbs):
        syms = sorted(m.args[0].free_symbols, key=str)
        f = sympy.lambdify(syms, m.args[0], "numpy")
        values[m] = float(numpy.abs(f(*(params[s.name] for s in syms))).max())
    return expr.subs(values)


@pytest.mark.parametrize("cell", DIAGONAL)
@given(seed=SEEDS, scale=st.floats(0.1, 4.0))
def test_diagonal_cells_one_step_and_product_bounds_hold_on_random_draws(cell, seed, scale):
    mod = kernel(cell)
    rng = numpy.random.default_rng(seed)
    T, B, X, H = 5, 3, 3, 5
    params = {k: v * scale for k, v in mod.init_params(X, H, rng).items()}
    sts = {s.name: s for s in statements(cell)}
    one = float(_max_abs_of_params(sts["one_step_bound"].conclusion.rhs, params))
    jacs, _ = jacobian_sequence(cell, params, rng.normal(size=(T, B, X)), (rng.normal(size=(B, H)),))
    for J in jacs:
        assert numpy.linalg.norm(J, 2, axis=(1, 2)).max() <= one * (1 + 1e-12)
    T_sym, k_sym = sympy.Symbol("T", integer=True), sympy.Symbol("k", integer=True)
    total = float(_max_abs_of_params(sts["product_bound"].conclusion.rhs, params).subs({T_sym: T, k_sym: 0}))
    assert numpy.linalg.norm(jacobian_product(jacs), 2, axis=(1, 2)).max() <= total * (1 + 1e-10)


@pytest.mark.parametrize("cell", DIAGONAL)
def test_diagonal_cells_condition_is_sharp(cell):
    """At a fixed point where f' = gamma (z at gamma's argmax: 0 for tanh and sigmoid, z > 0 for relu),
    ||dh_T/dh_0|| is exactly (gamma max|r|)^T: it vanishes below the condition and grows above it."""
    act, r = diagonal_form(cell)
    jac = jacobian(cell)
    mod = kernel(cell)
    B, X, H, T = 2, 3, 5, 6
    z = jac.equations["h"].args[0]
    z_star = 0 if gamma_argmax(act) == [0] else 5  # relu: any z > 0
    h_star = float(act(sympy.Integer(z_star)).rewrite(sympy.Max))
    units = sorted(r.free_symbols, key=str)
    b = sympy.Symbol("b")
    for factor in (0.9, 1.1):
        v = factor / float(gamma(act))  # every unit parameter of r at v: r = v for IndRNN's u
        r_value = float(r.subs({u: v for u in units}))
        point = {a: b for a in jac.names.preactivation.values()} | {sympy.Symbol("h", real=True): h_star}
        (bias,) = sympy.solve(z.subs(point).subs({u: v for u in units}) - z_star, b)
        params = mod.init_params(X, H, numpy.random.default_rng(1))
        params["weight_ih"][:] = 0.0
        params["bias_ih"][:], params["bias_hh"][:] = float(bias), 0.0
        params.update({u.name: numpy.full(H, v) for u in units})
        state0 = (numpy.full((B, H), h_star),)
        jacs, states = jacobian_sequence(cell, params, numpy.zeros((T, B, X)), state0)
        numpy.testing.assert_allclose(states[-1][0], h_star, atol=1e-12)  # it is a fixed point
        norm = numpy.linalg.norm(jacobian_product(jacs), 2, axis=(1, 2))
        numpy.testing.assert_allclose(norm, (float(gamma(act)) * abs(r_value)) ** T, rtol=1e-12)
        assert (norm < 1).all() == (factor < 1)


def test_a_new_elman_like_cell_is_recognised_without_a_name_list():
    class Shifted(Cell):
        """Not registered: h' = sigmoid(a) under an unfamiliar name."""

        name = "shifted_test"
        states = ("h",)
        gates = ("q",)

        def update(self, s, a):
            return {"h": sigmoid(a.q)}

    class Coupled(Cell):
        name = "coupled_test"
        states = ("h",)
        gates = ("f", "c")

        def update(self, s, a):
            f = sigmoid(a.f)
            return {"h": f * s.h + (1 - f) * tanh(a.c)}

    assert elman_form(Shifted()) == (sigmoid, "q")
    assert elman_form(Coupled()) is None
    assert [s.kind for s in escape_paths(Coupled())] == ["gate_path"]
