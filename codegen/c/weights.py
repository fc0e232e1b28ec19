"""Read trained weights for the fixed-size generator: a .npz of the params, or a PyTorch state_dict.

A state_dict may come from a bigger module (``rnn.weight_ih_l0``, ``head.weight``): keys are matched
by their last dotted component, so the one-layer recurrent module and, with a dense layer, the one
Linear of shape (N, H) are found wherever they sit. Anything ambiguous or mis-shaped is a ValueError.
"""

from __future__ import annotations

import pickle
import zipfile
import zlib
from pathlib import Path

import numpy


def read_arrays(path: Path) -> dict[str, numpy.ndarray]:
    """Every array in the file, by key; a ValueError naming the file and what to do for any file that is not
    one (missing, a folder, empty, truncated, corrupt, a pickled object, a checkpoint or module rather than
    a state_dict). torch is imported only for a file that is not an .npz."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"weights file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"weights file {path} is not a file; pass a .npz of the params or a torch.save'd state_dict")
    if path.suffix == ".npz":
        return _read_npz(path)
    try:
        import torch
    except ImportError:
        raise ValueError(f"{path} is not an .npz, and reading a PyTorch state_dict needs torch installed") from None
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not a pickled object (torch's words for one): not a pickle at all
            detail = str(exc).splitlines()[-1] if str(exc) else "no detail"
            raise ValueError(f"{path} is neither an .npz nor a file torch.load reads (UnpicklingError: {detail}); "
                             "pass a .npz of the params or a torch.save'd state_dict") from None
        # weights_only refused an object: a whole module, an optimizer, ...
        raise ValueError(f"{path} holds pickled Python objects, not only tensors (a whole torch.nn.Module?); "
                         f"save the weights alone with torch.save(model.state_dict(), {path.name!r})") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a file it cannot read
        raise ValueError(f"{path} is neither an .npz nor a file torch.load reads ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); pass a .npz of the params "
                         "or a torch.save'd state_dict") from None
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: expected a state_dict (a dict of tensors); got {type(sd).__name__}; "
                         f"save it with torch.save(model.state_dict(), {path.name!r})")
    nested = sorted(str(k) for k, v in sd.items() if isinstance(v, dict))
    if nested:
        raise ValueError(f"{path} holds dicts under {nested} (a training checkpoint?); save the model's "
                         f"state_dict() alone, e.g. torch.save(checkpoint[{nested[0]!r}], 'weights.pt')")
    out = {}
    for k, v in sd.items():
        try:
            out[str(k)] = _tensor_array(v) if hasattr(v, "detach") else numpy.asarray(v)
        except (TypeError, RuntimeError, ValueError) as exc:
            raise ValueError(f"{path}: {k} is not an array of numbers: {exc}") from None
    return out


def _tensor_array(t) -> numpy.ndarray:
    """A tensor's values as an ndarray; float16 and bfloat16 (which NumPy lacks or .numpy() refuses) as float64."""
    t = t.detach().cpu()
    try:
        return t.numpy()
    except TypeError:  # bfloat16: "Got unsupported ScalarType"
        return t.double().numpy()


def _read_npz(path: Path) -> dict[str, numpy.ndarray]:
    """The arrays of an .npz; ValueError naming it when it is empty, truncated, corrupt or holds objects."""
    try:
        with open(path, "rb") as f, numpy.load(f, allow_pickle=False) as npz:  # our handle: closed on any error
            arrays = {k: numpy.asarray(npz[k]) for k in npz.files}
    except (EOFError, zipfile.BadZipFile, zlib.error, OSError, ValueError) as exc:
        what = "is empty" if path.stat().st_size == 0 else f"cannot be read ({type(exc).__name__}: {exc})"
        raise ValueError(f"weights file {path} {what}; "
                         f"write it again with numpy.savez({path.name!r}, **params)") from None
    if not arrays:
        raise ValueError(f"weights file {path} holds no arrays; write it with numpy.savez({path.name!r}, **params)")
    return arrays


def _last(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def select(arrays: dict, shapes: dict[str, tuple], hidden: int, dense: int | None) -> dict[str, numpy.ndarray]:
    """The cell's params, named by ``shapes`` (and ``dense_weight``/``dense_bias``), from ``arrays``, checked."""
    deeper = sorted(k for k in arrays if _last(k).endswith(("_l1", "_reverse")))
    if deeper:
        raise ValueError(f"only one-layer, one-direction cells are supported; found {deeper}")
    out = {}
    for name in shapes:
        keys = sorted(k for k in arrays if _last(k) in (name, f"{name}_l0"))
        if len(keys) != 1:
            raise ValueError(f"need exactly one array named {name} or *{name}_l0; found {keys} in {sorted(arrays)}")
        out[name] = arrays[keys[0]]
    if dense is not None:
        stems = [k[: -len("weight")] for k in arrays if _last(k) == "weight"]
        pairs = sorted(k for k in stems if k + "bias" in arrays and arrays[k + "weight"].shape == (dense, hidden))
        if len(pairs) != 1:
            raise ValueError(f"--dense {dense}: need exactly one <name>.weight ({dense}, {hidden}) with a <name>.bias; "
                             f"found {[p + 'weight' for p in pairs]}")
        out["dense_weight"], out["dense_bias"] = arrays[pairs[0] + "weight"], arrays[pairs[0] + "bias"]
        shapes = {**shapes, "dense_weight": (dense, hidden), "dense_bias": (dense,)}
    for name, arr in out.items():
        if arr.shape != shapes[name]:
            raise ValueError(f"{name} has shape {arr.shape}; this cell and these sizes need {shapes[name]}")
        if arr.dtype.kind not in "fiu" or not numpy.all(numpy.isfinite(arr)):
            raise ValueError(f"{name} must hold finite real numbers")
    return {k: numpy.asarray(v, numpy.float64) for k, v in out.items()}
