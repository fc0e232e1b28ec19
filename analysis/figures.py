"""The gradient-flow figures: norm against lag on a semilog axis, for the settings the paper discusses.

``python -m symcell.analysis.figures`` (``make figures``) measures every setting in SETTINGS, draws three figures
as PNG and PDF into generated/figures/, prints the table of fitted per-step factors and writes it, with
the figures, as the LaTeX fragment generated/latex/gradflow.tex. The output is byte-for-byte
deterministic (fixed seeds, matplotlib's default style, no dates or versions in the files), so it is
committed; a file is rewritten only when its bytes change.

Figures are drawn with the object-oriented API on a bare Figure (Agg canvas): no pyplot, no global state.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from .gradflow import KERNEL_RTOL, GradFlow, gradflow
from .table import latex_fragment, rows, text_table

GENERATED = Path(__file__).resolve().parent.parent / "generated"

#: The style every figure is drawn in, on top of matplotlib's defaults (a user's matplotlibrc is ignored).
#: Figures are drawn at the size they are printed (TEXT_WIDTH wide, included at natural size), so these
#: point sizes are the printed ones: no text below 8 pt, exponents and subscripts included (mathtext sets
#: them at 0.7 of the size: so no math scripts in 8 pt text, and y tick labels at 11.5 pt). Fonts are
#: embedded as TrueType (Type 42), never Type 3, which publishers reject.
RC = {
    "svg.hashsalt": "symcell",  # SVG ids from a fixed salt, should anyone save SVG
    "font.size": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 11.5,  # 10^k labels: mathtext sets the exponent at 0.7 of this, 8 pt
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.framealpha": 0.9,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
}
#: The printed width of a figure in inches: the paper's text width (letter paper, 2.2 cm margins) is 6.77 in.
TEXT_WIDTH = 6.5
#: The smallest font size in RC (points): what the tests hold the figures to.
MIN_FONT_PT = 8
#: No software versions or dates in the files: they are committed and diffed.
METADATA = {
    ".png": {"Software": None},
    ".pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


@dataclass(frozen=True)
class Config:
    """Sizes of the measurement behind the figures (the tests use a smaller one)."""

    input_size: int = 32
    hidden_size: int = 64
    max_lag: int = 100
    seeds: int = 9
    burn_in: int = 100
    check_lags: str = "log"

    def describe(self) -> str:
        return (f"Median over {self.seeds} seeds (weights and inputs drawn per seed); shaded: interquartile range.\n"
                f"Hidden size H = {self.hidden_size}, input size X = {self.input_size}, "
                f"inputs x ~ N(0, I) after a {self.burn_in}-step burn-in.")


@dataclass(frozen=True)
class Setting:
    key: str
    label: str
    cell: str
    options: dict = field(default_factory=dict)


#: Every measured setting: (key, legend label, cell, options of analysis.gradflow). Only settings whose
#: gradient does not grow are committed: an exploding Jacobian product is a positive Lyapunov exponent, so
#: the trajectory amplifies every rounding difference (BLAS kernel, SIMD path) until it is another
#: trajectory, and the numbers change from machine to machine (gain 3 measured 1.29-1.34 per step on one
#: machine with three BLAS/SIMD code paths). `symcell gradflow --init orthogonal:3` shows them.
SETTINGS = [
    Setting("rnn_tanh", "Elman tanh", "rnn_tanh"),
    Setting("rnn_sigmoid", "Elman sigmoid", "rnn_sigmoid"),
    Setting("gru", "GRU", "gru"),
    Setting("lstm", "LSTM", "lstm"),
    *[Setting(f"lstm_fb{b:g}", f"LSTM, forget bias {b:g}", "lstm", {"forget_bias": b}) for b in (0.0, 1.0, 3.0)],
    Setting("gru_zb0", "GRU, update bias 0", "gru", {"update_bias": 0.0}),
    Setting("gru_zb2", "GRU, update bias +2", "gru", {"update_bias": 2.0}),
    *[Setting(f"rnn_tanh_{k}{g:g}", f"Elman tanh, {k} W, gain {g:g}", "rnn_tanh", {"init": f"{k}:{g:g}"})
      for k in ("orthogonal", "gaussian") for g in (1.0, 1.5)],
]
LAG_LABEL = r"lag $l$ (steps back from $T$)"
NORM_LABEL = "gradient norm"  # the caption defines it; subscripts of 9 pt math would print at 6.3 pt


def measure(config: Config, settings: list[Setting] = SETTINGS) -> dict[str, GradFlow]:
    """Run every setting; raise if the Jacobian products and the backward kernel disagree anywhere."""
    out = {}
    for s in settings:
        r = gradflow(s.cell, config.input_size, config.hidden_size, config.max_lag, config.seeds,
                     burn_in=config.burn_in, check_lags=config.check_lags, **s.options)
        if not r.kernel_max_rel <= KERNEL_RTOL:
            raise RuntimeError(f"{s.key}: Jacobian products and backward kernel differ by {r.kernel_max_rel:.2e}")
        out[s.key] = r
    return out


def draw(ax, r: GradFlow, color: str, label: str, bound: bool = True) -> None:
    """Median norm with its interquartile band, and (dashed) the median Elman bound where it applies."""
    q1, q3 = numpy.exp(numpy.percentile(r.log_norms, [25, 75], axis=0))
    ax.fill_between(r.lags, q1, q3, color=color, alpha=0.2, linewidth=0)
    ax.plot(r.lags, r.median_norm, color=color, linewidth=1.5, label=f"{label}: {r.factor:.3f} / step")
    if bound and r.bound is not None:
        ax.plot(r.lags, r.bound, color=color, linewidth=1.0, linestyle="--",
                label=f"{label}: bound {r.bound[0]:.3f} / step")


def _decades(ax) -> None:
    """Major ticks at every k-th power of ten (k in 1, 2, 5, 10, 20, ...) so that at most 11 are labelled."""
    lo, hi = (math.log10(v) for v in ax.get_ylim())
    span = hi - lo
    step = next(k for k in (1, 2, 5, 10, 20, 50, 100, 200) if span / k <= 10)
    first = math.ceil(lo / step) * step
    ax.yaxis.set_major_locator(FixedLocator([10.0**e for e in range(first, math.floor(hi) + 1, step)]))
    ax.yaxis.set_minor_locator(NullLocator())


def _axes(ax, r: GradFlow, title: str = "") -> None:
    """Log axis, labels and the level 1; a title only where there is no caption (``symcell gradflow --plot``)."""
    ax.set_yscale("log")
    ax.set_xlim(0, r.lags[-1] + 1)
    ax.set_xlabel(LAG_LABEL)
    ax.set_ylabel(NORM_LABEL)
    if title:
        ax.set_title(title)
    ax.axhline(1.0, color="0.3", linewidth=0.8, zorder=1)


def figure_default(res: dict[str, GradFlow], config: Config) -> Figure:
    fig = Figure(figsize=(TEXT_WIDTH, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for color, key in zip(COLORS, ("rnn_tanh", "rnn_sigmoid", "gru", "lstm"), strict=False):
        draw(ax, res[key], color, next(s.label for s in SETTINGS if s.key == key))
    _axes(ax, res["rnn_tanh"])
    _decades(ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def figure_gates(res: dict[str, GradFlow], config: Config) -> Figure:
    fig = Figure(figsize=(TEXT_WIDTH, 2.9), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    for color, b in zip(COLORS, (0, 1, 3), strict=False):
        draw(left, res[f"lstm_fb{b}"], color, f"forget bias {b}")
    _axes(left, res["lstm_fb0"])
    for color, b in zip(COLORS, (0, 2), strict=False):
        draw(right, res[f"gru_zb{b}"], color, f"update bias {b:+d}" if b else "update bias 0")
    _axes(right, res["gru_zb0"])
    right.set_ylabel("")
    _decades(left)
    for ax in (left, right):
        ax.legend(loc="lower left")
    return fig


def figure_elman_init(res: dict[str, GradFlow], config: Config) -> Figure:
    fig = Figure(figsize=(TEXT_WIDTH, 2.9), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind in zip(axes, ("orthogonal", "gaussian"), strict=True):
        for color, g in zip(COLORS, (1, 1.5), strict=False):
            draw(ax, res[f"rnn_tanh_{kind}{g:g}"], color, f"gain {g:g}")
        _axes(ax, res[f"rnn_tanh_{kind}1"])
        ax.legend(loc="upper left")
    axes[1].set_ylabel("")
    _decades(axes[0])
    return fig


FIGURES = {"gradflow_default": figure_default, "gradflow_gates": figure_gates, "gradflow_elman_init": figure_elman_init}


def save(fig: Figure, base: Path) -> list[Path]:
    """Write ``base``.png and ``base``.pdf without dates or versions; only files whose bytes changed."""
    written = []
    for suffix, meta in METADATA.items():
        buf = io.BytesIO()
        fig.savefig(buf, format=suffix[1:], dpi=150, metadata=meta)
        path = base.with_suffix(suffix)
        if path.exists() and path.read_bytes() == buf.getvalue():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
        written.append(path)
    return written


def plot(r: GradFlow, path: Path) -> None:
    """One measurement as a figure (``symcell gradflow --plot``): median, band and bound, into .png/.pdf."""
    s = r.settings
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(RC)
        fig = Figure(figsize=(7.5, 5), layout="constrained")
        ax = fig.add_subplot()
        draw(ax, r, COLORS[0], r.cell)
        extra = [f"{k.replace('_', ' ')} {s[k]:g}" for k in ("forget_bias", "update_bias") if s[k] is not None]
        weights = f"weights from {s['weights']}" if s["weights"] else f"init {s['init']}"
        _axes(ax, r, ", ".join([weights, *extra]))
        _decades(ax)
        ax.legend(loc="best")
        fig.suptitle(f"{r.cell}: gradient norm against lag", fontsize=12.5, fontweight="bold")
        fig.supxlabel(Config(s["input_size"], s["hidden_size"], len(r.lags), s["seeds"], s["burn_in"]).describe(),
                      fontsize=8.5, color="0.3")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150, metadata=METADATA[path.suffix])


#: Where the LaTeX fragment looks for the figures: from the project root (`make paper`) or generated/latex/.
FIGDIRS = ("generated/figures", "../figures")


def build(out: Path = GENERATED, config: Config = Config(), figdirs: tuple[str, ...] = FIGDIRS,
          results: dict[str, GradFlow] | None = None) -> tuple[list, str]:
    """Measure (unless ``results`` are given), draw and write everything under ``out``; return (written
    paths, the printed table)."""
    res = measure(config) if results is None else results
    written = []
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(RC)
        for name, make in FIGURES.items():
            written += save(make(res, config), out / "figures" / name)
    table = rows(res, SETTINGS, config)
    tex = latex_fragment(table, config, figdirs)
    path = out / "latex" / "gradflow.tex"
    if not path.exists() or path.read_text() != tex:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tex)
        written.append(path)
    return written, text_table(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m symcell.analysis.figures", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GENERATED, help="folder that gets figures/ and latex/")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    written, table = build(args.out)
    print(table)
    shown = ", ".join(p.name for p in written) if written else "none (every file already matched)"
    try:
        where = args.out.resolve().relative_to(Path.cwd())
    except ValueError:
        where = args.out
    print(f"figures: {len(FIGURES)} figures in {where / 'figures'}; written: {shown}; "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
