"""`make figures` (analysis.figures): every figure and the LaTeX fragment are written, non-empty, and
byte-for-byte the same on a second run, so they can be committed. Tiny sizes keep this fast; the
committed figures use analysis.figures.Config()."""

from __future__ import annotations

import re

import numpy
import pytest
import symcell.derive as derive
from symcell.analysis import FIGURE_OUTPUTS, figures

SMALL = figures.Config(input_size=3, hidden_size=4, max_lag=8, seeds=3, burn_in=5)
MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-"}


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build into a fresh folder, and what a second, identical build into the same folder wrote."""
    root = tmp_path_factory.mktemp("figures")
    written, table = figures.build(root, SMALL)
    rewritten, _ = figures.build(root, SMALL)
    return root, written, rewritten, table


def test_figures_are_written_and_non_empty(built):
    root, written, _, table = built
    expected = sorted([f"figures/{n}{suffix}" for n in figures.FIGURES for suffix in MAGIC] + ["latex/gradflow.tex"])
    assert _files(root) == expected
    assert sorted(str(p.relative_to(root)) for p in written) == expected
    for rel in expected:
        data = (root / rel).read_bytes()
        assert len(data) > 1000, rel
        if rel[-4:] in MAGIC:
            assert data.startswith(MAGIC[rel[-4:]]), rel
    assert len(table.splitlines()) == 2 + len(figures.SETTINGS)
    assert all(rel.startswith(FIGURE_OUTPUTS) for rel in expected)  # what the golden test leaves out


def test_second_run_gives_identical_bytes(built):
    """build() rewrites a file only when its bytes differ: a second run that writes nothing is identical."""
    assert built[2] == []


def test_no_dates_or_versions_in_the_files(built):
    for path in (built[0] / "figures").iterdir():
        data = path.read_bytes()
        assert b"CreationDate" not in data and b"Matplotlib v" not in data and b"matplotlib.org" not in data, path.name


def test_latex_fragment_has_every_figure_and_one_row_per_setting(built):
    tex = (built[0] / "latex" / "gradflow.tex").read_text()
    assert re.findall(r"\\includegraphics(?:\[[^]]*\])?\{(\w+)\.pdf\}", tex) == list(figures.FIGURES)
    rows = [line for line in tex.splitlines() if line.strip().startswith(r"\texttt{")]
    assert len(rows) == len(figures.SETTINGS)
    assert tex.count(r"\begin{figure}") == tex.count(r"\end{figure}") == len(figures.FIGURES)


def test_table_factors_are_the_measured_ones(tmp_path):
    res = figures.measure(SMALL)
    rows = {r["label"]: r for r in figures.rows(res, figures.SETTINGS, SMALL)}
    for s in figures.SETTINGS:
        assert float(rows[s.label]["factor"]) == pytest.approx(res[s.key].factor, abs=5e-4)


def test_a_wrong_jacobian_stops_the_figures(monkeypatch):
    """The cross-check is live: perturb derive's Jacobians by 1e-6 and measuring must refuse."""
    real = derive.jacobian_numeric
    monkeypatch.setattr(derive, "jacobian_numeric", lambda *a, **k: real(*a, **k) * (1 + 1e-6))
    with pytest.raises(RuntimeError, match="differ"):
        figures.measure(SMALL, figures.SETTINGS[:1])


def test_plot_of_one_measurement(tmp_path):
    from symcell.analysis import gradflow

    r = gradflow("gru", 2, 3, 6, 2, update_bias=2.0, burn_in=0)
    for suffix in MAGIC:
        figures.plot(r, tmp_path / f"g{suffix}")
        assert (tmp_path / f"g{suffix}").read_bytes().startswith(MAGIC[suffix])
    assert numpy.isfinite(r.factor)


def _inflate(stream: bytes) -> bytes:
    import zlib

    try:
        return zlib.decompress(stream)
    except zlib.error:  # not a compressed content stream (a font program, an image)
        return b""


def test_figures_embed_no_type3_fonts_and_are_drawn_at_printed_size(built):
    """Type 3 fonts are rejected by publishers; pdf.fonttype 42 embeds TrueType. The figures are drawn
    TEXT_WIDTH wide and included at natural size, so matplotlib's point sizes are the printed ones."""
    root = built[0]
    for name in figures.FIGURES:
        data = (root / "figures" / f"{name}.pdf").read_bytes()
        assert b"/Type3" not in data, name
        assert b"/FontFile2" in data, name  # TrueType font programs
        width_pt = float(re.search(rb"/MediaBox \[ *0 0 ([\d.]+) ", data).group(1))
        assert width_pt == pytest.approx(figures.TEXT_WIDTH * 72)
        sizes = {float(v) for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S)
                 for v in re.findall(rb"/F\d+ ([\d.]+) Tf", _inflate(stream))}  # every text run's size
        assert sizes and min(sizes) >= figures.MIN_FONT_PT >= 8, (name, sorted(sizes))
    tex = (root / "latex" / "gradflow.tex").read_text()
    assert re.findall(r"\\includegraphics(\[[^]]*\])?\{", tex) and r"\includegraphics[" not in tex


def test_no_exploding_setting_is_committed():
    """Exploding settings are chaotic: their numbers change with the machine's rounding, so none is committed."""
    res = figures.measure(SMALL)
    for s in figures.SETTINGS:
        assert "init" not in s.options or float(s.options["init"].partition(":")[2] or 1) <= 1.5, s.key
    assert all(r.factor < 1.2 for r in res.values())
