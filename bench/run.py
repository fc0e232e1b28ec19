"""`make bench`: symcell's kernels side by side with PyTorch CPU and the BLAS bound.

Usage: python -m bench.run [--rounds N] [--stream-rounds N] [--configs small,medium,large] [--cells rnn_tanh,gru,lstm]
Writes bench/results.md and bench/results.json and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
from pathlib import Path

import numpy

from . import memory
from .gemm_bound import blas_bound, gemm_shapes
from .harness import interleaved
from .placement import placement
from .targets import gemm_flops, implementations, peak_markdown

CONFIGS = {
    "small": dict(T=100, B=1, X=1, H=40),
    "medium": dict(T=100, B=32, X=64, H=128),
    "large": dict(T=200, B=64, X=256, H=512),
}
TORCH_MODULES = {"rnn_tanh": ("RNN", {"nonlinearity": "tanh"}), "gru": ("GRU", {}), "lstm": ("LSTM", {})}
HERE = Path(__file__).resolve().parent


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = numpy.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "numpy": numpy.__version__,
        "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def backends(cell: str) -> dict:
    """symcell backends available for ``cell`` in float32: the NumPy module, and C when it is built."""
    out = {"numpy": importlib.import_module(f"symcell.kernels.numpy.{cell}")}
    try:
        from symcell.ckernels import load  # the C backend, when present
    except ImportError:
        return out
    out["c"] = load(cell, numpy.float32)
    return out


def contenders(cell: str, T: int, B: int, X: int, H: int) -> dict:
    """Zero-argument callables for forward and forward+backward of every implementation."""
    import torch

    module, kwargs = TORCH_MODULES[cell]
    torch.manual_seed(0)
    net = getattr(torch.nn, module)(X, H, **kwargs)
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((T, B, X)).astype(numpy.float32)
    dy = rng.standard_normal((T, B, H)).astype(numpy.float32)
    xt = torch.tensor(x, requires_grad=True)
    dyt = torch.tensor(dy)

    def torch_forward():
        with torch.no_grad():
            net(xt)

    def torch_train():
        net.zero_grad(set_to_none=True)
        xt.grad = None
        y, _ = net(xt)
        (y * dyt).sum().backward()

    calls = {"torch fwd": torch_forward, "torch fwd+bwd": torch_train}
    params = {k: v.detach().numpy().copy() for k, v in zip(
        ("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
        (net.weight_ih_l0, net.weight_hh_l0, net.bias_ih_l0, net.bias_hh_l0), strict=True)}
    for name, m in backends(cell).items():
        calls[f"{name} fwd"] = lambda m=m: m.forward(x, params)
        calls[f"{name} fwd+bwd"] = lambda m=m: m.backward(m.forward(x, params, save=True)[2], dy)
    return calls


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    # a streaming round is a process of its own running every model once (about 1 s; see bench.streaming): 15 of
    # them let the median pass over a process that holds one model slow, and over slow stretches of the host
    parser.add_argument("--stream-rounds", type=int, default=15)
    parser.add_argument("--configs", default="small,medium,large")
    parser.add_argument("--cells", default="rnn_tanh,gru,lstm")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--sections", default="training,torch,streaming,memory",
                        help="which tables: training (vs PyTorch and the BLAS bound), torch (symcell.torch's "
                             "modules, bench.torch_modules), streaming, memory")
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))

    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))  # = the BLAS thread count on these machines
    rows = []
    probe = placement() if "training" in sections else None
    for config in args.configs.split(",") if "training" in sections else []:
        dims = CONFIGS[config]
        for cell in args.cells.split(","):
            gates = len(importlib.import_module(f"symcell.kernels.numpy.{cell}").GATES)
            timings = interleaved(contenders(cell, **dims), rounds=args.rounds, placement=probe)
            bound = blas_bound(**dims, G=gates, rounds=args.rounds, placement=probe)
            rows.append({"config": config, **dims, "cell": cell, "gemm_flops": gemm_flops(**dims, G=gates),
                         "bound_s": bound["total_s"],
                         "bound_parts_s": bound["parts_s"],
                         "timings": {k: t.as_dict() for k, t in timings.items()}})
            print(_row_text(rows[-1]), flush=True)
    result = {"machine": machine(), "rounds": args.rounds, "rows": rows,
              "placement": probe.summary() if probe else None}
    if rows:
        result["fma_peak"] = _fma_peak(torch.get_num_threads())
    if "torch" in sections:
        from . import torch_modules

        result["torch_modules"] = torch_modules.run(args.rounds, placement=probe)
    if "streaming" in sections:
        try:
            from . import streaming
        except ImportError:  # the streaming benchmark needs the fixed-size C generator
            streaming = None
        if streaming is not None:
            result["streaming"] = streaming.run(args.stream_rounds)
    if "memory" in sections:
        result["memory"] = memory.run()
    text = markdown(result)
    Path(args.out + ".json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    Path(args.out + ".md").write_text(text)
    print(text)
    return 0


def _fma_peak(cores: int) -> dict | None:
    """The FMA peak of ``cores`` cores at once (bench.peak), or None where no C compiler is found."""
    from .peak import fma_peak

    try:
        return fma_peak(cores)
    except (OSError, RuntimeError, subprocess.CalledProcessError):  # CompilerNotFoundError is a RuntimeError
        return None  # the peak table is then left out


def _row_text(row: dict) -> str:
    t = row["timings"]
    return f"{row['config']:6s} {row['cell']:8s} " + "  ".join(
        f"{k}: {v['median_s'] * 1e3:.2f}" for k, v in t.items()) + f"  bound: {row['bound_s'] * 1e3:.2f} ms"


def markdown(result: dict) -> str:
    """Every section as Markdown: training table, streaming table, memory table."""
    parts = ["## Forward and forward+backward\n\n" + training_markdown(result)] if result["rows"] else []
    if "torch_modules" in result:
        from . import torch_modules

        parts.append("## PyTorch modules (symcell.torch)\n\n" + torch_modules.markdown(result["torch_modules"]))
    if "streaming" in result:
        from . import streaming

        parts.append("## Streaming inference (fixed-size C)\n\n" + streaming.markdown(result["streaming"]))
    if "memory" in result:
        parts.append("## Tape memory\n\n" + memory.markdown(result["memory"]))
    return "\n".join(p.rstrip("\n") + "\n" for p in parts).replace("\n## ", "\n\n## ")


def training_markdown(result: dict) -> str:
    """The timings as a Markdown table: medians in ms (min-max), ratios to PyTorch and to the bound."""
    m = result["machine"]
    lines = [
        f"Measured on {m['cpu']}, {m['cores']} cores; NumPy {m['numpy']} with {m['blas']}; "
        f"PyTorch {m['torch']} CPU with {m['torch_threads']} threads; float32; median of "
        f"{result['rounds']} interleaved rounds (min-max).{_placement_text(result)}",
        "",
    ]
    impls = implementations(result)
    head = ["config", "cell", "torch fwd", "torch fwd+bwd", "BLAS bound"]
    for impl in impls:
        head += [f"{impl} fwd", f"{impl} fwd+bwd", f"{impl} / torch", f"{impl} / bound"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        t = r["timings"]

        def cell(key, t=t):
            v = t[key]
            return f"{v['median_s'] * 1e3:.3g} ({v['min_s'] * 1e3:.3g}-{v['max_s'] * 1e3:.3g})"

        vals = [r["config"], r["cell"], cell("torch fwd"), cell("torch fwd+bwd"), f"{r['bound_s'] * 1e3:.3g}"]
        for impl in impls:
            train = t[f"{impl} fwd+bwd"]["median_s"]
            vals += [cell(f"{impl} fwd"), cell(f"{impl} fwd+bwd"),
                     f"{train / t['torch fwd+bwd']['median_s']:.2f}x", f"{train / r['bound_s']:.2f}x"]
        lines.append("| " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n\n" + bound_markdown(result) + "\n" + peak_markdown(result)


def _placement_text(result: dict) -> str:
    """How the vCPU placement probes came out, and how many blocks were taken again for it."""
    p = result.get("placement")
    if not p or not p["probes"]:
        return ""
    blocks = [t for r in result["rows"] for t in r["timings"].values()]
    text = (f" Core-to-core round trip probed around every timed block (bench/placement.py): {p['near']} of "
            f"{p['probes']} probes near ({p['near_median_ns']:.0f} ns median)")
    if p["far"]:
        text += f", {p['far']} far ({p['far_median_ns']:.0f} ns)"
    return text + (f"; {sum(t.get('retaken', 0) for t in blocks)} of {sum(t['rounds'] for t in blocks)} "
                   "symcell and PyTorch blocks were taken again for a far probe.")


def bound_markdown(result: dict) -> str:
    """The BLAS bound's parts: what each kind of GEMM costs with this BLAS (ms, all of that kind together)."""
    parts = [label for label, *_ in gemm_shapes(1, 1, 1, 1, 1)]
    lines = ["The BLAS bound, part by part (ms; each kind of GEMM timed alone with NumPy's BLAS, "
             "times its count; the C kernels run the per-step products with their own packed kernel):", "",
             "| config | cell | " + " | ".join(parts) + " | total |", "|" + "---|" * (len(parts) + 3)]
    for r in result["rows"]:
        vals = [f"{r['bound_parts_s'][k] * 1e3:.3g}" for k in parts]
        lines.append(f"| {r['config']} | {r['cell']} | " + " | ".join(vals) + f" | {r['bound_s'] * 1e3:.3g} |")
    return "\n".join(lines) + "\n"


def _ms(seconds: float) -> str:
    v = seconds * 1e3
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def readme_markdown(result: dict) -> str:
    """The README's summary: forward+backward medians per config, three cells to a row."""
    lines = ["| config (T, B, X, H) | cells | PyTorch | symcell C | C / PyTorch | C / BLAS bound | symcell NumPy "
             "| NumPy / PyTorch |", "|---|---|---|---|---|---|---|---|"]
    for config, dims in CONFIGS.items():
        rows = [r for r in result["rows"] if r["config"] == config]
        if not rows:
            continue

        def ms(impl, rows=rows):
            return " / ".join(_ms(r["timings"][f"{impl} fwd+bwd"]["median_s"]) for r in rows) + " ms"

        def ratio(impl, to, rows=rows):
            return " / ".join(f"{r['timings'][f'{impl} fwd+bwd']['median_s'] / to(r):.2f}x" for r in rows)

        torch_s = lambda r: r["timings"]["torch fwd+bwd"]["median_s"]  # noqa: E731
        lines.append(f"| {config} ({dims['T']}, {dims['B']}, {dims['X']}, {dims['H']}) | "
                     f"{' / '.join(r['cell'] for r in rows)} | {ms('torch')} | {ms('c')} | {ratio('c', torch_s)} | "
                     f"{ratio('c', lambda r: r['bound_s'])} | {ms('numpy')} | {ratio('numpy', torch_s)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
