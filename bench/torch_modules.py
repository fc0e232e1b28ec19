"""symcell.torch's modules through autograd, side by side with what a PyTorch user has.

Two tables, forward+backward (y = module(x); (y * dy).sum().backward()), float32, interleaved (bench.harness):

- built-in cells: symcell.torch.LSTM / GRU / RNN against torch.nn's at the medium and large configurations, and
  the LSTM at the small (streaming-size training) one;
- custom cells (janet, lstm_peephole, mgu) at the medium configuration: symcell.torch.Recurrent against the
  cell written as a PyTorch user writes it (the input projections as one product, then a Python loop over
  time), that loop run eagerly, through torch.jit.script, and through torch.compile of the whole loop; the
  compile time (the first compiled forward+backward) is reported apart.

Usage: python -m bench.torch_modules [--rounds N] [--configs medium,large] [--cells janet,mgu]
[--tables builtin,custom]
(make bench runs it as bench.run's "torch" section).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch
from torch import Tensor

CONFIGS = {
    "small": dict(T=100, B=1, X=1, H=40),
    "medium": dict(T=100, B=32, X=64, H=128),
    "large": dict(T=200, B=64, X=256, H=512),
}
BUILTIN = {"lstm": ("LSTM", {}), "gru": ("GRU", {}), "rnn_tanh": ("RNN", {"nonlinearity": "tanh"})}
BUILTIN_CONFIGS = {"small": ("lstm",), "medium": tuple(BUILTIN), "large": tuple(BUILTIN)}
CUSTOM = ("janet", "lstm_peephole", "mgu")


def janet_loop(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    """JANET: f = sigma(a_f), h' = f h + (1 - sigma(a_f - 1)) tanh(a_c); gate rows f, c."""
    gi = torch.nn.functional.linear(x, w_ih, b_ih)
    h = torch.zeros(x.shape[1], w_hh.shape[1], dtype=x.dtype)
    ys = []
    for t in range(x.shape[0]):
        a = gi[t] + torch.nn.functional.linear(h, w_hh, b_hh)
        a_f, a_c = a.chunk(2, 1)
        h = torch.sigmoid(a_f) * h + (1 - torch.sigmoid(a_f - 1)) * torch.tanh(a_c)
        ys.append(h)
    return torch.stack(ys)


def mgu_loop(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    """MGU: f = sigma(a_f), n = tanh(gi_n + W_hn (f h) + b_hn), h' = (1 - f) h + f n; gate rows f, n."""
    gi = torch.nn.functional.linear(x, w_ih, b_ih)
    H = w_hh.shape[1]
    h = torch.zeros(x.shape[1], H, dtype=x.dtype)
    w_hf, w_hn = w_hh[:H], w_hh[H:]
    b_hf, b_hn = b_hh[:H], b_hh[H:]
    ys = []
    for t in range(x.shape[0]):
        gi_f, gi_n = gi[t].chunk(2, 1)
        f = torch.sigmoid(gi_f + torch.nn.functional.linear(h, w_hf, b_hf))
        n = torch.tanh(gi_n + torch.nn.functional.linear(f * h, w_hn, b_hn))
        h = (1 - f) * h + f * n
        ys.append(h)
    return torch.stack(ys)


def lstm_peephole_loop(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, w_ci: Tensor,
                       w_cf: Tensor, w_co: Tensor) -> Tensor:
    """Peephole LSTM: i, f see c, o sees the new c'; gate rows i, f, g, o."""
    gi = torch.nn.functional.linear(x, w_ih, b_ih)
    h = torch.zeros(x.shape[1], w_hh.shape[1], dtype=x.dtype)
    c = torch.zeros_like(h)
    ys = []
    for t in range(x.shape[0]):
        a = gi[t] + torch.nn.functional.linear(h, w_hh, b_hh)
        a_i, a_f, a_g, a_o = a.chunk(4, 1)
        i = torch.sigmoid(a_i + w_ci * c)
        f = torch.sigmoid(a_f + w_cf * c)
        c = f * c + i * torch.tanh(a_g)
        h = torch.sigmoid(a_o + w_co * c) * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys)


LOOPS = {"janet": janet_loop, "mgu": mgu_loop, "lstm_peephole": lstm_peephole_loop}


def _train(forward, inputs, dy):
    """A zero-argument forward+backward: the gradients of sum(forward() * dy) into every input's .grad."""

    def call():
        for t in inputs:
            t.grad = None
        forward().mul(dy).sum().backward()

    return call


def _data(T, B, X, H):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, X, generator=g).requires_grad_()
    return x, torch.randn(T, B, H, generator=g)


def builtin_contenders(cell: str, T: int, B: int, X: int, H: int) -> dict:
    import symcell.torch

    name, kwargs = BUILTIN[cell]
    torch.manual_seed(0)
    ref = getattr(torch.nn, name)(X, H, **kwargs)
    ours = getattr(symcell.torch, name)(X, H, **kwargs)
    ours.load_state_dict(ref.state_dict())
    x, dy = _data(T, B, X, H)
    return {"torch.nn": _train(lambda: ref(x)[0], [x, *ref.parameters()], dy),
            "symcell.torch": _train(lambda: ours(x)[0], [x, *ours.parameters()], dy)}


def custom_contenders(cell: str, T: int, B: int, X: int, H: int) -> tuple[dict, dict]:
    """The contenders, and the compile time in seconds (the first compiled forward+backward)."""
    import symcell.torch

    torch.manual_seed(0)
    ours = symcell.torch.Recurrent(cell, X, H)
    params = [p.detach().clone().requires_grad_() for p in ours.parameters()]
    x, dy = _data(T, B, X, H)
    loop = LOOPS[cell]
    with warnings.catch_warnings():  # torch.jit.script is deprecated in torch 2.13, and still what users have
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(loop)
    compiled = torch.compile(loop)
    calls = {"symcell.torch": _train(lambda: ours(x)[0], [x, *ours.parameters()], dy),
             "eager loop": _train(lambda: loop(x, *params), [x, *params], dy),
             "jit.script": _train(lambda: scripted(x, *params), [x, *params], dy),
             "torch.compile": _train(lambda: compiled(x, *params), [x, *params], dy)}
    start = time.perf_counter()
    calls["torch.compile"]()
    return calls, {"compile_s": time.perf_counter() - start}


def run(rounds: int = 5, configs=("small", "medium", "large"), cells=CUSTOM, placement=None,
        tables=("builtin", "custom")) -> dict:
    from .harness import interleaved

    rows = []
    for config in configs:
        dims = CONFIGS[config]
        for cell in BUILTIN_CONFIGS[config] if "builtin" in tables else ():
            t = interleaved(builtin_contenders(cell, **dims), rounds=rounds, placement=placement)
            rows.append({"table": "builtin", "config": config, "cell": cell, **dims,
                         "timings": {k: v.as_dict() for k, v in t.items()}})
            print(_row_text(rows[-1]), flush=True)
        if config != "medium" or "custom" not in tables:
            continue
        for cell in cells:
            calls, extra = custom_contenders(cell, **dims)
            t = interleaved(calls, rounds=rounds, placement=placement)
            rows.append({"table": "custom", "config": config, "cell": cell, **dims, **extra,
                         "timings": {k: v.as_dict() for k, v in t.items()}})
            print(_row_text(rows[-1]), flush=True)
    return {"rounds": rounds, "threads": torch.get_num_threads(), "rows": rows}


def _row_text(row: dict) -> str:
    return f"{row['config']:6s} {row['cell']:14s} " + "  ".join(
        f"{k}: {v['median_s'] * 1e3:.2f} ms" for k, v in row["timings"].items())


def _ms(v: dict) -> str:
    return f"{v['median_s'] * 1e3:.3g} ({v['min_s'] * 1e3:.3g}-{v['max_s'] * 1e3:.3g})"


def markdown(result: dict) -> str:
    """Both tables: medians in ms (min-max over rounds) and symcell.torch's time as a share of each other's."""
    lines = [f"Forward+backward through autograd, float32, {result['threads']} threads, median of "
             f"{result['rounds']} interleaved rounds (min-max), ms. Targets: built-in cells <= 0.85x torch.nn at "
             "medium and large, the small LSTM <= 0.5x; custom cells <= 0.35x torch.compile and <= 0.2x the "
             "eager loop."]
    if any(r["table"] == "builtin" for r in result["rows"]):
        lines += ["", "| config | cell | torch.nn | symcell.torch | symcell / torch.nn |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        if r["table"] == "builtin":
            t = r["timings"]
            ratio = t["symcell.torch"]["median_s"] / t["torch.nn"]["median_s"]
            lines.append(f"| {r['config']} | {r['cell']} | {_ms(t['torch.nn'])} | {_ms(t['symcell.torch'])} | "
                         f"{ratio:.2f}x |")
    custom = [r for r in result["rows"] if r["table"] == "custom"]
    if custom:
        lines += ["", "| config | cell | eager loop | jit.script | torch.compile (compile s) | symcell.torch | "
                  "/ eager | / compile |", "|---|---|---|---|---|---|---|---|"]
        for r in custom:
            t = r["timings"]
            ours = t["symcell.torch"]["median_s"]
            lines.append(f"| {r['config']} | {r['cell']} | {_ms(t['eager loop'])} | {_ms(t['jit.script'])} | "
                         f"{_ms(t['torch.compile'])} ({r['compile_s']:.1f}) | {_ms(t['symcell.torch'])} | "
                         f"{ours / t['eager loop']['median_s']:.2f}x | "
                         f"{ours / t['torch.compile']['median_s']:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--configs", default="small,medium,large")
    parser.add_argument("--cells", default=",".join(CUSTOM))
    parser.add_argument("--tables", default="builtin,custom")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    result = run(args.rounds, args.configs.split(","), args.cells.split(","), tables=args.tables.split(","))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
