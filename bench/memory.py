"""Tape memory per step: what symcell keeps for the backward, against the least it could keep.

Both are counted in values per hidden unit per batch element per step, and in bytes for a float32 step.
The least a backward can keep without recomputing a matrix product: for each gate, its pre-activation
(two values when the cell reads gi_k and gh_k separately, as PyTorch's GRU does for n), plus the previous
value of each state other than h (h's sequence is the output y, which the caller has anyway), less one
for each state that is itself an activation (an Elman h' = tanh(a): the derivative is read off y).
Everything else the elementwise backward reads can be recomputed from those.
"""

from __future__ import annotations

import sympy
from symcell.codegen.ir import lower
from symcell.derive import ACTIVATIONS, elementwise, registry


def minimum_values(cell: str) -> int:
    """Per-unit values per step a backward needs at least, without recomputing a GEMM (see module doc)."""
    ew = elementwise(cell)
    exprs = [*ew.update.values(), *ew.hidden_input.values()]
    count = 0
    for g in ew.cell.gates:
        a = sympy.Symbol("_a", real=True)
        only_sum = all(not e.subs(ew.gi[g], a - ew.gh[g]).has(ew.gh[g]) for e in exprs)
        count += 1 if only_sum else 2
    count += sum(1 for s in ew.cell.states if s != "h" and any(e.has(ew.state[s]) for e in exprs))
    return count - sum(1 for e in ew.update.values() if isinstance(e, ACTIVATIONS))


def kept_values(cell: str) -> int:
    """Per-unit values per step symcell's tape keeps beyond y: the tape slots and the extra state sequences."""
    ir = lower(cell)
    return len(ir.tape) + len([s for s in ir.seq_states if s != "h"])


def run(cells=None) -> list[dict]:
    rows = []
    for cell in cells or registry():
        kept, least = kept_values(cell), minimum_values(cell)
        rows.append({"cell": cell, "kept": kept, "minimum": least, "kept_bytes_f32": 4 * kept,
                     "minimum_bytes_f32": 4 * least, "tape": list(lower(cell).tape)})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "Tape per step, per hidden unit and batch element (values; bytes in float32). `y` is not counted: the "
        "caller has it. Minimum: without recomputing a matrix product.",
        "",
        "| cell | symcell keeps | minimum | what |",
        "|---|---|---|---|",
    ]
    for r in rows:
        what = ", ".join(r["tape"]) or "nothing (reads y)"
        lines.append(f"| {r['cell']} | {r['kept']} ({r['kept_bytes_f32']} B) | {r['minimum']} "
                     f"({r['minimum_bytes_f32']} B) | {what} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(run()))
