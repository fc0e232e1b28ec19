"""How tests reach the generated kernels, so every contract test runs on every backend.

``kernel(cell, backend, dtype)`` returns an object with the generated module API (CELL, STATES, GATES,
param_shapes, init_params, forward, backward, step). The NumPy modules serve both dtypes; a backend that
compiles per dtype (C) returns the build for ``dtype``.
"""

from __future__ import annotations

import importlib

import numpy

from derive import registry

#: Backends the contract suite runs on.
BACKENDS = ["numpy", "c"]

#: Every registered cell: tests parametrised over this cover a new cell with no test edits.
CELLS = list(registry())


def kernel(cell: str, backend: str = "numpy", dtype=numpy.float64):
    """The generated kernel module (or loaded library) for ``cell`` on ``backend``."""
    if backend == "numpy":
        return importlib.import_module(f"generated.numpy.{cell}")
    if backend == "c":  # one compiled build per dtype, cached on disk and in memory by codegen.c
        from codegen.c import load

        return load(cell, dtype)
    raise ValueError(f"unknown backend {backend!r}")
