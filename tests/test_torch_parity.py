"""symcell.torch.LSTM / GRU / RNN against torch.nn's: the same weights (same seed, and load_state_dict both
ways), the same outputs, final states and gradients of the input and every parameter, for 1-3 layers, both
directions, batch_first, packed and padded + lengths input, with and without h0; float64 to 1e-10, float32
to 1e-4 (absolute, on values of order one)."""

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence

import symcell.torch as st

KINDS = {
    "lstm": (torch.nn.LSTM, st.LSTM, {}),
    "gru": (torch.nn.GRU, st.GRU, {}),
    "rnn_tanh": (torch.nn.RNN, st.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (torch.nn.RNN, st.RNN, {"nonlinearity": "relu"}),
}
X, H, T, B = 3, 5, 7, 4
LENGTHS = [7, 3, 5, 3]  # ties, unsorted, one of full length
TOL = {torch.float64: 1e-10, torch.float32: 1e-4}


def pair(kind, dtype, **options):
    """torch.nn's module and symcell's, built from the same seed."""
    ref_cls, our_cls, extra = KINDS[kind]
    torch.manual_seed(1)
    ref = ref_cls(X, H, **extra, **options, dtype=dtype)
    torch.manual_seed(1)
    ours = our_cls(X, H, **extra, **options, dtype=dtype)
    return ref, ours


def flat(value):
    """Every tensor in a module's output, in order."""
    if isinstance(value, PackedSequence):
        return [value.data]
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for v in value for t in flat(v)]


def run(module, mode, x, hx, batch_first):
    """The module on the input mode; outputs as a flat list of tensors (padded outputs for packed input)."""
    if mode == "dense":
        out = module(x, hx)
        return flat(out)
    if mode == "padded+lengths":
        packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=batch_first, enforce_sorted=False)
    else:  # "packed": from a sorted list of sequences, so sorted_indices is None
        seqs = [x[:n, b] if not batch_first else x[b, :n] for b, n in enumerate(sorted(LENGTHS, reverse=True))]
        packed = pack_sequence(seqs)
    y, h = module(packed, hx)
    assert isinstance(y, PackedSequence)
    padded, lengths = pad_packed_sequence(y, batch_first=batch_first)
    return [y.data, padded, *flat(h)]


def compare(kind, dtype, mode, num_layers, bidirectional, batch_first, with_h0):
    ref, ours = pair(kind, dtype, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    torch.manual_seed(2)
    shape = (B, T, X) if batch_first else (T, B, X)
    x = torch.randn(shape, dtype=dtype)
    hx = None
    if with_h0:
        D = num_layers * (2 if bidirectional else 1)
        hx = torch.randn(D, B, H, dtype=dtype)
        if kind == "lstm":
            hx = (hx, torch.randn(D, B, H, dtype=dtype))
    results = []
    for module in (ref, ours):
        xs = x.clone().requires_grad_()
        hs = None if hx is None else (tuple(h.clone().requires_grad_() for h in hx) if kind == "lstm"
                                      else hx.clone().requires_grad_())
        outs = run(module, mode, xs, hs, batch_first)
        torch.manual_seed(3)
        loss = sum((o * torch.randn(o.shape, dtype=dtype)).sum() for o in outs)
        inputs = [xs, *module.parameters(), *([] if hs is None else flat(hs))]
        results.append((outs, torch.autograd.grad(loss, inputs)))
    tol = TOL[dtype]
    (ro, rg), (oo, og) = results
    assert len(ro) == len(oo) and len(rg) == len(og)
    for a, b in zip(ro + list(rg), oo + list(og), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        torch.testing.assert_close(b, a, rtol=0, atol=tol)


@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("mode,batch_first", [("dense", False), ("dense", True), ("padded+lengths", True),
                                              ("padded+lengths", False), ("packed", False)])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("kind", list(KINDS))
def test_parity_float64(kind, num_layers, bidirectional, mode, batch_first, with_h0):
    compare(kind, torch.float64, mode, num_layers, bidirectional, batch_first, with_h0)


@pytest.mark.parametrize("mode,batch_first", [("dense", True), ("padded+lengths", False)])
@pytest.mark.parametrize("kind", list(KINDS))
def test_parity_float32(kind, mode, batch_first):
    compare(kind, torch.float32, mode, 2, True, batch_first, True)


@pytest.mark.parametrize("kind", list(KINDS))
def test_state_dict_both_ways(kind):
    """Weights move between torch.nn's module and symcell's with load_state_dict, and give the same output."""
    ref_cls, our_cls, extra = KINDS[kind]
    ref = ref_cls(X, H, 2, **extra, bidirectional=True, dtype=torch.float64)
    ours = our_cls(X, H, 2, **extra, bidirectional=True, dtype=torch.float64)
    assert [n for n, _ in ref.named_parameters()] == [n for n, _ in ours.named_parameters()]
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(T, B, X, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=1e-12)
    fresh = ref_cls(X, H, 2, **extra, bidirectional=True, dtype=torch.float64)
    fresh.load_state_dict(ours.state_dict())
    torch.testing.assert_close(fresh(x)[0], ref(x)[0], rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_initialisation_and_attributes(kind):
    """The same seed draws the same parameters; the attributes and repr are torch.nn's."""
    ref, ours = pair(kind, torch.float32, num_layers=2, bidirectional=True, batch_first=True, dropout=0.25)
    for (na, a), (nb, b) in zip(ref.named_parameters(), ours.named_parameters(), strict=True):
        assert na == nb and a.shape == b.shape and torch.equal(a, b)
    for attr in ("mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                 "bidirectional", "proj_size", "_flat_weights_names", "_all_weights"):
        assert getattr(ours, attr) == getattr(ref, attr), attr
    assert ours.extra_repr() == ref.extra_repr()


@pytest.mark.parametrize("kind", list(KINDS))
def test_dropout_masks_as_torch(kind):
    """Dropout between layers is torch's own call on the same tensor shape, so a seed gives torch.nn's masks."""
    ref, ours = pair(kind, torch.float64, num_layers=3, bidirectional=True, dropout=0.5)
    x = torch.randn(T, B, X, dtype=torch.float64)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), enforce_sorted=False)
    for inp in (x, packed):
        torch.manual_seed(4)
        a = flat(ref(inp))
        torch.manual_seed(4)
        b = flat(ours(inp))
        for u, v in zip(a, b, strict=True):
            torch.testing.assert_close(v, u, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_unbatched_and_no_bias(kind):
    ref, ours = pair(kind, torch.float64, num_layers=2, bias=False)
    assert not any("bias" in n for n, _ in ours.named_parameters())
    x = torch.randn(T, X, dtype=torch.float64)
    for u, v in zip(flat(ref(x)), flat(ours(x)), strict=True):
        assert u.shape == v.shape
        torch.testing.assert_close(v, u, rtol=0, atol=1e-10)
