"""Streaming inference: the fixed-size C model, batch 1, X = 1, with a dense head H -> 1, in ns per step.

Each model (LSTM and GRU at H = 8, 16, 32, 64, random weights baked in) is generated with
``symcell generate-c``'s generator and built with -O3 -march=native (no -ffast-math) into one C
program, which runs 48,000 steps (one second of 48 kHz audio) of every model in turn and times each run
with clock_gettime. Each round is a process of its own: one process held one model about 20% slow in every
one of its rounds, others not (LSTM H = 16 at 78-84 ns in all 15 rounds of one, 64-66 in the rest; GRU H = 32
131-139 against 114-115), so something drawn once per process (where the randomized stack puts each model's
state is a candidate) decided it, and rounds within one process sampled one draw. bench.peak measures the
machine's single-core FMA peak, so each model's GFLOP/s (2 flops per multiply-add of its matrix-vector
products, activations not counted) is also a fraction of peak.

Usage: python -m bench.streaming [--rounds N]; ``run(rounds)`` and ``markdown(result)`` for bench.run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy
from symcell.codegen.c.fixed import generate
from symcell.codegen.ir import lower

from symcell.cbuild import compiler

from .peak import fma_peak

STEPS = 48_000
SIZES = (8, 16, 32, 64)
CELLS = ("lstm", "gru")
#: the issue's targets, ns per step: 0.9x the best compile-time configuration of RTNeural
TARGETS = {"lstm": {8: 48, 16: 71, 32: 192, 64: 705}, "gru": {8: 41, 16: 58, 32: 170, 64: 513}}
FLAGS = ("-O3", "-march=native", "-std=c99")

def _flops(cell: str, H: int, X: int = 1, N: int = 1) -> int:
    """2 x the multiply-adds of one step's matrix-vector products (input, recurrent, dense head)."""
    ir = lower(cell)
    G, G1, NM = len(ir.gates), len(ir.stage1_gates), len(ir.stage2_gates)
    return 2 * (G * H * X + (G1 + NM) * H * H + N * H)


def _weight_bytes(cell: str, H: int, X: int = 1, N: int = 1) -> int:
    """Bytes of float parameters one step reads (matrices, biases, dense head): what must stream from cache."""
    ir = lower(cell)
    G, G1, NM = len(ir.gates), len(ir.stage1_gates), len(ir.stage2_gates)
    return 4 * (G * H * X + (G1 + NM) * H * H + 2 * G * H + N * H + N)


def _l1d_bytes() -> int | None:
    """The first core's L1 data cache size from sysfs (None where the system does not say)."""
    try:
        base = Path("/sys/devices/system/cpu/cpu0/cache")
        for idx in sorted(base.glob("index*")):
            if (idx / "level").read_text().strip() == "1" and (idx / "type").read_text().strip() == "Data":
                text = (idx / "size").read_text().strip().upper()
                return int(text.rstrip("K")) * 1024 if text.endswith("K") else int(text)
    except (OSError, ValueError):
        pass
    return None


def _driver(models: list[tuple[str, str]]) -> str:
    """One program: every model's 48,000 steps once (packed and PyTorch-layout step), in turn; a round is one run
    of it (see the module's docstring)."""
    inc = "\n".join(f'#include "{n}.h"' for n, _ in models)
    runs = []
    for n, _ in models:
        for kind, call in (("packed", f"{n}_step_packed(&{n}_packed_weights, &s, &xs[t], &y)"),
                           ("params", f"{n}_step(&{n}_weights, &s, &xs[t], &y)")):
            runs.append(f"""    {{
        {n}_state s;
        {n}_reset(&s);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (t = 0; t < {STEPS}; ++t) {{
            {call};
            sink += y;
        }}
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("{n} {kind} %.6g\\n",
               ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / {STEPS});
    }}""")
    body = "\n".join(runs)
    return f"""#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <time.h>
{inc}

static float xs[{STEPS}];

int main(void)
{{
    struct timespec t0, t1;
    float y = 0, sink = 0;
    int t;
    for (t = 0; t < {STEPS}; ++t)
        xs[t] = (float)(0.5 * sin(2.0 * 3.14159265358979 * 440.0 * t / 48000.0));
{body}
    printf("sink %g\\n", (double)sink);
    return 0;
}}
"""


def run(rounds: int = 7) -> dict:
    """ns per step (median, min, max over ``rounds`` interleaved runs, a process each) for every model, and the
    FMA peak."""
    rng = numpy.random.default_rng(0)
    models = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for cell in CELLS:
            for H in SIZES:
                name = f"{cell}{H}"
                from symcell.kernels.numpy import _runtime

                G = len(lower(cell).gates)
                w = _runtime.init_params(G, 1, H, rng, numpy.float64)
                w |= {"dense_weight": rng.uniform(-1, 1, (1, H)) / numpy.sqrt(H), "dense_bias": numpy.zeros(1)}
                for rel, text in generate(cell, 1, H, w, 1, name=name).items():
                    (d / rel).write_text(text)
                models.append((name, cell))
        (d / "main.c").write_text(_driver(models))
        cc = compiler()
        srcs = ["main.c", *(f"{n}.c" for n, _ in models)]
        subprocess.run([*cc, *FLAGS, "-o", "stream", *srcs, "-lm"], cwd=d, check=True, capture_output=True)
        out = "".join(subprocess.run([str(d / "stream")], check=True, capture_output=True, text=True).stdout
                      for _ in range(rounds))
    fma = fma_peak(1)
    samples: dict[tuple[str, str], list[float]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            samples.setdefault((parts[0], parts[1]), []).append(float(parts[2]))
    peak = fma["gflops"] * 1e9
    rows = []
    for name, cell in models:
        H = int(name[len(cell):])
        row = {"cell": cell, "H": H, "flops_per_step": _flops(cell, H), "weight_bytes": _weight_bytes(cell, H),
               "target_ns": TARGETS[cell][H]}
        for kind in ("packed", "params"):
            s = samples[(name, kind)]
            row[kind] = {"median_ns": statistics.median(s), "min_ns": min(s), "max_ns": max(s), "rounds": len(s)}
        med = row["packed"]["median_ns"]
        row["gflops"] = row["flops_per_step"] / med
        row["peak_fraction"] = row["gflops"] * 1e9 / peak
        rows.append(row)
    return {"steps": STEPS, "flags": " ".join(FLAGS), "fma_peak_gflops": peak / 1e9, "l1d_bytes": _l1d_bytes(),
            "vector_bits": fma["vector_bits"], "models": rows}


def markdown(result: dict) -> str:
    """The streaming table: ns per step (median, spread), against the target, GFLOP/s and % of FMA peak."""
    lines = [
        f"Streaming, fixed-size C (`{result['flags']}`), batch 1, X = 1, dense head H -> 1, "
        f"{result['steps']:,} steps; median (min-max) of {result['models'][0]['packed']['rounds']} interleaved "
        f"runs, each a process of its own. Single-core FMA peak measured: {result['fma_peak_gflops']:.1f} GFLOP/s "
        f"({result['vector_bits']}-bit vectors). L1 data cache: "
        f"{result['l1d_bytes'] // 1024 if result['l1d_bytes'] else '?'} KiB; a model whose weights do not fit "
        "streams them from L2 every step.",
        "",
        "| cell | H | ns/step `step_packed` | target | ns/step `step` (PyTorch layout) | GFLOP/s | % of FMA peak "
        "| weights KiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["models"]:
        p, q = r["packed"], r["params"]
        ok = "met" if p["median_ns"] <= r["target_ns"] else "missed"
        lines.append(f"| {r['cell']} | {r['H']} | {p['median_ns']:.1f} ({p['min_ns']:.0f}-{p['max_ns']:.0f}) | "
                     f"<= {r['target_ns']} ({ok}) | {q['median_ns']:.0f} ({q['min_ns']:.0f}-{q['max_ns']:.0f}) | "
                     f"{r['gflops']:.2f} | {100 * r['peak_fraction']:.1f}% | {r['weight_bytes'] / 1024:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = ap.parse_args(argv)
    result = run(args.rounds)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
