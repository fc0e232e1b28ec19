"""How tests reach the generated kernels, so every contract test runs on every backend.

``kernel(cell, backend, dtype)`` returns an object with the generated module API (CELL, STATES, GATES,
param_shapes, init_params, forward, backward, step). The NumPy modules serve both dtypes; a backend that
compiles per dtype (C) returns the build for ``dtype``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy
from symcell.derive import registry

#: The checkout the tests run in.
ROOT = Path(__file__).resolve().parent.parent

#: Backends the contract suite runs on.
BACKENDS = ["numpy", "c"]

#: Every registered cell: tests parametrised over this cover a new cell with no test edits.
CELLS = list(registry())

#: C flags that force the kernels' threaded path even at the tests' tiny shapes: every call threaded, small
#: product tiles (whole tiles and edges, k in slices of 3), several row blocks of the whole-sequence products, and a
#: batch of one computing its input projections 3 steps at a time.
FORCE_THREADED = ["-DSC_PARALLEL_MIN=1", "-DSC_BLOCKS=4", "-DSC_BLOCK_ROWS=2", "-DSC_MR=2", "-DSC_NR=4", "-DSC_KC=3",
                  "-DSC_CHUNK_ROWS=3"]


def kernel(cell: str, backend: str = "numpy", dtype=numpy.float64):
    """The generated kernel module (or loaded library) for ``cell`` on ``backend``."""
    if backend == "numpy":
        return importlib.import_module(f"symcell.kernels.numpy.{cell}")
    if backend == "c":  # one compiled build per dtype, cached on disk and in memory by codegen.c
        from symcell.ckernels import load

        return load(cell, dtype)
    raise ValueError(f"unknown backend {backend!r}")


def c_kernels(ir, lib, dtype):
    """CKernels for a library the test compiled itself from ``ir``'s sources (its manifest taken from ``ir``)."""
    from symcell.codegen.c.manifest import manifest_text

    from symcell.ckernels import CKernels
    from symcell.manifest import Manifest

    return CKernels(Manifest.parse(manifest_text(ir).encode(), f"{ir.name}.json"), lib, numpy.dtype(dtype))
