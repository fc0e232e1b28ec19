"""The table of fitted per-step factors: as plain text for the terminal, and as a LaTeX fragment.

Numbers are formatted here; the template (templates/latex/gradflow.tex.jinja) only lays them out.
"""

from __future__ import annotations

import math

from symcell.codegen.render import environment

from .gradflow import GradFlow

TEMPLATE = "latex/gradflow.tex.jinja"


def _weights(options: dict) -> str:
    if "init" in options:
        kind, _, gain = options["init"].partition(":")
        return f"{kind} W_hh, gain {gain or 1}"
    if "forget_bias" in options:
        return f"default, forget bias {options['forget_bias']:g}"
    if "update_bias" in options:
        b = options["update_bias"]
        return f"default, update bias {b:+g}" if b else "default, update bias 0"
    return "PyTorch default"


def _sci(value: float) -> tuple[str, str]:
    """(plain, LaTeX) renderings of a positive number, e.g. ('3.1e-22', '$3.1\\times10^{-22}$')."""
    if not math.isfinite(value) or value <= 0:
        return "0", "$0$"
    exponent = math.floor(math.log10(value))
    mantissa = value / 10**exponent
    if mantissa >= 9.95:  # 9.96e-3 prints as 1.0e-2
        mantissa, exponent = mantissa / 10, exponent + 1
    if -2 <= exponent <= 2:
        text = f"{value:.3g}"
        return text, f"${text}$"
    return f"{mantissa:.1f}e{exponent}", rf"${mantissa:.1f}\times10^{{{exponent}}}$"


def rows(results: dict[str, GradFlow], settings, config) -> list[dict]:
    """One row per setting, every field already a string (``*_tex`` fields are LaTeX)."""
    out = []
    for s in settings:
        r = results[s.key]
        norm, norm_tex = _sci(float(r.median_norm[-1]))
        bound = "-" if r.bound is None else f"{r.bound[0]:.3f}"
        weights = _weights(s.options)
        out.append({
            "key": s.key, "label": s.label, "cell": r.cell, "weights": weights, "factor": f"{r.factor:.3f}",
            "bound": bound,
            "norm": norm, "norm_tex": norm_tex, "cell_tex": r.cell.replace("_", r"\_"),
            "weights_tex": weights.replace("W_hh", "$W_{hh}$"), "bound_tex": "--" if r.bound is None else bound,
        })
    return out


def text_table(table: list[dict]) -> str:
    """Fixed-width table for the terminal."""
    head = ("setting", "cell", "weights", "factor/step", "gamma*sigma_max", "norm at l=L")
    keys = ("label", "cell", "weights", "factor", "bound", "norm")
    width = [max(len(h), *(len(r[k]) for r in table)) for h, k in zip(head, keys, strict=True)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, width, strict=True)).rstrip()  # noqa: E731
    out = [line(head), line("-" * w for w in width)]
    out += [line(r[k] for k in keys) for r in table]
    return "\n".join(out)


def latex_fragment(table: list[dict], config, figdirs) -> str:
    """The LaTeX fragment: the figures and the factor table (needs graphicx and booktabs)."""
    return environment().get_template(TEMPLATE).render(
        template=f"templates/{TEMPLATE}", rows=table, by={r["key"]: r for r in table}, figdirs=figdirs,
        hidden=config.hidden_size, inputs=config.input_size, seeds=config.seeds, burn_in=config.burn_in,
        max_lag=config.max_lag,
    )
