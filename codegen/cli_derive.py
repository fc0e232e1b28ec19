"""``symcell latex CELL`` and ``symcell bounds``: derivations for papers and the table of bounds."""

from __future__ import annotations

import argparse
import functools
import json

from symcell.derive import registry
from symcell.derive.bounds import activations, block_bounds, classify, gamma, statements
from sympy.printing.str import StrPrinter

from .latex import NOTATIONS


def cmd_latex(args: argparse.Namespace) -> int:
    from .latex_doc import body, document

    if args.standalone:
        print(document([args.cell], args.notation, table=False), end="")
    else:
        print(body(args.cell, args.notation), end="")
    return 0


class _TextPrinter(StrPrinter):
    """Plain-text math for the terminal: W_k for recurrent blocks, h_{t-1}/c_t for old/new states."""

    def _print_Symbol(self, expr):
        name = expr.name
        for prefix, out in (("next_", "{}_t"), ("gi_", "ax_{}"), ("gh_", "ah_{}"), ("U_", "W_{}")):
            if name.startswith(prefix):
                return out.format(name[len(prefix):])
        return f"{name}_{{t-1}}" if name in self.states else name

    def _print_SigmaMax(self, expr):
        return f"smax({self._print(expr.args[0])})"

    def _print_MaxAbs(self, expr):
        return f"max|{self._print(expr.args[0])}|"

    def _print_OpNorm(self, expr):
        return f"||{self._print(expr.args[0])}||"

    def _print_Jt(self, expr):
        return "J_t"

    def _print_Tends(self, expr):
        return f"{self._print(expr.args[0])} -> {'+' if expr.args[1] > 0 else '-'}inf"

    def _print_And(self, expr):
        return " and ".join(self._print(a) for a in expr.args)

    def _print_StateDerivative(self, expr):
        new, old = (a.name for a in expr.args[:2])
        return f"d{new}_t/d{old}_(t-1)"


def _text_of(expr, states=("h", "c")) -> str:
    printer = _TextPrinter()
    printer.states = tuple(states)  # old states print with their time index; gates keep their names
    return printer.doprint(expr).replace("W_a", "W")


def bounds_rows() -> list[dict]:
    """One row per cell: activations, gamma per activation, the one-step bound(s) and the condition."""
    rows = []
    for name in registry():
        sts = statements(name)
        acts = activations(name)
        states = registry()[name].states
        _text = functools.partial(_text_of, states=states)
        row = {"cell": name, "activations": acts, "gamma": {a: str(gamma(a)) for a in acts}}
        if classify(name) in ("elman", "diagonal"):
            one = next(s for s in sts if s.name == "one_step_bound")
            row["one_step_bound"] = [_text(one.conclusion)]
            vanish = next(s for s in sts if s.kind == "sufficient")
            explode = next(s for s in sts if s.kind == "necessary")
            row["condition"] = (f"vanishing if {_text(vanish.hypothesis)} (sufficient); "
                                f"exploding needs {_text(explode.hypothesis)} (necessary)")
        else:
            row["one_step_bound"] = [_text(st.expr) for st in block_bounds(name).steps]
            escapes = [s for s in sts if s.kind in ("carousel", "gate_path")]
            exact = [f"d{s.conclusion.lhs.new}_t/d{s.conclusion.lhs.old}_(t-1) = "
                     + ("I exactly (carousel, no gate needed)" if s.kind == "identity"
                        else f"{_text(s.conclusion.rhs)} exactly") for s in sts if s.kind in ("identity", "constant")]
            row["condition"] = "; ".join(exact + [
                f"{_text(s.hypothesis)}: "
                + ("direct path d{0}_T/d{0}_k -> I (carousel)" if s.kind == "carousel"
                   else "d{0}_t/d{0}_(t-1) -> I (gate path)").format(s.conclusion.lhs.args[0])
                for s in escapes
            ]) or "no escape path derived (see the block bounds)"
        rows.append(row)
    return rows


def cmd_bounds(args: argparse.Namespace) -> int:
    rows = bounds_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'cell':12s} {'activations':14s} {'gamma':20s} condition")
    for r in rows:
        gam = ", ".join(f"{a} {g}" for a, g in r["gamma"].items())
        print(f"{r['cell']:12s} {', '.join(r['activations']):14s} {gam:20s} {r['condition']}")
        for line in r["one_step_bound"]:
            print(f"{'':12s} bound: {line}")
    return 0


def add(sub) -> None:
    p = sub.add_parser("latex", help="print a cell's derivation as LaTeX (equations, Jacobian, bounds)")
    p.add_argument("cell", help="a registered cell (see `symcell list`)")
    p.add_argument("--standalone", action="store_true", help="a complete document that compiles with pdflatex")
    p.add_argument("--notation", choices=NOTATIONS, default="goodfellow", help="symbol style (default goodfellow)")
    p.set_defaults(func=cmd_latex)
    p = sub.add_parser("bounds", help="table of activations, gamma, one-step bound and condition per cell")
    p.add_argument("--json", action="store_true", help="the same table as JSON")
    p.set_defaults(func=cmd_bounds)


__all__ = ["add", "bounds_rows"]
