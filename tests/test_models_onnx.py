"""ONNX models: exported here from torch (torch.onnx.export, the TorchScript exporter) and built here node by
node with onnx.helper (GRU with linear_before_reset 0 and 1, LSTM with peepholes, RNN with Relu, Gemm, MatMul,
Add, activations), read back by codegen.models and run by its reference runner. They agree over 4,096
single-stream steps to 1e-6 absolute (float32) with torch's forward (exported models) and with onnxruntime and
onnx's own reference implementation, onnx.reference.ReferenceEvaluator (built models)."""

from __future__ import annotations

import warnings

import numpy
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from symcell.codegen.models import read_model, run

STEPS = 4096


class Exported(torch.nn.Module):
    def __init__(self, rnn, head, skip: int = 0):
        super().__init__()
        self.rnn, self.head, self.skip = rnn, head, skip

    def forward(self, x):
        y = self.head(self.rnn(x)[0])
        return y + x[:, :, 0:self.skip] if self.skip else y


def _exported():
    torch.manual_seed(2)
    return {
        "lstm2_linear_tanh_linear": (Exported(torch.nn.LSTM(2, 16, num_layers=2), torch.nn.Sequential(
            torch.nn.Linear(16, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))), ["lstm", "lstm", None, None]),
        "gru_linear_sigmoid": (Exported(torch.nn.GRU(1, 12), torch.nn.Sequential(torch.nn.Linear(12, 1),
                                                                                  torch.nn.Sigmoid())), ["gru", None]),
        "guitarml_lstm_skip": (Exported(torch.nn.LSTM(2, 20), torch.nn.Linear(20, 1), skip=1), ["lstm", None]),
    }


def _x(X: int, seed: int = 0) -> numpy.ndarray:
    return numpy.random.default_rng(seed).uniform(-1, 1, (STEPS, X)).astype(numpy.float32)


@pytest.mark.parametrize("case", list(_exported()))
def test_torch_exported_onnx_matches_torch(case, tmp_path):
    model, cells = _exported()[case]
    X = model.rnn.input_size
    # the TorchScript exporter writes LSTM/GRU nodes (the default torch.export one needs onnxscript); torch
    # deprecates it, and it warns from inside (DeprecationWarning, TracerWarning): silenced for this call only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(5, 1, X),), str(tmp_path / "m.onnx"), dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "T"}, "y": {0: "T"}})
    stack = read_model(tmp_path / "m.onnx")
    assert [getattr(lay, "cell", None) for lay in stack.layers] == cells
    assert stack.skip == model.skip
    x = _x(X)
    with torch.no_grad():
        want = model(torch.from_numpy(x)[:, None, :])[:, 0, :].numpy().astype(numpy.float64)
    got = run(stack, x, numpy.float32)
    assert numpy.abs(got - want).max() <= 1e-6, numpy.abs(got - want).max()


def _const(name, a):
    return numpy_helper.from_array(numpy.asarray(a, numpy.float32), name)


def _axes(name, *axes):
    return numpy_helper.from_array(numpy.array(axes, numpy.int64), name)


def _graph(nodes, inits, X: int, out_shape) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 1, X])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def _built():
    """Models built node by node: (model, X, cells)."""
    rng = numpy.random.default_rng(9)
    u = lambda *s: rng.uniform(-0.6, 0.6, s)  # noqa: E731
    X, H, N = 2, 8, 3
    models = {}
    for lbr in (0, 1):
        nodes = [helper.make_node("GRU", ["x", "W", "R", "B", "", "h0"], ["Y"], hidden_size=H, linear_before_reset=lbr,
                                  name=f"gru{lbr}"),
                 helper.make_node("Squeeze", ["Y", "axes1"], ["s"]),
                 helper.make_node("MatMul", ["s", "Wd"], ["m"]), helper.make_node("Add", ["m", "bd"], ["a"]),
                 helper.make_node("Tanh", ["a"], ["y"])]
        inits = [_const("W", u(1, 3 * H, X)), _const("R", u(1, 3 * H, H)), _const("B", u(1, 6 * H)),
                 _const("h0", numpy.zeros((1, 1, H))), _axes("axes1", 1), _const("Wd", u(H, N)), _const("bd", u(N))]
        models[f"gru_lbr{lbr}_matmul_add_tanh"] = (_graph(nodes, inits, X, ["T", 1, N]), X, ["gru" if lbr else "gru_v3",
                                                                                            None])
    nodes = [helper.make_node("LSTM", ["x", "W", "R", "B", "", "", "", "P"], ["Y"], hidden_size=H, name="peep"),
             helper.make_node("Squeeze", ["Y", "axes12"], ["s"]),
             helper.make_node("Gemm", ["s", "Wd", "bd"], ["g"], transB=1, alpha=0.5, beta=2.0),
             helper.make_node("Sigmoid", ["g"], ["y"])]
    inits = [_const("W", u(1, 4 * H, X)), _const("R", u(1, 4 * H, H)), _const("B", u(1, 8 * H)),
             _const("P", u(1, 3 * H)), _axes("axes12", 1, 2), _const("Wd", u(N, H)), _const("bd", u(N))]
    models["lstm_peephole_gemm_sigmoid"] = (_graph(nodes, inits, X, ["T", N]), X, ["lstm_peephole", None])
    nodes = [helper.make_node("RNN", ["x", "W", "R", "B"], ["Y"], hidden_size=H, activations=["Relu"], name="relu"),
             helper.make_node("Squeeze", ["Y", "axes1"], ["s"]), helper.make_node("MatMul", ["s", "Wd"], ["y"])]
    inits = [_const("W", u(1, H, X)), _const("R", 0.5 * u(1, H, H)), _const("B", u(1, 2 * H)),
             _axes("axes1", 1), _const("Wd", u(H, N))]
    models["rnn_relu_matmul"] = (_graph(nodes, inits, X, ["T", 1, N]), X, ["rnn_relu", None])
    return models


@pytest.mark.parametrize("case", list(_built()))
def test_built_onnx_matches_onnxruntime_and_reference(case, tmp_path):
    """Against onnxruntime (CPU), and against onnx's ReferenceEvaluator where it implements the node (its RNN
    knows only Tanh, so rnn_relu is checked against onnxruntime alone)."""
    import onnxruntime

    model, X, cells = _built()[case]
    onnx.save(model, tmp_path / "m.onnx")
    stack = read_model(tmp_path / "m.onnx")
    assert [getattr(lay, "cell", None) for lay in stack.layers] == cells
    x = _x(X, seed=3)
    got = run(stack, x, numpy.float32)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    oracles = {"onnxruntime": session.run(None, {"x": x[:, None, :]})[0]}
    if "rnn_relu" not in cells:
        oracles["reference"] = ReferenceEvaluator(model).run(None, {"x": x[:, None, :]})[0]
    for oracle, want in oracles.items():
        err = numpy.abs(got - want.reshape(STEPS, -1).astype(numpy.float64)).max()
        assert err <= 1e-6, (oracle, err)


def test_onnx_nodes_without_a_symcell_form_are_refused(tmp_path):
    model, X, _ = _built()["gru_lbr1_matmul_add_tanh"]
    gru = model.graph.node[0]
    cases = {
        "direction": (lambda n: n.attribute.append(helper.make_attribute("direction", "bidirectional")),
                      "layer 'gru1': direction 'bidirectional'"),
        "clip": (lambda n: n.attribute.append(helper.make_attribute("clip", 3.0)), "layer 'gru1': clip=3.0"),
        "activations": (lambda n: n.attribute.append(helper.make_attribute("activations", ["Relu", "Tanh"])),
                        "layer 'gru1': activations \\['Relu', 'Tanh'\\]"),
    }
    for change, message in cases.values():
        bad = onnx.ModelProto()
        bad.CopyFrom(model)
        change(bad.graph.node[0])
        onnx.save(bad, tmp_path / "bad.onnx")
        with pytest.raises(ValueError, match=message):
            read_model(tmp_path / "bad.onnx")
    bad = onnx.ModelProto()
    bad.CopyFrom(model)
    for init in bad.graph.initializer:
        if init.name == "h0":
            init.CopyFrom(_const("h0", numpy.ones((1, 1, gru.attribute[0].i))))
    onnx.save(bad, tmp_path / "bad.onnx")
    with pytest.raises(ValueError, match="layer 'gru1': its initial state h0 is not zeros"):
        read_model(tmp_path / "bad.onnx")
    bad = onnx.ModelProto()
    bad.CopyFrom(model)
    bad.graph.node[4].op_type = "Softplus"
    onnx.save(bad, tmp_path / "bad.onnx")
    with pytest.raises(ValueError, match="an ONNX Softplus node on the data path has no symcell form"):
        read_model(tmp_path / "bad.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\xff\xff not protobuf")
    with pytest.raises(ValueError, match="not an ONNX model"):
        read_model(tmp_path / "junk.onnx")
