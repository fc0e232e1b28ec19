"""The C backend: a C99 printer, per-cell templates, a fixed-size generator and a ctypes loader.

``load(cell, dtype)`` compiles generated/c/<cell>.c (cached) and returns an object with the same
API as the generated NumPy module for that cell.
"""

from .backend import c_files

__all__ = ["c_files", "load"]


def load(cell, dtype=None):
    """The compiled C kernels of ``cell`` for ``dtype`` (float64 by default); see codegen.c.loader."""
    from .loader import load as _load

    return _load(cell, dtype)
