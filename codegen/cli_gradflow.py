"""``symcell gradflow CELL ...``: measure ||dh_T/dh_{T-l}||_2 against the lag (see analysis.gradflow)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not numpy.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite: {text!r}")
    return value


def cmd_gradflow(args: argparse.Namespace) -> int:
    from symcell.analysis import KERNEL_RTOL, gradflow  # imported here: `symcell generate` need not load it

    if args.plot is not None and Path(args.plot).suffix not in (".png", ".pdf"):
        raise ValueError(f"--plot must name a .png or .pdf file; got {args.plot}")
    if args.weights is not None and Path(args.weights).suffix in (".npz", ".pt", ".pth"):
        from .c.weights import read_arrays

        # generate-c's reader first: a file it cannot read (empty, truncated, corrupt, a pickled module)
        # is one ValueError naming it and what to do, where analysis.weights would raise the reader's own error
        read_arrays(Path(args.weights))
    r = gradflow(args.cell, args.input_size, args.hidden_size, args.max_lag, args.seeds, init=args.init,
                 forget_bias=args.forget_bias, update_bias=args.update_bias, weights=args.weights,
                 burn_in=args.burn_in, check_lags=args.check)
    if args.plot is not None:
        from symcell.analysis.figures import plot

        plot(r, Path(args.plot))
    if args.json:
        print(json.dumps(r.to_json(), indent=1))
    else:
        _print(r, args)
    if not r.kernel_max_rel <= KERNEL_RTOL and args.check != "none":
        print(f"symcell gradflow: the Jacobian products and the backward kernel disagree by {r.kernel_max_rel:.2e} "
              f"(relative; allowed {KERNEL_RTOL:g})", file=sys.stderr)
        return 1
    return 0


def _print(r, args: argparse.Namespace) -> None:
    s = r.settings
    print(f"symcell gradflow: {r.cell}, H = {s['hidden_size']}, X = {s['input_size']}, init {s['init']}"
          + (f", forget bias {s['forget_bias']:g}" if s["forget_bias"] is not None else "")
          + (f", update bias {s['update_bias']:g}" if s["update_bias"] is not None else "")
          + (f", weights {s['weights']}" if s["weights"] else "")
          + f"; {s['seeds']} seeds, burn-in {s['burn_in']}, x ~ N(0, I)")
    bound = r.bound
    lags = sorted({int(round(v)) for v in numpy.geomspace(1, len(r.lags), 12)})
    head = f"  {'lag':>5s}  {'median ||dh_T/dh_(T-l)||':>24s}"
    print(head + (f"  {'bound (gamma sigma_max)^l':>25s}" if bound is not None else ""))
    for lag in lags:
        row = f"  {lag:5d}  {r.median_norm[lag - 1]:24.4e}"
        print(row + (f"  {bound[lag - 1]:25.4e}" if bound is not None else ""))
    print(f"  per-step factor (exp of the least-squares slope of log median norm): {r.factor:.4f}")
    if bound is not None:
        print(f"  bound applies (Elman cell): gamma = {r.gamma:g}, median gamma sigma_max(W_hh) = {bound[0]:.4f}")
    else:
        print("  no (gamma sigma_max)^l bound: it applies to Elman cells h' = f(W x + U h + b) only")
    if args.check == "none":
        print("  backward-kernel cross-check: not run (--check none)")
    else:
        print(f"  backward-kernel cross-check at {s['kernel_check_lags']} lag(s) per seed: "
              f"max relative difference {r.kernel_max_rel:.1e}")
    if args.plot:
        print(f"  plot: {args.plot}")


def add(sub) -> None:
    p = sub.add_parser("gradflow", help="measure gradient norms ||dh_T/dh_(T-l)|| against the lag l",
                       description="Drive CELL with x ~ N(0, I) and measure ||dh_T/dh_(T-l)||_2 for l = 1..L from "
                       "the derived Jacobians, cross-checked against the generated backward kernel.")
    p.add_argument("cell", help="a registered cell (see `symcell list`)")
    p.add_argument("--input-size", type=int, help="X (required unless --weights)")
    p.add_argument("--hidden-size", type=int, help="H (required unless --weights)")
    p.add_argument("--max-lag", type=int, default=50, help="L, the longest lag (default 50)")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1, each drawing weights and inputs (default 5)")
    p.add_argument("--init", default="default",
                   help="default (PyTorch), orthogonal[:G] (gain x orthogonal W_hh blocks) or gaussian:G "
                   "(W_hh entries N(0, G^2/H)); default: default")
    p.add_argument("--forget-bias", type=_float, help="set the forget-gate (f) bias: bias_ih rows = B, bias_hh = 0")
    p.add_argument("--update-bias", type=_float, help="set the update-gate (z) bias: bias_ih rows = B, bias_hh = 0")
    p.add_argument("--weights", help="load weights (.npz, or a torch .pt/.pth state_dict) instead of drawing them")
    p.add_argument("--burn-in", type=int, default=100, help="steps run before the measured window (default 100)")
    p.add_argument("--check", default="log", choices=("all", "log", "none"),
                   help="lags at which to cross-check against the backward kernel: all (O(L^2) steps), "
                   "log (8 log-spaced lags, default) or none")
    p.add_argument("--json", action="store_true", help='print {"cell", "lags", "median_norm", "bound", "factor", '
                   '"settings"} as JSON')
    p.add_argument("--plot", help="also draw the curve into FILE.png or FILE.pdf")
    p.set_defaults(func=cmd_gradflow)
