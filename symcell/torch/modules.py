"""symcell.torch.LSTM, GRU, RNN (drop-ins for torch.nn's) and Recurrent (any cell) as nn.Modules.

The drop-ins take torch.nn's arguments and hold torch.nn's attributes and parameters, under the same names,
registered in the same order and drawn the same way (every parameter U(-1/sqrt(H), 1/sqrt(H)), in
registration order), so the same seed gives the same weights and load_state_dict works both ways. They do
not subclass torch.nn.LSTM & co.: torch.compile deliberately breaks the graph at any instance of those.
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from . import ops, stack

_BIASES = ("bias_ih", "bias_hh")


class Recurrent(nn.Module):
    """A stack of ``cell`` layers with torch.nn.LSTM's options, through symcell's generated kernels.

    Args:
        cell: a registered cell name (``symcell.cells()``), or the name of a cell in ``path``.
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as torch.nn.LSTM's.
        path: a folder written by ``symcell generate --cell-file FILE --out DIR`` (default: the installed
            kernels).
        backend: "c" or "numpy"; default: C, or NumPy (with a warning, once) where no C compiler is found.
        device, dtype: as torch.nn.LSTM's; CPU only, float32 or float64.

    Parameters: for layer k and each of the cell's kernel parameters ``name`` (``weight_ih``, ``weight_hh``,
    ``bias_ih``, ``bias_hh``, then the cell's per-unit vectors such as ``w_ci``), ``{name}_l{k}``, and
    ``{name}_l{k}_reverse`` for the reverse direction. A cell with no recurrent matrix (indrnn) has no
    ``weight_hh``; with bias=False there are no ``bias_ih``/``bias_hh`` (the kernels get zeros).

    forward(input, hx=None) -> (output, h_n) for a one-state cell, (output, (h_n, c_n, ...)) otherwise, the
    states in the cell's STATES order, each (num_layers * num_directions, B, H); input and output as
    torch.nn.LSTM's, PackedSequence included.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *, path=None,
                 backend: str | None = None, device=None, dtype=None):
        super().__init__()
        self._check_options(input_size, hidden_size, num_layers, dropout, device, dtype)
        self._cell = ops.register(cell, path, backend)
        self.cell = cell
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        self.dropout = float(dropout)
        self.proj_size = 0
        directions = 2 if bidirectional else 1
        self._kernel_names, self._all_weights = [], []
        dtype = torch.get_default_dtype() if dtype is None else dtype
        for layer in range(num_layers):
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                x = input_size if layer == 0 else hidden_size * directions
                kernel_names, names = [], []
                for name, shape in self._cell.param_shapes(x, hidden_size).items():
                    if name in _BIASES and not bias:
                        kernel_names.append(None)
                        continue
                    full = name + suffix
                    self.register_parameter(full, nn.Parameter(torch.empty(shape, dtype=dtype)))
                    kernel_names.append(full)
                    names.append(full)
                self._kernel_names.append(kernel_names)
                self._all_weights.append(names)
        self._flat_weights_names = [n for names in self._all_weights for n in names]
        self.reset_parameters()

    def _check_options(self, input_size, hidden_size, num_layers, dropout, device, dtype):
        for what, n in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"{what} must be a positive integer; got {n!r}")
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             f"element being zeroed; got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=3)
        if device is not None and torch.device(device).type != "cpu":
            raise ValueError(f"device={device!r}: symcell.torch runs on CPU only (no GPU backend yet)")
        if (torch.get_default_dtype() if dtype is None else dtype) not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64; got {dtype!r} "
                            f"(default dtype {torch.get_default_dtype()})")

    def reset_parameters(self) -> None:
        """torch.nn.RNNBase's: every parameter U(-1/sqrt(H), 1/sqrt(H)), in registration order."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            nn.init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """torch.nn's call to pack weights for cuDNN; nothing to do here (kept so training scripts run as they are)."""

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _weights(self, dtype) -> list[list[torch.Tensor]]:
        out = []
        for names in self._kernel_names:
            params = []
            for name, kname in zip(names, self._cell.params, strict=True):
                if name is None:  # bias=False: the kernels add zeros
                    params.append(torch.zeros(self._cell.param_shapes(1, self.hidden_size)[kname], dtype=dtype))
                else:
                    params.append(getattr(self, name))
            out.append(params)
        return out

    def _check_input(self, x: torch.Tensor, dims: str) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input must be a Tensor or a PackedSequence; got {type(x).__name__}")
        if x.device.type != "cpu":
            raise ValueError(f"input is on {x.device}; symcell.torch runs on CPU tensors only (no GPU backend yet)")
        p = next(iter(self.parameters()))
        if x.dtype != p.dtype:
            raise TypeError(f"input has dtype {x.dtype} but the parameters have {p.dtype}; "
                            f"convert one of them (module.to({x.dtype}) or input.to({p.dtype}))")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input must have {self.input_size} features (input_size) in its last dimension, "
                             f"{dims}; got shape {tuple(x.shape)}")

    def _state0(self, hx, batch: int, unbatched: bool, dtype, sorted_indices):
        """hx as (num_layers * directions, S, B, H), checked; zeros for None."""
        S, LD = len(self._cell.states), self.num_layers * (2 if self.bidirectional else 1)
        if hx is None:
            return torch.zeros(LD, S, batch, self.hidden_size, dtype=dtype)
        parts = (hx,) if S == 1 and isinstance(hx, torch.Tensor) else hx
        if not isinstance(parts, (tuple, list)) or len(parts) != S:
            what = "a Tensor" if S == 1 else f"a tuple of {S} Tensors {self._cell.states}"
            raise TypeError(f"hx must be {what}; got {type(hx).__name__}")
        shape = (LD, self.hidden_size) if unbatched else (LD, batch, self.hidden_size)
        for name, t in zip(self._cell.states, parts, strict=True):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"hx ({name}) must be a Tensor; got {type(t).__name__}")
            ops._check(f"hx ({name})", t, dtype)
            if tuple(t.shape) != shape:
                raise ValueError(f"hx ({name}) must have shape {shape} (num_layers * num_directions, "
                                 f"{'' if unbatched else 'batch, '}hidden_size); got {tuple(t.shape)}")
        state0 = torch.stack([t.unsqueeze(1) if unbatched else t for t in parts], 1)
        if sorted_indices is not None:
            state0 = state0.index_select(2, sorted_indices)
        return state0

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        unbatched = False
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            self._check_input(data, "(N, input_size) for the data of a PackedSequence")
            sizes = batch_sizes.tolist()
            segs, batch = stack.segments(sizes), sizes[0]
        else:
            self._check_input(input, "(L, N, input_size), (N, L, input_size) with batch_first, or unbatched "
                                     "(L, input_size)")
            if input.dim() not in (2, 3):
                raise ValueError(f"input must have 2 (unbatched) or 3 dimensions; got shape {tuple(input.shape)}")
            unbatched = input.dim() == 2
            x = input.unsqueeze(1) if unbatched else input.transpose(0, 1) if self.batch_first else input
            T, batch = x.shape[0], x.shape[1]
            if T == 0 or batch == 0:
                raise ValueError(f"input must have at least one step and one sequence; got shape {tuple(input.shape)}")
            data, segs, sorted_indices, unsorted_indices = x.reshape(T * batch, -1), [(T, batch, 0)], None, None
        dtype = data.dtype
        state0 = self._state0(hx, batch, unbatched, dtype, sorted_indices)
        out, finals = stack.layers(self._cell, data.contiguous(), segs, self._weights(dtype), state0,
                                   self.num_layers, 2 if self.bidirectional else 1, self.dropout, self.training)
        if unsorted_indices is not None:
            finals = finals.index_select(2, unsorted_indices)
        if unbatched:
            finals = finals.squeeze(2)
        states = finals.unbind(1)
        if packed:
            output = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
        else:
            output = out.view(T, batch, -1)
            output = output.squeeze(1) if unbatched else output.transpose(0, 1) if self.batch_first else output
        return output, (states[0] if len(states) == 1 else tuple(states))


class _Builtin(Recurrent):
    """A drop-in for torch.nn's module of the same name: its signature, attributes and parameter names."""

    def __init__(self, mode: str, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        super().__init__(cell, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.mode = mode


class LSTM(_Builtin):
    """torch.nn.LSTM through symcell's ``lstm`` kernels: LSTM(input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None);
    forward(input, hx=None) -> (output, (h_n, c_n)). proj_size other than 0 is a ValueError."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        if proj_size != 0:
            raise ValueError(f"proj_size={proj_size!r} is not supported by symcell.torch.LSTM (there are no "
                             "projection kernels); use torch.nn.LSTM for an LSTM with projections")
        super().__init__("LSTM", "lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)


class GRU(_Builtin):
    """torch.nn.GRU through symcell's ``gru`` kernels (PyTorch's convention: the reset gate multiplies
    W_hn h + b_hn): GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, device=None, dtype=None); forward(input, hx=None) -> (output, h_n)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None):
        super().__init__("GRU", "gru", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)


class RNN(_Builtin):
    """torch.nn.RNN through symcell's ``rnn_tanh`` or ``rnn_relu`` kernels: RNN(input_size, hidden_size,
    num_layers=1, nonlinearity="tanh", bias=True, batch_first=False, dropout=0.0, bidirectional=False,
    device=None, dtype=None); forward(input, hx=None) -> (output, h_n)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(f"RNN_{nonlinearity.upper()}", f"rnn_{nonlinearity}", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device, dtype)
        self.nonlinearity = nonlinearity
