"""The issue's forward+backward targets, and each implementation's time as a share of the machine's FMA peak.

A ratio to PyTorch says who is faster; a share of the peak says how much of the hardware each one uses,
and so what a target asks for: a target of r x PyTorch's time t needs the share flops / (r t peak). Where
that share is above what any GEMM library reaches on these shapes (the BLAS bound's parts show what
OpenBLAS does), the target is out of reach on this machine, and the table shows by how much.
"""

from __future__ import annotations

from .gemm_bound import gemm_shapes

#: forward+backward time as a multiple of PyTorch's: per config, and per (config, cell) where it differs
TARGETS = {
    "c": {"small": 0.2, "medium": 0.8, "large": 0.9},
    "numpy": {"medium": 1.0, "large": 1.0, ("medium", "lstm"): 1.5},
}


def target(impl: str, config: str, cell: str) -> float | None:
    """The target ratio to PyTorch for ``impl`` ("c", "numpy") on one row, or None where there is none."""
    t = TARGETS.get(impl, {})
    return t.get((config, cell), t.get(config))


def implementations(result: dict) -> list[str]:
    """The symcell implementations a benchmark result times ("c", "numpy"), in table order."""
    return sorted({k.rsplit(" ", 1)[0] for r in result["rows"] for k in r["timings"]} - {"torch"})


def gemm_flops(T: int, B: int, X: int, H: int, G: int) -> int:
    """Floating-point operations of the GEMMs of one forward+backward (2 per multiply-add): the products of
    the BLAS bound; the elementwise work is not counted."""
    return sum(2 * count * m * k * n for _, count, m, k, n in gemm_shapes(T, B, X, H, G))


def peak_markdown(result: dict) -> str:
    """Forward+backward as a share of the FMA peak of the cores the benchmark runs on, with the share each
    target needs; empty when the peak was not measured."""
    peak = result.get("fma_peak")
    if not peak or not result["rows"]:
        return ""
    impls = implementations(result)
    lines = [
        f"Forward+backward against the FMA peak: {peak['gflops']:.0f} GFLOP/s float32 on "
        f"{len(peak['per_core'])} cores at once ({peak['vector_bits']}-bit vectors, bench/peak.py). GFLOP counts "
        "the GEMMs of the BLAS bound (2 per multiply-add), not the elementwise work. A target of r x PyTorch's "
        "time needs the share of the peak in its column; it is met where the implementation's share is at "
        "least that.",
        "",
    ]
    head = ["config", "cell", "GFLOP", "ms at peak", "torch"]
    for impl in impls:
        head += [impl, f"{impl} target needs"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    peak_flops = peak["gflops"] * 1e9
    for r in result["rows"]:
        flops = r["gemm_flops"]
        torch_s = r["timings"]["torch fwd+bwd"]["median_s"]
        vals = [r["config"], r["cell"], f"{flops / 1e9:.3g}", f"{flops / peak_flops * 1e3:.3g}",
                f"{_share(flops, torch_s, peak_flops):.1f}%"]
        for impl in impls:
            got = _share(flops, r["timings"][f"{impl} fwd+bwd"]["median_s"], peak_flops)
            ratio = target(impl, r["config"], r["cell"])
            need = None if ratio is None else _share(flops, ratio * torch_s, peak_flops)
            vals += [f"{got:.1f}%", "-" if need is None else f"{need:.1f}% ({'met' if got >= need else 'missed'})"]
        lines.append("| " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def _share(flops: float, seconds: float, peak_flops: float) -> float:
    """Percent of the peak that ``flops`` in ``seconds`` come to."""
    return 100 * flops / seconds / peak_flops
