"""Load a cell's compiled C kernels with ctypes behind the generated NumPy module's API.

Every argument is validated in Python (with the NumPy runtime's own checks) and made a contiguous,
aligned array of the build's dtype before any C call, so bad input raises TypeError/ValueError and
never reaches C. The ctypes signatures come from codegen.c.api, the description the header is
printed from.
"""

from __future__ import annotations

import ctypes
import importlib
import threading

import numpy

from generated.numpy import _runtime

from ..ir import CellIR, lower
from ..render import GENERATED
from .api import functions
from .backend import c_files
from .build import compiler, library, openmp
from .printer import CTYPES

_LOADED: dict[tuple[str, str], CKernels] = {}
_NOTHING = ctypes.c_char * 0
_LOCK = threading.Lock()


def _dtype(dtype) -> numpy.dtype:
    try:
        dt = numpy.dtype(numpy.float64 if dtype is None else dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64; got {dtype!r}") from None
    if dt not in _runtime.DTYPES:
        raise TypeError(f"the C kernels are built for dtype float32 or float64; got {dt}")
    return dt


def load(cell, dtype=numpy.float64) -> CKernels:
    """The C kernels of ``cell`` (a name or Cell) for ``dtype``, compiled and cached on first use."""
    dt = _dtype(dtype)
    ir = lower(cell)
    with _LOCK:
        key = (ir.name, dt.name)
        if key not in _LOADED:
            _check_fresh(ir)
            lib = ctypes.CDLL(str(library(ir.name)))
            if openmp(tuple(compiler())):
                _single_threaded_blas(lib)
            _LOADED[key] = CKernels(ir, lib, dt)
        return _LOADED[key]


def _single_threaded_blas(lib: ctypes.CDLL) -> None:
    """Set the kernels' BLAS (when it is an OpenBLAS) to one thread: built with OpenMP, the kernels split the
    whole-sequence products among their own threads, one BLAS call per block, and a BLAS that started
    threads of its own inside them would put two busy pools on the same cores (measured 3-10x slower).

    This affects that OpenBLAS library in this process only; NumPy's own BLAS is a different library.
    """
    for name in ("scipy_openblas_set_num_threads", "openblas_set_num_threads"):
        try:
            setter = getattr(lib, name)
        except AttributeError:
            continue
        setter.argtypes, setter.restype = [ctypes.c_int], None
        setter(1)
        return


def _check_fresh(ir: CellIR) -> None:
    """The argtypes and tape layout come from ``ir``: refuse a generated source rendered from another."""
    for rel, text in c_files([ir]).items():
        path = GENERATED / rel
        if path.exists() and path.read_text() != text:
            raise RuntimeError(f"{path} is stale (it does not match the cell {ir.name!r} as defined now); "
                               "run `make kernels` (symcell generate)")


def _data(arr: numpy.ndarray) -> int:
    """The address of an array's first element (arr.ctypes.data costs 1.6 us; this 0.3 us)."""
    if arr.flags.writeable:  # a zero-length ctypes view: the cheapest way to the address
        return ctypes.addressof(_NOTHING.from_buffer(arr))
    return arr.__array_interface__["data"][0]  # read-only arrays cannot lend a writable buffer


def _c(arr: numpy.ndarray) -> numpy.ndarray:
    """``arr`` itself when C can read it as is (the common case: a flags test), else a C-ordered copy."""
    if arr.flags.c_contiguous and arr.flags.aligned:
        return arr
    return numpy.require(arr, requirements=["C", "A"])


class CKernels:
    """One cell's C kernels for one dtype, with the generated NumPy module's functions and constants."""

    def __init__(self, ir: CellIR, lib: ctypes.CDLL, dtype: numpy.dtype):
        self.CELL, self.STATES, self.GATES, self.TAPE = ir.name, ir.states, ir.gates, ir.tape
        self.dtype = dtype
        try:  # the NumPy module's own converter, so the two backends convert state_dicts alike
            self.params_from_state_dict = importlib.import_module(f"generated.numpy.{ir.name}").params_from_state_dict
        except ModuleNotFoundError:  # a cell generated only for C (tests of unregistered cells)
            self.params_from_state_dict = _runtime.params_from_state_dict
        self._G = len(ir.gates)
        # the parameter layout, passed to the NumPy runtime's checks only where it is not the standard one
        self._layout = {"recurrent_matrix": False} if not ir.recurrent_matrix else {}
        self._layout |= {"unit_params": ir.unit_params} if ir.unit_params else {}
        self._params = ir.param_names
        self._bparams = tuple(n for n in ir.param_names if n not in ("bias_ih", "bias_hh"))
        self._seq = tuple(s for s in ir.states if s != "h" and s in ir.seq_states)
        ctype = next(c for c in CTYPES if c.numpy == dtype.name)
        # Pointers are passed as addresses (c_void_p) after _addr checks dtype and layout: an ndpointer
        # argtype checks the same but costs some 4 us per array argument, a third of a small call.
        self._fn, self._kinds = {}, {}
        self._local = threading.local()  # per-thread reusable workspace (see _workspace)
        self._tapes = _runtime.TapeBuffers()  # per-thread recycled tape buffers, the NumPy modules' kind
        for f in functions(ir):
            fn = getattr(lib, f.name(f"symcell_{ir.name}", ctype if f.typed else None))
            fn.restype = ctypes.c_int if f.ret == "int" else ctypes.c_size_t
            fn.argtypes = [ctypes.c_size_t if a.kind == "size" else ctypes.c_void_p for a in f.args]
            self._fn[f.stem] = fn
            self._kinds[f.stem] = tuple("size" if a.kind == "size" else "opt" if a.optional else "ptr"
                                        for a in f.args)

    def __repr__(self) -> str:
        return f"<symcell C kernels {self.CELL} {self.dtype}>"

    def param_shapes(self, input_size, hidden_size):
        """Shapes of weight_ih, weight_hh, bias_ih, bias_hh for this cell."""
        return _runtime.param_shapes(self._G, input_size, hidden_size, **self._layout)

    def init_params(self, input_size, hidden_size, rng=None, dtype=None):
        """PyTorch's initialisation U(-1/sqrt(H), 1/sqrt(H)), in this build's dtype unless told."""
        dtype = self.dtype if dtype is None else dtype
        return _runtime.init_params(self._G, input_size, hidden_size, rng, dtype, **self._layout)

    def _same_dtype(self, name: str, dtype) -> None:
        if dtype != self.dtype:
            raise TypeError(f"{name} has dtype {dtype}, but these C kernels were built for {self.dtype}; "
                            f"load them with codegen.c.load({self.CELL!r}, numpy.{dtype})")

    def _size(self, stem: str, *sizes: int) -> int:
        n = self._fn[stem](*sizes)
        if n == 0:
            raise ValueError(f"sizes {sizes} are too large for this machine's size_t")
        return n

    def _workspace(self, n: int) -> numpy.ndarray:
        """A scratch buffer of n elements, reused across calls in this thread.

        A big buffer allocated per call is fresh memory from the OS every time, and faulting its pages
        in cost a quarter of a large forward; C never keeps a pointer to it past the call, and each
        thread has its own, so reuse is safe. It only grows, and goes with this object (or the thread).
        """
        buf = getattr(self._local, "work", None)
        if buf is None or buf.size < n:
            buf = self._local.work = numpy.empty(n, self.dtype)
        return buf[:n]

    def release(self) -> None:
        """Drop this thread's reusable buffers (workspace and last two tapes) to give their memory back; the
        next call allocates again. Arrays a caller holds are not affected."""
        self._local.__dict__.clear()
        self._tapes.release()

    def _addr(self, arr, optional: bool):
        """The address of an array C may read as this build's type; TypeError for anything else."""
        if arr is None and optional:
            return None
        if not (type(arr) is numpy.ndarray and arr.dtype == self.dtype and arr.flags.c_contiguous
                and arr.flags.aligned):
            raise TypeError(f"internal: expected a C-contiguous {self.dtype} array, got {type(arr).__name__} "
                            f"{getattr(arr, 'dtype', '')}")
        return _data(arr)

    def _call(self, stem: str, *args) -> None:
        args = [a if k == "size" else self._addr(a, k == "opt") for a, k in zip(args, self._kinds[stem], strict=True)]
        if self._fn[stem](*args) != 0:  # unreachable after validation; kept so C never fails silently
            raise RuntimeError(f"symcell_{self.CELL}_{stem} rejected its arguments")

    def _stack(self, arrays) -> numpy.ndarray:
        """The (S, B, H) arrays of a state tuple as one C-ordered array (numpy.stack costs 2.5 us; this 1)."""
        out = numpy.empty((len(arrays), *arrays[0].shape), self.dtype)
        for j, a in enumerate(arrays):
            out[j] = a
        return out

    def forward(self, x, params, state0=None, *, save=False):
        """Run the cell over a sequence: (y, state) or, with save=True, (y, state, tape); see the NumPy module."""
        x, p, s0, H = _runtime.check_forward(self._G, self.STATES, x, params, state0, **self._layout)
        self._same_dtype("x", x.dtype)
        T, B, X = x.shape
        x = _c(x)
        y = numpy.empty((T, B, H), self.dtype)
        state = numpy.empty((len(self.STATES), B, H), self.dtype)
        work = self._workspace(self._size("forward_workspace_size", T, B, X, H))
        if save:  # the tape in a recycled buffer no array refers to (see _runtime.TapeBuffers)
            slots, seq = _runtime.tape_arrays(self._tapes, T, len(self.TAPE), B, H, self._seq, self.dtype)
            flat, expected = slots.base, self._fn["tape_size"](T, B, H)
            if flat.size != expected:  # the layout the C kernels write
                raise RuntimeError(f"internal: tape of {flat.size} values, C expects {expected}")
        else:
            flat = None
        # no initial state: C reads NULL as zeros (the tape keeps check_forward's zero arrays)
        self._call("forward", T, B, X, H, x, *(_c(p[n]) for n in self._params),
                   None if state0 is None else self._stack(s0), y, state, flat, work)
        state = tuple(state)
        if not save:
            return y, state
        return y, state, _runtime.Tape(self.CELL, x, p, tuple(s0), y, seq, slots)

    def _flat_tape(self, tape, T: int, B: int, H: int) -> numpy.ndarray:
        """The tape as the one buffer C reads: a forward's own buffer (either backend's: the same layout), or a
        copy of a tape whose arrays live elsewhere."""
        K = len(self.TAPE)
        slots = _runtime.as_float_array("tape.slots", tape.slots, self.dtype)
        _runtime.expect_shape("tape.slots", slots, (T, K, B, H), "(T, K, B, H)")
        if not isinstance(tape.seq, dict) or sorted(tape.seq) != sorted(self._seq):
            raise ValueError(f"tape.seq must hold the sequences of {self._seq}")
        seq = [_runtime.as_float_array(f"tape.seq[{s!r}]", tape.seq[s], self.dtype) for s in self._seq]
        for s, a in zip(self._seq, seq, strict=True):
            _runtime.expect_shape(f"tape.seq[{s!r}]", a, (T, B, H), "(T, B, H)")
        base, n = slots.base, T * B * H
        parts = [slots, *seq]
        if (isinstance(base, numpy.ndarray) and base.shape == ((K + len(seq)) * n,) and base.dtype == self.dtype
                and base.flags.c_contiguous and base.flags.aligned
                and all(a.flags.c_contiguous and a.base is base for a in parts)):
            start = _data(base)
            if all(_data(a) == start + off * n * base.itemsize
                   for a, off in zip(parts, [0, *range(K, K + len(seq))], strict=True)):
                return base
        return numpy.concatenate([a.ravel() for a in parts]).astype(self.dtype, copy=False)

    def backward(self, tape, dy, dstate=None):
        """Gradients of sum(y * dy) + sum(state * dstate) through the taped sequence; see the NumPy module."""
        dy, D = _runtime.check_backward(self.CELL, self.STATES, tape, dy, dstate)
        self._same_dtype("tape", tape.y.dtype)
        T, B, H = tape.y.shape
        x = _runtime.as_float_array("tape.x", tape.x, self.dtype)
        if x.ndim != 3 or x.shape[:2] != (T, B):
            raise ValueError(f"tape.x must have shape (T, B, X) with (T, B) = {(T, B)}; got {x.shape}")
        X = x.shape[2]
        p, H_p = _runtime.check_params(self._G, tape.params, X, self.dtype, **self._layout)
        if H_p != H:
            raise ValueError(f"tape.params have hidden size {H_p} but tape.y has {H}")
        s0 = _runtime.check_state("tape.state0", tape.state0, self.STATES, B, H, self.dtype)
        flat = self._flat_tape(tape, T, B, H)
        out = {"x": numpy.empty((T, B, X), self.dtype), "state0": numpy.empty((len(self.STATES), B, H), self.dtype)}
        out |= {n: numpy.empty(s, self.dtype) for n, s in self.param_shapes(X, H).items()}
        work = self._workspace(self._size("backward_workspace_size", T, B, X, H))
        self._call("backward", T, B, X, H, _c(x), *(_c(p[n]) for n in self._bparams), self._stack(s0),
                   _c(tape.y), flat, _c(dy), None if dstate is None else self._stack(D), *out.values(), work)
        out["state0"] = tuple(out["state0"])
        return out

    def step(self, x_t, params, state):
        """One step for streaming inference: x_t (B, X), state tuple in STATES order (None: zeros) -> next state."""
        x_t = _runtime.as_float_array("x_t", x_t)
        if x_t.ndim != 2:
            raise ValueError(f"x_t must have shape (B, X) (2 dimensions); got shape {x_t.shape}")
        x, p, s0, H = _runtime.check_forward(self._G, self.STATES, x_t[None], params, state, **self._layout)
        self._same_dtype("x_t", x.dtype)
        _, B, X = x.shape
        nxt = numpy.empty((len(self.STATES), B, H), self.dtype)
        work = self._workspace(self._size("step_workspace_size", B, X, H))
        self._call("step", B, X, H, _c(x_t), *(_c(p[n]) for n in self._params),
                   None if state is None else self._stack(s0), nxt, work)
        return tuple(nxt)
