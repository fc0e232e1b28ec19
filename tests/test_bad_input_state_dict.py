"""params_from_state_dict never drops a layer, a direction or a projection unasked (docs/bad-input.md).

A multi-layer or bidirectional torch module's state_dict is a ValueError naming what it holds unless the caller
says which layer (layer=) and direction (reverse=) it means; then the chosen one is returned, and running the
kernels layer by layer (the reverse direction on x[::-1]) gives torch's own output.
"""

from __future__ import annotations

import numpy
import pytest

from tests.support import BACKENDS, kernel

torch = pytest.importorskip("torch")

X, H, T, B = 3, 5, 6, 2
RTOL = 1e-10  # float64 throughout; torch and the kernels sum in different orders


def _module(kind, **options):
    torch.manual_seed(0)
    return getattr(torch.nn, kind)(X, H, dtype=torch.float64, **options)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("kind", "cell"), [("LSTM", "lstm"), ("GRU", "gru"), ("RNN", "rnn_tanh")])
def test_unasked_layers_and_directions_are_refused(kind, cell, backend):
    k = kernel(cell, backend)
    with pytest.raises(ValueError, match=r"holds 2 layers \(_l0, _l1\).*pass layer=N"):
        k.params_from_state_dict(_module(kind, num_layers=2).state_dict())
    with pytest.raises(ValueError, match=r"both directions of layer 0 .*reverse=False.*reverse=True"):
        k.params_from_state_dict(_module(kind, bidirectional=True).state_dict())
    with pytest.raises(ValueError, match=r"holds 3 layers"):
        k.params_from_state_dict(_module(kind, num_layers=3, bidirectional=True).state_dict(), reverse=False)
    with pytest.raises(ValueError, match=r"both directions of layer 2"):
        k.params_from_state_dict(_module(kind, num_layers=3, bidirectional=True).state_dict(), layer=2)
    with pytest.raises(ValueError, match=r"has no 'weight_ih_l2' \(it holds layers \[0, 1\]\)"):
        k.params_from_state_dict(_module(kind, num_layers=2).state_dict(), layer=2)
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(ValueError, match="layer must be a layer number"):
            k.params_from_state_dict(_module(kind).state_dict(), layer=bad)


@pytest.mark.parametrize("backend", BACKENDS)
def test_chosen_layers_and_directions_reproduce_torch(backend):
    """A 2-layer bidirectional LSTM run through the kernels, each layer's two directions chosen with layer= and
    reverse= (the reverse one on x[::-1]), their outputs concatenated as the next layer's x: torch's output."""
    module = _module("LSTM", num_layers=2, bidirectional=True)
    sd = module.state_dict()
    k = kernel("lstm", backend)
    x = numpy.random.default_rng(1).standard_normal((T, B, X))
    expected = module(torch.tensor(x))[0].detach().numpy()
    inp = x
    for layer in range(2):
        fwd = k.forward(inp, k.params_from_state_dict(sd, layer=layer, reverse=False))[0]
        rev = k.forward(inp[::-1].copy(), k.params_from_state_dict(sd, layer=layer, reverse=True))[0][::-1]
        inp = numpy.concatenate([fwd, rev], axis=2)
    numpy.testing.assert_allclose(inp, expected, rtol=RTOL, atol=1e-12)
    # the chosen arrays are the state_dict's own
    p = k.params_from_state_dict(sd, layer=1, reverse=True)
    numpy.testing.assert_array_equal(p["weight_hh"], sd["weight_hh_l1_reverse"].numpy())


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_layer_modules_need_no_arguments(backend):
    """The common case stays one call: a one-layer, one-direction module, or only a later layer's keys."""
    k = kernel("lstm", backend)
    sd = _module("LSTM").state_dict()
    numpy.testing.assert_array_equal(k.params_from_state_dict(sd)["weight_ih"], sd["weight_ih_l0"].numpy())
    only_l1 = {n.replace("_l0", "_l1"): v for n, v in sd.items()}
    numpy.testing.assert_array_equal(k.params_from_state_dict(only_l1)["bias_hh"], sd["bias_hh_l0"].numpy())
    only_reverse = {n + "_reverse": v for n, v in sd.items()}
    numpy.testing.assert_array_equal(k.params_from_state_dict(only_reverse)["bias_ih"], sd["bias_ih_l0"].numpy())


@pytest.mark.parametrize("backend", BACKENDS)
def test_what_the_cell_cannot_hold_is_named(backend):
    """An LSTM with proj_size (weight_hr), a module built with bias=False, a whole model's state_dict (prefixed
    keys), a module instead of its state_dict, and an RNN's weight_hh for a cell with none: each a clear error."""
    k = kernel("lstm", backend)
    with pytest.raises(ValueError, match=r"weight_hr_l0.*proj_size"):
        k.params_from_state_dict(torch.nn.LSTM(X, H, proj_size=2).state_dict())
    with pytest.raises(ValueError, match=r"no 'bias_ih_l0'.*bias=False.*zeros"):
        k.params_from_state_dict(torch.nn.LSTM(X, H, bias=False).state_dict())
    model = torch.nn.Sequential(torch.nn.LSTM(X, H))
    with pytest.raises(ValueError, match=r"no 'weight_ih_l0'.*0\.weight_ih_l0 is a submodule's"):
        k.params_from_state_dict(model.state_dict())
    with pytest.raises(TypeError, match=r"state_dict must be a mapping.*module\.state_dict\(\)"):
        k.params_from_state_dict(torch.nn.LSTM(X, H))
    ind = kernel("indrnn", backend)
    with pytest.raises(ValueError, match=r"weight_hh_l0.*would drop them"):
        ind.params_from_state_dict(torch.nn.RNN(X, H).state_dict())
