"""``symcell generate-c`` (the fixed-size C variant) and ``symcell build-c`` (compile every cell's library)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from symcell.derive import registry

from .render import write_if_changed


def cmd_generate_c(args: argparse.Namespace) -> int:
    from .c.fixed import generate, param_shapes
    from .c.limits import check_fixed_sizes
    from .c.weights import read_arrays, select
    from .cli import check_writable_folder
    from .ir import lower

    check_writable_folder(Path(args.out))
    if args.model:  # a trained model file (codegen.models)
        from .models.cli import generate_c_model

        return generate_c_model(args)
    if args.cell is None or args.input_size is None or args.hidden_size is None:
        raise ValueError("generate-c needs a cell with --input-size and --hidden-size, or --model FILE")
    ir = lower(args.cell)
    check_fixed_sizes(len(ir.gates), args.input_size, args.hidden_size, args.dense)  # before any size is used
    weights = None
    if args.weights:
        shapes = param_shapes(ir, args.input_size, args.hidden_size)
        arrays = read_arrays(Path(args.weights))
        try:
            weights = select(arrays, shapes, args.hidden_size, args.dense)
        except ValueError as exc:  # what the file holds does not fit: say which file
            raise ValueError(f"--weights {args.weights}: {exc}") from None
    files = generate(args.cell, args.input_size, args.hidden_size, weights, args.dense, args.name, args.dtype)
    out = Path(args.out)
    for rel, text in files.items():
        write_if_changed(out / rel, text)
    print(f"symcell generate-c: {', '.join(str(out / rel) for rel in files)}"
          f" ({args.cell}, X={args.input_size}, H={args.hidden_size}, {args.dtype}"
          f"{', dense ' + str(args.dense) if args.dense else ''}{', weights baked in' if weights else ''})")
    return 0


def cmd_build_c(args: argparse.Namespace) -> int:
    import numpy

    from ..ckernels import load
    from ..paths import cache_dir

    start = time.perf_counter()
    cells = args.cell or list(registry())
    try:
        for cell in cells:
            for dtype in (numpy.float64, numpy.float32):
                load(cell, dtype)
    except (RuntimeError, OSError) as exc:  # no compiler, a compile error, missing sources: one message
        print(f"symcell build-c: error: {exc}", file=sys.stderr)
        return 2
    print(f"symcell build-c: {len(cells)} cells x float64/float32 loaded from {cache_dir()} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


def add(sub) -> None:
    p = sub.add_parser("generate-c", help="fixed-size C for one model (embedded / real-time streaming)")
    p.add_argument("cell", nargs="?", help="a registered cell (see `symcell list`); not with --model")
    p.add_argument("--input-size", type=int, help="X, the input features per step")
    p.add_argument("--hidden-size", type=int, help="H, the hidden units")
    p.add_argument("--model", metavar="FILE", help="a trained model: .pt, .keras, .h5, .onnx, RTNeural or GuitarML "
                   ".json (docs/models.md); gives the cell, sizes and weights")
    p.add_argument("--stack", metavar="JSON", help="with a state_dict --model: what it cannot tell (docs/models.md)")
    p.add_argument("--weights", help="bake these weights in: a .npz of the params or a torch.save'd state_dict")
    p.add_argument("--dense", type=int, metavar="N", help="add a dense output layer H -> N")
    p.add_argument("--out", default=".", help="output folder (default: the current one)")
    p.add_argument("--name", help="C prefix and file name (default: <cell>_model)")
    p.add_argument("--dtype", choices=("float", "double"), default="float", help="floating type (default: float)")
    p.set_defaults(func=cmd_generate_c)
    p = sub.add_parser("build-c", help="compile (or find cached) the C library of every cell, both dtypes")
    p.add_argument("--cell", action="append", help="only this cell (repeatable)")
    p.set_defaults(func=cmd_build_c)
