"""generated/c/: the shared runtime (symcell_runtime.{c,h}), and per cell a .c/.h pair rendered from
templates/c/cell.{c,h}.jinja and its manifest .json."""

from __future__ import annotations

from ..ir import CellIR
from ..render import render
from .context import context
from .manifest import digest, manifest_text
from .runtime import runtime_files


def c_files(irs: list[CellIR]) -> dict[str, str]:
    """The C backend's entry in codegen.generate.BACKENDS."""
    files = runtime_files()
    for ir in irs:
        text = manifest_text(ir)
        ctx = context(ir) | {"manifest_sha256": digest(text)}
        files[f"c/{ir.name}.json"] = text
        files[f"c/{ir.name}.h"] = render("c/cell.h.jinja", **ctx)
        files[f"c/{ir.name}.c"] = render("c/cell.c.jinja", **ctx)
    return files
