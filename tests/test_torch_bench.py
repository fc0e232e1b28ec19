"""The benchmark's PyTorch loops (bench/torch_modules.py) compute what symcell.torch.Recurrent computes, so
its table compares the same cell: outputs and gradients in float64."""

import pytest
import torch

import symcell.torch as st
from bench.torch_modules import LOOPS


@pytest.mark.parametrize("cell", sorted(LOOPS))
def test_loop_is_the_cell(cell):
    torch.manual_seed(0)
    m = st.Recurrent(cell, 3, 4, dtype=torch.float64)
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    y = m(x)[0]
    ref = LOOPS[cell](x, *m.parameters())
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)
    dy = torch.randn_like(y)
    got = torch.autograd.grad((y * dy).sum(), [x, *m.parameters()])
    want = torch.autograd.grad((ref * dy).sum(), [x, *m.parameters()])
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
