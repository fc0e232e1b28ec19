"""Trained models from PyTorch, Keras, ONNX, RTNeural and GuitarML files, as one format-neutral Stack.

``read_model(path)`` picks the reader by the file's suffix; ``run`` / ``Streamer`` run a Stack with the
generated NumPy kernels (the reference the readers and the generated C are checked against);
``generate_c`` is ``symcell generate-c --model FILE``. docs/models.md describes the formats.
"""

from __future__ import annotations

from pathlib import Path

from .runner import Streamer, run
from .stack import ACTIVATIONS, Dense, Recurrent, Stack

SUFFIXES = (".pt", ".pth", ".npz", ".keras", ".h5", ".onnx", ".json")


def read_model(path, description=None) -> Stack:
    """The Stack in a model file: .pt/.pth (torch state_dict) or .npz (its arrays), .keras/.h5 (Keras), .onnx,
    .json (RTNeural, GuitarML or a state_dict as JSON). ``description`` (see torch_format) is for state_dicts only."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"model file {path}: unknown suffix {suffix!r}; symcell reads {', '.join(SUFFIXES)}")
    if description is not None and suffix not in (".pt", ".pth", ".npz", ".json"):
        raise ValueError(f"model file {path}: a stack description is for state_dicts (.pt, .npz, .json) only")
    if suffix in (".pt", ".pth", ".npz"):
        from . import torch_format

        return torch_format.read(path, description)
    if suffix in (".keras", ".h5"):
        from . import keras_format

        return keras_format.read(path)
    if suffix == ".onnx":
        from . import onnx_format

        return onnx_format.read(path)
    from . import json_formats

    return json_formats.read(path, description)


def fixed_c(stack: Stack, name: str | None = None, dtype: str = "float") -> dict[str, str]:
    """The fixed-size C pair of a one-recurrent-layer model (optionally followed by one Dense layer with no
    activation, no skip): {file name: text} from codegen.c.fixed. Anything else is a ValueError saying what
    is not generated yet (the stack generator is the next step)."""
    from ..c.fixed import generate

    first, rest = stack.layers[0], stack.layers[1:]
    head = rest[0] if rest else None
    if (not isinstance(first, Recurrent) or len(rest) > 1 or stack.skip
            or (head is not None and (not isinstance(head, Dense) or head.activation != "none"))):
        raise ValueError(f"{stack.source or 'the model'} is {stack.describe()}: multi-layer stacks are not generated "
                         "yet (generate-c --model takes one recurrent layer, optionally followed by one Dense layer "
                         "without activation, and no skip)")
    weights = dict(first.params)
    if head is not None:
        weights |= {"dense_weight": head.weight, "dense_bias": head.bias}
    return generate(first.cell, first.input_size, first.hidden_size, weights,
                    head.output_size if head is not None else None, name, dtype)


__all__ = ["ACTIVATIONS", "Dense", "Recurrent", "Stack", "Streamer", "fixed_c", "read_model", "run"]
