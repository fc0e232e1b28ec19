"""The reference runner: a Stack run with the generated NumPy kernels, in float32 or float64.

It is what the readers are checked with (against each framework's own outputs) and what the generated C
is checked against. Recurrent layers run through the cell module's ``forward`` (one call per layer over
the whole sequence) or ``step`` (one sample, the streaming form); Dense layers are a matmul and the
activation, in the same dtype.
"""

from __future__ import annotations

import numpy

import symcell

from .stack import Dense, Recurrent, Stack

DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))


def _dtype(dtype) -> numpy.dtype:
    d = numpy.dtype(dtype)
    if d not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64; got {d}")
    return d


def _activation(name: str, v: numpy.ndarray) -> numpy.ndarray:
    if name == "tanh":
        return numpy.tanh(v)
    if name == "relu":
        return numpy.maximum(v, 0)
    if name == "sigmoid":
        with numpy.errstate(over="ignore"):  # exp(-v) overflows to inf for v << 0; 1 / (1 + inf) = 0 is right
            return 1 / (1 + numpy.exp(-v))
    return v


def _params(stack: Stack, dtype: numpy.dtype) -> list:
    return [{k: v.astype(dtype) for k, v in lay.params.items()} if isinstance(lay, Recurrent)
            else (lay.weight.astype(dtype), lay.bias.astype(dtype)) for lay in stack.layers]


def _dense(lay: Dense, p, v: numpy.ndarray) -> numpy.ndarray:
    return _activation(lay.activation, v @ p[0].T + p[1])


def _check_input(stack: Stack, x, dtype: numpy.dtype, ndim: int, meaning: str) -> numpy.ndarray:
    x = numpy.asarray(x)
    if x.dtype.kind not in "fiu":
        raise ValueError(f"x must be a real array; got dtype {x.dtype}")
    if x.ndim not in (ndim - 1, ndim) or x.shape[-1] != stack.input_size:
        raise ValueError(f"x must have shape {meaning} with X = {stack.input_size}; got {x.shape}")
    return x.astype(dtype, copy=False)


def run(stack: Stack, x, dtype=numpy.float32) -> numpy.ndarray:
    """The model over a whole sequence from zero state: x (T, X) or (T, B, X) -> y (T, N) or (T, B, N)."""
    d = _dtype(dtype)
    x = _check_input(stack, x, d, 3, "(T, X) or (T, B, X)")
    v = x if x.ndim == 3 else x[:, None, :]
    for lay, p in zip(stack.layers, _params(stack, d), strict=True):
        v = symcell.load(lay.cell).forward(v, p)[0] if isinstance(lay, Recurrent) else _dense(lay, p, v)
    if stack.skip:
        v = v + (x if x.ndim == 3 else x[:, None, :])[..., :stack.skip]
    return v if x.ndim == 3 else v[:, 0, :]


class Streamer:
    """The model one sample at a time (what a real-time C program does): ``step(x_t)`` -> y_t, state kept."""

    def __init__(self, stack: Stack, dtype=numpy.float32):
        self.stack, self.dtype = stack, _dtype(dtype)
        self._params = _params(stack, self.dtype)
        self.reset()

    def reset(self) -> None:
        """Back to zero state."""
        self._states = [None] * len(self.stack.layers)

    def step(self, x_t) -> numpy.ndarray:
        """x_t (X,) or (B, X) -> y_t (N,) or (B, N)."""
        x = _check_input(self.stack, x_t, self.dtype, 2, "(X,) or (B, X)")
        v = x if x.ndim == 2 else x[None]
        for j, (lay, p) in enumerate(zip(self.stack.layers, self._params, strict=True)):
            if isinstance(lay, Recurrent):
                self._states[j] = symcell.load(lay.cell).step(v, p, self._states[j])
                v = self._states[j][0]
            else:
                v = _dense(lay, p, v)
        if self.stack.skip:
            v = v + (x if x.ndim == 2 else x[None])[..., :self.stack.skip]
        return v if x.ndim == 2 else v[0]
