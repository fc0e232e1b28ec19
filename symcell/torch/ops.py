"""A cell's whole-sequence forward and backward as torch.library custom operators.

``symcell::sequence`` runs one layer and one direction of a cell over a (T, B, X) sequence through the kernels
``symcell.load`` gives (C, or NumPy where no C compiler is found) and returns (y, state, tape): y (T, B, H),
the final state stacked (S, B, H), and the tape as one flat tensor (empty when ``save`` is false).
``symcell::sequence_backward`` is its autograd formula. Both have fake implementations, so torch.compile
traces a model that uses them into one graph.

Zero copy: a tensor that is already what C reads (CPU, contiguous, the kernels' dtype) reaches C as a NumPy
view of its own memory, and C's outputs come back as tensors over C's arrays (torch.from_numpy). The tape is
the kernels' own flat buffer, so the backward hands C the buffer its forward wrote (the loader's ready path).

A kernel is named by a string key, ``"<backend>|<path>|<cell>"`` (``register``), so the operators' schemas
hold only tensors, a string and a bool.
"""

from __future__ import annotations

import ctypes
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy
import torch

import symcell
import symcell.cbuild

_DTYPES = {torch.float32: numpy.float32, torch.float64: numpy.float64}
_LOCK = threading.Lock()
_FALLBACK_WARNED = False


@dataclass(frozen=True)
class CellInfo:
    """What the modules and the fake implementations need of a cell, read once from its kernels."""

    key: str
    cell: str
    backend: str
    path: str | None
    states: tuple[str, ...]
    params: tuple[str, ...]  # the kernels' parameter names, in param_shapes' order
    param_shapes: object  # param_shapes(X, H) of the kernels
    tape_factor: int  # the tape holds tape_factor * T * B * H values
    seq: tuple[str, ...]  # the tape's state sequences after its slots, in the kernels' order
    tape_type: type


_INFO: dict[str, CellInfo] = {}
_KERNELS: dict[tuple[str, torch.dtype], object] = {}
_THREADS = threading.local()


def _load(backend: str, cell: str, path: str | None, np_dtype):
    return symcell.load(cell, backend, dtype=np_dtype, path=path)


def register(cell: str, path=None, backend: str | None = None) -> CellInfo:
    """The kernels of ``cell`` (a registered name, or a cell in the folder ``path`` that ``symcell generate
    --cell-file FILE --out DIR`` wrote), loaded and described; the C backend unless no C compiler is found
    (then the NumPy kernels, said once in a RuntimeWarning) or ``backend`` says otherwise."""
    global _FALLBACK_WARNED
    if not isinstance(cell, str):
        raise TypeError(f"cell must be a cell name (a string); got {cell!r}")
    if backend not in (None, "c", "numpy"):
        raise ValueError(f"backend must be 'c', 'numpy' or None (C when a compiler is found); got {backend!r}")
    spath = None if path is None else str(Path(path).resolve())
    with _LOCK:
        for b in ((backend,) if backend else ("c", "numpy")):
            key = f"{b}|{spath or ''}|{cell}"
            if key in _INFO:
                return _INFO[key]
            try:
                kernels = _load(b, cell, spath, numpy.float64)
            except symcell.cbuild.CompilerNotFoundError as exc:
                if backend == "c":
                    raise
                if not _FALLBACK_WARNED:
                    _FALLBACK_WARNED = True
                    warnings.warn(f"symcell.torch: no C compiler ({exc}); using the NumPy kernels, which are slower",
                                  RuntimeWarning, stacklevel=4)
                continue
            break
        # one step of one row, to read the tape's layout (the same for both backends and dtypes)
        probe = kernels.init_params(1, 1, rng=0, dtype=numpy.float64)
        _, _, tape = kernels.forward(numpy.zeros((1, 1, 1)), probe, save=True)
        info = CellInfo(key, cell, b, spath, tuple(kernels.STATES), tuple(kernels.param_shapes(1, 1)),
                        kernels.param_shapes, int(tape.slots.base.size), tuple(tape.seq), type(tape))
        _INFO[key] = info
        _KERNELS[key, torch.float64] = kernels
        if b == "c":
            _omp_setter(key, info)
        return info


def _kernels(key: str, dtype: torch.dtype):
    k = _KERNELS.get((key, dtype))
    if k is None:
        info = _INFO[key]
        with _LOCK:
            k = _KERNELS[key, dtype] = _load(info.backend, info.cell, info.path, _DTYPES[dtype])
    return k


_OMP: dict[str, object] = {}


def _omp_setter(key: str, info: CellInfo):
    """omp_set_num_threads of the OpenMP runtime the C library is linked to (None without OpenMP)."""
    if key not in _OMP:
        so = symcell.cbuild.library(info.cell, None if info.path is None else Path(info.path))
        try:
            setter = ctypes.CDLL(str(so)).omp_set_num_threads
            setter.argtypes, setter.restype = [ctypes.c_int], None
        except AttributeError:
            setter = None
        _OMP[key] = setter
    return _OMP[key]


def _threads(key: str) -> None:
    """The C kernels' OpenMP team size follows torch.get_num_threads() (OpenMP's count is per thread, so it
    is set in each calling thread, and again only when torch's count changed)."""
    n = torch.get_num_threads()
    if getattr(_THREADS, key, None) != n:
        setter = _OMP.get(key)
        if setter is not None:
            setter(n)
        setattr(_THREADS, key, n)


def _np(t: torch.Tensor) -> numpy.ndarray:
    """A NumPy view of a CPU tensor's memory (a contiguous copy first only when it is not contiguous)."""
    return t.detach().contiguous().numpy()


def _check(name: str, t: torch.Tensor, dtype: torch.dtype) -> None:
    if t.device.type != "cpu":
        raise ValueError(f"{name} is on {t.device}; symcell.torch runs on CPU tensors only (no GPU backend yet)")
    if t.dtype != dtype:
        raise TypeError(f"{name} has dtype {t.dtype} but the input has {dtype}; mixed dtypes are not allowed")


@torch.library.custom_op("symcell::sequence", mutates_args=())
def sequence(key: str, x: torch.Tensor, params: list[torch.Tensor], state0: torch.Tensor,
             save: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One layer and direction over x (T, B, X) from state0 (S, B, H): (y (T, B, H), state (S, B, H), tape)."""
    info = _INFO[key]
    k = _kernels(key, x.dtype)
    names = info.params
    p = {n: _np(t) for n, t in zip(names, params, strict=True)}
    s0 = _np(state0)
    _threads(key)
    if save:
        y, state, tape = k.forward(_np(x), p, tuple(s0), save=True)
        flat = torch.from_numpy(tape.slots.base)
    else:
        y, state = k.forward(_np(x), p, tuple(s0))
        flat = x.new_empty(0)
    base = state[0].base
    stacked = base if base is not None and base.shape == (len(info.states),) + y.shape[1:] else numpy.stack(state)
    return torch.from_numpy(y), torch.from_numpy(stacked), flat


@sequence.register_fake
def _(key, x, params, state0, save):
    info = _INFO[key]
    T, B, _ = x.shape
    H = state0.shape[2]
    tape = x.new_empty(info.tape_factor * T * B * H if save else 0)
    return x.new_empty(T, B, H), x.new_empty(state0.shape), tape


@torch.library.custom_op("symcell::sequence_backward", mutates_args=())
def sequence_backward(key: str, x: torch.Tensor, params: list[torch.Tensor], state0: torch.Tensor, y: torch.Tensor,
                      tape: torch.Tensor, dy: torch.Tensor, dstate: torch.Tensor | None) -> list[torch.Tensor]:
    """The gradients [dx, dstate0 (S, B, H), *dparams] of sum(y * dy) + sum(state * dstate)."""
    info = _INFO[key]
    k = _kernels(key, x.dtype)
    T, B, H = y.shape
    n = T * B * H
    flat = _np(tape)
    K = flat.size // n - len(info.seq)
    slots = flat[:K * n].reshape(T, K, B, H)
    seq = {s: flat[q * n:(q + 1) * n].reshape(T, B, H) for q, s in enumerate(info.seq, K)}
    p = {name: _np(t) for name, t in zip(info.params, params, strict=True)}
    t = info.tape_type(info.cell, _np(x), p, tuple(_np(state0)), _np(y), seq, slots)
    _threads(key)
    g = k.backward(t, _np(dy), None if dstate is None else tuple(_np(dstate)))
    ds0 = g["state0"]
    base = ds0[0].base
    ds0 = base if base is not None and base.shape == (len(info.states), B, H) else numpy.stack(ds0)
    return [torch.from_numpy(g["x"]), torch.from_numpy(ds0), *(torch.from_numpy(g[name]) for name in info.params)]


@sequence_backward.register_fake
def _(key, x, params, state0, y, tape, dy, dstate):
    return [x.new_empty(x.shape), x.new_empty(state0.shape), *(p.new_empty(p.shape) for p in params)]


def _setup_context(ctx, inputs, output):
    key, x, params, state0, save = inputs
    y, _, tape = output
    ctx.key = key
    ctx.n_params = len(params)
    ctx.save_for_backward(x, state0, y, tape, *params)
    ctx.mark_non_differentiable(tape)


def _backward(ctx, dy, dstate, _dtape):
    x, state0, y, tape, *params = ctx.saved_tensors
    if dy is None:
        dy = torch.zeros_like(y)
    grads = sequence_backward(ctx.key, x, params, state0, y, tape, dy, dstate)
    return None, grads[0], grads[2:], grads[1], None


sequence.register_autograd(_backward, setup_context=_setup_context)


def run(info: CellInfo, x: torch.Tensor, params: list[torch.Tensor], state0: torch.Tensor):
    """sequence() on x, saving a tape only when autograd will need one: (y, state)."""
    save = torch.is_grad_enabled() and (x.requires_grad or state0.requires_grad
                                        or any(p.requires_grad for p in params))
    y, state, _ = sequence(info.key, x, params, state0, save)
    return y, state
