"""A trained model as symcell sees it: a Stack of recurrent and Dense layers, format-neutral and checked.

Every reader (torch, Keras, ONNX, RTNeural, GuitarML) converts its file into a Stack; the reference runner
and the C generator read only Stacks. A recurrent layer holds its weights in symcell's own layout, the one
the generated module's ``param_shapes`` gives (PyTorch's names and gate order: LSTM i, f, g, o; GRU r, z, n),
so a reader's one job is the conversion from its format's layout, and a mistake in it fails here (shapes)
or in the tests against the framework (values). Arrays are float64 copies, read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy

import symcell

ACTIVATIONS = ("tanh", "relu", "sigmoid", "none")


def _frozen(name: str, value, shape: tuple) -> numpy.ndarray:
    """``value`` as a read-only float64 copy of ``shape``, or a ValueError naming ``name``."""
    try:
        arr = numpy.array(value, dtype=numpy.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not a numeric array: {exc}") from None
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} has shape {arr.shape}; expected {tuple(shape)}")
    if not numpy.all(numpy.isfinite(arr)):
        raise ValueError(f"{name} holds non-finite values")
    arr.flags.writeable = False
    return arr


def _size(layer: str, what: str, n) -> int:
    if not isinstance(n, (int, numpy.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"layer {layer!r}: {what} must be a positive integer; got {n!r}")
    return int(n)


@dataclass(frozen=True, eq=False)
class Recurrent:
    """One recurrent layer: a registered cell, its sizes, and its params as ``param_shapes(X, H)`` names them.

    ``name`` is the layer's name in the file it came from (errors name it)."""

    name: str
    cell: str
    input_size: int
    hidden_size: int
    params: Mapping[str, numpy.ndarray]

    def __post_init__(self):
        X = _size(self.name, "input_size", self.input_size)
        H = _size(self.name, "hidden_size", self.hidden_size)
        if self.cell not in symcell.cells():
            raise ValueError(f"layer {self.name!r}: {self.cell!r} is not a registered cell "
                             f"(registered: {', '.join(symcell.cells())})")
        shapes = symcell.load(self.cell).param_shapes(X, H)
        if not isinstance(self.params, Mapping):
            raise ValueError(f"layer {self.name!r}: params must be a mapping; got {type(self.params).__name__}")
        missing, unknown = [k for k in shapes if k not in self.params], sorted(set(self.params) - set(shapes))
        if missing or unknown:
            raise ValueError(f"layer {self.name!r} ({self.cell}): missing params {missing}, unknown params {unknown}")
        params = {k: _frozen(f"layer {self.name!r} ({self.cell}) {k}", self.params[k], s) for k, s in shapes.items()}
        object.__setattr__(self, "params", MappingProxyType(params))

    @property
    def output_size(self) -> int:
        return self.hidden_size


@dataclass(frozen=True, eq=False)
class Dense:
    """y = activation(weight @ x + bias): weight (N, K) as torch.nn.Linear holds it, bias (N,)."""

    name: str
    weight: numpy.ndarray
    bias: numpy.ndarray
    activation: str = "none"

    def __post_init__(self):
        w = numpy.asarray(self.weight)
        if w.ndim != 2 or 0 in w.shape:
            raise ValueError(f"layer {self.name!r}: a Dense weight must be a non-empty (N, K) matrix; "
                             f"got shape {w.shape}")
        object.__setattr__(self, "weight", _frozen(f"layer {self.name!r} weight", w, w.shape))
        object.__setattr__(self, "bias", _frozen(f"layer {self.name!r} bias", self.bias, (w.shape[0],)))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"layer {self.name!r}: activation {self.activation!r} is not one symcell generates "
                             f"({', '.join(ACTIVATIONS)})")

    @property
    def input_size(self) -> int:
        return self.weight.shape[1]

    @property
    def output_size(self) -> int:
        return self.weight.shape[0]


@dataclass(frozen=True, eq=False)
class Stack:
    """Layers applied in order to each sample; with ``skip`` = k > 0 the output adds the first k input channels
    (GuitarML's ``lin(rec(x)) + x[..., :skip]``; k is 1, broadcast, or the output size)."""

    layers: tuple[Recurrent | Dense, ...]
    skip: int = 0
    source: str = field(default="")

    def __post_init__(self):
        layers = tuple(self.layers)
        object.__setattr__(self, "layers", layers)
        if not layers:
            raise ValueError("a model needs at least one layer")
        for layer in layers:
            if not isinstance(layer, (Recurrent, Dense)):
                raise ValueError(f"a layer must be a Recurrent or a Dense; got {type(layer).__name__}")
        for before, after in zip(layers, layers[1:], strict=False):
            if before.output_size != after.input_size:
                raise ValueError(f"layer {after.name!r} takes {after.input_size} inputs but layer {before.name!r} "
                                 f"gives {before.output_size}")
        if not isinstance(self.skip, (int, numpy.integer)) or isinstance(self.skip, bool) or self.skip < 0:
            raise ValueError(f"skip must be a non-negative integer; got {self.skip!r}")
        if self.skip and (self.skip > self.input_size or self.skip not in (1, self.output_size)):
            raise ValueError(f"skip {self.skip}: the skip adds the first skip input channels to the output, so it "
                             f"must be 1 or the output size ({self.output_size}) and at most the input size "
                             f"({self.input_size})")

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    @property
    def recurrent(self) -> list[Recurrent]:
        return [layer for layer in self.layers if isinstance(layer, Recurrent)]

    def describe(self) -> str:
        """One line: ``lstm 1->20, dense 20->1 (none), skip 1``."""
        parts = [f"{lay.cell} {lay.input_size}->{lay.hidden_size}" if isinstance(lay, Recurrent)
                 else f"dense {lay.input_size}->{lay.output_size} ({lay.activation})" for lay in self.layers]
        return ", ".join(parts) + (f", skip {self.skip}" if self.skip else "")
