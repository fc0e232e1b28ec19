"""The machine's FMA peak in float32: what a core (or several at once) can do at most, so that a kernel's
GFLOP/s says how far from the hardware it is, not only how it compares with another library.

A small C program runs 12 independent chains of vector FMAs (enough to cover the FMA latency on any
current core) at the widest vector width the compiler targets with -march=native. For several cores,
that many copies run at once, as separate processes, and their rates are summed: with every core busy
a core may clock lower than alone, and that is the peak a multi-threaded kernel competes with.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from symcell.cbuild import compiler

PEAK_C = r"""
/* Single-core FMA peak: 12 independent chains of vector FMAs in 12 register variables (enough to
 * cover the FMA latency on any current core), GCC/Clang vector extensions at the widest width the
 * target offers. */
#include <stdio.h>
#include <time.h>
#if defined(__AVX512F__)
#define BYTES 64
#elif defined(__AVX__)
#define BYTES 32
#else
#define BYTES 16
#endif
typedef float vf __attribute__((vector_size(BYTES)));
#define FMA12 a0 = a0 * m + a; a1 = a1 * m + a; a2 = a2 * m + a; a3 = a3 * m + a; a4 = a4 * m + a; \
    a5 = a5 * m + a; a6 = a6 * m + a; a7 = a7 * m + a; a8 = a8 * m + a; a9 = a9 * m + a; \
    a10 = a10 * m + a; a11 = a11 * m + a;
int main(void)
{
    vf m, a, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
    long i, n = 20000000;
    int j, r;
    double best = 0;
    float sink = 0;
    for (j = 0; j < (int)(BYTES / 4); ++j) { m[j] = 0.9999999f; a[j] = 1e-7f; }
    for (r = 0; r < 5; ++r) {
        struct timespec t0, t1;
        a0 = a * (float)(r + 1), a1 = a * (float)(r + 2), a2 = a * (float)(r + 3), a3 = a * (float)(r + 4);
        a4 = a * (float)(r + 5), a5 = a * (float)(r + 6), a6 = a * (float)(r + 7), a7 = a * (float)(r + 8);
        a8 = a * (float)(r + 9), a9 = a * (float)(r + 10), a10 = a * (float)(r + 11), a11 = a * (float)(r + 12);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (i = 0; i < n; ++i) {
            FMA12
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        {
            double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
            double flops = 2.0 * 12 * (BYTES / 4) * (double)n / s;
            if (flops > best) best = flops;
        }
        a0 = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
        sink += a0[0];
    }
    printf("%.6g %d %g\n", best, BYTES * 8, (double)sink);
    return 0;
}
"""


def fma_peak(cores: int = 1) -> dict:
    """``{"gflops": total, "per_core": [...], "vector_bits": n}``: float32 FMA peak of ``cores`` cores, each
    core's best of 5 runs of 20 million 12-chain iterations, all cores at the same time."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "peak.c").write_text(PEAK_C)
        subprocess.run([*compiler(), "-O2", "-march=native", "-std=gnu99", "-ffp-contract=fast", "-o", "peak",
                        "peak.c"], cwd=d, check=True, capture_output=True)
        procs = [subprocess.Popen([str(d / "peak")], stdout=subprocess.PIPE, text=True) for _ in range(cores)]
        outs = [p.communicate()[0].split() for p in procs]
        if any(p.returncode for p in procs):
            raise RuntimeError("the FMA peak program failed")
    per_core = [float(o[0]) / 1e9 for o in outs]
    return {"gflops": sum(per_core), "per_core": per_core, "vector_bits": int(outs[0][1])}
