"""The workspaces of the per-cell C kernels as data: each buffer once, its size and its place derived from it.

A workspace is a list of ``WorkBuffer``: the kernel carves it from the caller's ``work`` pointer in list
order (each buffer starts where the one before it ends), and ``sc_sizes`` adds up the same sizes with
overflow checks, so the element counts the size functions report and the offsets the kernels use cannot
disagree. A size is a sum of products of ``Dim``s and integer counts; a dim prints plainly in a kernel and
with overflow checks in ``sc_sizes``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..buffers import extra_seq_states
from ..ir import CellIR


@dataclass(frozen=True)
class Dim:
    """A size_t local: its name, its plain C expression (in a kernel) and its checked one (in sc_sizes, where
    ``ok`` is cleared on overflow)."""

    name: str
    plain: str
    checked: str


#: The dims the workspaces are measured in, in the order sc_sizes defines them (a later one may use an earlier).
DIMS = {d.name: d for d in (
    Dim("BH", "B * H", "sc_mul(B, H, &ok)"),
    Dim("BGH", "B * GH", "sc_mul(B, GH, &ok)"),
    Dim("TB", "T * B", "sc_mul(T, B, &ok)"),
    Dim("CH", "sc_chunk(T, B, X)", "T && B ? sc_chunk(T, B, X) : 0"),
    Dim("PGH", "(GH + SC_NR - 1) / SC_NR * SC_NR", "sc_panels(GH, &ok)"),
    Dim("PH", "(H + SC_NR - 1) / SC_NR * SC_NR", "sc_panels(H, &ok)"),
    Dim("PG1", "(G1H + SC_NR - 1) / SC_NR * SC_NR", "sc_panels(G1H, &ok)"),
    Dim("LZ", "X + H + NZ", "sc_add(sc_add(X, H, &ok), NZ, &ok)"),
)}
#: dims every kernel and sc_sizes define from the cell's counts first (GH = G*H, G1H = G1*H, NZ: ones columns)
FIXED = ("GH", "G1H", "NZ")


@dataclass(frozen=True)
class WorkBuffer:
    """One buffer of a workspace: ``size`` a sum of products (each a tuple of dim names and counts), ``doc`` what
    it holds; an ``alias`` is another buffer's name whose memory this one shares (it adds no size)."""

    name: str
    size: tuple[tuple[str | int, ...], ...]
    doc: str
    alias: str | None = None

    def plain_size(self) -> str:
        """The size as a kernel's pointer arithmetic prints it: ``2 * BH``, ``H * PG1 + 1 * H * PH``."""
        return " + ".join(" * ".join(str(f) for f in term) for term in self.size) or "0"

    def checked_size(self) -> str:
        """The size with overflow checks: nested sc_mul and sc_add."""
        terms = []
        for term in self.size:
            expr = str(term[-1])
            for f in reversed(term[:-1]):
                expr = f"sc_mul({f}, {expr}, &ok)"
            terms.append(expr)
        total = terms[0] if terms else "0"
        for t in terms[1:]:
            total = f"sc_add({total}, {t}, &ok)"
        return total


@dataclass(frozen=True)
class Carve:
    """One line of a kernel's workspace carving: ``name = base + offset`` (or ``= work`` for the first)."""

    name: str
    start: str
    doc: str


@dataclass(frozen=True)
class Workspace:
    """A kernel's workspace: its buffers in order, the dims they need, and the carving lines."""

    buffers: tuple[WorkBuffer, ...]

    def dims(self) -> tuple[Dim, ...]:
        used = {f for b in self.buffers for term in b.size for f in term if isinstance(f, str)} | {"BH", "BGH"}
        return tuple(d for name, d in DIMS.items() if name in used)

    def carve(self) -> tuple[Carve, ...]:
        lines, prev = [], None
        sizes = {b.name: b for b in self.buffers}
        for b in self.buffers:
            if b.alias:
                start = b.alias
            elif prev is None:
                start = "work"
            else:
                start = f"{prev.name} + {sizes[prev.alias].plain_size() if prev.alias else prev.plain_size()}"
            lines.append(Carve(b.name, start, b.doc))
            prev = b
        return tuple(lines)

    def sized(self) -> tuple[WorkBuffer, ...]:
        """The buffers that take memory of their own (not aliases): what the workspace's size adds up."""
        return tuple(b for b in self.buffers if not b.alias)


def forward_workspace(ir: CellIR) -> Workspace:
    """The forward's (and so the step's) workspace."""
    K, S, M = len(ir.tape), len(ir.states), len(ir.stage2_gates)
    bufs = [
        WorkBuffer("gi", (("CH", "BGH"),), "(CH, B, G*H) input projections of CH steps (sc_chunk)"),
        WorkBuffer("gh", (("BGH",),), "(B, G*H) recurrent projection of one step"),
        WorkBuffer("slot", ((K, "BH"),), f"({K}, B, H) tape slots of one step when no tape is kept"),
        WorkBuffer("zero", ((S, "BH"),), f"({S}, B, H) zeros for a NULL state0"),
        WorkBuffer("spare", ((2 * (S - 1), "BH"),), f"(2, {S - 1}, B, H) ping-pong buffers for states beyond h"),
        WorkBuffer("wpi", (("X", "PGH"),), "weight_ih packed (symcell_rt_pack)"),
    ]
    if ir.recurrent_matrix:
        bufs.append(WorkBuffer("wp", (("H", "PG1"), (M, "H", "PH")),
                               "weight_hh packed: stage-1 gates" + (", then each second-stage gate" if M else "")))
    return Workspace(tuple(bufs))


def ones_columns(ir: CellIR) -> int:
    """Columns of ones in Z = [x | (1) | h_prev | 1]: one where the gates' input and hidden gradients are one array
    (one product gives every weight and bias gradient), else one per part."""
    return 1 if ir.shared_gate_grads else 2


def backward_workspace(ir: CellIR) -> Workspace:
    """The backward's workspace; Z and Wc only for the fused weight-gradient product (pass fused_weight_grads)."""
    S, M, G1 = len(ir.states), len(ir.stage2_gates), len(ir.stage1_gates)
    shared = ir.shared_gate_grads
    bufs = [
        WorkBuffer("dgi", (("T", "BGH"),), "(T, B, G*H) gradients of the gates' input parts"),
        WorkBuffer("dgh", (("T", "BGH"),), "... of their hidden parts" + (" (the same here)" if shared else ""),
                   alias="dgi" if shared else None),
        WorkBuffer("D", ((S, "BH"),), f"({S}, B, H) gradients w.r.t. the state,"),
        WorkBuffer("DS", ((S, "BH"),), f"({S}, B, H) ... two buffers, in turn before and after a step"),
        WorkBuffer("zero", ((S, "BH"),), f"({S}, B, H) zeros for a NULL state0"),
        WorkBuffer("DM", ((M, "BH"),), f"({M}, B, H) gradients of the hidden inputs m"),
    ]
    if ir.recurrent_matrix:
        bufs.append(WorkBuffer("wp", (("PH", G1 + M, "H"),), "weight_hh packed for dgh W (symcell_rt_pack): stage 1"
                               + (", then each second-stage gate" if M else "")))
    if fused_weight_grads(ir):
        z = "[x | h_prev | 1]" if shared else "[x | 1 | h_prev | 1]"
        wc = "[dW_ih | dW_hh | db]" if shared else "[dW_ih | db_ih | dW_hh | db_hh]"
        bufs.append(WorkBuffer("Z", (("TB", "LZ"),), f"(T*B, LZ) {z} of every step"))
        bufs.append(WorkBuffer("Wc", (("GH", "LZ"),), f"(G*H, LZ) {wc}"))
    return Workspace(tuple(bufs))


def fused_weight_grads(ir: CellIR) -> bool:
    """The named pass of the C backward: where every gate's recurrent product reads h itself, the weight and bias
    gradients come from products of the gate gradients with Z = [x | h_prev | 1] (no separate bias sums)."""
    return ir.gates_read_h


@dataclass(frozen=True)
class ZColumns:
    """Where the fused product's Z keeps h_prev and the ones for bias_ih and bias_hh (columns of a row of LZ), and
    the arguments of its products for the weight-gradient rows r0 .. r1 - 1 into Wc: one, dgi^T Z, where the
    gates' input and hidden gradients are one array; else dgi^T [x | 1] and dgh^T [h_prev | 1]."""

    h: str
    bias_ih: str
    bias_hh: str
    products: tuple[str, ...]


def z_columns(ir: CellIR) -> ZColumns:
    if ir.shared_gate_grads:
        return ZColumns("X", "X + H", "X + H", ("r1 - r0, LZ, T * B, dgi + r0, GH, Z, LZ, Wc + r0 * LZ, LZ",))
    return ZColumns("X + 1", "X", "X + H + 1", (
        "r1 - r0, X + 1, T * B, dgi + r0, GH, Z, LZ, Wc + r0 * LZ, LZ",
        "r1 - r0, H + 1, T * B, dgh + r0, GH, Z + ZH, LZ, Wc + r0 * LZ + ZH, LZ"))


def tape_slots_bh(ir: CellIR) -> int:
    """The tape's length in units of T*B*H: the per-step slots, then the extra state sequences."""
    return len(ir.tape) + len(extra_seq_states(ir))
