"""Assemble a cell's printed derivation: the seven parts of THEORY.md, as strings for the templates.

Every formula here is printed from a derive object (the cell's equations, its Jacobian blocks, the
gamma derivations and the bound statements). What this module adds is layout: which formulas go in which
part, and where a long sum is split. The only formulas assembled from notation pieces are the
pre-activations a_k = U_k x + W_k h + b_k, because derive keeps those matrix products opaque (GEMMs).
"""

from __future__ import annotations

import sympy
from symcell.derive import get_cell, registry
from symcell.derive.bounds import (
    activations,
    classify,
    diagonal_form,
    gamma,
    gamma_statement,
    norm_bound,
    recursion,
    spectral_radius_counterexample,
    statements,
)
from symcell.derive.jacobian import BlockRef, jacobian

from .latex import Notation, latex, matrix_terms, notation, split_sum

_KIND_TITLE = {
    "sufficient": "Sufficient condition for vanishing",
    "necessary": "Necessary condition for exploding",
    "carousel": "Constant error carousel",
    "gate_path": "Saturated-gate path",
}


def _steps(steps, note: Notation) -> list[str]:
    """align* lines for derivation steps, the reason for each set in small text beside its last line."""
    out = []
    for st in steps:
        lines = _lines(st.expr, note)
        lines[-1] += rf" \tag*{{\footnotesize {_tex_text(st.reason)}}}"  # amsmath moves it down when long
        out += lines
    return out


def _terms(expr) -> list:
    return list(expr.args) if isinstance(expr, sympy.Add) else [expr]


def _preactivations(jac, note: Notation) -> list[str]:
    """a_k = U_k x + W_k m_k + b_k lines; split into the x and h halves where the cell uses them apart."""
    ew_cell = jac.cell
    used = set().union(*(sympy.sympify(e).free_symbols for e in [*jac.names.values.values()]))
    lines = []
    for g in ew_cell.gates:
        if not ew_cell.recurrent_matrix:  # no W_k h: the two biases only ever appear summed
            lines.append(f"{note.pre(g)} &= {note.input(g)} {note.x()} + {note.bias(g)}")
            continue
        m = note.state("h", "t-1")
        if g in jac.hidden_input:
            m = rf"\left({latex(jac.hidden_input[g], note, odot=True)}\right)"
        x_part = f"{note.input(g)} {note.x()}"
        h_part = f"{note.recurrent(g)} {m}"
        together = jac.names.preactivation[g] in set().union(*(d.free_symbols for d in jac.names.defs.values()))
        if together or not any(s.name in (f"gi_{g}", f"gh_{g}") for s in used):
            lines.append(f"{note.pre(g)} &= {x_part} + {h_part} + {note.bias(g)}")
        else:
            lines.append(f"{note.pre(g, 'x')} &= {x_part} + {note.bias(g, 'x')}, \\qquad "
                         f"{note.pre(g, 'h')} = {h_part} + {note.bias(g, 'h')}")
    return lines


def _shapes(jac, note: Notation) -> dict:
    gates = jac.cell.gates
    states = ", ".join(note.state(s) for s in jac.states)
    def stack(f):  # one gate: the matrix itself; several: stacked in gate order
        if len(gates) == 1:
            return f(gates[0])
        return r"\begin{bmatrix}" + r" \\ ".join(f(g) for g in gates) + r"\end{bmatrix}"

    cell = jac.cell
    units = list(cell.unit_param_symbols().values())
    return {
        "states": states,
        "x": note.x(),
        "matrix": cell.recurrent_matrix,
        "unit_params": ", ".join(latex(u, note) for u in units),
        "unit_keys": ", ".join(rf"\texttt{{{_tex_text(u.name)}}}" for u in units),
        "recurrent": ", ".join(note.recurrent(g) for g in gates),
        "input": ", ".join(note.input(g) for g in gates),
        "weight_hh": stack(note.recurrent),
        "weight_ih": stack(note.input),
        "rows": len(gates) if len(gates) > 1 else "",
    }


def _gamma_part(name: str, note: Notation) -> dict:
    st = gamma_statement(name)
    piecewise = any(s.expr.has(sympy.Piecewise) for s in st.steps)
    how = "on each piece of $f'$" if piecewise else "from the critical points of $f'$ and its limits"
    return {"name": name, "gamma": latex(gamma(name), note), "how": how, "steps": _steps(st.steps, note)}


def _blocks(jac, note: Notation) -> list[str]:
    """align* lines for every block, blocks another block refers to first (LSTM: the c row before h)."""
    out = []
    order = sorted(jac.blocks, key=lambda key: bool(jac.blocks[key].atoms(BlockRef)))
    for j, i in order:
        expr = jac.blocks[(j, i)]
        lhs = rf"\frac{{\partial {note.state(j)}}}{{\partial {note.state(i, 't-1')}}}"
        terms = matrix_terms(expr, note) if not expr.is_ZeroMatrix else ["0"]
        lines = split_sum(lhs, terms)
        if out:  # a little air between blocks: the optional argument of the previous line's \\
            lines[0] = r"\noalign{\vskip 6pt}" + lines[0]
        out += lines
    return out


def _block_matrix(jac, note: Notation) -> str:
    rows = [" & ".join(rf"\dfrac{{\partial {note.state(j)}}}{{\partial {note.state(i, 't-1')}}}" for i in jac.states)
            for j in jac.states]
    return r"J^{(t)} = \begin{bmatrix}" + r" \\[8pt] ".join(rows) + r"\end{bmatrix}"


_REL = {"==": "=", "<=": r"\leq", "<": "<", ">": ">", ">=": r"\geq"}


def _lines(expr, note: Notation) -> list[str]:
    """align* lines for one relation: ``lhs &rel rhs``, sums split when long."""
    if not isinstance(expr, sympy.core.relational.Relational):
        return ["& " + latex(expr, note)]
    rel, lhs = _REL[expr.rel_op], latex(expr.lhs, note)
    if isinstance(expr.rhs, sympy.MatAdd):
        return split_sum(lhs, matrix_terms(expr.rhs, note), relation=rel)
    if isinstance(expr.rhs, sympy.Add) and not isinstance(expr.lhs, sympy.Derivative):
        return split_sum(lhs, [latex(t, note) for t in _terms(expr.rhs)], relation=rel)
    return [f"{lhs} &{rel} {latex(expr.rhs, note)}"]


def _statement(st, note: Notation) -> dict:
    return {
        "name": st.name,
        "title": _KIND_TITLE.get(st.kind, st.name.replace("_", " ")),
        "kind": st.kind,
        "hypothesis": latex(st.hypothesis, note) if st.hypothesis is not None else "",
        "conclusion": latex(st.conclusion, note),
        "steps": _steps(st.steps, note),
    }


def cell_context(cell, style: str = "goodfellow") -> dict:
    """Everything templates/latex/cell.tex.jinja needs for one cell, already printed."""
    cell = get_cell(cell)
    note = notation(cell, style)
    jac = jacobian(cell)
    doc = cell.doc().splitlines()
    defs = [f"{latex(k, note)} &= {latex(v, note, odot=True)}" for k, v in jac.names.defs.items()
            if not (isinstance(k, sympy.Symbol) and k.name.startswith("next_"))]
    used_inside = {k for ks in jac.intermediates.values() for k in ks}  # c' before h' = o tanh(c')
    order = sorted(jac.states, key=lambda s: s not in used_inside)
    updates = [f"{note.state(s)} &= {latex(jac.equations[s], note, odot=True)}" for s in order]
    sts = statements(cell)
    kind = classify(cell)
    elman = kind == "elman"
    bound_sts = [s for s in sts if s.kind in ("bound", "product")]
    cond_sts = [s for s in sts if s.kind in ("sufficient", "necessary", "carousel", "gate_path")]
    return {
        "name": cell.name,
        "label": cell.name.replace("_", "-"),
        "title": cell.name.replace("_", r"\_"),
        "summary": _tex_text(doc[0] if doc else ""),
        "citation": _tex_text(cell.citation),
        "style": style,
        "ng": style == "ng",
        "z_gate": "z" in cell.gates,
        "elman": elman,
        "diagonal": kind == "diagonal",
        "diagonal_factor": latex(diagonal_form(cell)[1], note) if kind == "diagonal" else "",
        "multi_state": len(jac.states) > 1,
        "equations": _preactivations(jac, note) + defs + updates,
        "shapes": _shapes(jac, note),
        "gammas": [_gamma_part(a, note) for a in activations(cell)],
        "blocks": _blocks(jac, note),
        "block_matrix": _block_matrix(jac, note) if len(jac.states) > 1 else "",
        "intermediates": [(note.state(j), [note.state(k) for k in ks]) for j, ks in jac.intermediates.items() if ks],
        "recursion": _statement(recursion(cell), note),
        "bounds": [_statement(s, note) for s in bound_sts],
        "conditions": [_statement(s, note) for s in cond_sts],
        "counterexample": _statement(spectral_radius_counterexample(), note),
    }


def _tex_text(text: str) -> str:
    """Plain prose from a docstring made safe for LaTeX (underscores, ampersands, percent signs)."""
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def summary_rows(style: str = "goodfellow") -> list[dict]:
    """One row per registered cell for the table of activations, gamma, bounds and conditions."""
    rows = []
    for name in registry():
        note = notation(name, style)
        sts = statements(name)
        elman = classify(name) in ("elman", "diagonal") or None  # the four Elman-style statements
        if elman is not None:
            bound = next(s for s in sts if s.name == "one_step_bound").conclusion.rhs
            cond = next(s for s in sts if s.kind == "sufficient").hypothesis
            need = next(s for s in sts if s.kind == "necessary").hypothesis
            condition = f"vanishing if ${latex(cond, note)}$; exploding needs ${latex(need, note)}$"
        else:
            bound = norm_bound(jacobian(name).block("h", "h"))
            escapes = [s for s in sts if s.kind in ("carousel", "gate_path")]
            exact = [f"${latex(s.conclusion, note)}$ exactly" for s in sts if s.kind in ("identity", "constant")]
            condition = "; ".join(exact + [f"${latex(s.hypothesis, note)}$: {_KIND_TITLE[s.kind].lower()}"
                                           for s in escapes])
        rows.append({
            "name": name.replace("_", r"\_"),
            "activations": ", ".join(activations(name)),
            "gammas": ", ".join(f"{a} ${latex(gamma(a), note)}$" for a in activations(name))
            .replace(r"\frac", r"\tfrac"),
            "bound": (f"${latex(bound, note)}$".replace(r"\frac", r"\tfrac") if elman is not None
                      else "see part 5"),
            "condition": condition or "none derived",
        })
    return rows


def body(cell, style: str = "goodfellow") -> str:
    """One cell's derivation as a LaTeX fragment (a section), for \\input into a paper."""
    from .render import render

    return render("latex/cell.tex.jinja", **cell_context(cell, style))


def document(cells: list[str], style: str = "goodfellow", table: bool = True) -> str:
    """A complete, compilable document with the given cells' derivations (and the summary table)."""
    from .render import render

    title = "Gradient flow in recurrent cells: derivations" if len(cells) > 1 else \
        rf"Gradient flow in \texttt{{{cells[0].replace('_', chr(92) + '_')}}}: derivation"
    return render("latex/document.tex.jinja", title=title, rows=summary_rows(style) if table else [],
                  bodies=[body(c, style) for c in cells])


def latex_files(irs) -> dict[str, str]:
    """The generate backend: generated/latex/<cell>.tex fragments and derivations.tex with every cell."""
    names = [ir.name for ir in irs]
    files = {f"latex/{name}.tex": body(name) for name in names}
    files["latex/derivations.tex"] = document(names)
    return files
__all__ = ["body", "cell_context", "document", "latex_files", "summary_rows"]
