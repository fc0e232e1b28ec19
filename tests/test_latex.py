"""The printed derivations: they compile, fit the page, follow the cell, and the CLI serves them.

Compilation needs pdflatex. Without it these tests FAIL with the install command (they never skip):
a paper build that silently stopped being checked is worse than a red test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from symcell.codegen import cli
from symcell.codegen import generate as gen
from symcell.codegen.latex_doc import body, document
from symcell.derive import Cell, gamma, registry, relu

from tests.support import CELLS

INSTALL = "apt-get update && apt-get install -y texlive-latex-base texlive-latex-recommended"
MAX_OVERFULL_PT = 3.0  # "no overfull box wider than a few points"


@pytest.fixture(scope="module")
def pdflatex():
    exe = shutil.which("pdflatex")
    if exe is None:
        pytest.fail(f"pdflatex is not installed, so the LaTeX output cannot be checked. Install it with: {INSTALL}")
    return exe


def compile_tex(pdflatex, text: str, folder, name="doc") -> str:
    """Run pdflatex twice (cross-references); return the log; fail with its tail on any error."""
    (folder / f"{name}.tex").write_text(text)
    for _ in range(2):
        run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                             cwd=folder, capture_output=True, text=True, timeout=120)
        log = (folder / f"{name}.log").read_text(errors="replace")
        assert run.returncode == 0, "pdflatex failed:\n" + "\n".join(log.splitlines()[-30:])
    assert not re.search(r"^! ", log, re.M), log
    assert (folder / f"{name}.pdf").stat().st_size > 0
    return log


def overfull(log: str) -> list[float]:
    return [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


@pytest.mark.parametrize("notation", ["goodfellow", "ng"])
@pytest.mark.parametrize("cell", CELLS)
def test_each_cells_standalone_derivation_compiles_without_overfull_boxes(pdflatex, cell, notation, tmp_path,
                                                                         capsys):
    assert cli.main(["latex", cell, "--standalone", "--notation", notation]) == 0
    log = compile_tex(pdflatex, capsys.readouterr().out, tmp_path)
    wide = [w for w in overfull(log) if w > MAX_OVERFULL_PT]
    assert not wide, f"{cell} ({notation}): overfull boxes {wide} pt"


def test_the_full_document_compiles_without_overfull_boxes(pdflatex, tmp_path):
    text = gen.plan().files["latex/derivations.tex"]
    log = compile_tex(pdflatex, text, tmp_path, "derivations")
    assert not [w for w in overfull(log) if w > MAX_OVERFULL_PT]
    pages = int(re.search(r"Output written on derivations\.pdf \((\d+) pages", log).group(1))
    assert pages >= len(CELLS)


def test_the_pdf_is_byte_reproducible(pdflatex, tmp_path):
    text = document(["rnn_tanh"], table=False)
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
    outs = []
    for run in ("a", "b"):
        folder = tmp_path / run
        folder.mkdir()
        (folder / "d.tex").write_text(text)
        subprocess.run([pdflatex, "-interaction=nonstopmode", "d.tex"], cwd=folder, env=env, check=True,
                       capture_output=True, timeout=120)
        outs.append((folder / "d.pdf").read_bytes())
    assert outs[0] == outs[1]


@pytest.mark.parametrize("cell", CELLS)
def test_every_derivation_has_the_seven_parts(cell):
    text = body(cell)
    parts = re.findall(r"\\paragraph\{(\d)\.", text)
    assert parts == [str(i) for i in range(1, 8)]


def test_ng_notation_uses_gammas_and_a_for_the_hidden_state():
    ng, gf = body("lstm", "ng"), body("lstm", "goodfellow")
    for symbol in (r"\Gamma_f", r"\Gamma_u", r"\Gamma_o", r"\tilde{c}", r"a^{\langle t\rangle}"):
        assert symbol in ng and symbol not in gf
    assert "h^{(t)}" in gf and "h^{(t)}" not in ng


class TanhToRelu(Cell):
    """Not registered: rnn_tanh with relu, to show the printed derivation follows the expressions."""

    name = "rnn_tanh"
    states = ("h",)
    gates = ("a",)

    def update(self, s, a):
        return {"h": relu(a.a)}


def test_changing_a_cell_changes_its_derivation():
    before, after = body("rnn_tanh"), body(TanhToRelu())
    assert before != after
    assert r"\tanh" in before and r"\tanh" not in after
    assert r"\operatorname{relu}" in after and r"\mathbf{1}" in after  # relu' printed from SymPy's derivative


def test_lstm_derivation_shows_the_carousel_and_the_block_form():
    text = body("lstm")
    assert r"\frac{\partial c^{(t)}}{\partial c^{(t-1)}} &= D\!\left(f\right)" in text
    assert "Constant error carousel" in text and r"\prod_{t=k + 1}^{T} D\!\left({f}^{(t)}\right)" in text
    assert r"\begin{bmatrix}\dfrac{\partial h^{(t)}}" in text


def test_symcell_latex_without_standalone_is_a_fragment(capsys):
    assert cli.main(["latex", "gru"]) == 0
    out = capsys.readouterr().out
    assert r"\section{" in out and r"\documentclass" not in out


def test_symcell_latex_rejects_unknown_cells_and_notations(capsys):
    assert cli.main(["latex", "no_such_cell"]) == 2
    assert "unknown cell" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["latex", "lstm", "--notation", "bishop"])
    assert exc.value.code == 2


def test_symcell_bounds_json_has_every_cell_with_derived_gammas(capsys):
    assert cli.main(["bounds", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["cell"] for r in rows] == list(registry())
    for r in rows:
        assert r["gamma"] == {a: str(gamma(a)) for a in r["activations"]}
        assert r["one_step_bound"] and r["condition"]
    by = {r["cell"]: r for r in rows}
    assert by["rnn_sigmoid"]["one_step_bound"] == ["||J_t|| <= smax(W)/4"]
    assert "carousel" in by["lstm"]["condition"] and "gate path" in by["gru"]["condition"]


def test_symcell_bounds_table_lists_every_cell(capsys):
    assert cli.main(["bounds"]) == 0
    out = capsys.readouterr().out
    for name in registry():
        assert re.search(rf"^{name}\s", out, re.M)


def _build_with_bibtex(pdflatex, text: str, folder, name="paper") -> str:
    """pdflatex, bibtex, pdflatex, pdflatex, as `make paper` runs them; the log of the last pass."""
    bibtex = shutil.which("bibtex")
    assert bibtex, f"bibtex is missing (it comes with texlive-binaries). Install: {INSTALL}"
    compile_tex(pdflatex, text, folder, name)
    run = subprocess.run([bibtex, name], cwd=folder, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return compile_tex(pdflatex, text, folder, name)


def test_the_full_document_cites_with_bibtex_and_resolves_every_reference(pdflatex, tmp_path):
    text = gen.plan().files["latex/derivations.tex"]
    log = _build_with_bibtex(pdflatex, text, tmp_path)
    assert "undefined" not in log.lower(), [line for line in log.splitlines() if "undefined" in line.lower()]
    bbl = (tmp_path / "paper.bbl").read_text()
    for key in ("pascanu2013", "hochreiter1991", "bengio1994", "hochreiter1997", "gers2000", "cho2014",
                "chung2014", "tallec2018"):
        assert r"\bibitem[" in bbl and f"{{{key}}}" in bbl, key


def test_every_cell_source_key_is_in_the_bibliography():
    from symcell.codegen.latex_doc import SOURCES, references

    bib = references()
    keys = set(re.findall(r"^@\w+\{(\w+),", bib, re.M))
    assert {k for ks in SOURCES.values() for k in ks} <= keys
    assert set(SOURCES) <= set(registry())


def test_equations_are_numbered_and_the_common_section_is_printed_once():
    text = gen.plan().files["latex/derivations.tex"]
    assert r"\begin{align*}" not in text and text.count(r"\begin{align}") > 50
    assert text.count(r"\section{Common derivations}") == 1
    assert text.count(r"\paragraph{tanh.}") == 1  # the gamma derivation once, not once per cell
    assert text.count("its powers grow") == 0  # the wrong caveat is gone
    for label in ("eq:bptt", "eq:param-grad", "eq:rate", "eq:counterexample", "eq:linear"):
        assert text.count(rf"\label{{{label}}}") == 1, label
    assert r"\allowdisplaybreaks" in text and r"\bibliography{" in text


def test_the_counterexample_and_the_rates_are_printed():
    text = gen.plan().files["latex/common.tex"]
    assert r"\left[\begin{matrix}8 & 8\\-8 & -8\end{matrix}\right]" in text  # W
    assert r"\left[\begin{matrix}8 & 8\\-6 & -6\end{matrix}\right]" in text  # D W at the fixed point
    assert r"\rho\!\left(J^{*}\right) &= 2" in text
    assert r"b &= \log{\left(T - 1 \right)}" in text
    assert r"\frac{\partial^{+} h^{(k)}}{\partial \theta}" in text  # the immediate partial of the BPTT sum


def test_margin_notes_set_symbols_as_math():
    from symcell.codegen.latex_doc import _reason

    assert _reason("from g_T down to g_0") == "from $g_{T}$ down to $g_{0}$"
    assert _reason("the one-step bound, T - k times") == "the one-step bound, $T - k$ times"
    assert "_" not in _reason("a_b").replace("_{", "")
