"""What the kernels accept: bad input raises a clear exception naming the problem, extreme input gives
finite results without NumPy warnings, and step() is forward() one step at a time.

Messages are matched loosely (the argument's name and the kind of problem), so that a backend may word
them its own way but may not raise a bare error that leaves the user guessing which argument was wrong.
"""

from __future__ import annotations

import warnings

import numpy
import pytest

from tests.conftest import Problem, assert_close, gradients, make_problem
from tests.support import BACKENDS, CELLS, kernel

SIZES = (3, 2, 3, 4)  # T, B, X, H: all different, so a transposed or swapped size cannot pass
DTYPES = [numpy.float32, numpy.float64]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def _setup(cell, backend, dtype=numpy.float64):
    k = kernel(cell, backend, dtype)
    return k, make_problem(k, SIZES, 0, dtype=dtype)


@pytest.mark.parametrize("cell", CELLS)
def test_x_of_wrong_rank_or_size(cell, backend):
    k, p = _setup(cell, backend)
    T, B, X, H = SIZES
    for bad in (p.x[0], p.x[None], p.x.reshape(-1), numpy.zeros((0, B, X)), numpy.zeros((T, 0, X))):
        with pytest.raises(ValueError, match=r"\bx\b.*(shape|dimension|\bT\b|\bB\b)"):
            k.forward(bad, p.params, None)
    # One more input feature than weight_ih has columns: the message names the mismatch.
    with pytest.raises(ValueError, match=r"weight_ih|\bx\b"):
        k.forward(numpy.zeros((T, B, X + 1)), p.params, p.state0)


@pytest.mark.parametrize("cell", CELLS)
def test_state0_of_wrong_count_or_shape(cell, backend):
    k, p = _setup(cell, backend)
    T, B, X, H = SIZES
    n = len(k.STATES)
    counts = [p.state0[:-1], p.state0 + (p.state0[0],), ()]
    for bad in counts + [p.state0[0]]:  # a bare array is not a tuple of states, even for one state
        with pytest.raises(ValueError, match=r"state0"):
            k.forward(p.x, p.params, bad)
    for j in range(n):
        for shape in ((B + 1, H), (B, H + 1), (H,), (1, B, H)):
            bad = tuple(numpy.zeros(shape) if i == j else s for i, s in enumerate(p.state0))
            with pytest.raises(ValueError, match=r"state0"):
                k.forward(p.x, p.params, bad)


@pytest.mark.parametrize("cell", CELLS)
def test_params_of_wrong_shape(cell, backend):
    """Every param, bigger or smaller in each dimension or of the wrong rank: ValueError naming it."""
    k, p = _setup(cell, backend)
    for name, good in p.params.items():
        shapes = [(good.shape[0] + 1, *good.shape[1:]), good.shape[:-1] or (), (*good.shape, 1)]
        if good.ndim == 2:
            shapes.append((good.shape[0], good.shape[1] + 1))
        for shape in shapes:
            with pytest.raises(ValueError, match=name):
                k.forward(p.x, {**p.params, name: numpy.zeros(shape)}, p.state0)


@pytest.mark.parametrize("cell", CELLS)
def test_missing_or_unknown_param_keys(cell, backend):
    k, p = _setup(cell, backend)
    for name in p.params:
        with pytest.raises(ValueError, match=rf"missing.*{name}"):
            k.forward(p.x, {n: a for n, a in p.params.items() if n != name}, p.state0)
    with pytest.raises(ValueError, match=r"unknown.*weight_ih_l0"):
        k.forward(p.x, {**p.params, "weight_ih_l0": p.params["weight_ih"]}, p.state0)
    with pytest.raises(TypeError, match=r"params"):
        k.forward(p.x, list(p.params.values()), p.state0)


NON_NUMERIC = {
    "string": lambda a: "not an array",
    "string array": lambda a: a.astype(str),
    "object array": lambda a: a.astype(object),
    "integer array": lambda a: a.astype(numpy.int64),
    "bool array": lambda a: a > 0,
    "complex array": lambda a: a.astype(numpy.complex128),
    "None": lambda a: None,
}


@pytest.mark.parametrize("kind", sorted(NON_NUMERIC))
@pytest.mark.parametrize("cell", CELLS)
def test_non_numeric_input_raises_type_error(cell, backend, kind):
    """x, each param, each state0 entry, dy and dstate: anything but a float32/float64 array is a
    TypeError naming the argument (ints are refused too: a silent cast would pick a dtype for the user)."""
    k, p = _setup(cell, backend)
    bad = NON_NUMERIC[kind]
    if kind != "None":  # x=None is no array; state0=None and dstate=None mean zeros
        with pytest.raises(TypeError, match=r"\bx\b"):
            k.forward(bad(p.x), p.params, p.state0)
        with pytest.raises(TypeError, match=r"state0"):
            k.forward(p.x, p.params, (bad(p.state0[0]), *p.state0[1:]))
    for name in p.params:
        with pytest.raises(TypeError, match=name):
            k.forward(p.x, {**p.params, name: bad(p.params[name])}, p.state0)
    _, _, tape = k.forward(p.x, p.params, p.state0, save=True)
    with pytest.raises(TypeError, match=r"\bdy\b"):
        k.backward(tape, bad(p.dy), p.dstate)
    if kind != "None":
        with pytest.raises(TypeError, match=r"dstate"):
            k.backward(tape, p.dy, (bad(p.dstate[0]), *p.dstate[1:]))


@pytest.mark.parametrize("cell", CELLS)
def test_bad_cotangents_and_tapes(cell, backend):
    k, p = _setup(cell, backend)
    T, B, X, H = SIZES
    _, _, tape = k.forward(p.x, p.params, p.state0, save=True)
    for shape in ((T, B, H + 1), (T + 1, B, H), (B, H), (T, B, H, 1)):
        with pytest.raises(ValueError, match=r"\bdy\b"):
            k.backward(tape, numpy.zeros(shape), p.dstate)
    with pytest.raises(ValueError, match=r"dstate"):
        k.backward(tape, p.dy, p.dstate + (p.dstate[0],))
    with pytest.raises(ValueError, match=r"dstate"):
        k.backward(tape, p.dy, tuple(numpy.zeros((B, H + 1)) for _ in p.dstate))
    with pytest.raises(TypeError, match=r"tape"):
        k.backward({"x": p.x}, p.dy, p.dstate)
    with pytest.raises(TypeError, match=r"tape"):
        k.backward(k.forward(p.x, p.params, p.state0), p.dy, p.dstate)  # forward without save=True


@pytest.mark.parametrize(("cell", "other"), [(a, b) for a in CELLS for b in CELLS if a != b])
def test_tape_from_another_cell_is_refused(cell, other, backend):
    """Even when sizes agree, a tape holds another cell's slots: backward must refuse it by name."""
    k, p = _setup(cell, backend)
    ko = kernel(other, backend, numpy.float64)
    po = make_problem(ko, SIZES, 0)
    _, _, tape = ko.forward(po.x, po.params, po.state0, save=True)
    with pytest.raises((ValueError, TypeError), match=rf"{other}|\bcell\b"):
        k.backward(tape, p.dy, po.dstate)


def _extreme(k, dtype, seed, sign=None) -> Problem:
    """|x| and |state0| up to 1e4, weights U(-10, 10): pre-activations up to ~1e6, far into saturation
    (and, for relu, large but representable in float32: at most ~1e14 after six steps)."""
    p = make_problem(k, (6, 3, 4, 5), seed, wscale=10.0)
    rng = numpy.random.default_rng(seed)
    x = 1e4 * (rng.uniform(-1, 1, p.x.shape) if sign is None else sign * numpy.ones(p.x.shape))
    state0 = tuple(1e4 * rng.uniform(-1, 1, s.shape) for s in p.state0)
    return Problem(x, p.params, state0, p.dy, p.dstate).astype(dtype)


@pytest.mark.parametrize("case", ["random", "+1e4", "-1e4"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", CELLS)
def test_extreme_inputs_are_finite_and_silent(cell, backend, dtype, case, strict_numpy):
    """No overflow, invalid value or division warning (all raise here), finite outputs and gradients."""
    assert numpy.geterr()["over"] == "raise"  # the fixture is in force
    k = kernel(cell, backend, dtype)
    sign = {"random": None, "+1e4": 1.0, "-1e4": -1.0}[case]
    for seed in range(3):
        p = _extreme(k, dtype, seed, sign)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y, state = k.forward(p.x, p.params, p.state0)
            grads = gradients(k, p)
            step_state = k.step(p.x[0], p.params, p.state0)
        for name, a in {"y": y, **{f"state[{j}]": s for j, s in enumerate(state)}, **grads}.items():
            assert a.dtype == dtype, f"{cell}: {name} has dtype {a.dtype}"
            assert numpy.all(numpy.isfinite(a)), f"{cell} ({case}, seed {seed}): {name} is not finite"
        assert all(numpy.all(numpy.isfinite(s)) for s in step_state)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", CELLS)
def test_step_iterated_equals_forward(cell, backend, dtype):
    """Streaming: step over x[0], x[1], ... reproduces y and the final state of one forward call."""
    k, p = _setup(cell, backend, dtype)
    rtol = 1e-12 if dtype == numpy.float64 else 1e-5
    y, final = k.forward(p.x, p.params, p.state0)
    state = p.state0
    for t in range(p.x.shape[0]):
        state = k.step(p.x[t], p.params, state)
        assert isinstance(state, tuple) and len(state) == len(k.STATES)
        assert_close(state[0], y[t], rtol, f"{cell}: h after step {t}")
    for j, (a, b) in enumerate(zip(state, final, strict=True)):
        assert_close(a, b, rtol, f"{cell}: final {k.STATES[j]}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", CELLS)
def test_none_state_means_zeros(cell, backend, dtype):
    k, p = _setup(cell, backend, dtype)
    T, B, X, H = SIZES
    zeros = tuple(numpy.zeros((B, H), dtype) for _ in k.STATES)
    for a, b in zip(k.step(p.x[0], p.params, None), k.step(p.x[0], p.params, zeros), strict=True):
        numpy.testing.assert_array_equal(a, b)
    (y0, s0), (yz, sz) = k.forward(p.x, p.params, None), k.forward(p.x, p.params, zeros)
    numpy.testing.assert_array_equal(y0, yz)
    for a, b in zip(s0, sz, strict=True):
        numpy.testing.assert_array_equal(a, b)
    _, _, tape = k.forward(p.x, p.params, p.state0, save=True)
    g_none = k.backward(tape, p.dy, None)
    g_zero = k.backward(tape, p.dy, zeros)
    for name in ("x", *k.param_shapes(X, H)):
        numpy.testing.assert_array_equal(g_none[name], g_zero[name])


@pytest.mark.parametrize("cell", CELLS)
def test_step_rejects_bad_input(cell, backend):
    k, p = _setup(cell, backend)
    with pytest.raises(ValueError, match=r"x_t|\bx\b"):
        k.step(p.x, p.params, p.state0)  # a whole sequence is not one step
    with pytest.raises(ValueError, match=r"state"):
        k.step(p.x[0], p.params, p.state0[0][None])


def _strided(a):
    """The same values in a non-contiguous, read-only view (every other element of a bigger array)."""
    big = numpy.zeros((*a.shape[:-1], 2 * a.shape[-1]) if a.ndim else (2,), a.dtype)
    view = big[..., ::2] if a.ndim else big[0]
    view[...] = a
    view.flags.writeable = False
    return view


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", CELLS)
def test_layout_does_not_matter_and_inputs_are_left_alone(cell, backend, dtype):
    """Strided, Fortran-ordered and read-only arrays give the results of C-contiguous copies (a
    compiled backend must copy or refuse them, never read past them); no argument is written to; a
    tape can be used twice; save=True does not change the forward results."""
    k, p = _setup(cell, backend, dtype)
    y, state, tape = k.forward(p.x, p.params, p.state0, save=True)
    want = gradients(k, p)
    y_nosave, state_nosave = k.forward(p.x, p.params, p.state0)
    numpy.testing.assert_array_equal(y, y_nosave)
    for a, b in zip(state, state_nosave, strict=True):
        numpy.testing.assert_array_equal(a, b)
    again = k.backward(tape, p.dy, p.dstate)
    assert numpy.array_equal(again["x"], want["x"]), "a second backward on one tape gave another result"

    for layout in (_strided, numpy.asfortranarray):
        q = Problem(layout(p.x), {n: layout(a) for n, a in p.params.items()}, tuple(map(layout, p.state0)),
                    layout(p.dy), tuple(map(layout, p.dstate)))
        arguments = {"x": q.x, "dy": q.dy, **q.params, **{f"state0[{j}]": a for j, a in enumerate(q.state0)},
                     **{f"dstate[{j}]": a for j, a in enumerate(q.dstate)}}
        frozen = {n: a.copy() for n, a in arguments.items()}
        y_q, state_q = k.forward(q.x, q.params, q.state0)
        rtol = 1e-12 if dtype == numpy.float64 else 1e-5  # a copy may change BLAS blocking, not the math
        assert_close(y_q, y, rtol, f"{cell} {layout.__name__}: y")
        got = gradients(k, q)
        for name, g in want.items():
            assert_close(got[name], g, rtol, f"{cell} {layout.__name__}: d/d {name}")
        for name, a in arguments.items():
            numpy.testing.assert_array_equal(a, frozen[name], err_msg=f"{cell}: {name} was modified")


@pytest.mark.parametrize("cell", CELLS)
def test_parameter_helpers(cell, backend):
    """param_shapes refuses non-positive sizes; init_params draws PyTorch's U(-1/sqrt(H), 1/sqrt(H)),
    reproducibly from a seed; params_from_state_dict strips the layer suffix and names a missing key."""
    k = kernel(cell, backend, numpy.float64)
    X, H = 3, 16
    for bad in ((0, H), (X, 0), (-1, H), (X, 2.5)):
        with pytest.raises(ValueError, match=r"input_size|hidden_size"):
            k.param_shapes(*bad)
    params = k.init_params(X, H, numpy.random.default_rng(7))
    assert {n: a.shape for n, a in params.items()} == k.param_shapes(X, H)
    bound = 1 / numpy.sqrt(H)
    every = numpy.concatenate([a.ravel() for a in params.values()])
    assert numpy.all(numpy.abs(every) <= bound) and numpy.abs(every).max() > 0.9 * bound
    again = k.init_params(X, H, numpy.random.default_rng(7))
    assert all(numpy.array_equal(params[n], again[n]) for n in params)

    state_dict = {f"{n}_l1": a for n, a in params.items()}
    converted = k.params_from_state_dict(state_dict, layer=1)
    assert all(numpy.array_equal(converted[n], params[n]) for n in params)
    del state_dict["bias_hh_l1"]
    with pytest.raises(ValueError, match=r"bias_hh_l1"):
        k.params_from_state_dict(state_dict, layer=1)
