"""Read a cell's C manifest (generated/c/<cell>.json): its layout and exported functions, with no generator.

symcell.codegen.c.manifest writes the file; the library compiled from the same generation returns the file's
SHA-256, which ``Manifest.check`` compares, so a library is never called with another generation's layout.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

#: The manifest formats this runtime reads (symcell.codegen.c.manifest.FORMAT writes).
FORMATS = (1,)

#: The suffix of a typed C function for each NumPy dtype name.
SUFFIXES = {"float64": "f64", "float32": "f32"}


def digest(raw: bytes) -> str:
    """A manifest file's SHA-256, as its library returns it (the generator compiles in the same function's value)."""
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class CArg:
    """One argument: ``kind`` is "size" (size_t), "in" (const real *), "out" or "work" (real *)."""

    name: str
    kind: str
    optional: bool


@dataclass(frozen=True)
class CFunction:
    """One exported function; ``typed`` ones exist once per floating type (suffix _f64 / _f32)."""

    stem: str
    ret: str
    typed: bool
    args: tuple[CArg, ...]

    def symbol(self, cell: str, dtype_name: str) -> str:
        """The function's name in the library for cell ``cell`` and floating type ``dtype_name``."""
        return f"symcell_{cell}_{self.stem}" + (f"_{SUFFIXES[dtype_name]}" if self.typed else "")


@dataclass(frozen=True)
class Manifest:
    """What a loader needs of a cell: the names and order of its states, gates, tape slots and parameters."""

    cell: str
    states: tuple[str, ...]
    gates: tuple[str, ...]
    tape: tuple[str, ...]
    seq_states: tuple[str, ...]
    params: tuple[str, ...]
    unit_params: tuple[str, ...]
    recurrent_matrix: bool
    functions: tuple[CFunction, ...]
    sha256: str

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """The manifest at ``path``; ValueError naming the file when it is not one this runtime reads."""
        return cls.parse(Path(path).read_bytes(), str(path))

    @classmethod
    def parse(cls, raw: bytes, where: str) -> Manifest:
        """A manifest's bytes (``where`` names them in errors)."""
        try:
            data = json.loads(raw)
            if data.get("format") not in FORMATS:
                raise ValueError(f"format {data.get('format')!r} (this symcell reads {FORMATS})")
            functions = tuple(
                CFunction(f["stem"], f["ret"], bool(f["typed"]),
                          tuple(CArg(a["name"], a["kind"], bool(a["optional"])) for a in f["args"]))
                for f in data["functions"])
            return cls(cell=data["cell"], states=tuple(data["states"]), gates=tuple(data["gates"]),
                       tape=tuple(data["tape"]), seq_states=tuple(data["seq_states"]), params=tuple(data["params"]),
                       unit_params=tuple(data["unit_params"]), recurrent_matrix=bool(data["recurrent_matrix"]),
                       functions=functions, sha256=digest(raw))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where} is not a symcell C manifest this version reads: {exc}; "
                             "regenerate it with `symcell generate`") from None

    def check(self, library_sha256: str, where: str) -> None:
        """Refuse a library built from another generation than this manifest (``where`` names the library)."""
        if library_sha256 != self.sha256:
            raise RuntimeError(f"{where} was built from another generation of {self.cell!r} than its manifest "
                               f"(digest {library_sha256[:12]} against {self.sha256[:12]}); "
                               "regenerate with `symcell generate` and build again")
