"""Keras .keras and .h5 files, read without TensorFlow: models built here with Keras (torch backend), saved
in both formats, read back by codegen.models and run by its reference runner, agree with Keras's own
forward pass over 4,096 single-stream steps to 1e-6 absolute (float32). Covers LSTM, GRU with reset_after True
(symcell's gru) and False (gru_v3), SimpleRNN tanh/relu, Dense tanh/relu/sigmoid/linear, TimeDistributed(Dense),
Activation and Dropout layers, and a Functional chain ending in an Add of the input (the skip)."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # the backend that installs beside the project's torch; set before import

import keras  # noqa: E402
import numpy  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from symcell.codegen.models import read_model, run  # noqa: E402

STEPS = 4096
# Keras 3.15's Variable.__array__ takes no copy keyword, which NumPy 2.4 deprecates (a warning, an error under
# this suite's filterwarnings) whenever Keras converts its weights to NumPy (save, predict): Keras's, not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
L = keras.layers
INIT = {"bias_initializer": "random_normal"}  # non-zero biases, so a misplaced bias shows


def _models():
    keras.utils.set_random_seed(11)
    return {
        "lstm_dense": (keras.Sequential([keras.Input((None, 2)), L.LSTM(16, return_sequences=True, **INIT),
                                         L.Dense(8, activation="tanh", **INIT), L.Dense(1, **INIT)]),
                       ["lstm", None, None]),
        "gru_both_reset_after": (keras.Sequential([
            keras.Input((None, 1)), L.GRU(12, return_sequences=True, reset_after=True, **INIT),
            L.GRU(8, return_sequences=True, reset_after=False, **INIT), L.Dropout(0.5),
            L.Dense(1, activation="sigmoid", **INIT)]), ["gru", "gru_v3", None]),
        "simple_rnn": (keras.Sequential([
            keras.Input((None, 3)), L.SimpleRNN(8, activation="relu", return_sequences=True, **INIT),
            L.SimpleRNN(6, return_sequences=True, **INIT), L.TimeDistributed(L.Dense(4, **INIT)),
            L.Activation("relu"), L.Dense(2, **INIT)]), ["rnn_relu", "rnn_tanh", None, None]),
        "functional_skip": (_functional_skip(), ["lstm", None]),
    }


def _functional_skip():
    """GuitarML's shape in the Functional API: y = Dense(LSTM(x)) + x."""
    x = keras.Input((None, 1))
    y = L.Dense(1, **INIT)(L.LSTM(20, return_sequences=True, **INIT)(x))
    return keras.Model(x, L.Add()([y, x]))


@pytest.mark.parametrize("case", list(_models()))
def test_keras_files_match_keras(case, tmp_path):
    model, cells = _models()[case]
    X = model.input_shape[-1]
    x = numpy.random.default_rng(4).uniform(-1, 1, (STEPS, X)).astype(numpy.float32)
    with torch.no_grad():  # a direct call: predict's numpy conversion warns under NumPy 2 (an error here)
        want = model(torch.from_numpy(x[None]), training=False)[0].cpu().numpy().astype(numpy.float64)
    for suffix in (".keras", ".h5"):
        model.save(tmp_path / f"model{suffix}")
        stack = read_model(tmp_path / f"model{suffix}")
        assert [getattr(lay, "cell", None) for lay in stack.layers] == cells, suffix
        assert stack.skip == (1 if case == "functional_skip" else 0)
        got = run(stack, x, numpy.float32)
        assert numpy.abs(got - want).max() <= 1e-6, (suffix, numpy.abs(got - want).max())


def test_keras_layers_without_a_symcell_form_are_refused(tmp_path):
    keras.utils.set_random_seed(0)
    cases = {
        "bidirectional": ([L.Bidirectional(L.LSTM(4, return_sequences=True), name="bi")], "layer 'bi': a Keras "
                          "Bidirectional"),
        "activation": ([L.LSTM(4, activation="relu", return_sequences=True, name="odd")], "layer 'odd'.*relu"),
        "backwards": ([L.GRU(4, go_backwards=True, return_sequences=True, name="back")], "layer 'back'.*go_backwards"),
        "softmax": ([L.GRU(4, return_sequences=True), L.Dense(3, activation="softmax", name="soft")],
                    "layer 'soft': activation 'softmax'"),
        "conv": ([L.Conv1D(2, 3, name="conv")], "layer 'conv': a Keras Conv1D"),
    }
    for layers, message in cases.values():
        model = keras.Sequential([keras.Input((None, 1)), *layers])
        model.save(tmp_path / "m.keras")
        with pytest.raises(ValueError, match=message):
            read_model(tmp_path / "m.keras")
    inputs = keras.Input((None, 1))
    branch = L.Dense(1, name="a")(inputs), L.Dense(1, name="b")(inputs)
    keras.Model(inputs, L.Add(name="sum")(list(branch))).save(tmp_path / "branches.keras")
    with pytest.raises(ValueError, match="layer 'b': reads \\['input_layer.*'\\], not the layer before it \\('a'\\)"):
        read_model(tmp_path / "branches.keras")
    (tmp_path / "junk.keras").write_bytes(b"PK not a zip")
    with pytest.raises(ValueError, match="not a Keras .keras archive"):
        read_model(tmp_path / "junk.keras")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        read_model(tmp_path / "junk.h5")
