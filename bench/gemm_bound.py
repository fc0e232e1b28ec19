"""The BLAS bound of one RNN forward+backward: the sum of the GEMM times the computation cannot avoid.

Every GEMM is timed with NumPy's BLAS in the same process and run as the benchmark, with the shapes the
generated kernels use: the whole-sequence input projection, T recurrent GEMMs forward, T recurrent GEMMs
backward, and the three whole-sequence gradient GEMMs (dx, dW_ih, dW_hh).
"""

from __future__ import annotations

import numpy

from .harness import interleaved


def gemm_shapes(T: int, B: int, X: int, H: int, G: int) -> list[tuple[str, int, int, int, int]]:
    """(label, count, m, k, n): ``count`` GEMMs of an (m x k) by (k x n) product."""
    return [
        ("input projection", 1, T * B, X, G * H),
        ("recurrent forward", T, B, H, G * H),
        ("recurrent backward", T, B, G * H, H),
        ("dx", 1, T * B, G * H, X),
        ("dW_ih", 1, G * H, T * B, X),
        ("dW_hh", 1, G * H, T * B, H),
    ]


def blas_bound(T: int, B: int, X: int, H: int, G: int, dtype=numpy.float32, rounds: int = 5,
               placement=None) -> dict:
    """Median seconds of each GEMM kind times its count, and their sum (the bound); ``placement`` as for
    harness.interleaved."""
    rng = numpy.random.default_rng(0)
    calls = {}
    for label, count, m, k, n in gemm_shapes(T, B, X, H, G):
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        out = numpy.empty((m, n), dtype)

        def run(a=a, b=b, out=out, count=count):
            for _ in range(count):
                numpy.matmul(a, b, out=out)

        calls[label] = run
    timings = interleaved(calls, rounds=rounds, placement=placement)
    parts = {label: t.median for label, t in timings.items()}
    return {"parts_s": parts, "total_s": sum(parts.values())}
