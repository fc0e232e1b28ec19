"""Keras models without TensorFlow: ``.keras`` (a zip of config.json and model.weights.h5) and legacy ``.h5``.

A Sequential model (or a Functional one that is a chain, optionally ending in an Add of the input: the
Stack's skip) of LSTM, GRU (either reset_after), SimpleRNN, Dense, TimeDistributed(Dense), Activation
(folded into the Dense before it) and Dropout (the identity at inference). The layer list and settings
come from the config JSON; the weights from HDF5 through h5py: in a .keras file at
``layers/<path>/vars/<i>`` (Dense), ``layers/<path>/cell/vars/<i>`` (recurrent layers) or
``layers/<path>/layer/vars/<i>`` (TimeDistributed), where <path> is not the layer's name but its class in
snake case, numbered in order among the layers of its class (``lstm``, ``lstm_1``; Keras's saving_lib does
this so that paths do not depend on generated names); in an .h5 file at ``model_weights/<name>/<weight_names[i]>``.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from . import keras_layers
from .stack import Stack

RECURRENT = ("LSTM", "GRU", "SimpleRNN")
MODELS = ("Sequential", "Functional")


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ValueError("reading a Keras model needs h5py installed (pip install h5py)") from None
    return h5py


def _vars(group) -> list:
    """A .keras weights group's arrays in order (vars/0, vars/1, ...)."""
    if group is None or "vars" not in group:
        return []
    v = group["vars"]
    return [v[str(i)][()] for i in range(len(v))]


def _snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case: the name saving_lib files a layer's weights under."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _read_keras(path: Path) -> tuple[dict, dict]:
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
            data = z.read("model.weights.h5")
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a Keras .keras archive (config.json + model.weights.h5): {exc}") from None
    h5py = _h5py()
    weights = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        layers = f.get("layers")
        used: dict[str, int] = {}
        for entry in _layer_entries(config, path):
            name, stem = entry["config"]["name"], _snake_case(entry["class_name"])
            key = stem if stem not in used else f"{stem}_{used[stem] + 1}"
            used[stem] = used[stem] + 1 if stem in used else 0
            group = layers.get(key) if layers is not None else None
            if entry["class_name"] in RECURRENT:
                weights[name] = _vars(group.get("cell") if group is not None else None)
            elif entry["class_name"] == "TimeDistributed":
                weights[name] = _vars(group.get("layer") if group is not None else None)
            else:
                weights[name] = _vars(group)
    return config, weights


def _read_h5(path: Path) -> tuple[dict, dict]:
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not an HDF5 file: {exc}") from None
    with f:
        if "model_config" not in f.attrs or "model_weights" not in f:
            raise ValueError(f"{path}: an HDF5 file without model_config and model_weights is not a saved Keras model")
        config = json.loads(f.attrs["model_config"])
        mw = f["model_weights"]
        weights = {}
        for name in mw:
            g = mw[name]
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs.get("weight_names", [])]
            weights[name] = [g[n][()] for n in names]
    return config, weights


def _layer_entries(config: dict, path) -> list[dict]:
    if config.get("class_name") not in MODELS:
        raise ValueError(f"{path}: a Keras {config.get('class_name')!r} model; symcell reads Sequential models and "
                         "Functional chains")
    return list(config["config"]["layers"])


def _sources(inbound) -> list[str]:
    """The layer names a Functional layer's inbound node reads: Keras 3's ``keras_history`` [name, node, index]
    inside ``__keras_tensor__`` dicts, or Keras 2's [name, node, index, kwargs] lists."""
    if isinstance(inbound, dict):
        history = inbound.get("config", {}).get("keras_history") if inbound.get("class_name") == "__keras_tensor__" \
            else None
        return [history[0]] if history else [n for v in inbound.values() for n in _sources(v)]
    if isinstance(inbound, list):
        if len(inbound) >= 3 and isinstance(inbound[0], str) and isinstance(inbound[1], int):
            return [inbound[0]]
        return [n for v in inbound for n in _sources(v)]
    return []


def _chain(config: dict, path) -> tuple[list[dict], int]:
    """The layers of a Sequential model, or of a Functional one that is a chain from its one input, possibly
    ending in an Add of the chain and the input (the skip): (entries in order, skip)."""
    entries = _layer_entries(config, path)
    if config["class_name"] == "Sequential":
        return entries, 0
    first, chain, skip = entries[0], [entries[0]], 0
    if first["class_name"] != "InputLayer":
        raise ValueError(f"{path}: a Functional model whose first layer is not its InputLayer")
    previous = source = first["config"]["name"]
    for entry in entries[1:]:
        name, nodes = entry["config"]["name"], entry.get("inbound_nodes", [])
        reads = _sources(nodes[0]) if len(nodes) == 1 else None
        if skip:
            raise ValueError(f"layer {name!r}: a layer after the skip connection (an Add of the input) has no "
                             "symcell form")
        if entry["class_name"] == "Add" and reads is not None and sorted(reads) == sorted([previous, source]) \
                and previous != source:
            skip = int(first["config"].get("batch_shape", first["config"].get("batch_input_shape"))[-1])
        elif reads != [previous]:
            raise ValueError(f"layer {name!r}: reads {reads}, not the layer before it ({previous!r}); symcell reads "
                             "Functional models that are chains")
        else:
            chain.append(entry)
        previous = name
    outputs = _sources(config["config"].get("output_layers", []))
    if outputs != [previous]:
        raise ValueError(f"{path}: the model's outputs {outputs} are not the end of its chain ({previous!r})")
    return chain, skip


def stack_from_config(config: dict, weights: dict, source: str = "") -> Stack:
    """A Stack from a Keras model config and {layer name: [arrays]}."""
    layers: list = []
    entries, skip = _chain(config, source)
    for entry in entries:
        kind, cfg = entry["class_name"], entry["config"]
        name = cfg["name"]
        if kind in ("InputLayer", "Dropout"):
            continue
        if kind == "Activation":
            keras_layers.fold_activation(layers, name, cfg.get("activation"))
            continue
        if kind == "TimeDistributed":
            inner = cfg["layer"]
            if inner["class_name"] != "Dense":
                raise ValueError(f"layer {name!r}: TimeDistributed({inner['class_name']}) has no symcell form")
            layers.append(keras_layers.dense(name, weights.get(name, []), inner["config"].get("activation")))
            continue
        if kind == "Dense":
            layers.append(keras_layers.dense(name, weights.get(name, []), cfg.get("activation")))
            continue
        if kind not in RECURRENT:
            raise ValueError(f"layer {name!r}: a Keras {kind} has no symcell form (it reads {', '.join(RECURRENT)}, "
                             "Dense, TimeDistributed(Dense), Activation, Dropout)")
        for flag in ("go_backwards", "stateful_reversed"):
            if cfg.get(flag):
                raise ValueError(f"layer {name!r}: {flag}=True cannot run sample by sample")
        layers.append(keras_layers.recurrent(
            kind, name, weights.get(name, []), activation=cfg.get("activation", "tanh"),
            recurrent_activation=cfg.get("recurrent_activation", "sigmoid"),
            reset_after=cfg.get("reset_after") if kind == "GRU" else None))
    return Stack(tuple(layers), skip, source)


def read(path: Path) -> Stack:
    """A .keras or .h5 Keras model file."""
    path = Path(path)
    config, weights = _read_keras(path) if path.suffix == ".keras" else _read_h5(path)
    return stack_from_config(config, weights, str(path))
