"""Render a CellIR as a NumPy module: printed kernels plus the template's loops and GEMMs."""

from __future__ import annotations

from .ir import CellIR
from .numpy_printer import print_kernel
from .render import _pytuple


def _slice(buffer: str, k: int) -> str:
    return f"{buffer}[:, {k} * H:{k + 1} * H]"


def forward_bindings(ir: CellIR) -> dict[str, str]:
    """Where each name a forward kernel reads or writes lives, as a Python expression."""
    b = {s: f"S[{j}]" for j, s in enumerate(ir.states)}
    b |= {f"next_{s}": f"N[{j}]" for j, s in enumerate(ir.states)}
    b |= {name: f"T[{k}]" for k, name in enumerate(ir.tape)}
    b |= {f"tape_{name}": f"T[{k}]" for k, name in enumerate(ir.tape)}
    b |= {name: f"P[{k}]" for k, name in enumerate(ir.unit_params)}
    for k, g in enumerate(ir.gates):
        b[f"gi_{g}"] = _slice("gi", k)
        b[f"gh_{g}"] = _slice("gh", k)  # in the forward, gh is always the live GEMM result
    return b


def backward_bindings(ir: CellIR) -> dict[str, str]:
    """Where each name a backward kernel reads or writes lives, as a Python expression."""
    b = {f"d_{s}": f"D[{j}]" for j, s in enumerate(ir.states)}
    b |= {f"dm_{g}": f"DM[{j}]" for j, g in enumerate(ir.stage2_gates)}
    b |= {s: f"S[{j}]" for j, s in enumerate(ir.states)}
    b |= {f"next_{s}": f"N[{j}]" for j, s in enumerate(ir.states)}
    b |= {name: f"T[{k}]" for k, name in enumerate(ir.tape)}
    for k, g in enumerate(ir.gates):
        b[f"dgi_{g}"] = _slice("dgi", k)
        b[f"dgh_{g}"] = _slice("dgh", k)
    b |= {f"ds_{s}": f"DS[{j}]" for j, s in enumerate(ir.states)}
    b |= {name: f"P[{k}]" for k, name in enumerate(ir.unit_params)}
    b |= {f"dp_{name}": f"DP[{k}]" for k, name in enumerate(ir.unit_params)}
    return b


def context(ir: CellIR) -> dict:
    """The template variables for templates/numpy/cell.py.jinja."""
    fwd, bwd = forward_bindings(ir), backward_bindings(ir)
    G, G1 = len(ir.gates), len(ir.stage1_gates)
    layout = ""  # keyword arguments for the runtime's validation, only where the cell is not standard
    if not ir.recurrent_matrix:
        layout += ", recurrent_matrix=False"
    if ir.unit_params:
        layout += ", unit_params=" + _pytuple(ir.unit_params)
    return {
        "layout": layout,
        "ir": ir,
        "G": G,
        "G1": G1,
        "K": len(ir.tape),
        "stage2": [(ir.gates.index(g), ir.tape.index(f"m_{g}")) for g in ir.stage2_gates],
        "seq_extra": [(j, s) for j, s in enumerate(ir.states) if s != "h" and s in ir.seq_states],
        "other_states": [(j, s) for j, s in enumerate(ir.states) if s != "h"],
        "forward_hidden": print_kernel(ir.forward_hidden, fwd),
        "forward": print_kernel(ir.forward, fwd),
        "backward": print_kernel(ir.backward, bwd),
        "backward_hidden": print_kernel(ir.backward_hidden, bwd),
    }
