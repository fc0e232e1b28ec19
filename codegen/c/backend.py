"""generated/c/: one .c/.h pair per cell, rendered from templates/c/cell.{c,h}.jinja."""

from __future__ import annotations

from ..ir import CellIR
from ..render import render
from .context import context


def c_files(irs: list[CellIR]) -> dict[str, str]:
    """The C backend's entry in codegen.generate.BACKENDS."""
    files = {}
    for ir in irs:
        ctx = context(ir)
        files[f"c/{ir.name}.h"] = render("c/cell.h.jinja", **ctx)
        files[f"c/{ir.name}.c"] = render("c/cell.c.jinja", **ctx)
    return files
