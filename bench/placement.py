"""Where the host put our cores: the core-to-core round trip of a cache line, probed around every timed block.

On the 2-vCPU cloud machines this project runs on, the host moves the two vCPUs between cores that share
an L3 cache and cores that do not, every few seconds. A cache line handed from one thread to another and
back took 51-84 ns in one placement and 331-354 ns in the other (probes a few seconds apart; the far
placement in about one of five probes over a whole `make bench`), and anything that passes data between
threads follows: NumPy's medium LSTM backward (each step's gate gradients, written by the main thread,
read by both of OpenBLAS's threads) ran 12.0-12.9 ms in the near placement and 19.5-21.0 ms in the far
one, same process, same code. Such a switch in the middle of a benchmark moves every multi-threaded
contender by a different amount, so the harness probes before and after each timed block and takes the
block again when either probe saw the far placement (see harness).

The probe is a small C program: two threads pinned to two CPUs this process may run on, passing a counter
back and forth through one cache line (atomics, acquire/release), 20,000 round trips timed after
10,000 that wake both cores; it prints the mean.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from symcell.cbuild import CompilerNotFoundError, compiler

#: a probe within this factor of the fastest is in the near placement (the two placements here differ 4-6x)
NEAR_WITHIN = 2

PROBE_C = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static _Alignas(64) atomic_long flag;
static const long N = 20000, WARM = 10000; /* round trips: untimed (both threads running), timed */
static int cpu[2];
static void pin(int c)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(c, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}
static void *other(void *arg)
{
    long i;
    (void)arg;
    pin(cpu[1]);
    for (i = 0; i < WARM + N; ++i) {
        while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 1)
            ;
        atomic_store_explicit(&flag, 2 * i + 2, memory_order_release);
    }
    return 0;
}
int main(int argc, char **argv)
{
    pthread_t t;
    struct timespec a, b;
    long i;
    if (argc != 3)
        return 2;
    cpu[0] = atoi(argv[1]), cpu[1] = atoi(argv[2]);
    pin(cpu[0]);
    if (pthread_create(&t, 0, other, 0))
        return 1;
    for (i = 0; i < WARM + N; ++i) {
        if (i == WARM)
            clock_gettime(CLOCK_MONOTONIC, &a);
        atomic_store_explicit(&flag, 2 * i + 1, memory_order_release);
        while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 2)
            ;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    pthread_join(t, 0);
    printf("%.1f\n", ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)N);
    return 0;
}
"""


class Placement:
    """Probes the core-to-core round trip (ns) between two of this process's CPUs; ``near(ns)`` says whether
    a probe saw the placement the rest of the run mostly had at its best: within 2x the fastest probe so far
    (the two placements here differ 4-6x; on a machine without them every probe is near)."""

    def __init__(self, workdir: tempfile.TemporaryDirectory, cpus: tuple[int, int]):
        # the probe program lives in workdir, which goes with this object
        self._workdir, self.cpus, self.fastest, self.probes = workdir, cpus, float("inf"), []
        self.binary = Path(workdir.name) / "probe"

    def probe(self) -> float:
        out = subprocess.run([str(self.binary), *map(str, self.cpus)], check=True, capture_output=True, text=True)
        ns = float(out.stdout)
        self.fastest = min(self.fastest, ns)
        self.probes.append(ns)
        return ns

    def near(self, ns: float) -> bool:
        return ns <= NEAR_WITHIN * self.fastest

    def summary(self) -> dict:
        """How the probes of the run came out, each judged against the fastest of them all."""
        return summarize(self.probes)


def summarize(probes: list[float]) -> dict:
    """Counts and median round trips (ns) of the near and far probes: near means within 2x the fastest."""
    limit = NEAR_WITHIN * min(probes) if probes else 0.0
    near = [p for p in probes if p <= limit]
    far = [p for p in probes if p > limit]
    return {"probes": len(probes), "near": len(near), "far": len(far),
            "near_median_ns": statistics.median(near) if near else None,
            "far_median_ns": statistics.median(far) if far else None}


def placement() -> Placement | None:
    """A Placement with its probe built in a temporary directory, or None where it cannot run: fewer than two
    CPUs, or no C compiler (the harness then times every block once, as it would without a probe)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return None
    workdir = tempfile.TemporaryDirectory()
    try:
        (Path(workdir.name) / "probe.c").write_text(PROBE_C)
        subprocess.run([*compiler(), "-O2", "-std=gnu11", "-pthread", "-o", "probe", "probe.c"], cwd=workdir.name,
                       check=True, capture_output=True)
    except (CompilerNotFoundError, OSError, subprocess.CalledProcessError):
        workdir.cleanup()
        return None
    p = Placement(workdir, (cpus[0], cpus[1]))
    for _ in range(5):  # a first idea of the fastest
        p.probe()
    return p


if __name__ == "__main__":
    pl = placement()
    print("no probe here" if pl is None else [round(pl.probe()) for _ in range(10)])
