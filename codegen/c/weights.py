"""Read trained weights for the fixed-size generator: a .npz of the params, or a PyTorch state_dict.

A state_dict may come from a bigger module (``rnn.weight_ih_l0``, ``head.weight``): keys are matched
by their last dotted component, so the one-layer recurrent module and, with a dense layer, the one
Linear of shape (N, H) are found wherever they sit. Anything ambiguous or mis-shaped is a ValueError.
"""

from __future__ import annotations

from pathlib import Path

import numpy


def read_arrays(path: Path) -> dict[str, numpy.ndarray]:
    """Every array in the file, by key. torch is imported only for a file that is not an .npz."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"weights file {path} does not exist")
    if path.suffix == ".npz":
        with numpy.load(path, allow_pickle=False) as npz:
            return {k: numpy.asarray(npz[k]) for k in npz.files}
    try:
        import torch
    except ImportError:
        raise ValueError(f"{path} is not an .npz, and reading a PyTorch state_dict needs torch installed") from None
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file it cannot read
        raise ValueError(f"{path}: not a .npz and torch.load(weights_only=True) failed: {exc}") from None
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: expected a state_dict (a dict of tensors); got {type(sd).__name__}")
    return {str(k): v.detach().cpu().numpy() if hasattr(v, "detach") else numpy.asarray(v) for k, v in sd.items()}


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
