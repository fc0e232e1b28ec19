"""PyTorch state_dicts (a torch.save'd .pt, or an .npz of the same arrays): nn.LSTM / nn.GRU / nn.RNN modules
(any num_layers) followed by nn.Linear layers.

torch's layout is symcell's, so the conversion is a grouping of keys: ``<prefix>.weight_ih_l<k>`` and its
three siblings are layer k of the recurrent module ``<prefix>``; ``<prefix>.weight`` (N, K) with an optional
``<prefix>.bias`` is a Linear. Modules run in the order the state_dict lists them (torch's order of
registration; a ``layers`` list in the description overrides it).

What a state_dict cannot tell comes from a short description (a dict, or JSON through the CLI):
``{"cells": {"rnn": "rnn_relu"}, "activations": {"head": "tanh"}, "skip": 1, "layers": ["rnn", "head"]}``.
Unnamed recurrent modules map by gate count: 4 -> lstm, 3 -> gru (torch's GRU is symcell's gru), 1 -> rnn_tanh.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy

from .stack import Dense, Recurrent, Stack

_RECURRENT_KEY = re.compile(r"^(?:(?P<prefix>.*)\.)?(?P<param>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)"
                            r"_l(?P<layer>\d+)(?P<reverse>_reverse)?$")
BY_GATES = {4: "lstm", 3: "gru", 1: "rnn_tanh"}
DESCRIPTION_KEYS = ("cells", "activations", "skip", "layers")


def _check_description(description) -> dict:
    if description is None:
        return {}
    if not isinstance(description, Mapping):
        raise ValueError(f"the stack description must be a JSON object; got {type(description).__name__}")
    unknown = sorted(set(description) - set(DESCRIPTION_KEYS))
    if unknown:
        raise ValueError(f"the stack description has unknown keys {unknown}; it takes {list(DESCRIPTION_KEYS)}")
    return dict(description)


def _modules(arrays: Mapping[str, numpy.ndarray]) -> dict[str, dict]:
    """{module prefix: {"kind": "recurrent", "layers": {k: {param: array}}} or {"kind": "linear", ...}}."""
    modules: dict[str, dict] = {}
    for key, value in arrays.items():
        m = _RECURRENT_KEY.match(key)
        if m:
            prefix = m["prefix"] or ""
            if m["reverse"]:
                raise ValueError(f"layer {prefix or key!r}: bidirectional recurrent layers cannot run sample by "
                                 f"sample ({key})")
            if m["param"] == "weight_hr":
                raise ValueError(f"layer {prefix or key!r}: LSTM proj_size (weight_hr) has no symcell cell ({key})")
            mod = modules.setdefault(prefix, {"kind": "recurrent", "layers": {}})
            if mod["kind"] != "recurrent":
                raise ValueError(f"layer {prefix!r} mixes recurrent and Linear keys")
            mod["layers"].setdefault(int(m["layer"]), {})[m["param"]] = numpy.asarray(value, numpy.float64)
            continue
        prefix, _, last = key.rpartition(".")
        if last not in ("weight", "bias"):
            raise ValueError(f"state_dict key {key!r} is neither a recurrent layer's nor a Linear's; symcell reads "
                             "nn.LSTM/GRU/RNN and nn.Linear modules only")
        mod = modules.setdefault(prefix, {"kind": "linear"})
        if mod["kind"] != "linear":
            raise ValueError(f"layer {prefix!r} mixes recurrent and Linear keys")
        mod[last] = numpy.asarray(value, numpy.float64)
    return modules


def _recurrent(prefix: str, k: int, p: dict, cell: str | None) -> Recurrent:
    name = f"{prefix}_l{k}" if prefix else f"l{k}"
    if "weight_ih" not in p or "weight_hh" not in p:
        raise ValueError(f"layer {name!r}: needs weight_ih and weight_hh; has {sorted(p)}")
    wih, whh = p["weight_ih"], p["weight_hh"]
    if whh.ndim != 2 or wih.ndim != 2 or whh.shape[0] % max(whh.shape[1], 1) or wih.shape[0] != whh.shape[0]:
        raise ValueError(f"layer {name!r}: weight_ih {wih.shape} and weight_hh {whh.shape} are not a torch "
                         "recurrent layer's (G*H, X) and (G*H, H)")
    H = whh.shape[1]
    G = whh.shape[0] // H
    if cell is None:
        if G not in BY_GATES:
            raise ValueError(f"layer {name!r}: {G} gates match no torch recurrent module; name its cell in the "
                             "description's \"cells\"")
        cell = BY_GATES[G]
    zeros = numpy.zeros(G * H)
    params = {"weight_ih": wih, "weight_hh": whh, "bias_ih": p.get("bias_ih", zeros),
              "bias_hh": p.get("bias_hh", zeros)}
    return Recurrent(name, cell, wih.shape[1], H, params)


def stack_from_state_dict(arrays: Mapping[str, numpy.ndarray], description=None, source: str = "") -> Stack:
    """A Stack from a state_dict's arrays (any mapping of names to arrays) and the optional description."""
    desc = _check_description(description)
    modules = _modules(arrays)
    if not modules:
        raise ValueError("the state_dict holds no layers")
    order = desc.get("layers", list(modules))
    if not isinstance(order, list) or sorted(order) != sorted(modules):
        raise ValueError(f"the description's \"layers\" must list every module once: {sorted(modules)}; got {order!r}")
    cells, activations = desc.get("cells", {}), desc.get("activations", {})
    for what, given in (("cells", cells), ("activations", activations)):
        if not isinstance(given, Mapping) or not set(given) <= set(modules):
            raise ValueError(f"the description's {what!r} must map module names ({sorted(modules)}) to names; "
                             f"got {given!r}")
    layers = []
    for prefix in order:
        mod = modules[prefix]
        if mod["kind"] == "recurrent":
            if prefix in activations:
                raise ValueError(f"layer {prefix!r} is recurrent: its activation is its cell's; "
                                 "name the cell in \"cells\"")
            ks = sorted(mod["layers"])
            if ks != list(range(len(ks))):
                raise ValueError(f"layer {prefix!r}: its layers are {ks}, not 0..{len(ks) - 1}")
            layers += [_recurrent(prefix, k, mod["layers"][k], cells.get(prefix)) for k in ks]
        else:
            if prefix in cells:
                raise ValueError(f"layer {prefix!r} is a Linear, not a recurrent layer: it has no cell")
            if "weight" not in mod:
                raise ValueError(f"layer {prefix!r}: a bias without a weight")
            w = mod["weight"]
            bias = mod.get("bias", numpy.zeros(w.shape[0] if w.ndim == 2 else 0))
            layers.append(Dense(prefix, w, bias, activations.get(prefix, "none")))
    return Stack(tuple(layers), desc.get("skip", 0), source)


def read(path: Path, description=None) -> Stack:
    """A torch.save'd state_dict (.pt, read with torch.load(weights_only=True)) or an .npz of its arrays."""
    from ..c.weights import read_arrays

    return stack_from_state_dict(read_arrays(Path(path)), description, str(path))
