"""ONNX models (the onnx package, no runtime): RNN / GRU / LSTM nodes, Gemm, MatMul + Add, Tanh / Relu / Sigmoid.

The reader follows the data path from the graph's one input to its one output: every node on it must be
one of those (or a Squeeze/Identity, as torch's exporter puts after each recurrent node to drop its
num_directions axis); nodes off the path (Shape, Gather, Expand computing the initial states) are allowed
only where the initial states they feed are zeros, checked. A last Add of the input, or of a Slice of it
keeping its first k channels (``x[..., :k]``), is the Stack's skip. ONNX layouts (ONNX operator specs):
W (1, G*H, X), R (1, G*H, H), B (1, 2*G*H) = [Wb, Rb];
LSTM gate blocks i, o, f, c -> symcell's i, f, g, o; peepholes P (1, 3H) = [p_i, p_o, p_f] -> lstm_peephole's
w_ci, w_cf, w_co (ONNX's o gate peeks at the new cell state, as lstm_peephole's does);
GRU z, r, h -> r, z, n; linear_before_reset=1 is torch's GRU (``gru``), 0 the r * h-before-the-matmul form
(``gru_v3``); RNN by its activation -> rnn_tanh / rnn_relu / rnn_sigmoid.
"""

from __future__ import annotations

from pathlib import Path

import numpy

from .stack import Dense, Recurrent, Stack

#: ops whose output is all zeros when their first input is
ZERO_PRESERVING = ("Expand", "Identity", "Cast", "Slice", "Reshape", "Squeeze", "Unsqueeze", "Gather")
ACTIVATION_OPS = {"Tanh": "tanh", "Relu": "relu", "Sigmoid": "sigmoid"}
RNN_CELLS = {"Tanh": "rnn_tanh", "Relu": "rnn_relu", "Sigmoid": "rnn_sigmoid"}
#: per op: symcell's gate blocks in ONNX's block order, and the activations symcell's cell has
ORDER = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ValueError("reading an ONNX model needs the onnx package installed (pip install onnx)") from None
    return onnx, numpy_helper


class _Graph:
    def __init__(self, graph, numpy_helper):
        self.numpy_helper = numpy_helper
        self.nodes = list(graph.node)
        self.const = {i.name: numpy_helper.to_array(i).astype(numpy.float64) for i in graph.initializer}
        for node in self.nodes:
            if node.op_type == "Constant":
                for a in node.attribute:
                    if a.name == "value":
                        self.const[node.output[0]] = numpy_helper.to_array(a.t).astype(numpy.float64)
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.inputs = [i.name for i in graph.input if i.name not in self.const]
        self.outputs = [o.name for o in graph.output]

    def array(self, node, j: int, what: str) -> numpy.ndarray | None:
        """Input j of ``node`` as a constant array (None when absent), or an error naming the node."""
        if j >= len(node.input) or not node.input[j]:
            return None
        name = node.input[j]
        if name not in self.const:
            raise ValueError(f"layer {node.name or node.op_type!r}: its {what} ({name}) is not a constant")
        return self.const[name]

    def is_zero(self, name: str) -> bool:
        """Whether tensor ``name`` is all zeros: a constant, or a reshaping or slicing of one (the exporter's
        initial states are Expands of a zero constant or a ConstantOfShape, sliced per layer)."""
        if name in self.const:
            return not numpy.any(self.const[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "ConstantOfShape":  # its value attribute, default 0
            return not any(numpy.any(self.numpy_helper.to_array(a.t)) for a in node.attribute if a.name == "value")
        return node is not None and node.op_type in ZERO_PRESERVING and self.is_zero(node.input[0])


def _attrs(node, onnx) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(v):
    return [s.decode() if isinstance(s, bytes) else s for s in v] if isinstance(v, list) else (
        v.decode() if isinstance(v, bytes) else v)


def _recurrent(g: _Graph, node, onnx) -> Recurrent:
    op, name = node.op_type, node.name or node.op_type
    a = {k: _text(v) for k, v in _attrs(node, onnx).items()}
    if a.get("direction", "forward") != "forward":
        raise ValueError(f"layer {name!r}: direction {a['direction']!r} cannot run sample by sample (forward only)")
    for key, ok in (("layout", 0), ("input_forget", 0), ("clip", None)):
        if a.get(key, ok) != ok:
            raise ValueError(f"layer {name!r}: {key}={a[key]!r} has no symcell form")
    if a.get("activation_alpha") or a.get("activation_beta"):
        raise ValueError(f"layer {name!r}: activation_alpha/beta have no symcell form")
    acts = a.get("activations")
    if op == "RNN":
        act = (acts or ["Tanh"])[0]
        if act not in RNN_CELLS:
            raise ValueError(f"layer {name!r}: an RNN with activation {act!r} has no symcell cell")
        cell = RNN_CELLS[act]
    else:
        if acts and acts != DEFAULT_ACTIVATIONS[op]:
            raise ValueError(f"layer {name!r}: activations {acts} have no symcell cell "
                             f"({DEFAULT_ACTIVATIONS[op]} only)")
        cell = "lstm" if op == "LSTM" else ("gru" if a.get("linear_before_reset", 0) else "gru_v3")
    W, R, B = (g.array(node, j, w) for j, w in enumerate(("W", "R", "B"), start=1))
    if W is None or R is None or W.ndim != 3 or R.ndim != 3 or W.shape[0] != 1:
        raise ValueError(f"layer {name!r}: needs constant W (1, G*H, X) and R (1, G*H, H)")
    H, X, G = R.shape[2], W.shape[2], GATES[op]
    if a.get("hidden_size", H) != H or R.shape[1] != G * H or W.shape[1] != G * H:
        raise ValueError(f"layer {name!r}: W {W.shape} and R {R.shape} do not fit a {op} of hidden_size {H}")
    if len(node.input) > 4 and node.input[4]:
        raise ValueError(f"layer {name!r}: sequence_lens is not supported for streaming")
    for j in (5, 6):
        if len(node.input) > j and node.input[j] and not g.is_zero(node.input[j]):
            raise ValueError(f"layer {name!r}: its initial state {node.input[j]} is not zeros")
    B = numpy.zeros((1, 2 * G * H)) if B is None else B

    def blocks(v):
        return numpy.concatenate([v[q * H:(q + 1) * H] for q in ORDER[op]])

    params = {"weight_ih": blocks(W[0]), "weight_hh": blocks(R[0]),
              "bias_ih": blocks(B[0, :G * H]), "bias_hh": blocks(B[0, G * H:])}
    P = g.array(node, 7, "P") if op == "LSTM" else None
    if P is not None:
        if P.shape != (1, 3 * H):
            raise ValueError(f"layer {name!r}: P has shape {P.shape}; expected (1, {3 * H})")
        cell = "lstm_peephole"
        params |= {"w_ci": P[0, :H], "w_co": P[0, H:2 * H], "w_cf": P[0, 2 * H:]}
    return Recurrent(name, cell, X, H, params)


def stack_from_graph(graph, source: str = "") -> Stack:
    onnx, numpy_helper = _onnx()
    g = _Graph(graph, numpy_helper)
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise ValueError(f"{source}: symcell reads graphs of one input and one output; got inputs {g.inputs}, "
                         f"outputs {g.outputs}")
    source_input = g.inputs[0]
    current, layers, skip = source_input, [], 0
    residual = {source_input: None}  # tensors a skip may add: the input, or its first k channels (k)
    for node in g.nodes:
        name = node.name or node.op_type
        op = node.op_type
        if op == "Slice" and node.input[0] == source_input:  # x[..., :k], the skip's operand
            residual[node.output[0]] = _leading_channels(g, node)
            continue
        if current not in node.input:
            continue
        if op == "Shape":  # the exporter's way to size the initial states: off the data path
            continue
        if skip:
            raise ValueError(f"layer {name!r}: a node after the skip connection; the skip must be the last node")
        if op in ("LSTM", "GRU", "RNN"):
            if node.input[0] != current:
                raise ValueError(f"layer {name!r}: the sequence must be its first input")
            layers.append(_recurrent(g, node, onnx))
        elif op == "Identity":
            pass
        elif op == "Squeeze":  # drops a recurrent node's num_directions axis (and, for a Gemm after it, the batch)
            if not layers or not isinstance(layers[-1], Recurrent):
                raise ValueError(f"layer {name!r}: a Squeeze is read only right after a recurrent node")
        elif op == "Gemm":
            a = _attrs(node, onnx)
            if a.get("transA", 0) or node.input[0] != current:
                raise ValueError(f"layer {name!r}: a Gemm must multiply the data (untransposed) by a constant")
            W = g.array(node, 1, "B")
            W = a.get("alpha", 1.0) * (W if a.get("transB", 0) else W.T)
            C = g.array(node, 2, "C")
            bias = numpy.zeros(W.shape[0]) if C is None else a.get("beta", 1.0) * _vector(C, W.shape[0], name)
            layers.append(Dense(name, W, bias))
        elif op == "MatMul":
            if node.input[0] != current:
                raise ValueError(f"layer {name!r}: a MatMul must multiply the data by a constant on its right")
            W = g.array(node, 1, "weight")
            if W is None or W.ndim != 2:
                raise ValueError(f"layer {name!r}: a MatMul's weight must be a constant matrix")
            layers.append(Dense(name, W.T, numpy.zeros(W.shape[1])))
        elif op == "Add" and (node.input[1] if node.input[0] == current else node.input[0]) in residual:
            other = node.input[1] if node.input[0] == current else node.input[0]
            k = residual[other]
            if not layers:
                raise ValueError(f"layer {name!r}: a skip needs layers to skip over")
            skip = k if k is not None else layers[0].input_size
        elif op == "Add":
            other = node.input[1] if node.input[0] == current else node.input[0]
            last = layers[-1] if layers else None
            if other not in g.const or not isinstance(last, Dense) or last.activation != "none":
                raise ValueError(f"layer {name!r}: an Add is read only as a constant bias right after a MatMul or Gemm")
            bias = last.bias + _vector(g.const[other], last.bias.shape[0], name)
            layers[-1] = Dense(last.name, last.weight, bias)
        elif op in ACTIVATION_OPS:
            last = layers[-1] if layers else None
            if not isinstance(last, Dense) or last.activation != "none":
                raise ValueError(f"layer {name!r}: a {op} is read only right after a MatMul or Gemm")
            layers[-1] = Dense(last.name, last.weight, last.bias, ACTIVATION_OPS[op])
        else:
            raise ValueError(f"layer {name!r}: an ONNX {op} node on the data path has no symcell form")
        current = node.output[0]
    if current != g.outputs[0]:
        raise ValueError(f"{source}: the graph's output {g.outputs[0]} is not the end of its data path ({current})")
    return Stack(tuple(layers), skip, source)


def _vector(a: numpy.ndarray, n: int, name: str) -> numpy.ndarray:
    """A bias constant as an (n,) vector: (n,), (1, n), (1, 1, n) or a scalar broadcast."""
    if a.size == n:
        return a.reshape(n)
    if a.size == 1:
        return numpy.full(n, float(a.reshape(-1)[0]))
    raise ValueError(f"layer {name!r}: a bias of shape {a.shape} does not fit {n} outputs")


def _leading_channels(g: _Graph, node) -> int | None:
    """k for a Slice of the input that keeps channels 0..k-1 of its last axis (a skip's operand); None else."""
    starts, ends = g.const.get(node.input[1]), g.const.get(node.input[2])
    axes = g.const.get(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    steps = g.const.get(node.input[4]) if len(node.input) > 4 and node.input[4] else None
    if (starts is None or ends is None or axes is None or starts.size != 1 or int(starts[0]) != 0
            or int(axes.reshape(-1)[0]) not in (2, -1) or (steps is not None and int(steps.reshape(-1)[0]) != 1)):
        raise ValueError(f"layer {node.name or 'Slice'!r}: a Slice of the input is read only as x[..., :k] (a skip)")
    return int(ends.reshape(-1)[0])


def read(path: Path) -> Stack:
    """An .onnx file."""
    onnx, _ = _onnx()
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf's decode errors have no common public base
        raise ValueError(f"{path}: not an ONNX model: {exc}") from None
    return stack_from_graph(model.graph, str(path))
