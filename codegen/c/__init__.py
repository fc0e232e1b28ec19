"""The C backend: a C99 printer, per-cell templates, a fixed-size generator and the manifest.

The runtime that compiles and loads the generated sources is ``symcell.load(cell, "c")`` (symcell.ckernels).
"""

from .backend import c_files

__all__ = ["c_files"]
