"""The typed, frozen plan templates/c/cell.{c,h}.jinja render: every decision made here, none in the templates.

Each buffer is its own ``restrict`` parameter of an elementwise kernel (states ``sc_S0``, ``sc_S1``, next
states ``sc_N0``, per-unit parameters ``sc_P0``, ...): with no possible aliasing the compiler vectorizes
the loop without run-time overlap checks (it gives up beyond ten of them).

Inside a kernel's loop ``sc_u = b*H + j`` indexes a (B, H) buffer and ``sc_g = b*G*H + j`` the unit's
column in a (B, G*H) gate buffer; gate k lives at ``sc_g + k*H`` (PyTorch's row order). How each role of
codegen.buffers is addressed is the table below; the kernel buffers themselves come from that list.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

from ..buffers import Buffer, backward_buffers, backward_param_buffers, extra_seq_states, forward_buffers
from ..ir import CellIR, symbol_name
from .api import Function, functions, grad_arg, param_arg
from .plan import (
    DIMS,
    Workspace,
    ZColumns,
    backward_workspace,
    forward_workspace,
    fused_weight_grads,
    ones_columns,
    tape_slots_bh,
    z_columns,
)
from .printer import CTYPES, FLOAT, CType, print_kernel
from .runtime import FastActivations, fast_activations

#: How the elementwise kernels address each role of codegen.buffers for element (b, j), by direction.
FORWARD_ADDRESS = {
    "state": "sc_S{slot}[sc_u]", "next_state": "sc_N{slot}[sc_u]", "tape": "sc_T[{slot} * sc_BH + sc_u]",
    "unit_param": "sc_P{slot}[sc_j]", "gate_input": "sc_gi[sc_g + {slot} * sc_H]",
    "gate_hidden": "sc_gh[sc_g + {slot} * sc_H]",
}
BACKWARD_ADDRESS = FORWARD_ADDRESS | {
    "state_grad": "sc_D[{slot} * sc_BH + sc_u]", "hidden_input_grad": "sc_DM[{slot} * sc_BH + sc_u]",
    "gate_input": "sc_dgi[sc_g + {slot} * sc_H]", "gate_hidden": "sc_dgh[sc_g + {slot} * sc_H]",
    "state_grad_prev": "sc_DS[{slot} * sc_BH + sc_u]", "unit_param_grad": "sc_DP{slot}[sc_j]",
}


def _bind(buffers: tuple[Buffer, ...], address: dict[str, str]) -> dict[str, str]:
    return {b.symbol: address[b.role].format(slot=b.slot) for b in buffers}


def forward_bindings(ir: CellIR) -> dict[str, str]:
    """Where each name a forward kernel reads or writes lives, for element (b, j)."""
    return _bind(forward_buffers(ir), FORWARD_ADDRESS)


def backward_bindings(ir: CellIR) -> dict[str, str]:
    """Where each name a backward kernel reads or writes lives, for element (b, j)."""
    return _bind(backward_buffers(ir), BACKWARD_ADDRESS)


@dataclass(frozen=True)
class TypePlan:
    """One floating type's part of a cell's source: its printed kernel bodies and its functions' prototypes.

    float kernels use the vectorizable tanh and sigmoid of codegen.c.approx; double kernels keep libm.
    """

    c: CType
    fast: FastActivations | None
    kernels: dict[str, tuple[str, ...]]  # forward_hidden, forward, backward, backward_hidden (empty: none)
    protos: dict[str, str]


def type_plan(ir: CellIR, ctype: CType, prefix: str) -> TypePlan:
    fwd, bwd, fast = forward_bindings(ir), backward_bindings(ir), ctype is FLOAT
    kernels = {
        "forward_hidden": print_kernel(ir.forward_hidden, fwd, ctype, fast) if ir.forward_hidden else [],
        "forward": print_kernel(ir.forward, fwd, ctype, fast),
        "backward": print_kernel(ir.backward, bwd, ctype),
        "backward_hidden": print_kernel(ir.backward_hidden, bwd, ctype) if ir.backward_hidden else [],
    }
    return TypePlan(ctype, fast_activations(ctype), {k: tuple(v) for k, v in kernels.items()},
                    {f.stem: f.prototype(prefix, ctype) for f in functions(ir) if f.typed})


class Stage2Gate(NamedTuple):
    """A second-stage gate (its product multiplies a hidden input m, not h)."""

    gate: int  # index among the gates
    slot: int  # tape slot of m_<gate>
    index: int  # index among the second-stage gates


class OtherState(NamedTuple):
    """A state beyond h."""

    state: int  # index among the states
    index: int  # index among the states beyond h (its ping-pong buffers in the forward's spare)
    seq: int | None  # index among the tape's state sequences, or None when the backward does not read it


@dataclass(frozen=True)
class SizeFunction:
    """One exported size function: ``sc_sizes`` called with ``args`` (after ``locals``), returning ``result``."""

    prototype: str
    locals: tuple[str, ...]
    args: str
    result: str


#: (sc_sizes arguments, the local lines before the call, which of its results) per size function's stem
SIZE_CALLS = {
    "tape_size": ("T, B, X, H", ("const size_t X = 1; /* the tape does not depend on X */",), "tape"),
    "forward_workspace_size": ("T, B, X, H", (), "fw"),
    "backward_workspace_size": ("T, B, X, H", (), "bw"),
    "step_workspace_size": ("1, B, X, H", (), "fw"),
}


@dataclass(frozen=True)
class CellPlan:
    """Everything templates/c/cell.{c,h}.jinja need for one cell (counts, names, workspaces, printed kernels)."""

    ir: CellIR
    prefix: str  # of every exported name: symcell_<cell>
    guard: str
    macro: str
    doc_lines: tuple[str, ...]
    n_states: int
    n_gates: int
    n_stage1: int
    n_stage2: int
    n_slots: int  # per-step tape slots
    n_seq: int  # states beyond h whose sequence the tape keeps
    tape_bh: int  # the tape's length in units of T*B*H
    n_units: int  # per-unit parameters
    n_unit_ptrs: int  # their pointer array's length: C99 has no empty arrays, so at least one (NULL)
    unit_init: str  # that array's initializer
    unit_grad_init: str
    stage2: tuple[Stage2Gate, ...]
    others: tuple[OtherState, ...]
    fused_weight_grads: bool  # the named pass: dgi^T [x | h_prev | 1] gives every weight and bias gradient
    dgh_qualifier: str  # "restrict " unless dgh is dgi itself (then the backward kernel writes dgi only)
    ones: int  # columns of ones in that product's Z
    z: ZColumns
    fw: Workspace
    bw: Workspace
    size_dims: tuple  # the dims sc_sizes defines (both workspaces')
    size_functions: tuple[SizeFunction, ...]
    params: tuple[str, ...]  # C arguments, in order
    backward_params: tuple[str, ...]
    grads: tuple[str, ...]
    unit_grads: tuple[str, ...]
    functions: tuple[Function, ...]
    size_prototypes: dict[str, str]
    types: tuple[TypePlan, ...]

    def as_context(self) -> dict:
        """The plan's fields as the template's variables."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _stage2(ir: CellIR) -> tuple[Stage2Gate, ...]:
    return tuple(Stage2Gate(ir.gates.index(g), ir.tape.index(f"m_{symbol_name(g)}"), i)
                 for i, g in enumerate(ir.stage2_gates))


def _others(ir: CellIR) -> tuple[OtherState, ...]:
    seq = extra_seq_states(ir)
    rest = [(j, s) for j, s in enumerate(ir.states) if s != "h"]
    return tuple(OtherState(j, i, seq.index(s) if s in seq else None) for i, (j, s) in enumerate(rest))


def layout(ir: CellIR) -> dict:
    """Sizes and index facts the fixed-size templates share with the per-cell ones (codegen/c/fixed.py)."""
    return {"ir": ir, "NS": len(ir.states), "G": len(ir.gates), "G1": len(ir.stage1_gates), "K": len(ir.tape),
            "NM": len(ir.stage2_gates), "NSEQ": len(extra_seq_states(ir)), "stage2": _stage2(ir),
            "others": _others(ir)}


def plan(ir: CellIR) -> CellPlan:
    prefix = f"symcell_{ir.name}"
    funcs = tuple(functions(ir))
    units = [param_arg(n) for n in ir.unit_params]
    fw, bw = forward_workspace(ir), backward_workspace(ir)
    used = {d.name for d in (*fw.dims(), *bw.dims())}
    return CellPlan(
        ir=ir, prefix=prefix, guard=f"SYMCELL_{ir.name.upper()}_H", macro=f"SYMCELL_{ir.name.upper()}",
        doc_lines=tuple((" * " + line).rstrip() if k else line for k, line in enumerate(ir.doc.splitlines())),
        n_states=len(ir.states), n_gates=len(ir.gates), n_stage1=len(ir.stage1_gates),
        n_stage2=len(ir.stage2_gates), n_slots=len(ir.tape), n_seq=len(extra_seq_states(ir)),
        tape_bh=tape_slots_bh(ir), n_units=len(units), n_unit_ptrs=max(1, len(units)),
        unit_init="{" + (", ".join(units) or "NULL") + "}",
        unit_grad_init="{" + (", ".join(grad_arg(n) for n in ir.unit_params) or "NULL") + "}",
        stage2=_stage2(ir), others=_others(ir),
        fused_weight_grads=fused_weight_grads(ir), dgh_qualifier="" if ir.shared_gate_grads else "restrict ",
        ones=ones_columns(ir), z=z_columns(ir), fw=fw, bw=bw,
        size_dims=tuple(d for name, d in DIMS.items() if name in used),
        size_functions=tuple(SizeFunction(f.prototype(prefix), *SIZE_CALLS[f.stem][1::-1], SIZE_CALLS[f.stem][2])
                             for f in funcs if not f.typed),
        params=tuple(param_arg(n) for n in ir.param_names),
        backward_params=tuple(param_arg(b.symbol) for b in backward_param_buffers(ir)),
        grads=tuple(grad_arg(n) for n in ir.param_names), unit_grads=tuple(grad_arg(n) for n in ir.unit_params),
        functions=funcs, size_prototypes={f.stem: f.prototype(prefix) for f in funcs if not f.typed},
        types=tuple(type_plan(ir, ct, prefix) for ct in CTYPES),
    )


def context(ir: CellIR) -> dict:
    """The plan as templates/c/cell.{c,h}.jinja's variables."""
    return plan(ir).as_context()
