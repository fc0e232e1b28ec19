"""Template context for templates/c/cell.{c,h}.jinja: bindings of kernel names to C lvalues.

Each buffer is its own ``restrict`` parameter of the kernel function (states ``sc_S0``, ``sc_S1``, next
states ``sc_N0``, per-unit parameters ``sc_P0``, ...): with no possible aliasing the compiler vectorizes
the loop without run-time overlap checks (it gives up beyond ten of them).

Inside a kernel's loop ``sc_u = b*H + j`` indexes a (B, H) buffer and ``sc_g = b*G*H + j`` the
unit's column in a (B, G*H) gate buffer; gate k lives at ``sc_g + k*H`` (PyTorch's row order).
"""

from __future__ import annotations

from ..ir import CellIR, next_name, symbol_name
from . import approx
from .api import functions, grad_arg, param_arg
from .printer import CTYPES, FLOAT, CType, print_kernel


def forward_bindings(ir: CellIR) -> dict[str, str]:
    """Where each name a forward kernel reads or writes lives, for element (b, j)."""
    b = {symbol_name(s): f"sc_S{j}[sc_u]" for j, s in enumerate(ir.states)}
    b |= {next_name(s): f"sc_N{j}[sc_u]" for j, s in enumerate(ir.states)}
    b |= {name: f"sc_T[{k} * sc_BH + sc_u]" for k, name in enumerate(ir.tape)}
    b |= {f"tape_{name}": f"sc_T[{k} * sc_BH + sc_u]" for k, name in enumerate(ir.tape)}
    b |= {symbol_name(name): f"sc_P{k}[sc_j]" for k, name in enumerate(ir.unit_params)}
    for k, g in enumerate(ir.gates):  # in the forward, gi/gh are always the live GEMM results
        b[f"gi_{symbol_name(g)}"] = f"sc_gi[sc_g + {k} * sc_H]"
        b[f"gh_{symbol_name(g)}"] = f"sc_gh[sc_g + {k} * sc_H]"
    return b


def backward_bindings(ir: CellIR) -> dict[str, str]:
    """Where each name a backward kernel reads or writes lives, for element (b, j)."""
    b = {f"d_{symbol_name(s)}": f"sc_D[{j} * sc_BH + sc_u]" for j, s in enumerate(ir.states)}
    b |= {f"dm_{symbol_name(g)}": f"sc_DM[{j} * sc_BH + sc_u]" for j, g in enumerate(ir.stage2_gates)}
    b |= {symbol_name(s): f"sc_S{j}[sc_u]" for j, s in enumerate(ir.states)}
    b |= {next_name(s): f"sc_N{j}[sc_u]" for j, s in enumerate(ir.states)}
    b |= {name: f"sc_T[{k} * sc_BH + sc_u]" for k, name in enumerate(ir.tape)}
    for k, g in enumerate(ir.gates):
        b[f"dgi_{symbol_name(g)}"] = f"sc_dgi[sc_g + {k} * sc_H]"
        b[f"dgh_{symbol_name(g)}"] = f"sc_dgh[sc_g + {k} * sc_H]"
    b |= {f"ds_{symbol_name(s)}": f"sc_DS[{j} * sc_BH + sc_u]" for j, s in enumerate(ir.states)}
    b |= {symbol_name(name): f"sc_P{k}[sc_j]" for k, name in enumerate(ir.unit_params)}
    b |= {f"dp_{symbol_name(name)}": f"sc_DP{k}[sc_j]" for k, name in enumerate(ir.unit_params)}  # summed over b and t
    return b


def kernels(ir: CellIR, ctype: CType) -> dict[str, list[str]]:
    """The four printed kernel bodies for one floating type (empty list: the cell has none).

    float kernels use the vectorizable tanh and sigmoid of codegen.c.approx (within 5e-7 absolute);
    double kernels keep libm.
    """
    fwd, bwd = forward_bindings(ir), backward_bindings(ir)
    fast = ctype is FLOAT
    return {
        "forward_hidden": print_kernel(ir.forward_hidden, fwd, ctype, fast) if ir.forward_hidden else [],
        "forward": print_kernel(ir.forward, fwd, ctype, fast),
        "backward": print_kernel(ir.backward, bwd, ctype),
        "backward_hidden": print_kernel(ir.backward_hidden, bwd, ctype) if ir.backward_hidden else [],
    }


def layout(ir: CellIR) -> dict:
    """Sizes and index facts shared by the per-cell and the fixed-size templates."""
    seq_extra = [s for s in ir.states if s != "h" and s in ir.seq_states]
    return {
        "ir": ir,
        "NS": len(ir.states),
        "G": len(ir.gates),
        "G1": len(ir.stage1_gates),
        "K": len(ir.tape),
        "NM": len(ir.stage2_gates),
        "NSEQ": len(seq_extra),
        # workspace and tape sizes in units of B*H (and of T*B*G*H for the backward's gate gradients)
        "FW_BH": len(ir.tape) + len(ir.states) + 2 * (len(ir.states) - 1),
        "BW_GATES": 1 if ir.shared_gate_grads else 2,
        "BW_BH": 3 * len(ir.states) + len(ir.stage2_gates),
        # the weight and bias gradients from products with Z = [x | h_prev | 1] where every gate's hidden part is the
        # plain h_prev (no second-stage gates): one product dgi^T Z where the gates' input and hidden gradients are
        # one array, else dgi^T [x | 1] and dgh^T [h_prev | 1] with Z = [x | 1 | h_prev | 1]; no separate bias sums
        "FUSE_DW": ir.gates_read_h,
        "Z_ONES": 1 if ir.shared_gate_grads else 2,
        "TAPE_BH": len(ir.tape) + len(seq_extra),
        # (gate index, tape slot of m_<gate>, index among second-stage gates)
        "stage2": [(ir.gates.index(g), ir.tape.index(f"m_{symbol_name(g)}"), i) for i, g in enumerate(ir.stage2_gates)],
        # (state index, index among the other states, index among the tape's state sequences or None)
        "others": [
            (j, i, seq_extra.index(s) if s in seq_extra else None)
            for i, (j, s) in enumerate((j, s) for j, s in enumerate(ir.states) if s != "h")
        ],
    }


def context(ir: CellIR) -> dict:
    """Everything templates/c/cell.{c,h}.jinja need for one cell."""
    prefix = f"symcell_{ir.name}"
    funcs = functions(ir)
    types = []
    for ct in CTYPES:
        types.append({
            "c": ct,
            "fast": {"tanh": approx.tanh_lines(), "sigmoid": approx.sigmoid_lines(), "bound": approx.MAX_ABS_ERROR}
            if ct is FLOAT else None,
            "kernels": kernels(ir, ct),
            "protos": {f.stem: f.prototype(prefix, ct) for f in funcs if f.typed},
        })
    units = [param_arg(n) for n in ir.unit_params]
    return {
        **layout(ir),
        "prefix": prefix,
        "params": [param_arg(n) for n in ir.param_names],
        "bparams": [param_arg(n) for n in ir.param_names if n not in ("bias_ih", "bias_hh")],
        "grads": [grad_arg(n) for n in ir.param_names],
        "unit_grads": [grad_arg(n) for n in ir.unit_params],
        # C99 has no empty arrays: a cell without per-unit parameters passes one NULL
        "NP": max(1, len(units)),
        "NU": len(units),
        "P_init": "{" + (", ".join(units) or "NULL") + "}",
        "DP_init": "{" + (", ".join(grad_arg(n) for n in ir.unit_params) or "NULL") + "}",
        "doc_lines": [(" * " + line).rstrip() if k else line for k, line in enumerate(ir.doc.splitlines())],
        "guard": f"SYMCELL_{ir.name.upper()}_H",
        "macro": f"SYMCELL_{ir.name.upper()}",
        "functions": funcs,
        "size_protos": {f.stem: f.prototype(prefix) for f in funcs if not f.typed},
        "types": types,
    }
