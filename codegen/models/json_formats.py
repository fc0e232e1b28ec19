"""The JSON model formats of real-time audio plugins.

- RTNeural (its python/model_utils.py export from Keras): ``{"in_shape": [...], "layers": [{"type": "lstm" |
  "gru" | "dense" | "time-distributed-dense" | "activation", "activation": ..., "shape": ..., "weights":
  [kernel, recurrent_kernel, bias] or [kernel(, bias)]}]}``, the weights in Keras layout. A GRU's
  reset_after is read off its bias: (2, 3H) is reset_after=True.
- A PyTorch state_dict written as JSON (RTNeural's torch_helpers read these): ``{"rnn.weight_ih_l0": [[...]], ...}``.
- GuitarML's plugins (NeuralPi, Proteus; Wright et al.'s training code): ``{"model_data": {"unit_type": "LSTM",
  "input_size": 1, "hidden_size": 20, "num_layers": 1, "output_size": 1, "skip": 1, "bias_fl": true},
  "state_dict": {"rec.weight_ih_l0": ..., "lin.weight": ..., "lin.bias": ...}}``: y = lin(rec(x)) + x[..., :skip].
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy

from . import keras_layers
from .stack import Stack
from .torch_format import stack_from_state_dict

RTNEURAL_RECURRENT = {"lstm": "LSTM", "gru": "GRU"}
GUITARML_CELLS = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn_tanh"}


def rtneural(model: dict, source: str = "") -> Stack:
    """A Stack from an RTNeural JSON model (already parsed)."""
    layers: list = []
    for j, entry in enumerate(model["layers"]):
        kind, act = entry.get("type"), entry.get("activation", "")
        name = f"{j}:{kind}"
        weights = [numpy.asarray(w, numpy.float64) for w in entry.get("weights", [])]
        if kind in ("dense", "time-distributed-dense"):
            layers.append(keras_layers.dense(name, weights, act))
        elif kind == "activation":
            keras_layers.fold_activation(layers, name, act)
        elif kind in RTNEURAL_RECURRENT:
            layers.append(keras_layers.recurrent(RTNEURAL_RECURRENT[kind], name, weights, activation=act or "tanh"))
        else:
            raise ValueError(f"layer {name!r}: an RTNeural {kind!r} layer has no symcell form "
                             "(it reads lstm, gru, dense, time-distributed-dense, activation)")
    in_shape = model.get("in_shape")
    stack = Stack(tuple(layers), 0, source)
    if isinstance(in_shape, list) and in_shape and isinstance(in_shape[-1], int) and in_shape[-1] != stack.input_size:
        raise ValueError(f"in_shape {in_shape} says {in_shape[-1]} inputs; the first layer takes {stack.input_size}")
    return stack


def guitarml(model: dict, source: str = "") -> Stack:
    """A Stack from a GuitarML plugin JSON model (already parsed)."""
    data, sd = model["model_data"], model.get("state_dict")
    if not isinstance(data, dict) or not isinstance(sd, dict):
        raise ValueError("a GuitarML model needs objects model_data and state_dict")
    unit = data.get("unit_type")
    if unit not in GUITARML_CELLS:
        raise ValueError(f"model_data unit_type {unit!r} has no symcell cell ({', '.join(GUITARML_CELLS)})")
    arrays = {k: numpy.asarray(v, numpy.float64) for k, v in sd.items()}
    recurrent = sorted({k.rpartition(".")[0] for k in arrays if "_l" in k.rpartition(".")[2]})
    cells = {prefix: GUITARML_CELLS[unit] for prefix in recurrent}
    stack = stack_from_state_dict(arrays, {"cells": cells, "skip": int(data.get("skip", 0))}, source)
    rec = stack.recurrent
    for key, want in (("input_size", stack.input_size), ("hidden_size", rec[0].hidden_size if rec else None),
                      ("num_layers", len(rec)), ("output_size", stack.output_size)):
        if key in data and data[key] != want:
            raise ValueError(f"model_data {key} is {data[key]!r} but the state_dict's layers give {want}")
    return stack


def read(path: Path, description=None) -> Stack:
    """An RTNeural, GuitarML or state_dict JSON file (told apart by their top-level keys)."""
    try:
        model = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON file: {exc}") from None
    if not isinstance(model, dict):
        raise ValueError(f"{path}: a JSON model is an object; got {type(model).__name__}")
    if description is not None and ("layers" in model or "model_data" in model):
        raise ValueError(f"{path}: a stack description is for state_dicts; this file describes its own layers")
    try:
        if "model_data" in model:
            return guitarml(model, str(path))
        if "layers" in model:
            return rtneural(model, str(path))
        arrays = {str(k): numpy.asarray(v, numpy.float64) for k, v in model.items()}
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a model this reader knows: missing or malformed {exc}") from None
    return stack_from_state_dict(arrays, description, str(path))
