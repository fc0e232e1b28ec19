"""Load a cell's compiled C kernels with ctypes behind the generated NumPy module's API (runtime: numpy only).

What the loader needs of a cell (argument order, tape layout, parameter names) comes from its manifest,
generated/c/<cell>.json, written at generation time and checked against the digest the library carries;
nothing here lowers a cell, so loading needs neither SymPy nor Jinja2.

Every argument is validated in Python and made a contiguous, aligned array of the build's dtype before
any C call, so bad input raises TypeError/ValueError and never reaches C: arrays that already are what C
reads pass a one-pass check of exactly that, anything else the NumPy runtime's own checks (see CKernels).
"""

from __future__ import annotations

import ctypes
import operator
import os
import threading
from pathlib import Path

import numpy

from .cbuild import compiler, library, openmp
from .kernels.numpy import _runtime
from .manifest import Manifest
from .paths import KERNELS

_LOADED: dict[tuple[str, str, str], CKernels] = {}
_NOTHING = ctypes.c_char * 0
_LOCK = threading.Lock()
# ndarray.flags.num bits (NumPy's NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_WRITEABLE): one attribute
# read and a mask test, where three flag attributes cost twice as much
_READY = 0x0001 | 0x0100 | 0x0400


def _dtype(dtype) -> numpy.dtype:
    try:
        dt = numpy.dtype(numpy.float64 if dtype is None else dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64; got {dtype!r}") from None
    if dt not in _runtime.DTYPES:
        raise TypeError(f"the C kernels are built for dtype float32 or float64; got {dt}")
    return dt


def manifest_path(cell: str, path=None) -> Path:
    """``path``/c/<cell>.json (default: the installed kernels); ValueError naming the cells that exist."""
    if not isinstance(cell, str) or not cell.isidentifier():
        raise TypeError(f"cell must be a cell name (a string); got {cell!r}")
    directory = Path(KERNELS if path is None else path)
    file = directory / "c" / f"{cell}.json"
    if not file.is_file():
        known = sorted(p.stem for p in (directory / "c").glob("*.json"))
        raise ValueError(f"no C kernels for cell {cell!r} in {directory}"
                         + (f" (it has {', '.join(known)})" if known else " (it has none)")
                         + "; generate a cell of your own with `symcell generate --cell-file FILE --out DIR` "
                         "and load it with path=DIR")
    return file


def load(cell: str, dtype=numpy.float64, path=None) -> CKernels:
    """The C kernels of ``cell`` for ``dtype``, compiled and cached on first use.

    ``path`` is a folder ``symcell generate --out`` wrote; default: the installed kernels.
    """
    dt = _dtype(dtype)
    file = manifest_path(cell, path)
    with _LOCK:
        key = (str(file.resolve()), dt.name)
        if key not in _LOADED:
            manifest = Manifest.read(file)
            so = library(cell, file.parent.parent)
            lib = ctypes.CDLL(str(so))
            check = lib[f"symcell_{cell}_manifest_sha256"]
            check.argtypes, check.restype = [], ctypes.c_char_p
            manifest.check(check().decode(), str(so))
            if openmp(tuple(compiler())):
                _single_threaded_blas(lib)
                _OPENMP.add(lib)
            _LOADED[key] = CKernels(manifest, lib, dt, _state_dict_converter(cell, path))
        return _LOADED[key]


def _state_dict_converter(cell: str, path):
    """The NumPy module's params_from_state_dict, so the two backends convert state_dicts alike."""
    from . import numpy_module

    try:
        return numpy_module(cell, path).params_from_state_dict
    except (ValueError, ImportError):  # a cell generated only for C (tests of unregistered cells)
        return _runtime.params_from_state_dict


#: Libraries built with OpenMP (they share one OpenMP runtime, the compiler's), for the fork handlers below.
_OPENMP: set[ctypes.CDLL] = set()
#: omp_pause_resource_all's omp_pause_soft (OpenMP 5.0).
_OMP_PAUSE_SOFT = 1


def _openmp_before_fork() -> None:
    """Before os.fork (and multiprocessing's fork start, DataLoader workers): stop this thread's OpenMP team.

    GNU libgomp keeps each thread's team of worker threads for reuse and knows nothing of fork: a child
    inherits the forking thread's team record but not its threads, and its first parallel region waits for
    them forever. omp_pause_resource_all (OpenMP 5.0) ends the team first, so a child starts a new one, as
    every thread in the parent does on its next call (a few threads created once per fork; teams of other
    threads are theirs, and their threads do not exist in a child). A runtime that cannot pause says so (a
    nonzero result, or no such function): then the child runs its kernels on one thread (after_in_child).
    """
    global _PAUSE_FAILED
    _PAUSE_FAILED = False
    for lib in tuple(_OPENMP)[:1]:  # one OpenMP runtime serves them all
        try:
            pause = lib.omp_pause_resource_all
        except AttributeError:
            _PAUSE_FAILED = True
            return
        pause.argtypes, pause.restype = [ctypes.c_int], ctypes.c_int
        _PAUSE_FAILED = pause(_OMP_PAUSE_SOFT) != 0


def _openmp_after_fork_in_child() -> None:
    """In a child whose parent could not end its OpenMP team: one thread for the forking thread's regions
    (libgomp starts no team for one thread, so the stale one is never waited for); results are the same bits."""
    if _PAUSE_FAILED:
        for lib in tuple(_OPENMP)[:1]:
            lib.omp_set_num_threads.argtypes = [ctypes.c_int]
            lib.omp_set_num_threads(1)


_PAUSE_FAILED = False
os.register_at_fork(before=_openmp_before_fork, after_in_child=_openmp_after_fork_in_child)


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


def _ready(arr, dtype) -> bool:
    """Whether C can read ``arr`` in place with no copy and no further check but its shape: an ndarray (no
    subclass) of ``dtype``, C-contiguous, aligned and writable (a zero-length ctypes view needs a writable
    buffer; a read-only array takes forward's and backward's full path)."""
    return type(arr) is numpy.ndarray and arr.dtype == dtype and arr.flags.num & _READY == _READY


class CKernels:
    """One cell's C kernels for one dtype, with the generated NumPy module's functions and constants.

    forward and backward take one of two paths to C. When every argument already is what C reads (ndarrays
    of this build's dtype and of the shapes the others imply, C-contiguous, aligned, writable: what a
    training loop passes), the _ready_* methods check exactly that, in one pass, and hand C the arrays
    themselves: 25 us of Python per forward+backward of a small LSTM (T=100, B=1, H=40; C stubbed out) where
    the general path takes 48, and the C 120. Anything else takes the general path: the NumPy runtime's
    checks, which name what is wrong, then C-ordered copies. The ready path accepts nothing the general
    one refuses (tests/test_c_loader.py compares the two on good and bad input), so it changes the time of
    a call, never its outcome.
    """

    def __init__(self, manifest: Manifest, lib: ctypes.CDLL, dtype: numpy.dtype, params_from_state_dict=None):
        m = manifest
        self.CELL, self.STATES, self.GATES, self.TAPE = m.cell, m.states, m.gates, m.tape
        self.dtype = dtype
        self.params_from_state_dict = params_from_state_dict or _runtime.params_from_state_dict
        self._G = len(m.gates)
        # the parameter layout, passed to the NumPy runtime's checks only where it is not the standard one
        self._layout = {"recurrent_matrix": False} if not m.recurrent_matrix else {}
        self._layout |= {"unit_params": m.unit_params} if m.unit_params else {}
        self._params = m.params
        if tuple(self.param_shapes(1, 1)) != self._params:  # the ready path checks params in C's order
            raise RuntimeError(f"internal: {m.cell}'s params are not in param_shapes' order")
        self._bparams = tuple(n for n in m.params if n not in ("bias_ih", "bias_hh"))
        self._seq = tuple(s for s in m.states if s != "h" and s in m.seq_states)
        # an (S, B, H) array as a tuple of its S rows: tuple(array) iterates, at 0.35 us a row; this 0.08
        self._rows = (lambda a: (a[0],)) if len(m.states) == 1 else operator.itemgetter(*range(len(m.states)))
        self._shape_cache: dict[tuple[int, int], tuple] = {}  # see _shapes
        # Pointers are passed as zero-length ctypes views (or addresses) of arrays _ready accepted or _pointer
        # checked: an ndpointer argtype checks the same but costs some 4 us per
        # array argument, a third of a small call.
        self._fn = {}
        self._sizes: dict[tuple, int] = {}  # results of the size functions (see _sized)
        self._local = threading.local()  # per-thread reusable workspace (see _workspace)
        self._tapes = _runtime.TapeBuffers()  # per-thread recycled tape buffers, the NumPy modules' kind
        for f in m.functions:
            fn = getattr(lib, f.symbol(m.cell, dtype.name))
            fn.restype = ctypes.c_int if f.ret == "int" else ctypes.c_size_t
            fn.argtypes = [ctypes.c_size_t if a.kind == "size" else ctypes.c_void_p for a in f.args]
            self._fn[f.stem] = fn

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
                            f"load them with symcell.load({self.CELL!r}, \"c\", dtype=numpy.{dtype})")

    def _sized(self, stem: str, sizes: tuple) -> int:
        """A size function's result, asked of C once per shape: they are pure, and a dict look-up costs a
        fifth of a ctypes call. The cache is dropped whole past 256 shapes."""
        key = (stem, sizes)
        n = self._sizes.get(key)
        if n is None:
            n = self._fn[stem](*sizes)
            if len(self._sizes) >= 256:
                self._sizes.clear()
            self._sizes[key] = n
        return n

    def _workspace(self, stem: str, sizes: tuple):
        """A scratch buffer of the elements the size function ``stem`` asks for at ``sizes``, reused across
        calls in this thread, as a ctypes view.

        A big buffer allocated per call is fresh memory from the OS every time, and faulting its pages
        in cost a quarter of a large forward; C never keeps a pointer to it past the call, and each
        thread has its own, so reuse is safe. It only grows, and goes with this object (or the thread).
        The view (which keeps the buffer) is made once per buffer, not per call: no caller ever sees it.
        """
        n = self._sized(stem, sizes)
        if n == 0:
            raise ValueError(f"sizes {sizes} are too large for this machine's size_t")
        work = getattr(self._local, "work", None)
        if work is None or work[0] < n:
            work = self._local.work = (n, _NOTHING.from_buffer(numpy.empty(n, self.dtype)))
        return work[1]

    def release(self) -> None:
        """Drop this thread's reusable buffers (workspace and last two tapes) to give their memory back; the
        next call allocates again. Arrays a caller holds are not affected."""
        self._local.__dict__.clear()
        self._tapes.release()

    def _rejected(self, stem: str) -> RuntimeError:
        """The error for a C call that returned nonzero: unreachable after validation, raised so that C never
        fails silently. (The calls are written out where they are made: a helper packing and unpacking their
        arguments once more cost 0.3 us a call.)"""
        return RuntimeError(f"symcell_{self.CELL}_{stem} rejected its arguments")

    def _stack(self, arrays) -> numpy.ndarray:
        """The (B, H) arrays of a checked state tuple as one new C-ordered (S, B, H) array (numpy.stack costs
        2.5 us, an empty array filled row by row 1, numpy.array 0.6)."""
        return numpy.array(arrays, self.dtype)

    def _shapes(self, X: int, H: int) -> tuple:
        """param_shapes(X, H) as (name, shape) pairs, kept per (X, H) (immutable; dropped whole past 256)."""
        shapes = self._shape_cache.get((X, H))
        if shapes is None:
            if len(self._shape_cache) >= 256:
                self._shape_cache.clear()
            shapes = self._shape_cache[X, H] = tuple(self.param_shapes(X, H).items())
        return shapes

    def _ready_params(self, params, X: int):
        """``params`` as check_params would return them, if every one is ready for C (see _ready) and of
        the shape X and the hidden size bias_hh implies make; else None. Then check_params would accept them
        with that hidden size (every parameter's shape implies it), which is returned too. (A cell with no
        bias_hh would always take the general path.)"""
        if type(params) is not dict or len(params) != len(self._params):  # then no key is unknown
            return None
        b = params.get("bias_hh")
        if type(b) is not numpy.ndarray or b.ndim != 1 or b.shape[0] < self._G:
            return None
        H, dt, p = b.shape[0] // self._G, self.dtype, {}
        for n, shape in self._shapes(X, H):
            a = params.get(n)
            if not (_ready(a, dt) and a.shape == shape):
                return None
            p[n] = a
        return p, H

    def _ready_state(self, state, B: int, H: int):
        """A state tuple as check_state would return it, if it holds len(STATES) (B, H) ndarrays of this
        build's dtype (any layout: C reads a stacked copy); else None."""
        if (type(state) is not tuple and type(state) is not list) or len(state) != len(self.STATES):
            return None
        for a in state:
            if type(a) is not numpy.ndarray or a.dtype != self.dtype or a.shape != (B, H):
                return None
        return tuple(state)

    def _pointer(self, arr, optional: bool = False):
        """An array C may read as this build's type, as ctypes passes it: a view or pointer that keeps the array
        alive until C returns (a copy made for C may have no other reference); None for an optional None;
        TypeError for anything else (the last guard before C)."""
        if arr is None and optional:
            return None
        if not (type(arr) is numpy.ndarray and arr.dtype == self.dtype and arr.flags.c_contiguous
                and arr.flags.aligned):
            raise TypeError(f"internal: expected a C-contiguous {self.dtype} array, got {type(arr).__name__} "
                            f"{getattr(arr, 'dtype', '')}")
        if arr.flags.writeable:
            return _NOTHING.from_buffer(arr)
        return arr.ctypes.data_as(ctypes.c_void_p)  # read-only arrays cannot lend a writable buffer

    def _ready_forward(self, x, params, state0):
        """(x, params, state0, H, C's x to state0 arguments) when forward's arguments are ready for C, else
        None: the cases check_forward accepts with no conversion, checked in a fraction of its time."""
        if not (_ready(x, self.dtype) and x.ndim == 3):
            return None
        T, B, X = x.shape
        got = None if min(T, B, X) < 1 else self._ready_params(params, X)
        if got is None:
            return None
        p, H = got
        if state0 is None:  # C reads NULL as zeros; the tape keeps (B, H) zero arrays, as check_forward returns
            s0, c_s0 = self._rows(numpy.zeros((len(self.STATES), B, H), self.dtype)), None
        else:
            s0 = self._ready_state(state0, B, H)
            if s0 is None:
                return None
            c_s0 = _NOTHING.from_buffer(self._stack(s0))
        # map, not a generator expression, over the params in C's order (_ready_params builds p in it): 0.3 us
        return x, p, s0, H, (_NOTHING.from_buffer(x), *map(_NOTHING.from_buffer, p.values()), c_s0)

    def _checked_forward(self, x, params, state0):
        """_ready_forward's result for any arguments the NumPy module accepts (C-ordered copies where
        needed); the NumPy runtime's exception for anything else."""
        x, p, s0, H = _runtime.check_forward(self._G, self.STATES, x, params, state0, default=self.dtype,
                                             **self._layout)
        self._same_dtype("x", x.dtype)
        x = _c(x)
        return x, p, tuple(s0), H, (self._pointer(x), *(self._pointer(_c(p[n])) for n in self._params),
                                    None if state0 is None else self._pointer(self._stack(s0)))

    def forward(self, x, params, state0=None, *, save=False):
        """Run the cell over a sequence: (y, state) or, with save=True, (y, state, tape); see the NumPy module."""
        x, p, s0, H, c_args = self._ready_forward(x, params, state0) or self._checked_forward(x, params, state0)
        T, B, X = x.shape
        dt = self.dtype
        y = numpy.empty((T, B, H), dt)
        state = numpy.empty((len(self.STATES), B, H), dt)
        work = self._workspace("forward_workspace_size", (T, B, X, H))
        if save:  # the tape in a recycled buffer no array refers to (see _runtime.TapeBuffers)
            slots, seq = _runtime.tape_arrays(self._tapes, T, len(self.TAPE), B, H, self._seq, dt)
            flat, expected = slots.base, self._sized("tape_size", (T, B, H))
            if flat.size != expected:  # the layout the C kernels write
                raise RuntimeError(f"internal: tape of {flat.size} values, C expects {expected}")
            flat = _NOTHING.from_buffer(flat)
        else:
            flat = None
        if self._fn["forward"](T, B, X, H, *c_args, _NOTHING.from_buffer(y), _NOTHING.from_buffer(state), flat, work):
            raise self._rejected("forward")
        state = self._rows(state)
        if not save:
            return y, state
        return y, state, _runtime.Tape(self.CELL, x, p, s0, y, seq, slots)

    def _ready_tape(self, slots, seq, T: int, B: int, H: int):
        """A ctypes view of the one buffer C reads when ``slots`` and ``seq`` are the views forward made of
        it (either backend's: the same layout), each where C expects it; else None."""
        K, dt, n = len(self.TAPE), self.dtype, T * B * H
        if not (_ready(slots, dt) and slots.shape == (T, K, B, H) and type(seq) is dict
                and len(seq) == len(self._seq)):
            return None
        base = slots.base
        if not (_ready(base, dt) and base.shape == ((K + len(self._seq)) * n,)):
            return None
        view = _NOTHING.from_buffer(base)
        start, step = ctypes.addressof(view), n * base.itemsize
        if ctypes.addressof(_NOTHING.from_buffer(slots)) != start:
            return None
        for q, s in enumerate(self._seq, K):
            a = seq.get(s)
            if not (_ready(a, dt) and a.base is base and a.shape == (T, B, H)
                    and ctypes.addressof(_NOTHING.from_buffer(a)) == start + q * step):
                return None
        return view

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

    def _ready_backward(self, tape, dy, dstate):
        """(T, B, X, H, C's x to dstate arguments) when backward's arguments are ready for C (a tape as a
        forward of these kernels or the NumPy module's left it, cotangents of this build's dtype), else None:
        the cases the general path accepts with no conversion, checked in a fraction of its time."""
        dt = self.dtype
        if type(tape) is not _runtime.Tape or tape.cell != self.CELL:
            return None
        x, y = tape.x, tape.y
        if not (_ready(y, dt) and y.ndim == 3 and _ready(dy, dt) and dy.shape == y.shape
                and _ready(x, dt) and x.ndim == 3):
            return None
        (T, B, H), X = y.shape, x.shape[2]
        got = self._ready_params(tape.params, X) if x.shape[:2] == (T, B) and min(T, B, X) >= 1 else None
        if got is None or got[1] != H:
            return None
        p = got[0]
        s0 = self._ready_state(tape.state0, B, H)
        D = None if dstate is None else self._ready_state(dstate, B, H)
        if s0 is None or (D is None and dstate is not None):
            return None
        flat = self._ready_tape(tape.slots, tape.seq, T, B, H)
        if flat is None:
            return None
        bparams = map(p.__getitem__, self._bparams)
        return T, B, X, H, (_NOTHING.from_buffer(x), *map(_NOTHING.from_buffer, bparams),
                            _NOTHING.from_buffer(self._stack(s0)), _NOTHING.from_buffer(y), flat,
                            _NOTHING.from_buffer(dy), None if D is None else _NOTHING.from_buffer(self._stack(D)))

    def _checked_backward(self, tape, dy, dstate):
        """_ready_backward's result for any arguments the NumPy module accepts (copies where needed); a clear
        exception for anything else."""
        dy, D = _runtime.check_backward(self.CELL, self.STATES, tape, dy, dstate)
        self._same_dtype("tape", tape.y.dtype)
        T, B, H = tape.y.shape
        y = _runtime.as_float_array("tape.y", tape.y, self.dtype)
        x = _runtime.as_float_array("tape.x", tape.x, self.dtype)
        if x.ndim != 3 or x.shape[:2] != (T, B):
            raise ValueError(f"tape.x must have shape (T, B, X) with (T, B) = {(T, B)}; got {x.shape}")
        X = x.shape[2]
        p, H_p = _runtime.check_params(self._G, tape.params, X, self.dtype, **self._layout)
        if H_p != H:
            raise ValueError(f"tape.params have hidden size {H_p} but tape.y has {H}")
        s0 = _runtime.check_state("tape.state0", tape.state0, self.STATES, B, H, self.dtype)
        flat = self._flat_tape(tape, T, B, H)
        return T, B, X, H, (self._pointer(_c(x)), *(self._pointer(_c(p[n])) for n in self._bparams),
                            self._pointer(self._stack(s0)), self._pointer(_c(y)), self._pointer(flat),
                            self._pointer(_c(dy)), None if dstate is None else self._pointer(self._stack(D)))

    def backward(self, tape, dy, dstate=None):
        """Gradients of sum(y * dy) + sum(state * dstate) through the taped sequence; see the NumPy module."""
        T, B, X, H, c_args = self._ready_backward(tape, dy, dstate) or self._checked_backward(tape, dy, dstate)
        dt = self.dtype
        dx, dstate0 = numpy.empty((T, B, X), dt), numpy.empty((len(self.STATES), B, H), dt)
        grads = {n: numpy.empty(s, dt) for n, s in self._shapes(X, H)}
        work = self._workspace("backward_workspace_size", (T, B, X, H))
        if self._fn["backward"](T, B, X, H, *c_args, _NOTHING.from_buffer(dx), _NOTHING.from_buffer(dstate0),
                                *map(_NOTHING.from_buffer, grads.values()), work):
            raise self._rejected("backward")
        return {"x": dx, "state0": self._rows(dstate0), **grads}

    def step(self, x_t, params, state):
        """One step for streaming inference: x_t (B, X), state tuple in STATES order (None: zeros) -> next state.

        Arguments that already are what C reads take forward's one-pass check (_ready_forward, on x_t as a
        sequence of one step): a small LSTM step (B = 1, X = 1, H = 40, float32, C included) 22.2 -> 11.5 us, one
        core, medians of 15 alternating timeit rounds against the full checks. Anything else takes _checked_step,
        with the NumPy module's checks and errors (tests/test_c_loader.py compares the two)."""
        ready = self._ready_forward(x_t[None], params, state) if type(x_t) is numpy.ndarray and x_t.ndim == 2 else None
        x, _, _, H, c_args = ready or self._checked_step(x_t, params, state)
        _, B, X = x.shape
        nxt = numpy.empty((len(self.STATES), B, H), self.dtype)
        work = self._workspace("step_workspace_size", (B, X, H))
        if self._fn["step"](B, X, H, *c_args, _NOTHING.from_buffer(nxt), work):
            raise self._rejected("step")
        return self._rows(nxt)

    def _checked_step(self, x_t, params, state):
        """_ready_forward's result for step's arguments, for any the NumPy module accepts (C-ordered copies
        where needed); the NumPy runtime's exception, naming x_t, for anything else."""
        x_t = _runtime.as_float_array("x_t", x_t, default=self.dtype)
        if x_t.ndim != 2:
            raise ValueError(f"x_t must have shape (B, X) (2 dimensions); got shape {x_t.shape}")
        x, p, s0, H = _runtime.check_forward(self._G, self.STATES, x_t[None], params, state, **self._layout)
        self._same_dtype("x_t", x.dtype)
        return x, p, s0, H, (self._pointer(_c(x_t)), *(self._pointer(_c(p[n])) for n in self._params),
                             None if state is None else self._pointer(self._stack(s0)))
