"""The fixed-size C variant for embedded and real-time use: sizes are compile-time constants.

One .c/.h pair per model: a params struct (PyTorch layout; optionally baked in as a ``const``
instance), a caller-owned state struct that also holds the step's scratch, and a streaming
``<name>_step`` for batch 1 with an optional dense head (H -> N). No malloc, no mutable globals:
two models (or two instances of one) are two state structs. The per-unit math is the same printed
CSE'd kernels as everywhere else.
"""

from __future__ import annotations

import numpy

from ..ir import lower
from ..render import render
from . import approx
from .api import param_arg
from .context import layout
from .printer import DOUBLE, FLOAT, c_name, print_kernel


def _bindings(ir, H: int) -> dict[str, str | None]:
    """Names a forward kernel reads or writes, for unit ``sc_j`` of the one batch row."""
    b: dict[str, str | None] = {s: f"sc_s->{c_name(s)}[sc_j]" for s in ir.states}
    b |= {f"next_{s}": f"sc_s->{c_name(s)}[sc_j]" for s in ir.states}  # in place: inputs are loaded first
    b |= {name: None for name in ir.tape} | {f"tape_{name}": None for name in ir.tape}
    b |= {name: f"sc_s->sc_keep[{i}][sc_j]" for i, name in enumerate(_kept(ir))}
    b |= {f"m_{g}": f"sc_s->sc_m[{i}][sc_j]" for i, g in enumerate(ir.stage2_gates)}
    b |= {n: f"sc_p->{param_arg(n)}[sc_j]" for n in ir.unit_params}
    for k, g in enumerate(ir.gates):
        b[f"gi_{g}"] = f"sc_s->sc_gi[{k * H} + sc_j]"
        b[f"gh_{g}"] = f"sc_s->sc_gh[{k * H} + sc_j]"
    return b


def packed(ir, weights: dict, X: int, H: int) -> dict[str, numpy.ndarray]:
    """The streaming layout of ``weights`` (as ``<name>_pack`` builds it in C), keyed by packed field.

    Every matrix is stored transposed, (inputs, outputs), so the matrix-vector loop's inner loop runs
    over all gates' outputs at once: ``wx`` (X, G*H) from weight_ih, ``wh`` (H, G1*H) from the rows of
    weight_hh that multiply h, ``wm`` (one (H, H) block per second-stage gate) from those that multiply
    its hidden input. Biases, per-unit parameters and the dense head keep their layout.
    """
    G, G1 = len(ir.gates), len(ir.stage1_gates)
    out = {"wx": numpy.asarray(weights["weight_ih"]).reshape(G * H, X).T}
    if ir.recurrent_matrix:
        whh = numpy.asarray(weights["weight_hh"]).reshape(G * H, H)
        out["wh"] = whh[:G1 * H].T
        if ir.stage2_gates:
            out["wm"] = numpy.stack([whh[g * H:(g + 1) * H].T for g in (ir.gates.index(n) for n in ir.stage2_gates)])
    return out | {k: numpy.asarray(v) for k, v in weights.items() if k not in ("weight_ih", "weight_hh")}


def param_shapes(ir, X: int, H: int) -> dict[str, tuple[int, ...]]:
    """The shapes of the cell's params, in ``param_names`` order (PyTorch's for the standard four)."""
    G = len(ir.gates)
    standard = {"weight_ih": (G * H, X), "weight_hh": (G * H, H), "bias_ih": (G * H,), "bias_hh": (G * H,)}
    return {n: standard.get(n, (H,)) for n in ir.param_names}


def _kept(ir) -> list[str]:
    """Tape values forward_hidden computes and forward reads: with no tape they need a scratch slot."""
    return [n for n in ir.tape if n in ir.forward.inputs and n in ir.forward_hidden.defined]


def _literal(v: float, single: bool) -> str:
    """The shortest decimal that reads back as the same value (as float when ``single``)."""
    if single:
        return str(numpy.float32(v)) + "f"
    return repr(float(v))


def _rows(arr: numpy.ndarray, single: bool) -> list[str]:
    """The values of a flat array's initializer, one line per matrix row (a vector is one row)."""
    limit = numpy.finfo(numpy.float32 if single else numpy.float64).max
    if not numpy.all(numpy.abs(arr) <= limit):  # also catches NaN
        raise ValueError(f"weights must be finite {'float' if single else 'double'} values")
    rows = arr.reshape(1, -1) if arr.ndim == 1 else arr
    return [", ".join(_literal(v, single) for v in row) for row in rows]


def generate(cell, input_size: int, hidden_size: int, weights: dict | None = None, dense: int | None = None,
             name: str | None = None, dtype: str = "float") -> dict[str, str]:
    """{file name: text} for ``<name>.h`` and ``<name>.c`` (name defaults to ``<cell>_model``)."""
    ir = lower(cell)
    for what, n in (("input size", input_size), ("hidden size", hidden_size), ("dense size", dense)):
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ValueError(f"{what} must be a positive integer; got {n!r}")
    if dtype not in ("float", "double"):
        raise ValueError(f"dtype must be 'float' or 'double'; got {dtype!r}")
    name = name or f"{ir.name}_model"
    if not (name.isidentifier() and name.isascii()) or c_name(name) != name:
        raise ValueError(f"model name {name!r} is not a usable C identifier")
    ctype = FLOAT if dtype == "float" else DOUBLE
    X, H = input_size, hidden_size
    lay = layout(ir)
    shapes = param_shapes(ir, X, H)
    if dense:
        shapes |= {"dense_weight": (dense, H), "dense_bias": (dense,)}
    # a per-unit parameter w is the field p_w
    # (params key, struct field, element count, shape): matrices are flat row-major arrays, so the
    # matrix-vector loops index them within one array object (rows of a 2-D member would not be)
    fields = [(k, param_arg(k) if k in ir.unit_params else k, int(numpy.prod(s)),
               f"{s[0]} x {s[1]}, row-major" if len(s) == 2 else f"{s[0]} values") for k, s in shapes.items()]
    G, G1, NM = len(ir.gates), len(ir.stage1_gates), len(ir.stage2_gates)
    # the streaming layout (see packed()): (packed key, struct field, element count, what it holds)
    pfields = [("wx", "wx", X * G * H, f"{X} x {G * H}: weight_ih transposed")]
    if ir.recurrent_matrix:
        pfields.append(("wh", "wh", H * G1 * H, f"{H} x {G1 * H}: weight_hh's first {G1 * H} rows transposed"))
        if NM:
            pfields.append(("wm", "wm", NM * H * H, f"{NM} x {H} x {H}: weight_hh's rows of gates "
                            f"{', '.join(ir.stage2_gates)}, each block transposed"))
    pfields += [f for f in fields if f[0] not in ("weight_ih", "weight_hh")]
    baked = baked_packed = None
    if weights is not None:
        missing = [k for k in shapes if k not in weights]
        if missing:
            raise ValueError(f"weights lack {missing}")
        baked = [(field, _rows(numpy.asarray(weights[k]), ctype is FLOAT)) for k, field, _, _ in fields]
        pw = packed(ir, {k: weights[k] for k in shapes}, X, H)
        baked_packed = [(field, _rows(pw[k].reshape(-1, pw[k].shape[-1]) if pw[k].ndim > 1 else pw[k],
                                      ctype is FLOAT)) for k, field, _, _ in pfields]
    fast = ctype is FLOAT

    def shape(rows: int, cols: int) -> tuple[int, int]:
        """(outputs per block, chains) of a matrix-vector product: all outputs in one block up to 128
        (8 AVX-512 vectors of floats), else the largest power of two up to 128 dividing ``rows`` (no
        tails); chains (partial sums over k mod nc) so that about 8 vectors of sums are in flight."""
        nb = rows if rows <= 128 else next(n for n in (128, 64, 32, 16, 8, 4, 2, 1) if rows % n == 0)
        return nb, next(nc for nc in (4, 2, 1) if nc <= max(1, min(128 // nb, cols)))

    def block(rows: int, cols: int) -> str:
        nb, nc = shape(rows, cols)
        return f"{nb}_{nc}"

    used = [(G * H, X)] + ([(G1 * H, H)] if ir.recurrent_matrix else []) + ([(H, H)] if NM else [])
    ctx = {
        **lay,
        "name": name,
        "NAME": name.upper(),
        "c": ctype,
        "R": ctype.name,
        "X": X,
        "H": H,
        "dense": dense,
        "OUT": dense or H,
        "fields": fields,
        "state_fields": [c_name(s) for s in ir.states],
        "NKEEP": len(_kept(ir)),
        "baked": baked,
        "pfields": pfields,
        "block": block,
        "blocks": sorted({shape(*u) for u in used}),
        "baked_packed": baked_packed,
        "fast": {"tanh": approx.tanh_lines(), "sigmoid": approx.sigmoid_lines(), "bound": approx.MAX_ABS_ERROR}
        if fast else None,
        "FMA": "fmaf" if fast else "fma",
        "FAST_FMA": "FP_FAST_FMAF" if fast else "FP_FAST_FMA",
        "forward_hidden": print_kernel(ir.forward_hidden, _bindings(ir, H), ctype, fast) if ir.forward_hidden else [],
        "forward": print_kernel(ir.forward, _bindings(ir, H), ctype, fast),
    }
    return {f"{name}.h": render("c/fixed.h.jinja", **ctx), f"{name}.c": render("c/fixed.c.jinja", **ctx)}
