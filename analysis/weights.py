"""The weights a gradient-flow measurement runs on: PyTorch's init, orthogonal or Gaussian recurrent
blocks, gate-bias overrides, or a file.

Only the recurrent matrix weight_hh changes between inits: it is what the vanishing-gradient bound
(gamma sigma_max(W_hh))^l is about, so the other parameters keep PyTorch's default draw and every init
is comparable with the others at the same seed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy
from symcell.derive import get_cell

KINDS = ("default", "orthogonal", "gaussian")


@dataclass(frozen=True)
class Init:
    """How weight_hh is drawn: ``default`` (PyTorch, U(+-1/sqrt H)), ``orthogonal`` (gain times the Q of
    a QR of a Gaussian, per gate block) or ``gaussian`` (entries N(0, gain^2 / H))."""

    kind: str = "default"
    gain: float = 1.0

    def __str__(self) -> str:
        if self.kind == "default":
            return "default"
        return self.kind if (self.kind == "orthogonal" and self.gain == 1.0) else f"{self.kind}:{self.gain:g}"


def parse_init(text: str | Init) -> Init:
    """``default``, ``orthogonal``, ``orthogonal:G`` or ``gaussian:G`` -> Init; ValueError otherwise."""
    if isinstance(text, Init):
        return text
    kind, _, gain = str(text).partition(":")
    if kind not in KINDS:
        raise ValueError(f"--init must be one of default, orthogonal, orthogonal:G, gaussian:G; got {text!r}")
    if kind == "default" and gain:
        raise ValueError("--init default takes no gain (PyTorch's init has a fixed scale)")
    if kind == "gaussian" and not gain:
        raise ValueError("--init gaussian needs a gain, e.g. gaussian:1.5 (entries N(0, G^2/H))")
    try:
        value = float(gain) if gain else 1.0
    except ValueError:
        raise ValueError(f"--init {kind}: the gain must be a number; got {gain!r}") from None
    if not numpy.isfinite(value) or value <= 0:
        raise ValueError(f"--init {kind}: the gain must be a positive finite number; got {gain!r}")
    return Init(kind, value)


def kernel(cell: str) -> ModuleType:
    """The generated NumPy module of a registered cell (UnknownCellError names the choices)."""
    return importlib.import_module(f"symcell.kernels.numpy.{get_cell(cell).name}")


def _orthogonal(n: int, rng: numpy.random.Generator) -> numpy.ndarray:
    """A Haar-distributed orthogonal matrix: Q of a Gaussian's QR, with R's diagonal signs folded in."""
    q, r = numpy.linalg.qr(rng.standard_normal((n, n)))
    return q * numpy.sign(numpy.diag(r))


def make_params(cell: str, input_size: int, hidden_size: int, rng: numpy.random.Generator,
                init: Init | str = "default") -> dict:
    """Parameters in PyTorch layout: the kernel's init_params, then weight_hh redrawn as ``init`` says."""
    init = parse_init(init)
    params = kernel(cell).init_params(input_size, hidden_size, rng)
    H = hidden_size
    if "weight_hh" not in params:  # IndRNN-like: the recurrence is a per-unit vector, not a matrix
        if init.kind != "default":
            raise ValueError(f"--init {init} redraws weight_hh, and cell {cell} has no recurrent matrix")
        return params
    w = params["weight_hh"]
    if init.kind == "orthogonal":
        for k in range(w.shape[0] // H):
            w[k * H:(k + 1) * H] = init.gain * _orthogonal(H, rng)
    elif init.kind == "gaussian":
        w[...] = rng.normal(0.0, init.gain / numpy.sqrt(H), size=w.shape)
    return params


def set_gate_bias(cell: str, params: dict, gate: str, value: float, flag: str) -> dict:
    """Set gate ``gate``'s input bias rows to ``value`` and its hidden bias rows to 0 (a copy).

    Splitting it this way makes the total bias exactly ``value``, as the usual forget-bias advice means.
    """
    c = get_cell(cell)
    if gate not in c.gates:
        raise ValueError(f"{flag} needs a cell with a gate named {gate!r}; {c.name} has gates {', '.join(c.gates)}")
    if not numpy.isfinite(value):
        raise ValueError(f"{flag} must be a finite number; got {value!r}")
    H = numpy.shape(params["bias_ih"])[0] // len(c.gates)
    k = c.gates.index(gate)
    out = {name: numpy.array(a, copy=True) for name, a in params.items()}
    out["bias_ih"][k * H:(k + 1) * H] = value
    out["bias_hh"][k * H:(k + 1) * H] = 0.0
    return out


def load_params(cell: str, path: str | Path) -> dict:
    """Weights from ``.npz`` (keys weight_ih, ... or torch's weight_ih_l0, ...) or a torch ``.pt``/``.pth``
    state_dict, checked against the cell's layout by the kernel's own validation."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--weights: no such file: {path}")
    mod = kernel(cell)
    names = tuple(mod.param_shapes(1, 1))  # the cell's own keys: unit parameters included
    if path.suffix == ".npz":
        with numpy.load(path) as data:
            raw = {k: data[k] for k in data.files}
        params = raw if all(k in raw for k in names) else mod.params_from_state_dict(raw)
    elif path.suffix in (".pt", ".pth"):
        import torch  # only for this file type; torch is an optional (test) dependency

        params = mod.params_from_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    else:
        raise ValueError(f"--weights: expected a .npz, .pt or .pth file; got {path.name}")
    params = {k: numpy.asarray(params[k], dtype=numpy.float64) for k in names if k in params}
    missing = [k for k in names if k not in params]
    if missing:
        raise ValueError(f"--weights: {path.name} lacks {missing}")
    x = numpy.zeros((1, 1, params["weight_ih"].shape[-1]))
    try:
        mod.forward(x, params)  # the kernel's validation names any shape mismatch
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--weights: {path.name} does not fit cell {cell}: {exc}") from None
    return params
