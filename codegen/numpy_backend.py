"""Render a CellIR as a NumPy module: printed kernels plus the template's loops and GEMMs."""

from __future__ import annotations

from dataclasses import replace

import sympy
from symcell.derive import sigmoid

from .ir import CellIR, next_name, symbol_name
from .numpy_printer import print_kernel, sigmoid_neg
from .render import _pytuple
from .schedule import Kernel


def forward_bindings(ir: CellIR) -> dict[str, str]:
    """Where each name a forward kernel reads or writes lives, as a Python expression."""
    b = {symbol_name(s): f"S[{j}]" for j, s in enumerate(ir.states)}
    b |= {next_name(s): f"N[{j}]" for j, s in enumerate(ir.states)}
    b |= {name: f"T[{k}]" for k, name in enumerate(ir.tape)}
    b |= {f"tape_{name}": f"T[{k}]" for k, name in enumerate(ir.tape)}
    b |= {symbol_name(name): f"P[{k}]" for k, name in enumerate(ir.unit_params)}
    for k, g in enumerate(ir.gates):
        b[f"gi_{symbol_name(g)}"] = f"gi[{k}]"  # gate-major (G, B, H) in the forward: each gate's block contiguous
        b[f"gh_{symbol_name(g)}"] = f"gh[{k}]"  # in the forward, gh is always the live GEMM result
        b[f"pre_{symbol_name(g)}"] = f"gh[{k}]"  # ... to which the loop has added gi for the gates in pre_gates()
    return b


def pre_gates(ir: CellIR) -> tuple[str, ...]:
    """The first-stage gates whose forward kernels read gi_g and gh_g only as their sum, the
    pre-activation: the time loop adds gi into gh for these with one call over contiguous columns (and
    bias_hh into gi once per sequence), instead of a bias add and one strided add per gate per step.
    Not GRU's n, which reads gh_n alone (r * gh_n)."""
    if not ir.recurrent_matrix:
        return ()
    kernels = (ir.forward_hidden, ir.forward)
    names = {sym.name: sym for k in kernels for st in k.stmts for sym in st.expr.free_symbols}
    out = []
    for g in ir.gates:
        gi, gh = names.get(f"gi_{symbol_name(g)}"), names.get(f"gh_{symbol_name(g)}")
        if g in ir.stage2_gates or gi is None or gh is None:
            continue
        pre = sympy.Symbol(f"pre_{symbol_name(g)}")
        if all(not {gi, gh} & st.expr.subs(gi + gh, pre).free_symbols for k in kernels for st in k.stmts):
            out.append(g)
    return tuple(out)


def _with_pre(kernel: Kernel, gates: tuple[str, ...]) -> Kernel:
    """``kernel`` reading pre_g where it read gi_g + gh_g, for the gates in ``gates``."""
    if not kernel:
        return kernel
    names = {sym.name: sym for st in kernel.stmts for sym in st.expr.free_symbols}
    parts = {g: (f"gi_{symbol_name(g)}", f"gh_{symbol_name(g)}") for g in gates}
    subs = [(names[gi] + names[gh], sympy.Symbol(f"pre_{symbol_name(g)}")) for g, (gi, gh) in parts.items()
            if gi in names and gh in names]
    stmts = []
    for st in kernel.stmts:
        st = replace(st, expr=st.expr.subs(subs))
        if st.role == "temp" and isinstance(st.expr, sympy.Symbol):  # a temp that was just gi + gh: inline
            subs.append((sympy.Symbol(st.target), st.expr))
        else:
            stmts.append(st)
    read = {sym.name for st in stmts for sym in st.expr.free_symbols}
    inputs = [n for n in kernel.inputs if n in read or not n.startswith(("gi_", "gh_"))]
    inputs += [f"pre_{symbol_name(g)}" for g in gates if f"pre_{symbol_name(g)}" in read]
    return replace(kernel, stmts=tuple(stmts), inputs=tuple(inputs))


def neg_gates(ir: CellIR, kernel: Kernel) -> tuple[str, ...]:
    """The gates whose pre-activation ``kernel`` (a forward kernel reading pre_g) reads only as
    sigmoid(pre_g): forward() negates their rows of the fused weight matrix and the kernel computes
    sigmoid_neg(-pre_g), one pass fewer per call, and the same bits (negating the weights negates the
    products exactly). Measurements: docs/performance.md."""
    out = []
    for g in ir.gates:
        pre = sympy.Symbol(f"pre_{symbol_name(g)}")
        read = [st.expr for st in kernel.stmts if st.expr.has(pre)]
        if read and all(not e.subs(sigmoid(pre), 0).has(pre) for e in read):
            out.append(g)
    return tuple(out)


def _with_neg(kernel: Kernel, gates: tuple[str, ...]) -> Kernel:
    """``kernel`` reading sigmoid_neg(pre_g) where it read sigmoid(pre_g), for the gates in ``gates``."""
    pres = [sympy.Symbol(f"pre_{symbol_name(g)}") for g in gates]
    subs = {sigmoid(pre): sigmoid_neg(pre) for pre in pres}
    return replace(kernel, stmts=tuple(replace(st, expr=st.expr.xreplace(subs)) for st in kernel.stmts))


def _spans(ir: CellIR, gates) -> list[tuple[int, int]]:
    """Runs of consecutive gate indices (start, stop) covering ``gates``."""
    spans: list[tuple[int, int]] = []
    for k in sorted(ir.gates.index(g) for g in gates):
        if spans and spans[-1][1] == k:
            spans[-1] = (spans[-1][0], k + 1)
        else:
            spans.append((k, k + 1))
    return spans


def backward_bindings(ir: CellIR) -> dict[str, str]:
    """Where each name a backward kernel reads or writes lives, as a Python expression."""
    b = {f"d_{symbol_name(s)}": f"D[{j}]" for j, s in enumerate(ir.states)}
    b |= {f"dm_{symbol_name(g)}": f"DM[{j}]" for j, g in enumerate(ir.stage2_gates)}
    b |= {symbol_name(s): f"S[{j}]" for j, s in enumerate(ir.states)}
    b |= {next_name(s): f"N[{j}]" for j, s in enumerate(ir.states)}
    b |= {name: f"T[{k}]" for k, name in enumerate(ir.tape)}
    for k, g in enumerate(ir.gates):
        b[f"dgi_{symbol_name(g)}"] = f"dgi[{k}]"  # gate-major (G, B, H) in the backward kernels too (see the template)
        b[f"dgh_{symbol_name(g)}"] = f"dgh[{k}]"
    b |= {f"ds_{symbol_name(s)}": f"DS[{j}]" for j, s in enumerate(ir.states)}
    b |= {symbol_name(name): f"P[{k}]" for k, name in enumerate(ir.unit_params)}
    b |= {f"dp_{symbol_name(name)}": f"DP[{k}]" for k, name in enumerate(ir.unit_params)}
    return b


def _without_zero_h(ir: CellIR) -> tuple[Kernel, bool]:
    """The backward kernel without its ``ds_h = 0`` statement where h reaches the next state only through
    the gates (LSTM, plain RNNs): the time loop then starts the state gradient from the recurrent product
    instead of zeroing a buffer and adding it. Also whether it did so. Not without a recurrent matrix: there
    the state gradient is ds_h alone (SRU, whose h' never reads h)."""
    kernel = ir.backward
    zero = [st for st in kernel.stmts if st.target == "ds_h" and st.role == "output" and st.expr == 0]
    if not zero or not ir.recurrent_matrix or any(st.target == "ds_h" for st in ir.backward_hidden.stmts):
        return kernel, False
    return replace(kernel, stmts=tuple(st for st in kernel.stmts if st not in zero)), True


def context(ir: CellIR, group: bool = True) -> dict:
    """The template variables for templates/numpy/cell.py.jinja (``group=False``: no activation printed
    over several slots at once, the reference the grouping is tested against)."""
    fwd, bwd = forward_bindings(ir), backward_bindings(ir)
    backward, ds_h_zero = _without_zero_h(ir)
    pre = pre_gates(ir)
    stage1 = [g for g in ir.gates if g not in ir.stage2_gates]
    G, G1 = len(ir.gates), len(ir.stage1_gates)
    fused_in = ir.recurrent_matrix and G > 1 and _spans(ir, pre) == [(0, G)]
    forward = _with_pre(ir.forward, pre)
    neg = neg_gates(ir, forward) if fused_in and not ir.forward_hidden else ()
    layout = ""  # keyword arguments for the runtime's validation, only where the cell is not standard
    if not ir.recurrent_matrix:
        layout += ", recurrent_matrix=False"
    if ir.unit_params:
        layout += ", unit_params=" + _pytuple(ir.unit_params)
    return {
        "layout": layout,
        # forward() silences overflow once around its loop, for the sigmoid helper (see SIGMOID_SOURCE)
        "silence_exp": any(st.expr.has(sigmoid) for k in (ir.forward_hidden, ir.forward) for st in k.stmts),
        "ir": ir,
        "G": G,
        "G1": G1,
        "K": len(ir.tape),
        "stage2": [(ir.gates.index(g), ir.tape.index(f"m_{symbol_name(g)}")) for g in ir.stage2_gates],
        "seq_extra": [(j, s) for j, s in enumerate(ir.states) if s != "h" and s in ir.seq_states],
        "other_states": [(j, s) for j, s in enumerate(ir.states) if s != "h"],
        "pre_spans": _spans(ir, pre),
        # every gate reads x and h only through gi + gh, in one stage: one product per step, [x | 1 | h] @ W
        "fused_in": fused_in,
        "neg_spans": _spans(ir, neg),
        "bias_spans": _spans(ir, [g for g in stage1 if g not in pre]),
        "forward_hidden": print_kernel(_with_pre(ir.forward_hidden, pre), fwd, group),
        "forward": print_kernel(_with_neg(forward, neg), fwd, group),
        "ds_h_zero": ds_h_zero,
        "fused_dw": ir.gates_read_h and ir.shared_gate_grads and G > 1,
        "backward": print_kernel(backward, bwd, group),
        "backward_hidden": print_kernel(ir.backward_hidden, bwd, group),
    }
