"""Keras layers to symcell layers: the gate-order conversion shared by the Keras and RTNeural readers.

Keras stores ``kernel`` (X, G*H), ``recurrent_kernel`` (H, G*H) and ``bias``, columns gate-major:
LSTM i, f, c, o (torch's i, f, g, o: only a transpose); GRU z, r, h (to symcell's r, z, n: the first two
blocks swap). GRU ``reset_after=True`` (bias (2, 3H): input and recurrent biases) is torch's GRU, symcell's
``gru``; ``reset_after=False`` (one bias (3H,)) multiplies r * h before the matmul, symcell's ``gru_v3``.
SimpleRNN maps by its activation to rnn_tanh / rnn_relu / rnn_sigmoid. Dense is y = x @ kernel + bias.
"""

from __future__ import annotations

import numpy

from .stack import ACTIVATIONS, Dense, Recurrent

#: Keras activation names -> symcell's Dense activations
DENSE_ACTIVATIONS = {"linear": "none", "": "none", None: "none", "tanh": "tanh", "relu": "relu", "sigmoid": "sigmoid"}
SIMPLE_RNN_CELLS = {"tanh": "rnn_tanh", "relu": "rnn_relu", "sigmoid": "rnn_sigmoid"}


def _blocks(a: numpy.ndarray, order: list[int], H: int) -> numpy.ndarray:
    """The gate blocks of a (..., G*H) array, reordered along the last axis."""
    return numpy.concatenate([a[..., g * H:(g + 1) * H] for g in order], axis=-1)


def dense_activation(name: str, activation) -> str:
    if activation not in DENSE_ACTIVATIONS:
        raise ValueError(f"layer {name!r}: activation {activation!r} is not one symcell generates "
                         f"({', '.join(a for a in ACTIVATIONS)})")
    return DENSE_ACTIVATIONS[activation]


def dense(name: str, weights: list, activation) -> Dense:
    """A Keras Dense (or TimeDistributed Dense): weights [kernel (K, N)] or [kernel, bias (N,)]."""
    if len(weights) not in (1, 2) or numpy.ndim(weights[0]) != 2:
        raise ValueError(f"layer {name!r}: a Dense needs [kernel (K, N)] or [kernel, bias]; got "
                         f"{[numpy.shape(w) for w in weights]}")
    kernel = numpy.asarray(weights[0], numpy.float64)
    bias = numpy.asarray(weights[1], numpy.float64) if len(weights) == 2 else numpy.zeros(kernel.shape[1])
    return Dense(name, kernel.T, bias, dense_activation(name, activation))


def recurrent(kind: str, name: str, weights: list, *, activation="tanh", recurrent_activation="sigmoid",
              reset_after: bool | None = None) -> Recurrent:
    """A Keras LSTM, GRU or SimpleRNN from [kernel, recurrent_kernel(, bias)]."""
    if len(weights) not in (2, 3):
        raise ValueError(f"layer {name!r}: a {kind} needs [kernel, recurrent_kernel, bias]; got {len(weights)} arrays")
    kernel, rec = (numpy.asarray(w, numpy.float64) for w in weights[:2])
    if kernel.ndim != 2 or rec.ndim != 2 or rec.shape[1] != kernel.shape[1]:
        raise ValueError(f"layer {name!r}: kernel {kernel.shape} and recurrent_kernel {rec.shape} are not "
                         "(X, G*H) and (H, G*H)")
    X, H = kernel.shape[0], rec.shape[0]
    G = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[kind]
    if rec.shape[1] != G * H:
        raise ValueError(f"layer {name!r}: a {kind} of {H} units needs {G * H} columns; got {rec.shape[1]}")
    bias = numpy.asarray(weights[2], numpy.float64) if len(weights) == 3 else numpy.zeros(G * H)
    if kind == "SimpleRNN":
        if activation not in SIMPLE_RNN_CELLS:
            raise ValueError(f"layer {name!r}: a SimpleRNN with activation {activation!r} has no symcell cell "
                             f"({', '.join(SIMPLE_RNN_CELLS)})")
        cell, order = SIMPLE_RNN_CELLS[activation], [0]
    else:
        if (activation, recurrent_activation) != ("tanh", "sigmoid"):
            raise ValueError(f"layer {name!r}: a {kind} with activation {activation!r} and recurrent_activation "
                             f"{recurrent_activation!r} has no symcell cell (tanh and sigmoid only)")
        order = [0, 1, 2, 3] if kind == "LSTM" else [1, 0, 2]
    if kind == "GRU":
        implied = bias.ndim == 2
        if reset_after is not None and reset_after != implied:
            raise ValueError(f"layer {name!r}: reset_after={reset_after} but its bias has shape {bias.shape}")
        cell = "gru" if implied else "gru_v3"
    elif kind == "LSTM":
        cell = "lstm"
    b_in, b_rec = (bias[0], bias[1]) if bias.ndim == 2 and bias.shape[0] == 2 else (bias, numpy.zeros(G * H))
    if b_in.shape != (G * H,):
        raise ValueError(f"layer {name!r}: bias has shape {bias.shape}; expected ({G * H},) or (2, {G * H})")
    params = {"weight_ih": _blocks(kernel, order, H).T, "weight_hh": _blocks(rec, order, H).T,
              "bias_ih": _blocks(b_in, order, H), "bias_hh": _blocks(b_rec, order, H)}
    return Recurrent(name, cell, X, H, params)


def fold_activation(layers: list, name: str, activation) -> None:
    """An Activation layer: folded into the Dense before it (which must have none)."""
    act = dense_activation(name, activation)
    if act == "none":
        return
    if not layers or not isinstance(layers[-1], Dense) or layers[-1].activation != "none":
        raise ValueError(f"layer {name!r}: an activation ({activation}) after a layer that is not a Dense without "
                         "activation has no symcell form")
    last = layers[-1]
    layers[-1] = Dense(last.name, last.weight, last.bias, act)
