"""Where the installed kernels are, and where compiled libraries are cached (runtime: no SymPy, no Jinja2)."""

from __future__ import annotations

import os
from pathlib import Path

from . import kernels

#: The installed kernels (a checkout's generated/): numpy/<cell>.py, and c/<cell>.c, .h and .json.
KERNELS = Path(kernels.__file__).resolve().parent


def project_root() -> Path | None:
    """The source checkout symcell runs from (editable install), or None for an installed wheel."""
    root = KERNELS.parent
    return root if (root / "pyproject.toml").is_file() and (root / "derive").is_dir() else None


def cache_dir() -> Path:
    """Where libraries go: $SYMCELL_CACHE_DIR; else .cache/symcell in a checkout (git-ignored); else the user's
    cache folder ($XDG_CACHE_HOME/symcell or ~/.cache/symcell)."""
    if os.environ.get("SYMCELL_CACHE_DIR"):
        return Path(os.environ["SYMCELL_CACHE_DIR"])
    root = project_root()
    if root is not None:
        return root / ".cache" / "symcell"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "symcell"
