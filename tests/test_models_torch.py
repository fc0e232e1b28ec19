"""PyTorch state_dicts (.pt) and GuitarML's plugin JSON: models built here with torch, saved, read back by
codegen.models and run by its reference runner, agree with torch's own forward over 4,096 single-stream
steps to 1e-6 absolute in float32 and 1e-12 in float64."""

from __future__ import annotations

import json

import numpy
import pytest
import torch
from symcell.codegen.models import Dense, Recurrent, Streamer, read_model, run

STEPS = 4096


class Model(torch.nn.Module):
    """Recurrent modules, then Linear layers with activations, then an optional skip: y = f(x) + x[..., :skip]."""

    def __init__(self, recurrent: dict, linear: dict, activations: dict, skip: int = 0):
        super().__init__()
        self.names = [*recurrent, *linear]
        for name, module in (recurrent | linear).items():
            self.add_module(name, module)
        self.activations, self.skip = activations, skip

    def forward(self, x):
        v = x
        for name in self.names:
            module = getattr(self, name)
            v = module(v)[0] if isinstance(module, torch.nn.RNNBase) else module(v)
            v = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}.get(self.activations.get(name),
                                                                                     lambda t: t)(v)
        return v + x[..., :self.skip] if self.skip else v


def _models():
    torch.manual_seed(3)
    return {
        "lstm2_tanh_head": (Model({"rnn": torch.nn.LSTM(2, 16, num_layers=2)},
                                  {"hidden": torch.nn.Linear(16, 8), "out": torch.nn.Linear(8, 1)}, {"hidden": "tanh"}),
                            {"activations": {"hidden": "tanh"}}, ["lstm", "lstm", None, None]),
        "gru_relu_sigmoid": (Model({"gru": torch.nn.GRU(1, 12)},
                                   {"a": torch.nn.Linear(12, 4), "b": torch.nn.Linear(4, 1)},
                                   {"a": "relu", "b": "sigmoid"}),
                             {"activations": {"a": "relu", "b": "sigmoid"}}, ["gru", None, None]),
        "rnn_relu_then_tanh": (Model({"r1": torch.nn.RNN(3, 8, nonlinearity="relu"), "r2": torch.nn.RNN(8, 6)},
                                     {"head": torch.nn.Linear(6, 2, bias=False)}, {}),
                               {"cells": {"r1": "rnn_relu"}}, ["rnn_relu", "rnn_tanh", None]),
        "lstm_skip": (Model({"rec": torch.nn.LSTM(2, 20)}, {"lin": torch.nn.Linear(20, 1)}, {}, skip=1),
                      {"skip": 1}, ["lstm", None]),
    }


def _inputs(X: int, seed: int = 0) -> numpy.ndarray:
    return numpy.random.default_rng(seed).uniform(-1, 1, (STEPS, X)).astype(numpy.float32)


def _torch_out(model, x: numpy.ndarray, dtype) -> numpy.ndarray:
    model = model.to(dtype)
    with torch.no_grad():
        return model(torch.from_numpy(x).to(dtype)[:, None, :])[:, 0, :].numpy().astype(numpy.float64)


@pytest.mark.parametrize("case", list(_models()))
def test_state_dict_matches_torch(case, tmp_path):
    model, description, cells = _models()[case]
    torch.save(model.state_dict(), tmp_path / "model.pt")
    stack = read_model(tmp_path / "model.pt", description)
    assert [lay.cell if isinstance(lay, Recurrent) else None for lay in stack.layers] == cells
    x = _inputs(stack.input_size)
    got32 = run(stack, x, numpy.float32)
    assert got32.dtype == numpy.float32
    want32 = _torch_out(model, x, torch.float32)
    assert numpy.abs(got32 - want32).max() <= 1e-6, numpy.abs(got32 - want32).max()
    # float64: the state_dict saved from the float64 model (weights float32-exact, so the same model)
    torch.save(model.double().state_dict(), tmp_path / "model64.pt")
    got64 = run(read_model(tmp_path / "model64.pt", description), x, numpy.float64)
    assert numpy.abs(got64 - _torch_out(model, x, torch.float64)).max() <= 1e-12


def test_streamer_matches_whole_sequence():
    """The runner one sample at a time (the C program's form) gives what the whole-sequence run gives."""
    model, description, _ = _models()["lstm_skip"]
    stack = read_model_from(model, description)
    x = _inputs(2, seed=1)[:256]
    streamer = Streamer(stack, numpy.float64)
    stepped = numpy.stack([streamer.step(x_t) for x_t in x])
    assert numpy.abs(stepped - run(stack, x, numpy.float64)).max() <= 1e-13
    streamer.reset()
    assert numpy.abs(streamer.step(x[0]) - stepped[0]).max() == 0


def read_model_from(model, description):
    """A Stack straight from a module's state_dict (no file)."""
    from symcell.codegen.models.torch_format import stack_from_state_dict

    return stack_from_state_dict({k: v.double().numpy() for k, v in model.state_dict().items()}, description)


def _guitarml_json(model: Model, unit_type: str, skip: int) -> dict:
    """GuitarML's plugin format, written here from the model (the layout their training code exports)."""
    rec = model.rec
    return {"model_data": {"model": "SimpleRNN", "input_size": rec.input_size, "skip": skip, "output_size": 1,
                           "unit_type": unit_type, "num_layers": rec.num_layers, "hidden_size": rec.hidden_size,
                           "bias_fl": True},
            "state_dict": {k: v.tolist() for k, v in model.state_dict().items()}}


@pytest.mark.parametrize("unit_type,module", [("LSTM", torch.nn.LSTM), ("GRU", torch.nn.GRU)])
def test_guitarml_json_matches_torch(unit_type, module, tmp_path):
    """y = lin(rec(x)) + x[..., :1], with a conditioning input (X = 2) and two recurrent layers."""
    torch.manual_seed(5)
    model = Model({"rec": module(2, 12, num_layers=2)}, {"lin": torch.nn.Linear(12, 1)}, {}, skip=1)
    (tmp_path / "amp.json").write_text(json.dumps(_guitarml_json(model, unit_type, 1)))
    stack = read_model(tmp_path / "amp.json")
    assert stack.skip == 1 and [lay.cell for lay in stack.recurrent] == [unit_type.lower()] * 2
    x = _inputs(2, seed=2)
    got = run(stack, x, numpy.float32)
    assert numpy.abs(got - _torch_out(model, x, torch.float32)).max() <= 1e-6


def test_guitarml_model_data_must_agree(tmp_path):
    torch.manual_seed(0)
    model = Model({"rec": torch.nn.LSTM(1, 4)}, {"lin": torch.nn.Linear(4, 1)}, {})
    doc = _guitarml_json(model, "LSTM", 1)
    doc["model_data"]["hidden_size"] = 5
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="hidden_size is 5"):
        read_model(tmp_path / "bad.json")
    doc["model_data"] |= {"hidden_size": 4, "unit_type": "Transformer"}
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="unit_type 'Transformer'"):
        read_model(tmp_path / "bad.json")


def test_what_symcell_cannot_express_is_refused(tmp_path):
    """Each a ValueError naming the layer or key."""
    torch.manual_seed(0)
    cases = {
        "bidirectional": ({"rnn": torch.nn.LSTM(1, 4, bidirectional=True)}, None, "layer 'rnn'.*bidirectional"),
        "proj": ({"rnn": torch.nn.LSTM(1, 4, proj_size=2)}, None, "layer 'rnn'.*proj_size"),
        "batchnorm": ({"rnn": torch.nn.GRU(1, 4), "bn": torch.nn.BatchNorm1d(4)}, None, "bn.running_mean"),
        "sizes": ({"rnn": torch.nn.GRU(1, 4), "head": torch.nn.Linear(5, 1)}, None, "layer 'head' takes 5 inputs"),
        "activation": ({"rnn": torch.nn.GRU(1, 4), "head": torch.nn.Linear(4, 1)}, {"activations": {"head": "elu"}},
                       "layer 'head': activation 'elu'"),
        "cell": ({"rnn": torch.nn.GRU(1, 4)}, {"cells": {"rnn": "lstm"}}, "layer 'rnn_l0' \\(lstm\\).*weight_ih"),
        "unknown cell": ({"rnn": torch.nn.GRU(1, 4)}, {"cells": {"rnn": "qrnn"}}, "'qrnn' is not a registered cell"),
        "description": ({"rnn": torch.nn.GRU(1, 4)}, {"skipp": 1}, "unknown keys \\['skipp'\\]"),
        "skip": ({"rnn": torch.nn.GRU(1, 4), "head": torch.nn.Linear(4, 3)}, {"skip": 2}, "skip 2"),
        "order": ({"rnn": torch.nn.GRU(1, 4), "head": torch.nn.Linear(4, 1)}, {"layers": ["rnn"]}, "every module once"),
    }
    for what, (modules, description, message) in cases.items():
        torch.save(torch.nn.ModuleDict(modules).state_dict(), tmp_path / "m.pt")
        with pytest.raises(ValueError, match=message):
            read_model(tmp_path / "m.pt", description)
        assert what
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="torch.load"):
        read_model(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="does not exist"):
        read_model(tmp_path / "missing.pt")


def test_stack_validates_on_construction():
    w = numpy.zeros((4, 3))
    with pytest.raises(ValueError, match="layer 'd': activation 'softmax'"):
        Dense("d", w, numpy.zeros(4), "softmax")
    with pytest.raises(ValueError, match="layer 'd' bias has shape"):
        Dense("d", w, numpy.zeros(3))
    with pytest.raises(ValueError, match="layer 'd' weight holds non-finite"):
        Dense("d", w * numpy.nan, numpy.zeros(4))
    with pytest.raises(ValueError, match="layer 'r': hidden_size must be a positive integer"):
        Recurrent("r", "lstm", 1, 0, {})
    layer = Dense("d", w, numpy.zeros(4))
    assert not layer.weight.flags.writeable
