"""The C backend: a C99 printer, per-cell templates, a fixed-size generator and a ctypes loader.

``load(cell, dtype)`` compiles generated/c/<cell>.c (cached) and returns an object with the same
API as the generated NumPy module for that cell.
"""

import numpy

from .backend import c_files

__all__ = ["c_files", "load"]


def load(cell, dtype=numpy.float64):
    """The compiled C kernels of ``cell`` for ``dtype`` (float64 or float32); see codegen.c.loader."""
    from .loader import load as _load

    return _load(cell, dtype)
