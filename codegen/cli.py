"""The ``symcell`` command: generate, check and list; other subcommands plug in through COMMANDS."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from symcell.derive import load_cell_file, registry

from . import generate as gen
from .render import GENERATED


def _shown(path: str) -> str:
    """A path as the user would type it: relative to the working directory when it is below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def _within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or below it, however spelled: relative, through a symlink, with a trailing
    slash or ``..``, or another mount of the same folder (its nearest existing ancestor is compared by inode)."""
    resolved = path.resolve()
    if resolved == folder.resolve() or folder.resolve() in resolved.parents:
        return True
    try:
        return any(p.exists() and p.samefile(folder) for p in (resolved, *resolved.parents))
    except OSError:
        return False


def _check_out(out: Path, *, partial: bool) -> None:
    """Refuse an --out that cannot be written, and a partial generation into the installed kernels: the
    project's generated/ (symcell.paths.KERNELS) holds every registered cell, and its package file and
    derivations.tex list them, so writing a subset (a --cell-file's cells, or --cell) there would drop the rest."""
    if partial and _within(out, GENERATED):
        where = "is" if out.resolve() == GENERATED.resolve() else "is inside"
        raise ValueError(f"--out {out} {where} the project's generated/ ({_shown(str(GENERATED))}), which holds "
                         "every registered cell and nothing else, so some cells (--cell, --cell-file) would drop the "
                         "others from it; pass --out DIR, a folder of your own (or no --cell: all cells)")
    check_writable_folder(out)


def cmd_generate(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cells = args.cell or None
    out = Path(args.out)
    _check_out(out, partial=bool(args.cell or args.cell_file))
    if args.cell_file:
        cells = sorted({*(cells or ()), *(n for f in args.cell_file for n in load_cell_file(f))})
    plan = gen.plan(cells)
    changed = gen.write(plan, out)
    total = time.perf_counter() - start
    noun = "cell" if len(plan.cells) == 1 else "cells"
    print(f"symcell: {len(plan.cells)} {noun} ({', '.join(plan.cells)}); {len(plan.files)} files in {_shown(args.out)}")
    if changed:
        print(f"  written ({len(changed)}): {', '.join(changed)}")
    else:
        print("  unchanged: every file already matched")
    slowest = max(plan.timings, key=plan.timings.get)
    print(f"  {total:.1f} s in all; slowest stage: {slowest} ({plan.timings[slowest]:.2f} s)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    plan = gen.plan()
    out = Path(args.out)
    stale, orphans = gen.stale(plan, out), gen.orphans(plan, out)
    if stale:
        print(f"symcell check: {len(stale)} generated file(s) are stale; run `make kernels`:")
        for rel in stale:
            print(f"  {out / rel}")
    if orphans:
        print(f"symcell check: {len(orphans)} file(s) in {_shown(args.out)} that no registered cell generates "
              "(left by a removed or renamed cell); delete them:")
        for rel in orphans:
            print(f"  {out / rel}")
    if stale or orphans:
        return 1
    print(f"symcell check: all {len(plan.files)} generated files are up to date")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for name, cell in registry().items():
        first = cell.doc().splitlines()[0] if cell.doc() else ""
        print(f"{name:14s} states={','.join(cell.states):5s} gates={','.join(cell.gates):8s} {first}")
    return 0


def _add_core(sub) -> None:
    p = sub.add_parser("generate", help="regenerate kernels into generated/ (only changed files are written)")
    p.add_argument("--out", default=str(GENERATED), help="output folder (default: the project's generated/)")
    p.add_argument("--cell", action="append", help="only this cell (repeatable)")
    p.add_argument("--cell-file", action="append", metavar="FILE",
                   help="also load the cells this Python file registers, and generate only those (needs --out)")
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("check", help="exit 1 and name the files if generated/ is stale")
    p.add_argument("--out", default=str(GENERATED), help="folder to check")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("list", help="list the registered cells")
    p.set_defaults(func=cmd_list)


#: Functions that add subcommands to the parser; other modules append theirs.
COMMANDS = [_add_core]

from .cli_c import add as _add_c  # noqa: E402 - the C backend's commands (issue 4)

COMMANDS.append(_add_c)
from .cli_derive import add as _add_derive  # noqa: E402 - latex and bounds (issue 3)

COMMANDS.append(_add_derive)
from .cli_gradflow import add as _add_gradflow  # noqa: E402 - gradient-flow diagnostics (issue 6)

COMMANDS.append(_add_gradflow)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symcell", description="Symbolic RNN cells: derivations and kernels.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def check_writable_folder(out: Path) -> None:
    """ValueError naming ``out`` and what to do when it cannot be an output folder: a file, below a file, or a
    folder (or the nearest existing ancestor of one to be made) that this user cannot write."""
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                where = "is a file" if p == out else f"is below {p}, which is a file"
                raise ValueError(f"--out {out} {where}; pass a folder (it is made if missing)")
            if not os.access(p, os.W_OK | os.X_OK):
                what = "" if p == out else f" (its parent {p} is not writable, so it cannot be made)"
                raise ValueError(f"--out {out} is not writable{what}; pass a folder you can write")
            return


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError) as exc:  # unknown cell, bad cell file, bad option values: one readable line
        print(f"symcell: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the command reads or writes: named, with the system's reason
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"symcell: error: {where}{exc.strerror or exc}; check the path and its permissions", file=sys.stderr)
        return 2
    except SyntaxError as exc:  # a --cell-file that is not valid Python
        print(f"symcell: error: {exc.filename}:{exc.lineno}: {exc.msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
