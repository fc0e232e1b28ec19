"""symcell: symbolic derivation and code generation for recurrent neural network cells.

This package is the runtime: ``load`` gives a cell's generated kernels, and importing it needs numpy only
(plus a C compiler for the C backend). The generator lives beside it and needs SymPy and Jinja2:

- ``symcell.derive``: cells in SymPy, their Jacobians and bounds;
- ``symcell.codegen``: lowering, printers, templates, the ``symcell`` command;
- ``symcell.kernels``: the generated NumPy modules (``symcell.kernels.numpy.lstm``), C sources and LaTeX;
- ``symcell.analysis``: gradient-flow measurements and figures.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from .paths import KERNELS

__version__ = "0.1.0"

BACKENDS = ("numpy", "c")


def cells(path=None) -> list[str]:
    """The cells with generated kernels in ``path`` (a folder ``symcell generate --out`` wrote; default: installed)."""
    directory = Path(KERNELS if path is None else path)
    return sorted(p.stem for p in (directory / "numpy").glob("*.py") if not p.stem.startswith("_"))


def numpy_module(cell: str, path=None):
    """The generated NumPy module of ``cell``: ``symcell.kernels.numpy.<cell>``, or ``path``/numpy/<cell>.py."""
    if not isinstance(cell, str) or not cell.isidentifier():
        raise TypeError(f"cell must be a cell name (a string); got {cell!r}")
    if path is None:
        package = "symcell.kernels"
        directory = KERNELS
    else:
        directory = Path(path).resolve()
        package = _out_package(directory)
    if not (directory / "numpy" / f"{cell}.py").is_file():
        known = cells(directory) if (directory / "numpy").is_dir() else []
        raise ValueError(f"no NumPy kernels for cell {cell!r} in {directory}"
                         + (f" (it has {', '.join(known)})" if known else " (it has none)")
                         + "; generate a cell of your own with `symcell generate --cell-file FILE --out DIR` "
                         "and load it with path=DIR")
    return importlib.import_module(f"{package}.numpy.{cell}")


def _out_package(directory: Path) -> str:
    """A folder ``symcell generate --out`` wrote, imported as a package under a name of its own (its path's
    digest), so its modules and their ``_runtime`` never mix with the installed ones or another folder's."""
    name = "_symcell_out_" + hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    if name not in sys.modules:
        init = directory / "__init__.py"
        if not init.is_file():
            raise ValueError(f"{directory} holds no generated kernels (no __init__.py); "
                             "write them with `symcell generate --cell-file FILE --out DIR`")
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(directory)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return name


def load(cell: str, backend: str = "numpy", *, dtype=None, path=None):
    """A cell's kernels: an object with forward, backward, step, param_shapes, init_params and the rest of the
    generated module contract (README).

    Args:
        cell: a cell name (``symcell.cells()`` lists them).
        backend: ``"numpy"`` (the generated module; serves float32 and float64 alike) or ``"c"`` (the compiled
            library, built and cached on first use; needs a C compiler).
        dtype: the C build's floating type, float64 (default) or float32; for NumPy, checked and otherwise unused.
        path: a folder ``symcell generate --cell-file FILE --out DIR`` wrote; default: the installed kernels.
    """
    if backend == "c":
        from .ckernels import load as load_c

        return load_c(cell, dtype, path)
    if backend != "numpy":
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}; got {backend!r}")
    if dtype is not None:
        from .ckernels import _dtype

        _dtype(dtype)
    return numpy_module(cell, path)


__all__ = ["BACKENDS", "cells", "load", "numpy_module"]
