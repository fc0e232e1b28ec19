"""Jinja2 environment and deterministic file output.

Templates receive already-printed strings and layout facts; they hold no math. Output is written only
when its text changed, through a temporary file and an atomic rename, so a regeneration that changes
nothing touches nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import jinja2

from .. import templates
from ..paths import KERNELS

TEMPLATES = Path(templates.__file__).resolve().parent
#: Where `symcell generate` writes the registered cells by default: the installed kernels (a checkout's generated/).
GENERATED = KERNELS


def _pytuple(items) -> str:
    """A Python tuple literal of strings with double quotes: ("h",) or ("h", "c")."""
    items = [f'"{i}"' for i in items]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,  # a missing variable is an error at generation time
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["pytuple"] = _pytuple
    return env


def render(template: str, **context) -> str:
    """Render ``template`` (a path under templates/) with a do-not-edit header naming it."""
    env = environment()
    header = env.get_template("header.jinja").render(template=f"templates/{template}").rstrip("\n")
    return env.get_template(template).render(header=header, **context)


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it already holds exactly that; return whether it wrote."""
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True
