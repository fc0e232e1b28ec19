"""Lower a cell to a small backend-neutral IR: straight-line elementwise kernels plus a tape layout.

The lowering does three things no cell author should have to:

1. Names every activation application (sigmoid(a_r) -> ``r``) and replaces it by that name, innermost
   first, so forward code computes each activation once and can write it straight into the tape.
2. Reads off what the backward needs: the free symbols of the derived VJP once activations are names.
   Those values, and nothing else, become tape slots; a value equal to a new state is read from the
   state sequence instead of being stored twice.
3. Runs ``sympy.cse`` with temporaries ``_t0, _t1, ...`` and orders the statements topologically with
   ties broken by position, so the output is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy
from symcell.derive import ACTIVATIONS, Elementwise, elementwise, get_cell
from symcell.derive.cell import symbol_name

from .schedule import Kernel, Stmt, build_kernel


@dataclass(frozen=True)
class CellIR:
    """Everything a template needs to render one cell.

    Attributes:
        name, doc, citation: from the cell.
        states, gates: names in layout order; stage2_gates multiply a hidden_input, not h.
        tape: per-step tape slots written by the forward kernels (values the backward reads).
        seq_states: states whose whole sequence the tape keeps (``h`` always: it is y).
        forward_hidden: computes m_<gate> for second-stage gates (empty when there are none).
        forward: computes next_<state> for every state.
        backward: computes dgi_<gate>, dgh_<gate> (when not shared) and ds_<state> from d_<state>.
        backward_hidden: adds the pull-back of dm_<gate> through hidden_input to those outputs.
        shared_gate_grads: dgi_k == dgh_k for every gate, so one array serves both.
        unit_params: per-unit (H,) parameters; the backward kernels add their per-element gradients
            into dp_<name> buffers (summed over batch and time by the template).
        recurrent_matrix: False when the cell has no weight_hh (gh is bias_hh alone).
        param_names: the keys of the params dict, in order.
    """

    name: str
    doc: str
    citation: str
    states: tuple[str, ...]
    gates: tuple[str, ...]
    stage2_gates: tuple[str, ...]
    tape: tuple[str, ...]
    seq_states: tuple[str, ...]
    forward_hidden: Kernel
    forward: Kernel
    backward: Kernel
    backward_hidden: Kernel
    shared_gate_grads: bool
    torch_module: str | None
    torch_kwargs: tuple[tuple[str, str], ...]
    unit_params: tuple[str, ...] = ()
    recurrent_matrix: bool = True
    param_names: tuple[str, ...] = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

    @property
    def stage1_gates(self) -> tuple[str, ...]:
        return tuple(g for g in self.gates if g not in self.stage2_gates)

    @property
    def gates_read_h(self) -> bool:
        """Every gate's recurrent product reads h itself (a weight_hh and no second-stage gate): the weight and
        bias gradients then come from products of the gate gradients with [x | h_prev | 1] over the steps,
        with no separate bias sums. Both backends decide their fused weight-gradient code on this."""
        return self.recurrent_matrix and not self.stage2_gates

    def kernels(self) -> dict[str, Kernel]:
        return {
            "forward_hidden": self.forward_hidden,
            "forward": self.forward,
            "backward": self.backward,
            "backward_hidden": self.backward_hidden,
        }


def _depth(expr: sympy.Expr) -> int:
    inner = [a for a in expr.args[0].atoms(*ACTIVATIONS)]
    return 1 + max((_depth(a) for a in inner), default=0)


def _name_activations(ew: Elementwise) -> tuple[dict, dict]:
    """Give every activation application a readable, unique name; return (app -> symbol, defs).

    A name is the symbol name of the gate it reads (every symbol of that gate is prefixed, so the bare name
    is free), else ``<function>_<gate or state>``, else ``<function><j>``, with underscores appended until it
    is unique. A name not taken from a gate is never one of the cell's names nor in the generated space.
    """
    exprs = [*ew.update.values(), *ew.hidden_input.values()]
    apps = set().union(*(e.atoms(*ACTIVATIONS) for e in exprs))
    gate_of = {sym: g for g in ew.cell.gates for sym in (ew.gi[g], ew.gh[g])}
    order = {g: k for k, g in enumerate(ew.cell.gates)}

    def layout_key(app):  # innermost first, then the cell's gate order, then SymPy's canonical order
        gates = [order[gate_of[s]] for s in app.args[0].free_symbols if s in gate_of]
        return (_depth(app), min(gates, default=len(order)), sympy.default_sort_key(app))

    apps = sorted(apps, key=layout_key)
    cell = ew.cell
    user = {symbol_name(n) for n in (*cell.states, *cell.gates, *cell.unit_params)}
    taken: set[str] = set()

    def free(name: str) -> bool:
        return name not in taken and name not in user and symbol_name(name) == name

    replace: dict = {}
    defs: dict[sympy.Symbol, sympy.Expr] = {}
    for j, app in enumerate(apps):
        arg = app.args[0].xreplace(replace)
        if not arg.free_symbols:  # an activation of a constant is a constant: folded, never an array
            replace[app] = _constant(type(app)(arg))
            continue
        gates = {gate_of[s] for s in arg.free_symbols if s in gate_of}
        func = type(app).__name__
        own = symbol_name(next(iter(gates))) if len(gates) == 1 else None  # the one gate it reads
        if own is not None:  # one gate's pre-activation: name it after the gate (JANET's shifted f: sigmoid_f)
            candidates = [own] if own not in taken else [f"{func}_{own}"]
        else:
            candidates = [f"{func}_{symbol_name(s)}" for s, e in ew.update.items() if e.xreplace(replace) == arg]
        name = next((c for c in candidates if (c == own and c not in taken) or free(c)), None)
        if name is None:
            name = f"{func}{j}"
            while not free(name):
                name += "_"
        taken.add(name)
        sym = sympy.Symbol(name, real=True)
        replace[app] = sym
        defs[sym] = type(app)(arg)
    return replace, defs


def _constant(value: sympy.Expr) -> sympy.Float:
    """A constant activation (sigmoid(2)) as a float64-exact number, through its elementary form."""
    return sympy.Float(value.rewrite(sympy.exp).rewrite(sympy.Max).evalf(30), 17)


def _gradient_outputs(ew: Elementwise, grads: dict, shared: bool) -> dict[str, sympy.Expr]:
    """Backward-kernel outputs from a VJP: dgi_/dgh_ per gate (dgh_ only when it differs), ds_ per state,
    dp_ per unit parameter."""
    out = {}
    for g in ew.cell.gates:
        out[f"dgi_{symbol_name(g)}"] = grads[ew.gi[g]]
        if not shared:
            out[f"dgh_{symbol_name(g)}"] = grads[ew.gh[g]]
    out |= {f"ds_{symbol_name(s)}": grads[ew.state[s]] for s in ew.cell.states}
    return out | {f"dp_{symbol_name(n)}": grads[sym] for n, sym in ew.unit.items()}


def next_name(state: str) -> str:
    """The kernels' name of a state's new value (``next_c``)."""
    return f"next_{symbol_name(state)}"


def lower(cell) -> CellIR:
    """Lower a registered cell (or its name) to a CellIR."""
    cell = get_cell(cell)
    ew = elementwise(cell)
    replace, act_defs = _name_activations(ew)
    update = {s: e.xreplace(replace) for s, e in ew.update.items()}
    hidden = {g: e.xreplace(replace) for g, e in ew.hidden_input.items()}

    # An activation that IS a new state is computed straight into that state's buffer, unless a hidden input
    # reads it: then the first stage computes it, before any new-state buffer is written.
    read_early = set().union(*(e.free_symbols for e in hidden.values()))
    while grown := set().union(*(act_defs[s].free_symbols for s in read_early if s in act_defs)) - read_early:
        read_early |= grown
    rename = {}
    for s, e in update.items():
        if e in act_defs and e not in rename and e not in read_early:
            rename[e] = sympy.Symbol(next_name(s), real=True)
    act_defs = {rename.get(k, k): v.xreplace(rename) for k, v in act_defs.items()}
    update = {s: e.xreplace(rename) for s, e in update.items()}
    full = {**replace}
    full = {k: v.xreplace(rename) for k, v in full.items()}

    adj = ew.adjoint_symbols()
    dm = ew.hidden_adjoint_symbols()
    vjp = {k: v.xreplace(full) for k, v in ew.vjp().items()}
    hvjp = {k: v.xreplace(full) for k, v in ew.hidden_vjp().items()}
    for v in [*vjp.values(), *hvjp.values()]:
        left = v.atoms(*ACTIVATIONS)
        if left:
            raise AssertionError(f"{cell.name}: backward needs unsaved activations {left}")

    shared = all(vjp[ew.gi[g]] == vjp[ew.gh[g]] and hvjp[ew.gi[g]] == hvjp[ew.gh[g]] for g in cell.gates)

    needed = set().union(*(v.free_symbols for v in [*vjp.values(), *hvjp.values()]))
    needed -= set(adj.values()) | set(dm.values())
    raw_inputs = [s for g in cell.gates for s in (ew.gi[g], ew.gh[g])]
    tape = [s for s in act_defs if s in needed and not s.name.startswith("next_")]
    tape += [s for s in raw_inputs if s in needed]
    tape += [sympy.Symbol(f"m_{symbol_name(g)}", real=True) for g in ew.stage2_gates]
    tape_names = tuple(s.name for s in tape)
    seq_states = tuple(
        s for s in cell.states
        if s == "h" or ew.state[s] in needed or sympy.Symbol(next_name(s), real=True) in needed
    )

    m_outputs = {f"m_{symbol_name(g)}": e for g, e in hidden.items()}
    forward_hidden = build_kernel(m_outputs, act_defs, saved=set(tape_names))
    available = set(m_outputs) | {n for n in tape_names if n in forward_hidden.defined}
    forward_out = {next_name(s): e for s, e in update.items()}
    forward_out.update({f"tape_{s.name}": s for s in raw_inputs if s.name in tape_names})  # raw copies
    forward = build_kernel(forward_out, act_defs, saved=set(tape_names), available=available)

    unit_grads = frozenset(f"dp_{symbol_name(n)}" for n in ew.unit)
    backward = build_kernel(_gradient_outputs(ew, vjp, shared), {}, saved=set(), accumulating=unit_grads)
    hidden_out = {}
    if ew.stage2_gates:  # only the non-zero pull-backs through hidden_input are added in
        hidden_out = {k: v for k, v in _gradient_outputs(ew, hvjp, shared).items() if v != 0}
        # a second-stage cell always has this kernel (the templates call it): a hidden input that is a
        # constant (MinimalRNN's 0) pulls nothing back, and the kernel adds that nothing to ds_h
        hidden_out = hidden_out or {"ds_h": sympy.Integer(0)}
    backward_hidden = build_kernel(hidden_out, {}, saved=set(), accumulate=True)

    return CellIR(
        name=cell.name,
        doc=cell.doc(),
        citation=cell.citation,
        states=cell.states,
        gates=cell.gates,
        stage2_gates=ew.stage2_gates,
        tape=tape_names,
        seq_states=seq_states,
        forward_hidden=forward_hidden,
        forward=forward,
        backward=backward,
        backward_hidden=backward_hidden,
        shared_gate_grads=shared,
        torch_module=cell.torch_module,
        torch_kwargs=tuple(sorted((k, str(v)) for k, v in cell.torch_kwargs.items())),
        unit_params=tuple(cell.unit_params),
        recurrent_matrix=cell.recurrent_matrix,
        param_names=cell.param_names(),
    )


__all__ = ["CellIR", "Kernel", "Stmt", "lower", "next_name", "symbol_name"]
