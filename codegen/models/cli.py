"""``symcell generate-c --model FILE [--stack DESCRIPTION.json]``: a trained model's fixed-size C pair."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..render import write_if_changed
from . import fixed_c, read_model

#: generate-c options that --model replaces (the file gives the cell, its sizes and its weights)
REPLACED = ("cell", "input_size", "hidden_size", "weights", "dense")


def _description(path: str | None):
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"--stack {path}: not a readable JSON file: {exc}") from None


def generate_c_model(args: argparse.Namespace) -> int:
    given = [f"--{k.replace('_', '-')}" if k != "cell" else "a cell" for k in REPLACED if getattr(args, k, None)]
    if given:
        raise ValueError(f"--model reads the cell, sizes and weights from the file; drop {', '.join(given)}")
    stack = read_model(args.model, _description(args.stack))
    files = fixed_c(stack, args.name, args.dtype)
    out = Path(args.out)
    for rel, text in files.items():
        write_if_changed(out / rel, text)
    print(f"symcell generate-c: {', '.join(str(out / rel) for rel in files)} ({stack.describe()}, {args.dtype}, "
          f"weights from {args.model})")
    return 0
