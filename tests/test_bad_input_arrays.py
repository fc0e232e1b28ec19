"""Bad array input (docs/bad-input.md): ndarray subclasses, foreign objects and odd dtypes give the right answer
or the same clear TypeError/ValueError on both backends, never a silent wrong answer or an error of another kind.

The right answer is the one for the plain ndarrays holding the same numbers, computed by the same backend.
"""

from __future__ import annotations

import numpy
import pytest

from tests.support import BACKENDS, CELLS, kernel

torch = pytest.importorskip("torch")  # the tensor cases; torch is in the test extra

X, H, T, B = 3, 4, 5, 2
# the tests make np.matrix arguments, as a user might; NumPy warns on creating one
pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")


def _problem(k, dtype=numpy.float64, seed=0):
    rng = numpy.random.default_rng(seed)
    params = {n: a.astype(dtype) for n, a in k.init_params(X, H, rng).items()}
    x = rng.standard_normal((T, B, X)).astype(dtype)
    state0 = tuple(rng.standard_normal((B, H)).astype(dtype) for _ in k.STATES)
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    dstate = tuple(rng.standard_normal((B, H)).astype(dtype) for _ in k.STATES)
    return x, params, state0, dy, dstate


def _run(k, x, params, state0, dy, dstate):
    y, state, tape = k.forward(x, params, state0, save=True)
    return y, state, k.backward(tape, dy, dstate)


def _same(a, b):
    ya, sa, ga = a
    yb, sb, gb = b
    numpy.testing.assert_array_equal(ya, yb)
    for u, v in zip(sa, sb, strict=True):
        numpy.testing.assert_array_equal(u, v)
    for n in ga:
        if n == "state0":
            for u, v in zip(ga[n], gb[n], strict=True):
                numpy.testing.assert_array_equal(u, v)
        else:
            numpy.testing.assert_array_equal(ga[n], gb[n])


def _error(call):
    """(exception type, message) of ``call()``; fails the test if it returns."""
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_matrix_states_and_params_give_the_plain_answer(cell, backend):
    """np.matrix states, cotangents and 2-D params are read as their data (``*`` of a matrix is a matrix
    product; the kernels must not inherit it): bitwise the plain-array result, each kind of matrix argument alone."""
    k = kernel(cell, backend)
    x, params, state0, dy, dstate = _problem(k)
    plain = _run(k, x, params, state0, dy, dstate)
    mat = lambda s: tuple(numpy.asmatrix(a) for a in s)  # noqa: E731
    _same(_run(k, x, params, mat(state0), dy, dstate), plain)
    _same(_run(k, x, params, state0, dy, mat(dstate)), plain)
    mparams = {n: numpy.asmatrix(a) if a.ndim == 2 else a for n, a in params.items()}
    _same(_run(k, x, mparams, state0, dy, dstate), plain)
    step = k.step(numpy.asmatrix(x[0]), params, mat(state0))
    for u, v in zip(step, k.step(x[0], params, state0), strict=True):
        numpy.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("backend", BACKENDS)
def test_memmap_is_read_as_its_data(backend, tmp_path):
    """A numpy.memmap (x, a state, a parameter; read-only or writable) is accepted by both backends."""
    k = kernel("lstm", backend)
    x, params, state0, dy, dstate = _problem(k)
    plain = _run(k, x, params, state0, dy, dstate)
    for mode in ("r", "r+"):
        path = tmp_path / f"x_{mode.strip('+')}.dat"
        x.tofile(path)
        mx = numpy.memmap(path, x.dtype, mode, shape=x.shape)
        w = tmp_path / f"w_{mode.strip('+')}.dat"
        params["weight_hh"].tofile(w)
        mw = numpy.memmap(w, x.dtype, mode, shape=params["weight_hh"].shape)
        _same(_run(k, mx, params | {"weight_hh": mw}, state0, dy, dstate), plain)


class Tagged(numpy.ndarray):
    """An ndarray subclass symcell knows nothing of."""


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_masked_and_unknown_subclasses_are_refused_alike(cell, dtype):
    """A masked array (its mask would be dropped) and an ndarray subclass symcell does not know are the
    same TypeError, naming the argument and what to pass instead, on both backends."""
    ks = [kernel(cell, b, dtype) for b in BACKENDS]
    x, params, state0, dy, dstate = _problem(ks[0], dtype)
    masked_x = numpy.ma.masked_array(x, mask=x > 1)
    cases = {
        "x": lambda k: k.forward(masked_x, params),
        "state0[0] (h)": lambda k: k.forward(x, params, (numpy.ma.masked_array(state0[0]), *state0[1:])),
        "weight_ih": lambda k: k.forward(x, params | {"weight_ih": params["weight_ih"].view(Tagged)}),
        "x_t": lambda k: k.step(x[0].view(Tagged), params, None),
        "dy": lambda k: k.backward(k.forward(x, params, save=True)[2], numpy.ma.masked_array(dy)),
    }
    for name, call in cases.items():
        errors = {_error(lambda: call(k)) for k in ks}  # noqa: B023 - called at once
        assert len(errors) == 1, (name, errors)
        kind, message = errors.pop()
        assert kind is TypeError and message.startswith(f"{name} is a"), (name, message)
        assert "filled" in message or "numpy.asarray" in message, message


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_d_and_misshapen_parameters_are_value_errors(backend):
    """0-d, 1-d and 3-d weight_hh, a 0-d bias_hh of a cell without weight_hh, and a 0-d x: ValueError naming
    the argument (a 0-d weight_hh raised IndexError), the same message on both backends."""
    k = kernel("lstm", backend)
    x, params, *_ = _problem(k)
    for bad in (numpy.float64(1.0), numpy.array(2.0), numpy.zeros(16), numpy.zeros((4, 4, 4)), numpy.zeros((16, 0))):
        with pytest.raises(ValueError, match=r"^weight_hh must have shape \(G\*H, H\)"):
            k.forward(x, params | {"weight_hh": bad})
    with pytest.raises(ValueError, match=r"^x must have shape \(T, B, X\)"):
        k.forward(numpy.array(1.0), params)
    ind = kernel("indrnn", backend)
    iparams = ind.init_params(X, H, 0)
    with pytest.raises(ValueError, match=r"bias_hh"):
        ind.forward(x, iparams | {"bias_hh": numpy.array(0.5)})


def test_errors_match_between_backends():
    """Every bad argument of this file's kinds: the same exception type and message from both backends."""
    ks = [kernel("gru", b) for b in BACKENDS]
    x, params, state0, dy, dstate = _problem(ks[0])
    bad = [
        lambda k: k.forward(x, params | {"weight_hh": numpy.array(1.0)}),
        lambda k: k.forward(x, params | {"bias_ih": "abc"}),
        lambda k: k.forward([[["a"]]], params),
        lambda k: k.forward(x.astype(numpy.complex128), params),
        lambda k: k.forward(x, params, numpy.zeros((1, B, H))),
        lambda k: k.forward(x, params | {"weight_ih": [[1, 2], [3]]}),
        lambda k: k.forward(x, params | {"weight_ih": torch.zeros(3 * H, X, requires_grad=True)}),
        lambda k: k.forward(x, params | {"weight_ih": torch.zeros(3 * H, X, dtype=torch.float64, device="meta")}),
    ]
    for call in bad:
        errors = {_error(lambda: call(k)) for k in ks}  # noqa: B023 - called at once
        assert len(errors) == 1, errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_tensors(backend):
    """A torch tensor that requires grad is a TypeError saying to pass .detach() (it was torch's RuntimeError);
    a plain CPU tensor of the right dtype is read as its data; a tensor of another float dtype is a TypeError."""
    k = kernel("lstm", backend)
    x, params, *_ = _problem(k)
    expected = k.forward(x, params)[0]
    for name, value in (("x", torch.tensor(x, requires_grad=True)),
                        ("weight_ih", torch.tensor(params["weight_ih"], requires_grad=True))):
        args = (value, params) if name == "x" else (x, params | {name: value})
        with pytest.raises(TypeError, match=rf"^{name} is a tensor that requires grad.*{name}\.detach\(\)"):
            k.forward(*args)
    numpy.testing.assert_array_equal(k.forward(torch.tensor(x), params)[0], expected)
    numpy.testing.assert_array_equal(
        k.forward(x, params | {"weight_hh": torch.tensor(params["weight_hh"])})[0], expected)
    with pytest.raises(TypeError, match=r"^x has dtype float16"):
        k.forward(torch.tensor(x, dtype=torch.float16), params)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_lists_take_the_calls_dtype(dtype):
    """Python lists (no dtype of their own) are converted to the dtype the call needs: x's, or for x itself the
    C build's (a float32 C build given lists said "mixed dtypes"); both backends give the array result. An
    ndarray of the other dtype is still a TypeError."""
    nk, ck = kernel("gru", "numpy"), kernel("gru", "c", dtype)
    x, params, state0, *_ = _problem(nk, dtype)
    lists = {n: a.tolist() for n, a in params.items()}
    for k in (nk, ck):
        y = k.forward(x, lists, [s.tolist() for s in state0])[0]
        assert y.dtype == dtype
        numpy.testing.assert_array_equal(y, k.forward(x, params, state0)[0])
    y = ck.forward(x.tolist(), lists)[0]
    assert y.dtype == dtype
    numpy.testing.assert_array_equal(y, ck.forward(x, params)[0])
    assert ck.step(x[0].tolist(), lists, None)[0].dtype == dtype
    other = numpy.float64 if dtype == numpy.float32 else numpy.float32
    with pytest.raises(TypeError, match="mixed dtypes"):
        ck.forward(x, params | {"bias_ih": params["bias_ih"].astype(other)})
    with pytest.raises(TypeError, match="is not a numeric array"):
        ck.forward(x, lists | {"bias_ih": ["one"] * len(lists["bias_ih"])})
