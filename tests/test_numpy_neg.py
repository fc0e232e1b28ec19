"""The NumPy forward's negated gates (numpy_backend.neg_gates): a fused cell's gates read only as
sigmoid(pre) get their weight rows negated and the kernel calls _sigmoid_neg, which must give the same bits
as _sigmoid of the un-negated pre-activation; gates read any other way keep their sign."""

from __future__ import annotations

import numpy
import pytest
from symcell.codegen.ir import lower
from symcell.codegen.numpy_backend import _with_pre, neg_gates, pre_gates
from symcell.kernels.numpy import _runtime, lstm


@pytest.mark.parametrize("cell, expected", [("lstm", ("i", "f", "o")), ("lstm_cifg", ("f", "o"))])
def test_gates_read_only_through_sigmoid_are_negated(cell, expected):
    ir = lower(cell)
    assert neg_gates(ir, _with_pre(ir.forward, pre_gates(ir))) == expected


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_sigmoid_neg_of_the_negation_is_sigmoid_bit_for_bit(dtype):
    x = numpy.random.default_rng(0).standard_normal(10_000).astype(dtype) * 30
    with numpy.errstate(over="ignore"):
        assert numpy.array_equal(_runtime._sigmoid_neg(-x), _runtime._sigmoid(x))


def test_lstm_forward_keeps_the_callers_params():
    rng = numpy.random.default_rng(1)
    p = lstm.init_params(3, 4, rng)
    before = {k: v.copy() for k, v in p.items()}
    lstm.forward(rng.standard_normal((2, 2, 3)), p)
    assert all(numpy.array_equal(p[k], before[k]) for k in p)
