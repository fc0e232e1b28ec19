"""The C kernels' forward workspace is the size docs/c-api.md gives, including the steps whose input
projections a small batch with few inputs computes at once (sc_chunk), so the documented formula is the
one callers allocating their own workspace can rely on."""

from __future__ import annotations

import numpy
import pytest
from symcell.codegen.ir import lower

from tests.support import CELLS, kernel


def _panels(n: int) -> int:
    """P(n) of docs/c-api.md: n rounded up to whole panels of 32 columns."""
    return -(-n // 32) * 32


def _documented_forward(cell: str, T: int, B: int, X: int, H: int) -> int:
    ir = lower(cell)
    G, K, S = len(ir.gates), len(ir.tape), len(ir.states)
    G1, M = len(ir.stage1_gates), len(ir.stage2_gates)
    C = 1 if B >= 8 or X >= 4 else min(T, -(-64 // B))
    n = (C + 1) * B * G * H + B * H * (K + S + 2 * (S - 1)) + X * _panels(G * H)
    if ir.recurrent_matrix:
        n += H * (_panels(G1 * H) + M * _panels(H))
    return n


@pytest.mark.parametrize("cell", CELLS)
def test_forward_workspace_is_the_documented_size(cell):
    fn = kernel(cell, "c", numpy.float32)._fn["forward_workspace_size"]
    # batches below and at a tile, inputs below and at 4, sequences shorter and longer than a chunk
    for T, B, X, H in [(100, 1, 1, 40), (3, 1, 2, 20), (100, 3, 3, 7), (100, 8, 1, 9), (100, 1, 4, 5), (1, 2, 1, 33)]:
        assert fn(T, B, X, H) == _documented_forward(cell, T, B, X, H), (T, B, X, H)
