"""Assemble a cell's printed derivation: the seven parts of THEORY.md, as strings for the templates.

Every formula here is printed from a derive object (the cell's equations, its Jacobian blocks, the
gamma derivations and the bound statements). What this module adds is layout: which formulas go in which
part, and where a long sum is split. The only formulas assembled from notation pieces are the
pre-activations a_k = U_k x + W_k h + b_k, because derive keeps those matrix products opaque (GEMMs).
"""

from __future__ import annotations

import re

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
    statements,
)
from symcell.derive.bptt_sum import parameter_gradient
from symcell.derive.counterexample import linear_case, spectral_radius_counterexample
from symcell.derive.escape import InputPartial, ignores_input
from symcell.derive.jacobian import BlockRef, jacobian
from symcell.derive.norms import Step
from symcell.derive.rates import direct_path_is_not_everything, escape_rate

from .latex import Notation, latex, matrix_terms, notation, split_sum

_KIND_TITLE = {
    "sufficient": "Sufficient condition for vanishing",
    "necessary": "Necessary condition for exploding",
    "carousel": "Constant error carousel",
    "gate_path": "Saturated-gate path",
}


#: Printed width (in characters of 10 pt text, about 5.5 pt each: the text width is 88) of a formula line
#: plus its reason beyond which the reason gets a row of its own.
REASON_WIDTH = 80


def _printed_width(tex: str) -> int:
    """About how many characters wide a formula prints: a command is one glyph, \\left, \\right and
    spacing commands none, braces and script markers nothing (a fraction counts both its parts: too wide,
    never too narrow)."""
    tex = re.sub(r"\\(left|right|mathrm|text|operatorname|mathbf|footnotesize)\b|\\[!,;:]|&", "", tex)
    tex = re.sub(r"\\q?quad\b", "  ", tex)
    tex = re.sub(r"\\[a-zA-Z]+", "x", tex)
    return len(re.sub(r"[{}^_\s]", "", tex))


def _steps(steps, note: Notation, label: str = "") -> list[str]:
    """align lines for derivation steps: each step's last line numbered, its reason in small text
    after its first line; continuation lines unnumbered. ``label`` goes on the last step (the conclusion)."""
    out = []
    steps = _merged(steps, note)
    for number, st in enumerate(steps):
        lines = _lines(st.expr, note) if not isinstance(st.expr, str) else [st.expr]
        note_text = rf"\text{{\footnotesize {_reason(st.reason)}}}"
        if _printed_width(lines[0]) + 0.8 * len(st.reason) > REASON_WIDTH:  # no room: a row of its own
            lines.insert(1, rf"&\qquad {note_text}")
        else:  # inline after the formula: no column widens the other rows
            lines[0] += rf" \qquad {note_text}"
        lines = [line + r" \notag" for line in lines[:-1]] + [lines[-1]]
        if label and number == len(steps) - 1:
            lines[-1] += rf" \label{{{label}}}"
        out += lines
    return out


def _merged(steps, note: Notation) -> list:
    """Runs of short one-line steps that say one thing (gates saturated at a limit, every input partial at
    the limit) printed as one line, ``a &= 1, \\quad b = 1``: a Step whose expr is that line's text."""
    out, run = [], []

    def key(st):
        if isinstance(st.expr, sympy.Eq) and isinstance(st.expr.lhs, InputPartial):
            return "input partials at the limit"
        return st.reason if st.reason == "saturated at the limit" else None

    def flush():
        if len(run) == 1:
            out.append(run[0])
        elif run:
            first, *rest = (_lines(st.expr, note)[0] for st in run)
            line = first + "".join(r", \quad " + r.replace("&", "") for r in rest)
            zero = all(isinstance(st.expr, sympy.Eq) and st.expr.rhs == 0 for st in run)
            reason = key(run[0]) + (": all 0" if zero and
                                    isinstance(run[0].expr.lhs, InputPartial) else "")
            out.append(Step(line, reason))
        run.clear()

    for st in steps:
        if run and key(st) != key(run[0]):
            flush()
        if key(st) is not None and len(_lines(st.expr, note)) == 1:
            run.append(st)
        else:
            flush()
            out.append(st)
    flush()
    return out


def _reason(text: str) -> str:
    """A step's reason as LaTeX text: symbols such as g_T, h* or T - k set as math, the rest escaped."""
    parts = re.split(r"(\b[A-Za-z]_[A-Za-z0-9]+\b|\b[A-Za-z]\*|\bT - k\b|\b1/[A-Za-z0-9]+\b)", text)
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(_tex_text(part))
        else:
            base, _, sub = part.partition("_")
            out.append(f"${base}_{{{sub}}}$" if sub else f"${part.replace('*', '^*')}$")
    return "".join(out)


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
        return "[" + r";\allowbreak\, ".join(f(g) for g in gates) + "]"  # stacked rows, breakable in text

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


def _gamma_part(name: str, note: Notation, steps: bool = True) -> dict:
    st = gamma_statement(name)
    piecewise = any(s.expr.has(sympy.Piecewise) for s in st.steps)
    how = "on each piece of $f'$" if piecewise else "from the critical points of $f'$ and its limits"
    return {"name": name, "gamma": latex(gamma(name), note), "how": how, "label": f"eq:gamma-{name}",
            "steps": _steps(st.steps, note, f"eq:gamma-{name}") if steps else []}


def _blocks(jac, note: Notation) -> list[str]:
    """align* lines for every block, blocks another block refers to first (LSTM: the c row before h)."""
    out = []
    order = sorted(jac.blocks, key=lambda key: bool(jac.blocks[key].atoms(BlockRef)))
    for j, i in order:
        expr = jac.blocks[(j, i)]
        lhs = rf"\frac{{\partial {note.state(j)}}}{{\partial {note.state(i, 't-1')}}}"
        terms = matrix_terms(expr, note) if not expr.is_ZeroMatrix else ["0"]
        lines = split_sum(lhs, terms)
        lines = [line + r" \notag" for line in lines[:-1]] + [lines[-1]]  # one number per block
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


def _statement(st, note: Notation, label: str = "") -> dict:
    return {
        "name": st.name,
        "title": _KIND_TITLE.get(st.kind, st.name.replace("_", " ")),
        "kind": st.kind,
        "hypothesis": latex(st.hypothesis, note) if st.hypothesis is not None else "",
        "conclusion": latex(st.conclusion, note),
        "steps": _steps(st.steps, note, label),
        "ignores_input": ignores_input(st) if st.kind in ("carousel", "gate_path") else False,
    }


#: BibTeX keys (templates/latex/references.bib.jinja) of each built-in cell's sources; a cell not listed
#: prints its citation text alone.
SOURCES = {
    "gru": ("cho2014",), "gru_v3": ("cho2014",), "indrnn": ("li2018",), "janet": ("westhuizen2018",),
    "lstm": ("hochreiter1997", "gers2000"), "lstm_cifg": ("greff2017",),
    "lstm_peephole": ("gers2000peephole", "gers2002"), "mgu": ("zhou2016",),
    "rnn_relu": ("elman1990", "le2015"), "rnn_sigmoid": ("bengio1994",), "rnn_tanh": ("elman1990",),
}


def _generic_note(cells, style: str) -> Notation:
    """The notation of the common section: a cell with a cell state c if any, else the first cell."""
    multi = [c for c in cells if len(get_cell(c).states) > 1]
    return notation(multi[0] if multi else cells[0], style)


def _elman_notes(cell, style: str) -> list[dict]:
    """The Elman statements of one cell, every step printed: the worked example of the common section."""
    if cell is None:
        return []
    note = notation(cell, style)
    return [{**_statement(st, note), "title": _KIND_TITLE.get(st.kind, st.name.replace("_", " ").capitalize())}
            for st in statements(cell)]


def common_context(cells: list[str], style: str = "goodfellow", figures: bool = False) -> dict:
    """The common section: gamma of every activation the cells use, the BPTT recursion and parameter
    gradient, the escape rates, and the spectral-radius caveat with its counterexample."""
    note = _generic_note(cells, style)
    elman_note = Notation(style, ("h",), ("a",))
    multi = [c for c in cells if len(get_cell(c).states) > 1]
    acts = sorted({a for c in cells for a in activations(c)})
    gated = any(classify(c) == "gated" for c in cells)
    ignoring = sorted(c for c in cells for st in statements(c) if st.kind in ("carousel", "gate_path")
                      and ignores_input(st))
    elman = [c for c in cells if classify(c) == "elman"]
    example = next((c for c in elman if gamma(activations(c)[0]) != 1), elman[0] if elman else None)
    return {
        "elman_example": example.replace("_", r"\_") if example else "",
        "elman_note": _elman_notes(example, style),
        "figures": figures,
        "gammas": [_gamma_part(a, elman_note) for a in acts],
        "recursion": _statement(recursion(multi[0] if multi else cells[0]), note, "eq:bptt"),
        "multi_state": bool(multi),
        "parameter_gradient": _statement(parameter_gradient(), elman_note, "eq:param-grad"),
        "gated": gated,
        "rate": _statement(escape_rate(), Notation(style, ("h",), ("f",)), "eq:rate"),
        "rate_bias": latex(escape_rate().conclusion.rhs, elman_note),
        "direct": _statement(direct_path_is_not_everything(), Notation(style, ("h", "c"), ("f",)), "eq:direct"),
        "ignoring": [c.replace("_", r"\_") for c in ignoring],
        "linear": _statement(linear_case(), elman_note, "eq:linear"),
        "counterexample": _statement(spectral_radius_counterexample(), elman_note, "eq:counterexample"),
    }


def cell_context(cell, style: str = "goodfellow") -> dict:
    """Everything templates/latex/cell.tex.jinja needs for one cell, already printed."""
    cell = get_cell(cell)
    note = notation(cell, style)
    jac = jacobian(cell)
    doc = cell.doc().splitlines()
    defs = [(latex(k, note), latex(v, note, odot=True)) for k, v in jac.names.defs.items()
            if not (isinstance(k, sympy.Symbol) and k.name.startswith("next_"))]
    defs = [f"{chunk[0][0]} &= {chunk[0][1]}" + "".join(rf", \quad {a} = {b}" for a, b in chunk[1:])
            for chunk in (defs[i:i + 3] for i in range(0, len(defs), 3))]  # the gates, three to a line
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
        "summary": _reason(doc[0] if doc else ""),
        "citation": _tex_text(cell.citation),
        "cite_keys": ",".join(SOURCES.get(cell.name, ())),
        "style": style,
        "ng": style == "ng",
        "z_gate": "z" in cell.gates,
        "elman": elman,
        "diagonal": kind == "diagonal",
        "diagonal_factor": latex(diagonal_form(cell)[1], note) if kind == "diagonal" else "",
        "multi_state": len(jac.states) > 1,
        "equations": _preactivations(jac, note) + defs + updates,
        "shapes": _shapes(jac, note),
        "gammas": [_gamma_part(a, note, steps=False) for a in activations(cell)],
        "blocks": _blocks(jac, note),
        "block_matrix": _block_matrix(jac, note) if len(jac.states) > 1 else "",
        "intermediates": [(note.state(j), [note.state(k) for k in ks]) for j, ks in jac.intermediates.items() if ks],
        "selection": _steps(recursion(cell).steps[1:-1], note),
        "bounds": [_statement(_conclusion_only(s) if elman else s, note) for s in bound_sts],
        "conditions": [_statement(_conclusion_only(s) if elman else _without_printed_blocks(s, jac), note,
                                  f"eq:{cell.name}-{s.name}") for s in cond_sts],
    }


def _without_printed_blocks(st, jac):
    """An escape statement without the steps that restate a block part 3 already printed."""
    def printed(step):
        e = step.expr
        return (isinstance(e, sympy.Eq) and isinstance(e.lhs, BlockRef) and e.lhs.new == e.lhs.old
                and jac.blocks.get((e.lhs.new, e.lhs.old)) == e.rhs)
    return type(st)(st.name, st.kind, st.hypothesis, st.conclusion, tuple(x for x in st.steps if not printed(x)))


def _conclusion_only(st):
    """An Elman statement reduced to its conclusion: its steps are printed once, in the common section."""
    return type(st)(st.name, st.kind, st.hypothesis, st.conclusion,
                    (Step(st.conclusion, "the steps of the common section, with this cell's gamma"),))


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


def common(cells: list[str], style: str = "goodfellow", figures: bool = False) -> str:
    """The common section every cell section refers to (gamma, BPTT, rates, caveats); ``figures``: the
    document has the measured gradient flow (generated/latex/gradflow.tex) to refer to."""
    from .render import render

    return render("latex/common.tex.jinja", **common_context(cells, style, figures))


def references() -> str:
    """The BibTeX database of the derivations (the literature and the zoo's sources)."""
    from .render import render

    return render("latex/references.bib.jinja")


def document(cells: list[str], style: str = "goodfellow", table: bool = True, figures: bool = False) -> str:
    """A complete, compilable document: the common section, the given cells' derivations (and the summary
    table), the bibliography embedded as a filecontents block (run bibtex between pdflatex passes)."""
    from .render import render

    title = "Gradient flow in recurrent cells: derivations" if len(cells) > 1 else \
        rf"Gradient flow in \texttt{{{cells[0].replace('_', chr(92) + '_')}}}: derivation"
    return render("latex/document.tex.jinja", title=title, rows=summary_rows(style) if table else [],
                  common=common(cells, style, figures), bodies=[body(c, style) for c in cells],
                  bib=references(), figures=figures)


def latex_files(irs) -> dict[str, str]:
    """The generate backend: generated/latex/<cell>.tex fragments and derivations.tex with every cell."""
    names = [ir.name for ir in irs]
    files = {f"latex/{name}.tex": body(name) for name in names}
    files["latex/common.tex"] = common(names)
    files["latex/references.bib"] = references()
    files["latex/derivations.tex"] = document(names, figures=True)
    return files


__all__ = ["SOURCES", "body", "cell_context", "common", "common_context", "document", "latex_files", "references",
           "summary_rows"]
