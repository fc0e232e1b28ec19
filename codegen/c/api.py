"""The exported C functions of a cell, as data: the header prints them, the loader types them.

One description serves both so the ctypes argtypes cannot drift from the prototypes: every
pointer argument is a contiguous array of the build's floating type (``real``), every size a
``size_t``. ``optional`` pointers may be NULL (meaning zeros, or "keep no tape").
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import CellIR
from .printer import CType


@dataclass(frozen=True)
class Arg:
    """One parameter: ``kind`` is "size", "in" (const real *), "out" (real *) or "work" (real *)."""

    name: str
    kind: str
    shape: str = ""
    optional: bool = False


@dataclass(frozen=True)
class Function:
    """One exported function; ``typed`` functions exist once per floating type (suffix _f64/_f32)."""

    stem: str
    ret: str
    args: tuple[Arg, ...]
    typed: bool
    doc: str

    def name(self, prefix: str, ctype: CType | None = None) -> str:
        return f"{prefix}_{self.stem}" + (f"_{ctype.suffix}" if self.typed else "")

    def prototype(self, prefix: str, ctype: CType | None = None) -> str:
        params = []
        for a in self.args:
            if a.kind == "size":
                params.append(f"size_t {a.name}")
            else:
                const = "const " if a.kind == "in" else ""
                params.append(f"{const}{ctype.name} *{a.name}")
        return f"{self.ret} {self.name(prefix, ctype)}({', '.join(params)})"


def _sizes(*names: str) -> tuple[Arg, ...]:
    return tuple(Arg(n, "size") for n in names)


def functions(ir: CellIR) -> list[Function]:
    """The cell's C API in header order."""
    G, S = len(ir.gates), len(ir.states)
    params = (
        Arg("weight_ih", "in", f"({G}*H, X)"),
        Arg("weight_hh", "in", f"({G}*H, H)"),
        Arg("bias_ih", "in", f"({G}*H)"),
        Arg("bias_hh", "in", f"({G}*H)"),
    )
    return [
        Function("tape_size", "size_t", _sizes("T", "B", "H"), False,
                 "Elements of the tape buffer forward writes and backward reads (0 on overflow)."),
        Function("forward_workspace_size", "size_t", _sizes("T", "B", "X", "H"), False,
                 "Elements of the workspace forward needs (0 on overflow)."),
        Function("backward_workspace_size", "size_t", _sizes("T", "B", "X", "H"), False,
                 "Elements of the workspace backward needs (0 on overflow)."),
        Function("step_workspace_size", "size_t", _sizes("B", "X", "H"), False,
                 "Elements of the workspace step needs (0 on overflow)."),
        Function(
            "forward", "int",
            _sizes("T", "B", "X", "H") + (Arg("x", "in", "(T, B, X)"),) + params + (
                Arg("state0", "in", f"({S}, B, H)", optional=True),
                Arg("y", "out", "(T, B, H)"),
                Arg("state", "out", f"({S}, B, H)"),
                Arg("tape", "out", "(tape_size)", optional=True),
                Arg("work", "work", "(forward_workspace_size)"),
            ),
            True, "Run the whole sequence; with a tape, record what backward needs. 0 on success.",
        ),
        Function(
            "backward", "int",
            _sizes("T", "B", "X", "H") + (
                Arg("x", "in", "(T, B, X)"),
                params[0], params[1],
                Arg("state0", "in", f"({S}, B, H)", optional=True),
                Arg("y", "in", "(T, B, H)"),
                Arg("tape", "in", "(tape_size)"),
                Arg("dy", "in", "(T, B, H)"),
                Arg("dstate", "in", f"({S}, B, H)", optional=True),
                Arg("dx", "out", "(T, B, X)"),
                Arg("dstate0", "out", f"({S}, B, H)"),
                Arg("dweight_ih", "out", f"({G}*H, X)"),
                Arg("dweight_hh", "out", f"({G}*H, H)"),
                Arg("dbias_ih", "out", f"({G}*H)"),
                Arg("dbias_hh", "out", f"({G}*H)"),
                Arg("work", "work", "(backward_workspace_size)"),
            ),
            True, "Backpropagate sum(y*dy) + sum(state*dstate) through the taped sequence. 0 on success.",
        ),
        Function(
            "step", "int",
            _sizes("B", "X", "H") + (Arg("x_t", "in", "(B, X)"),) + params + (
                Arg("state", "in", f"({S}, B, H)", optional=True),
                Arg("next_state", "out", f"({S}, B, H)"),
                Arg("work", "work", "(step_workspace_size)"),
            ),
            True, "One time step (forward with T = 1 and no tape). 0 on success.",
        ),
    ]
