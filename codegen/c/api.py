"""The exported C functions of a cell, as data: the header prints them, the manifest (hence the loader) types them.

One description serves both so the ctypes argtypes cannot drift from the prototypes: every
pointer argument is a contiguous array of the build's floating type (``real``), every size a
``size_t``. ``optional`` pointers may be NULL (meaning zeros, or "keep no tape"). Parameters follow
the cell's ``param_names``; a per-unit parameter ``w`` is the argument ``p_w`` and its gradient
``dp_w`` (prefixed, so no cell's names can collide with the fixed argument names).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..buffers import STANDARD, backward_param_buffers, param_buffers, param_shapes
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


def param_arg(name: str) -> str:
    """The C argument that carries params[name]."""
    return name if name in STANDARD else f"p_{name}"


def grad_arg(name: str) -> str:
    """The C argument that receives the gradient of params[name]."""
    return f"d{name}" if name in STANDARD else f"dp_{name}"


def functions(ir: CellIR) -> list[Function]:
    """The cell's C API in header order."""
    S = len(ir.states)
    shapes = param_shapes(ir)
    params = tuple(Arg(param_arg(b.symbol), "in", shapes[b.symbol]) for b in param_buffers(ir))
    bparams = tuple(Arg(param_arg(b.symbol), "in", shapes[b.symbol]) for b in backward_param_buffers(ir))
    grads = tuple(Arg(grad_arg(b.symbol), "out", shapes[b.symbol]) for b in param_buffers(ir))
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
            _sizes("T", "B", "X", "H") + (Arg("x", "in", "(T, B, X)"),) + bparams + (
                Arg("state0", "in", f"({S}, B, H)", optional=True),
                Arg("y", "in", "(T, B, H)"),
                Arg("tape", "in", "(tape_size)"),
                Arg("dy", "in", "(T, B, H)"),
                Arg("dstate", "in", f"({S}, B, H)", optional=True),
                Arg("dx", "out", "(T, B, X)"),
                Arg("dstate0", "out", f"({S}, B, H)"),
            ) + grads + (Arg("work", "work", "(backward_workspace_size)"),),
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


__all__ = ["STANDARD", "Arg", "Function", "functions", "grad_arg", "param_arg", "param_shapes"]
