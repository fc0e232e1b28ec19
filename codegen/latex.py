"""LaTeX printing of derive's objects: a SymPy LatexPrinter subclass and two notations.

The printer only chooses symbols: which letter a state, gate or matrix gets, and where the time index
goes. The expressions themselves come straight from derive.jacobian and derive.bounds, so a changed cell
prints a changed derivation. Long sums are split over lines by ``split_sum``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy
from symcell.derive import get_cell
from sympy import MatAdd
from sympy.printing.latex import LatexPrinter

NOTATIONS = ("goodfellow", "ng")
_OWN_FUNCTIONS = {"OpNorm", "SigmaMax", "SpectralRadius", "MaxAbs", "Jt", "Gradient", "At", "Dg"}

# Ng's letters for gates (Deep Learning Specialization, course 5): update, forget, output, candidate.
_NG_GATE = {"i": r"\Gamma_u", "f": r"\Gamma_f", "o": r"\Gamma_o", "r": r"\Gamma_r", "z": r"\Gamma_z"}
_NG_CANDIDATE = {"g", "n"}


@dataclass(frozen=True)
class Notation:
    """Symbol style for one cell: states, gates, pre-activations, matrices, time indices."""

    style: str
    cell_states: tuple[str, ...]
    cell_gates: tuple[str, ...]

    @property
    def elman(self) -> bool:
        return len(self.cell_gates) == 1

    def time(self, t: str) -> str:
        return f"^{{({t})}}" if self.style == "goodfellow" else rf"^{{\langle {t}\rangle}}"

    def state(self, name: str, t: str = "t") -> str:
        base = "a" if (self.style == "ng" and name == "h") else name
        return base + self.time(t)

    def gate(self, name: str) -> str:
        if self.style == "ng":
            if name in _NG_GATE:
                return _NG_GATE[name]
            if name in _NG_CANDIDATE:
                return r"\tilde{c}"
        if name == "c" and "c" not in self.cell_states:  # JANET's tanh(a_c) is a candidate, not a cell state
            return r"\tilde{c}"
        return name

    def gate_at(self, name: str, t: str) -> str:
        return f"{{{self.gate(name)}}}{self.time(t)}"

    def _letter(self, gate: str) -> str:
        if self.style == "goodfellow":
            return gate
        return {"i": "u", "g": "c", "n": "c", "a": "a"}.get(gate, gate)

    def pre(self, gate: str, part: str = "") -> str:
        base = "a" if self.style == "goodfellow" else "z"
        sup = f"^{{{part}}}" if part else ""
        return base + sup if self.elman else f"{base}{sup}_{{{self._letter(gate)}}}"

    def recurrent(self, gate: str) -> str:
        if self.style == "ng":
            return f"W_{{{self._letter(gate)}a}}"
        return "W" if self.elman else f"W_{{{gate}}}"

    def input(self, gate: str) -> str:
        if self.style == "ng":
            return f"W_{{{self._letter(gate)}x}}"
        return "U" if self.elman else f"U_{{{gate}}}"

    def bias(self, gate: str, part: str = "") -> str:
        sup = f"^{{{part}}}" if part else ""
        return f"b{sup}" if self.elman else f"b{sup}_{{{self._letter(gate)}}}"

    def x(self, t: str = "t") -> str:
        return "x" + self.time(t)

    def symbol(self, name: str) -> str | None:
        """LaTeX for a derive symbol name, or None when the printer's default is right."""
        if name in self.cell_states:
            return self.state(name, "t-1")
        if name.startswith("next_") and name[5:] in self.cell_states:
            return self.state(name[5:], "t")
        if name in self.cell_gates:
            return self.gate(name)
        for prefix, part in (("a_", ""), ("gi_", "x"), ("gh_", "h")):
            if name.startswith(prefix) and name[len(prefix):] in self.cell_gates:
                return self.pre(name[len(prefix):], part)
        if name.startswith("U_") and name[2:] in self.cell_gates:
            return self.recurrent(name[2:])
        if name.startswith("direct_") and name[7:] in self.cell_states:
            frac = rf"\frac{{\partial {self.state(name[7:], 'T')}}}{{\partial {self.state(name[7:], 'k')}}}"
            return rf"\left.{frac}\right|_{{\mathrm{{direct}}}}"
        return {"gamma": r"\gamma", "eta": r"\eta", "fprime": "f'", "fprime_z": "f'(z)", "hstar": "h^{*}",
                "Jstar": "J^{*}", "theta": r"\theta"}.get(name)


def notation(cell, style: str = "goodfellow") -> Notation:
    if style not in NOTATIONS:
        raise ValueError(f"unknown notation {style!r}; choose one of {', '.join(NOTATIONS)}")
    cell = get_cell(cell)
    return Notation(style, cell.states, cell.gates)


class CellLatexPrinter(LatexPrinter):
    """SymPy's LaTeX printer with a cell's notation, D(.) for diagonals and optional odot products."""

    def __init__(self, note: Notation, odot: bool = False):
        super().__init__()
        self.note = note
        self.odot = odot

    def _print_Symbol(self, expr, style="plain"):
        name = self.note.symbol(expr.name)
        return name if name is not None else super()._print_Symbol(expr, style)

    def _print_MatrixSymbol(self, expr):
        name = self.note.symbol(expr.name)
        return name if name is not None else super()._print_MatrixSymbol(expr)

    def _print_Diag(self, expr):  # THEORY.md's D(v) = diag(v); D(1) is the identity
        if expr.value == 1:
            return "I"
        return rf"D\!\left({self._print(expr.value)}\right)"

    def _print_Dg(self, expr, exp=None):  # the non-commutative D(v) of derive.bounds' products over time
        return rf"D\!\left({self._print(expr.args[0])}\right)"

    def _print_Identity(self, expr):  # a plain I, not SymPy's blackboard-bold default
        return "I"

    def _print_BlockRef(self, expr):
        return self._partial(expr.new, "t", expr.old, "t-1")

    def _partial(self, new, t_new, old, t_old):
        return rf"\frac{{\partial {self.note.state(new, t_new)}}}{{\partial {self.note.state(old, t_old)}}}"

    def _print_StateDerivative(self, expr):
        names = [a.name for a in expr.args if isinstance(a, sympy.Symbol) and not a.is_integer]
        if len(expr.args) == 4:  # d s_T / d r_k: one state by another
            return self._partial(names[0], self._print(expr.args[1]), names[1], self._print(expr.args[2]))
        if len(expr.args) == 3:  # d s_T / d s_k
            return self._partial(names[0], self._print(expr.args[1]), names[0], self._print(expr.args[2]))
        return self._partial(names[0], "t", names[1], "t-1")

    def _print_MatAdd(self, expr):  # keep the construction order: direct path first, then gate order
        return " + ".join(self._print_term(a) for a in expr.args)

    def _print_term(self, a):
        return self._print(a)

    def _print_MatMul(self, expr):  # parenthesise an inner sum; no sign games for matrix factors
        return " ".join(rf"\left({self._print(a)}\right)" if isinstance(a, MatAdd) else self._print(a)
                        for a in expr.args)

    def _print_OpNorm(self, expr, exp=None):
        return rf"\left\| {self._print(expr.args[0])} \right\|"

    def _print_SigmaMax(self, expr, exp=None):
        return rf"\sigma_{{\max}}\!\left({self._print(expr.args[0])}\right)"

    def _print_SpectralRadius(self, expr, exp=None):
        return rf"\rho\!\left({self._print(expr.args[0])}\right)"

    def _print_MaxAbs(self, expr, exp=None):
        return rf"\left\| {self._print(expr.args[0])} \right\|_{{\infty}}"

    def _print_Jt(self, expr, exp=None):
        return "J" + self.note.time(self._print(expr.args[0]))

    def _print_Gradient(self, expr, exp=None):
        return "g" + self.note.time(self._print(expr.args[0]))

    def _print_LocalGradient(self, expr, exp=None):
        t = self._print(expr.args[0])
        name = expr.args[1].name if len(expr.args) > 1 else "s"
        state = self.note.state(name, t) if name in self.note.cell_states else f"s{self.note.time(t)}"
        return rf"\frac{{\partial L{self.note.time(t)}}}{{\partial {state}}}"

    def _print_LossDerivative(self, expr, exp=None):  # dL/dtheta or dL^(t)/dtheta
        loss = "L" + (self.note.time(self._print(expr.args[0])) if len(expr.args) > 1 else "")
        return rf"\frac{{\partial {loss}}}{{\partial \theta}}"

    def _print_StepLossGrad(self, expr, exp=None):
        t = self._print(expr.args[0])
        return rf"\frac{{\partial L{self.note.time(t)}}}{{\partial {self.note.state('h', t)}}}"

    def _print_Immediate(self, expr, exp=None):  # Pascanu et al.'s immediate partial d+h_k/dtheta
        return rf"\frac{{\partial^{{+}} {self.note.state('h', self._print(expr.args[0]))}}}{{\partial \theta}}"

    def _print_Path(self, expr, exp=None):  # a named factor at a step: A^(t)
        return self._print(expr.args[0]) + self.note.time(self._print(expr.args[1]))

    def _print_InputPartial(self, expr, exp=None):  # d s'_j / d a^x_g
        state, gate = (a.name for a in expr.args)
        return rf"\frac{{\partial {self.note.state(state)}}}{{\partial {self.note.pre(gate, 'x')}}}"

    def _print_Selector(self, expr, exp=None):
        name = expr.args[0].name
        return f"E_{{{'a' if (self.note.style == 'ng' and name == 'h') else name}}}"

    def _print_Transpose(self, expr):
        return rf"{{{self._print(expr.args[0])}}}^{{\top}}"  # braces: J^{(t)} already has a superscript

    def _print_transpose(self, expr):
        return self._print_Transpose(expr)

    def _print_At(self, expr, exp=None):
        thing, t = expr.args
        if isinstance(thing, sympy.Symbol) and thing.name in self.note.cell_gates:
            return self.note.gate_at(thing.name, self._print(t))
        if isinstance(thing, sympy.Symbol) and thing.name == "fprime":
            pre = self.note.pre(self.note.cell_gates[0]) + self.note.time(self._print(t))
            return rf"f'\!\left({pre}\right)"
        if isinstance(thing, sympy.Symbol) and thing.name == "fprime_z":
            return rf"f'\!\left(z{self.note.time(self._print(t))}\right)"
        return self._print(thing)

    def _print_Pow(self, expr):  # (sigma_max(W)/4)^(T-k) and ||.||^2: the base in parentheses
        if isinstance(expr.base, sympy.Function) and type(expr.base).__name__ in _OWN_FUNCTIONS:
            return rf"\left({self._print(expr.base)}\right)^{{{self._print(expr.exp)}}}"
        return super()._print_Pow(expr)

    def _print_Tends(self, expr, exp=None):  # derive.bounds' limit hypothesis: a_f -> +infinity
        sign = "+" if expr.args[1] == sympy.oo else "-"
        return rf"{self._print(expr.args[0])} \to {sign}\infty"

    def _print_And(self, expr):  # several limits at once (the peephole LSTM's f and i)
        return r",\ ".join(self._print(a) for a in expr.args)

    def _print_Heaviside(self, expr, exp=None):  # relu' = 1[relu(a) > 0] (PyTorch: 0 at 0)
        return rf"\mathbf{{1}}\!\left[{self._print(expr.args[0])} > 0\right]"

    def _print_Mul(self, expr):
        comm, noncomm = expr.args_cnc()
        if noncomm:  # matrices: keep their order, commutative scalars in front
            parts = [self._factor(f) for f in comm] + [self._factor(f) for f in noncomm]
            return " ".join(parts)
        coeff, factors = expr.as_coeff_mul()
        if coeff not in (1, -1) or any(f.is_Pow and f.exp.is_negative for f in factors):
            return super()._print_Mul(expr)
        order = {f: i for i, f in enumerate(factors)}
        parts = [self._factor(f) for f in sorted(factors, key=lambda f: self._factor_key(f, order[f]))]
        body = (r" \odot " if self.odot else r" \, ").join(parts)
        return ("- " if coeff == -1 else "") + body

    def _factor(self, f):
        text = self._print(f)
        return rf"\left({text}\right)" if f.is_Add else text

    def _factor_key(self, f, position):
        """Each gate next to its complement, gates in layout order, then the rest: f (1-f) c, z h."""
        gates = self.note.cell_gates
        syms = [s for s in f.free_symbols if s.name in gates]
        if f.is_Add and len(f.free_symbols) == 1 and syms:  # 1 - f, 1 - n**2: after its gate
            return (0, gates.index(syms[0].name), 1, "")
        base = f.base if f.is_Pow else f
        if isinstance(base, sympy.Symbol) and base.name in gates:
            return (0, gates.index(base.name), 0, "")
        return (1, 0, 0, position)


def latex(expr, note: Notation, odot: bool = False) -> str:
    """Print ``expr`` in ``note``'s notation (``odot``: elementwise products as a circled dot)."""
    return CellLatexPrinter(note, odot=odot).doprint(expr)


def visible_length(tex: str) -> int:
    """A rough printed width: LaTeX with commands and braces removed."""
    tex = re.sub(r"\\(left|right|partial|frac|odot|sigma|max|langle|rangle|Gamma|tanh|infty|quad|!|,)", "x", tex)
    return len(re.sub(r"[{}\\^_]|\\[a-zA-Z]+", "", tex))


def _join(terms: list[str]) -> str:
    """Terms joined with + (a term printed with a leading minus joins with a minus)."""
    out = terms[0]
    for term in terms[1:]:
        out += f" {term}" if term.startswith("- ") else f" + {term}"
    return out


def split_sum(lhs: str, terms: list[str], width: int = 62, relation: str = "=") -> list[str]:
    """Lines for an align* environment: ``lhs &= t1 + t2`` then ``&\\quad + t3 ...``, each line short."""
    lines, current = [], []
    budget = width - visible_length(lhs)
    for term in terms:
        if current and visible_length(_join(current + [term])) > budget:
            lines.append(current)
            current = []
            budget = width - 4
        current.append(term)
    lines.append(current)
    out = [f"{lhs} &{relation} " + _join(lines[0])]
    out += [r"&\quad " + ("" if chunk[0].startswith("- ") else "+ ") + _join(chunk) for chunk in lines[1:]]
    return out


def matrix_terms(expr, note: Notation) -> list[str]:
    """The printed terms of a block (one per path), for ``split_sum``."""
    printer = CellLatexPrinter(note)
    if isinstance(expr, MatAdd):
        return [printer.doprint(a) for a in expr.args]
    return [printer.doprint(expr)]


__all__ = ["NOTATIONS", "CellLatexPrinter", "Notation", "latex", "matrix_terms", "notation", "split_sum",
           "visible_length"]
