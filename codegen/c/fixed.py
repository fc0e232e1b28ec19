"""The fixed-size C variant for embedded and real-time use: sizes are compile-time constants.

One .c/.h pair per model: a params struct (PyTorch layout; optionally baked in as a ``const``
instance), a caller-owned state struct that also holds the step's scratch, and a streaming
``<name>_step`` for batch 1 with an optional dense head (H -> N). No malloc, no mutable globals:
two models (or two instances of one) are two state structs. The per-unit math is the same printed
CSE'd kernels as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy

from ..ir import lower, next_name, symbol_name
from ..render import render
from . import approx
from .api import param_arg
from .context import layout
from .limits import check_fixed_sizes
from .printer import DOUBLE, FLOAT, c_name, print_kernel


def _bindings(ir, H: int, groups: Groups | None = None, tail: bool = False) -> dict[str, str | None]:
    """Names a forward kernel reads or writes, for unit ``sc_j`` of the one batch row.

    With ``groups``, for a unit of the group starting at unit ``sc_u`` (of the tail group when ``tail``):
    its gates are where that group's blocks of the input and recurrent products put them (buffers of
    one group: less data for L1 to hold besides the weights), and the new h goes to scratch (later
    groups' products still read the old h).
    """
    b: dict[str, str | None] = {symbol_name(s): f"sc_s->{c_name(s)}[sc_j]" for s in ir.states}
    b |= {next_name(s): f"sc_s->{c_name(s)}[sc_j]" for s in ir.states}  # in place: inputs are loaded first
    if groups:
        b["next_h"] = "sc_s->sc_hn[sc_j]"
    b |= {name: None for name in ir.tape} | {f"tape_{name}": None for name in ir.tape}
    b |= {name: f"sc_s->sc_keep[{i}][sc_j]" for i, name in enumerate(_kept(ir))}
    b |= {f"m_{symbol_name(g)}": f"sc_s->sc_m[{i}][sc_j]" for i, g in enumerate(ir.stage2_gates)}
    b |= {symbol_name(n): f"sc_p->{param_arg(n)}[sc_j]" for n in ir.unit_params}
    for k, g in enumerate(ir.gates):
        b[f"gi_{symbol_name(g)}"] = f"sc_s->sc_gi[{k * H} + sc_j]"
        b[f"gh_{symbol_name(g)}"] = f"sc_s->sc_gh[{k * H} + sc_j]"
        if groups:  # the group's gates, k * (its size) + (sc_j - its first unit), in per-group buffers
            first, size = (groups.full * groups.U, groups.tail) if tail else ("sc_u", groups.U)
            b[f"gi_{symbol_name(g)}"] = f"sc_s->sc_gi[{k * size} + sc_j - {first}]"
            b[f"gh_{symbol_name(g)}"] = f"sc_s->sc_gh[{k * size} + sc_j - {first}]"
    return b


@dataclass(frozen=True)
class Groups:
    """The units in groups of ``U`` (and a last one of ``tail``) for a recurrent product that is
    interleaved with the per-unit code: its packed rows go group by group (each group's rows of every
    gate, gate by gate), one block per group, so each group's gates are ready while the next group's
    block still runs. The per-unit code's latency (activations, divisions) then hides under the next
    block's FMAs and, when the matrix does not fit in L1, under its wait for L2.
    """

    G: int
    H: int
    U: int

    @property
    def full(self) -> int:
        return self.H // self.U

    @property
    def tail(self) -> int:
        return self.H % self.U

    def perm(self) -> list[int]:
        """Weight row of each packed row."""
        return [g * self.H + j for q in range(0, self.H, self.U) for g in range(self.G)
                for j in range(q, min(self.H, q + self.U))]

    def row(self, r: str) -> str:
        """The C expression of the packed row of weight row ``r`` (gate r / H, unit r % H)."""
        j = f"{r} % {self.H}"
        size = str(self.U) if not self.tail else f"({j} < {self.full * self.U} ? {self.U} : {self.tail})"
        return f"{j} / {self.U} * {self.G * self.U} + {r} / {self.H} * {size} + {j} % {self.U}"


def tree(terms: list[str]) -> str:
    """The C sum of ``terms`` as a balanced tree of additions (a fixed order, log-depth latency)."""
    if len(terms) == 1:
        return terms[0]
    half = (len(terms) + 1) // 2
    return f"({tree(terms[:half])} + {tree(terms[half:])})"


@dataclass(frozen=True)
class Kernel:
    """One block kernel: out[l] = b[l] + sum_k W[k][l] v[k] for l < nb, k < K (W: K x nb, k-major), the
    sums in ``nc`` chains (k mod nc)."""

    nb: int
    K: int
    nc: int

    @property
    def name(self) -> str:
        return f"sc_mv{self.nb}x{self.K}_{self.nc}"

    def chain_sum(self) -> str:
        """The C sum of output l's chains."""
        return tree([f"a{c}[l]" for c in range(self.nc)])


@dataclass(frozen=True)
class Matvec:
    """One matrix-vector product of a step, out = b + W v with W (rows, cols), and how it is blocked.

    Outputs go in blocks of ``nb`` (the last one may be a shorter ``tail``) whose sums stay in registers
    as chains (partial sums over k mod nc), so that about ``ACC`` vectors of sums are in flight
    (a vector FMA's latency times the FMAs a core starts per cycle). The packed matrix is block-major:
    for each block, for each k, the block's outputs side by side, so a step reads it as one sequential
    stream. ``flip``: a product too big for L1 runs its blocks last to first on odd steps, so that it
    starts with the blocks the step before read last, still in L1 (each output's sum is the same to
    the bit either way: only the order of the blocks changes).
    """

    rows: int
    cols: int
    nb: int
    flip: bool = False

    @property
    def full(self) -> int:
        """Blocks of nb outputs."""
        return self.rows // self.nb

    @property
    def tail(self) -> int:
        """Outputs of the last, shorter block (0: none)."""
        return self.rows % self.nb

    def kernel(self, nb: int) -> Kernel:
        """The kernel of a block of nb outputs: chains so that about ACC (ACC_L2 for a product that
        streams from L2) vectors of sums are in flight."""
        vectors, acc = -(-nb // LANES), ACC_L2 if self.flip else ACC
        nc = next(nc for nc in (8, 4, 2, 1) if nc == 1 or (nc <= self.cols and nc * vectors <= acc))
        return Kernel(nb, self.cols, nc)

    def kernels(self) -> list[Kernel]:
        return [self.kernel(self.nb)] + ([self.kernel(self.tail)] if self.tail else [])

    def call(self, nb: int, W: str, v: str, b: str, out: str) -> str:
        """The C call of the kernel of a block of ``nb`` outputs."""
        return f"{self.kernel(nb).name}({W}, {v}, {b}, {out});"

    def order(self, w: numpy.ndarray) -> list[numpy.ndarray]:
        """The packed values of w (rows, cols): one row per (block, k), block-major."""
        starts = range(0, self.rows, self.nb)
        return [row for s in starts for row in w[s:s + self.nb].T]

    def blocked(self) -> str:
        """Says how the packed array holds the matrix (for the header's comment)."""
        if self.full == 1 and not self.tail:
            return f" transposed ({self.cols} x {self.rows})"
        tail = f" and one of {self.tail}" if self.tail else ""
        return f" in blocks of {self.nb} rows{tail}, each transposed ({self.cols} x rows)"

    def offset(self, r: str, k: str) -> str:
        """The C index of W[r][k] in the packed array."""
        size = str(self.nb) if not self.tail else f"({r} < {self.full * self.nb} ? {self.nb} : {self.tail})"
        return f"{r} / {self.nb} * {self.nb * self.cols} + {k} * {size} + {r} % {self.nb}"


#: floats per 512-bit vector, and vectors of sums to keep in flight: a core that starts one 512-bit FMA
#: (or two 256-bit ones) per cycle with a latency of 4 needs 4; more chains only add work at the end
#: (docs/performance.md), except where the loads wait for L2
LANES, ACC, ACC_L2 = 16, 4, 8
#: outputs per block at most: 8 vectors of sums, the registers of a product over all k at once
NB_MAX = 128
#: units per group of an interleaved recurrent product: one vector of floats
UNITS = 16
#: the recurrent matrix's bytes beyond which it is taken not to fit in L1 (32 KiB, less room for the
#: step's other data: biases, gates, states)
L1_BYTES = 24 * 1024


def matvec(rows: int, cols: int, flip: bool = False) -> Matvec:
    """The blocking of a (rows, cols) product: one block up to NB_MAX outputs, else blocks of NB_MAX
    (run backwards on odd steps if ``flip`` and there is more than one)."""
    return Matvec(rows, cols, min(rows, NB_MAX), flip and rows > NB_MAX)


def _big(ir, H: int) -> bool:
    """Whether the recurrent matrix does not fit in L1 next to a step's other data."""
    return len(ir.gates) * H * H * 4 > L1_BYTES


def groups(ir, H: int) -> Groups | None:
    """How the recurrent product is split by units to interleave it with the per-unit code: when it
    does not fit in L1 and no second stage needs all of the first stage's units first (else None)."""
    if not ir.recurrent_matrix or ir.stage2_gates or ir.forward_hidden or not _big(ir, H):
        return None
    return Groups(len(ir.gates), H, min(H, UNITS))


def products(ir, X: int, H: int) -> dict[str, Matvec]:
    """The packed matrices of a step, keyed by packed field: input, recurrent, second-stage (one per gate)."""
    G, G1 = len(ir.gates), len(ir.stage1_gates)
    gr = groups(ir, H)
    out = {"wx": Matvec(G * H, X, G * gr.U) if gr else matvec(G * H, X)}
    if ir.recurrent_matrix:
        big = _big(ir, H)
        out["wh"] = Matvec(G1 * H, H, G1 * gr.U, True) if gr else matvec(G1 * H, H, big)
        if ir.stage2_gates:
            out["wm"] = matvec(H, H, big)
    return out


def packed(ir, weights: dict, X: int, H: int) -> dict[str, list[numpy.ndarray]]:
    """The streaming layout of ``weights`` (as ``<name>_pack`` builds it in C): packed field -> rows.

    ``wx`` is weight_ih, ``wh`` the rows of weight_hh that multiply h, ``wm`` one (H, H) matrix per
    second-stage gate (the rows that multiply its hidden input), each in its Matvec's block-major order.
    Biases (but in wh's row order when the products go by groups of units), per-unit parameters and
    the dense head keep their layout.
    """
    G, G1 = len(ir.gates), len(ir.stage1_gates)
    mv, gr = products(ir, X, H), groups(ir, H)
    wih = numpy.asarray(weights["weight_ih"]).reshape(G * H, X)
    out = {"wx": mv["wx"].order(wih[gr.perm()] if gr else wih)}
    if ir.recurrent_matrix:
        whh = numpy.asarray(weights["weight_hh"]).reshape(G * H, H)
        out["wh"] = mv["wh"].order(whh[gr.perm()] if gr else whh[:G1 * H])
        if ir.stage2_gates:
            out["wm"] = [row for g in ir.stage2_gates for row in mv["wm"].order(whh[ir.gates.index(g) * H:][:H])]
    rest = {k: list(numpy.atleast_2d(v)) for k, v in weights.items() if k not in ("weight_ih", "weight_hh")}
    if gr:
        rest |= {k: [numpy.asarray(weights[k])[gr.perm()]] for k in ("bias_ih", "bias_hh")}
    return out | rest


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


def _rows(rows: list[numpy.ndarray], single: bool) -> list[str]:
    """The values of a flat array's initializer, one line per given row."""
    limit = numpy.finfo(numpy.float32 if single else numpy.float64).max
    for row in rows:
        if not numpy.all(numpy.abs(row) <= limit):  # also catches NaN
            raise ValueError(f"weights must be finite {'float' if single else 'double'} values")
    return [", ".join(_literal(v, single) for v in row) for row in rows]


def generate(cell, input_size: int, hidden_size: int, weights: dict | None = None, dense: int | None = None,
             name: str | None = None, dtype: str = "float") -> dict[str, str]:
    """{file name: text} for ``<name>.h`` and ``<name>.c`` (name defaults to ``<cell>_model``)."""
    ir = lower(cell)
    check_fixed_sizes(len(ir.gates), input_size, hidden_size, dense)  # codegen/c/limits.py: what int indices hold
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
    mv, gr = products(ir, X, H), groups(ir, H)
    # the streaming layout (see packed()): (packed key, struct field, element count, what it holds)
    pfields = [("wx", "wx", X * G * H, f"weight_ih{' in the row order of wh' if gr else ''}{mv['wx'].blocked()}")]
    if ir.recurrent_matrix:
        tail = f" (and one of {gr.tail})" if gr and gr.tail else ""
        what = (f"weight_hh, one block per {gr.U} units{tail} holding their rows of every gate, each transposed "
                f"({H} x rows)" if gr else f"weight_hh's first {G1 * H} rows{mv['wh'].blocked()}")
        pfields.append(("wh", "wh", H * G1 * H, what))
        if NM:
            pfields.append(("wm", "wm", NM * H * H, f"weight_hh's rows of gates {', '.join(ir.stage2_gates)}, "
                            f"each {H} x {H}{mv['wm'].blocked()}"))
    pfields += [(k, f, n, f"{what}, in wh's row order" if gr and k in ("bias_ih", "bias_hh") else what)
                for k, f, n, what in fields if k not in ("weight_ih", "weight_hh")]
    baked = baked_packed = None
    if weights is not None:
        missing = [k for k in shapes if k not in weights]
        if missing:
            raise ValueError(f"weights lack {missing}")
        baked = [(field, _rows(list(numpy.atleast_2d(weights[k])), ctype is FLOAT)) for k, field, _, _ in fields]
        pw = packed(ir, {k: weights[k] for k in shapes}, X, H)
        baked_packed = [(field, _rows(pw[k], ctype is FLOAT)) for k, field, _, _ in pfields]
    fast = ctype is FLOAT

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
        "mv": mv,
        "flips": any(m.flip for m in mv.values()),
        "kernels": sorted({k for m in mv.values() for k in m.kernels()}, key=lambda k: k.name),
        "baked_packed": baked_packed,
        "fast": {"tanh": approx.tanh_lines(), "sigmoid": approx.sigmoid_lines(), "bound": approx.MAX_ABS_ERROR}
        if fast else None,
        "FMA": "fmaf" if fast else "fma",
        "FAST_FMA": "FP_FAST_FMAF" if fast else "FP_FAST_FMA",
        "forward_hidden": print_kernel(ir.forward_hidden, _bindings(ir, H), ctype, fast) if ir.forward_hidden else [],
        "forward": print_kernel(ir.forward, _bindings(ir, H), ctype, fast),
        "groups": gr,
        "forward_group": print_kernel(ir.forward, _bindings(ir, H, gr), ctype, fast) if gr else [],
        "forward_tail": print_kernel(ir.forward, _bindings(ir, H, gr, True), ctype, fast) if gr and gr.tail else [],
    }
    return {f"{name}.h": render("c/fixed.h.jinja", **ctx), f"{name}.c": render("c/fixed.c.jinja", **ctx)}
