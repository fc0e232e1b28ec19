"""Plan every generated file, write the ones that changed, and report which are stale.

Each backend maps the registered cells to ``{relative path: text}``; adding a backend means adding an
entry to BACKENDS. Nothing here knows any cell's math.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from symcell.derive import registry

from .c import c_files
from .ir import CellIR, lower
from .latex_doc import latex_files
from .numpy_backend import context
from .numpy_printer import SIGMOID_SOURCE
from .render import GENERATED, render, write_if_changed


def numpy_files(irs: list[CellIR]) -> dict[str, str]:
    """generated/numpy/: one module per cell, the shared runtime and the package file."""
    files = {"__init__.py": render("root_init.py.jinja")}
    names = [ir.name for ir in irs]
    files["numpy/__init__.py"] = render("numpy/__init__.py.jinja", cells=names)
    files["numpy/_runtime.py"] = render("numpy/_runtime.py.jinja", sigmoid_source=SIGMOID_SOURCE)
    for ir in irs:
        files[f"numpy/{ir.name}.py"] = render("numpy/cell.py.jinja", **context(ir), kernels=_kernels(context(ir)))
    return files


def _kernels(ctx: dict) -> list[tuple[str, str, list[str]]]:
    signatures = {
        "forward_hidden": "H, gi, gh, S, T, P",
        "forward": "H, gi, gh, S, N, T, P",
        "backward": "H, D, S, N, T, dgi, dgh, DS, P, DP",
        "backward_hidden": "H, DM, S, N, T, dgi, dgh, DS, P, DP",
    }
    return [(f"_{k}", sig, ctx[k]) for k, sig in signatures.items() if ctx[k]]


BACKENDS: dict[str, Callable[[list[CellIR]], dict[str, str]]] = {"numpy": numpy_files}
BACKENDS["c"] = c_files
BACKENDS["latex"] = latex_files  # generated/latex/: derivations for papers (issue 3)


@dataclass
class Plan:
    """Every file generation would write, with timings per stage (seconds)."""

    files: dict[str, str]
    cells: list[str]
    timings: dict[str, float] = field(default_factory=dict)


def plan(cells: list[str] | None = None) -> Plan:
    """Lower and render every registered cell (or the named ones) for every backend."""
    names = list(registry()) if cells is None else sorted(cells)
    timings: dict[str, float] = {}
    irs = []
    for name in names:
        start = time.perf_counter()
        irs.append(lower(name))
        timings[f"lower {name}"] = time.perf_counter() - start
    files: dict[str, str] = {}
    for backend, make in BACKENDS.items():
        start = time.perf_counter()
        files.update(make(irs))
        timings[f"render {backend}"] = time.perf_counter() - start
    return Plan(files=dict(sorted(files.items())), cells=names, timings=timings)


def write(p: Plan, out: Path = GENERATED) -> list[str]:
    """Write the planned files under ``out``; return the relative paths that changed."""
    return [rel for rel, text in p.files.items() if write_if_changed(Path(out) / rel, text)]


#: What lives in generated/ without `symcell generate` writing it: `make figures` output, `make paper`'s PDF
#: (not committed) and Python's caches.
NOT_GENERATED = ("figures/", "latex/gradflow.tex", "latex/derivations.pdf")


def orphans(p: Plan, out: Path = GENERATED) -> list[str]:
    """Relative paths under ``out`` that generation would not write: left behind by a removed or renamed cell."""
    planned = set(p.files)
    found = []
    for path in sorted(Path(out).rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_dir() or "__pycache__" in path.parts or rel.startswith(NOT_GENERATED):
            continue
        if rel not in planned:
            found.append(rel)
    return found


def stale(p: Plan, out: Path = GENERATED) -> list[str]:
    """Relative paths under ``out`` that are missing or differ from what generation would write."""
    result = []
    for rel, text in p.files.items():
        path = Path(out) / rel
        if not path.exists() or path.read_text() != text:
            result.append(rel)
    return result
