"""Straight-line kernels: common-subexpression elimination and a deterministic statement order."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import sympy


@dataclass(frozen=True)
class Stmt:
    """One assignment ``target = expr``.

    role: "temp" (a local), "saved" (a local that is also a tape slot), "output" (written into a
    caller-provided buffer) or "accumulate" (added into a caller-provided buffer).
    """

    target: str
    expr: sympy.Expr
    role: str


@dataclass(frozen=True)
class Kernel:
    """Elementwise code for one hidden unit: read ``inputs``, run ``stmts``, fill ``outputs``."""

    inputs: tuple[str, ...]
    stmts: tuple[Stmt, ...]
    outputs: tuple[str, ...]

    @property
    def defined(self) -> frozenset[str]:
        return frozenset(s.target for s in self.stmts)

    @property
    def saved(self) -> tuple[str, ...]:
        return tuple(s.target for s in self.stmts if s.role == "saved")

    def __bool__(self) -> bool:
        return bool(self.stmts)


def _needed_defs(exprs, defs: dict, available: set[str]) -> list[sympy.Symbol]:
    """The activation definitions the expressions depend on, transitively, in definition order."""
    need: set[sympy.Symbol] = set()
    stack = [s for e in exprs for s in e.free_symbols]
    while stack:
        sym = stack.pop()
        if sym in defs and sym not in need and sym.name not in available:
            need.add(sym)
            stack.extend(defs[sym].free_symbols)
    return [s for s in defs if s in need]


def _toposort(stmts: list[Stmt]) -> list[Stmt]:
    """Order statements so every name is assigned before it is read; ties keep the given order."""
    index = {s.target: i for i, s in enumerate(stmts)}
    deps = [{index[str(f)] for f in s.expr.free_symbols if str(f) in index} for s in stmts]
    users: list[list[int]] = [[] for _ in stmts]
    for i, d in enumerate(deps):
        for j in d:
            users[j].append(i)
    remaining = [len(d) for d in deps]
    ready = [i for i, n in enumerate(remaining) if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(stmts[i])
        for u in users[i]:
            remaining[u] -= 1
            if remaining[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(stmts):
        raise AssertionError("cyclic kernel statements")
    return order


def _compute_in_place(stmts: list[Stmt]) -> list[Stmt]:
    """Where an output is just a temporary (``next_c = _t0``), compute that temporary in the output."""
    temps = {s.target: s for s in stmts if s.role == "temp"}
    target_of: dict[str, str] = {}  # temporary name -> output that takes its place
    for s in stmts:
        if s.role == "output" and isinstance(s.expr, sympy.Symbol) and s.expr.name in temps:
            target_of.setdefault(s.expr.name, s.target)
    subs = {temps[t].target: sympy.Symbol(o) for t, o in target_of.items()}
    subs = {sym: subs[sym.name] for st in stmts for sym in st.expr.free_symbols if sym.name in subs}
    out = []
    for s in stmts:
        if s.role == "temp" and s.target in target_of:
            out.append(Stmt(target_of[s.target], s.expr.xreplace(subs), "output"))
        elif s.role == "output" and isinstance(s.expr, sympy.Symbol) and target_of.get(s.expr.name) == s.target:
            continue
        else:
            out.append(Stmt(s.target, s.expr.xreplace(subs), s.role))
    return out


def build_kernel(
    outputs: dict[str, sympy.Expr],
    defs: dict[sympy.Symbol, sympy.Expr],
    saved: set[str],
    available: set[str] = frozenset(),
    accumulate: bool = False,
    accumulating: frozenset[str] = frozenset(),
) -> Kernel:
    """CSE the outputs together with the activation definitions they need, and schedule them.

    Args:
        outputs: output buffer name -> expression.
        defs: named activation symbol -> its defining call (e.g. r -> sigmoid(gi_r + gh_r)).
        saved: names that are tape slots (their defining statement writes into the tape).
        available: names an earlier kernel of the same step already computed (read as inputs).
        accumulate: outputs are added into their buffers instead of overwriting them.
        accumulating: the outputs that are added into their buffers even when ``accumulate`` is False
            (gradients of per-unit parameters, summed over time).
    """
    if not outputs:
        return Kernel(inputs=(), stmts=(), outputs=())
    def out_role(name: str) -> str:
        return "accumulate" if accumulate or name in accumulating else "output"

    needed = _needed_defs(outputs.values(), defs, set(available))
    named: list[tuple[str, sympy.Expr, str]] = []
    for sym in needed:
        role = out_role(sym.name) if sym.name in outputs else ("saved" if sym.name in saved else "temp")
        named.append((sym.name, defs[sym], role))
    for name, expr in outputs.items():
        if not (isinstance(expr, sympy.Symbol) and expr.name == name):
            named.append((name, sympy.sympify(expr), out_role(name)))

    temps, reduced = sympy.cse([e for _, e, _ in named], symbols=sympy.numbered_symbols("_t"), order="canonical")
    stmts = [Stmt(str(t), e, "temp") for t, e in temps]
    stmts += [Stmt(n, e, role) for (n, _, role), e in zip(named, reduced, strict=True)]
    stmts = _compute_in_place(stmts)
    stmts = _toposort(stmts)
    defined = {s.target for s in stmts}
    inputs = sorted({str(f) for s in stmts for f in s.expr.free_symbols} - defined)
    return Kernel(inputs=tuple(inputs), stmts=tuple(stmts), outputs=tuple(outputs))
