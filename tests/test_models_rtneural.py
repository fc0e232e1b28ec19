"""RTNeural's published test models and the framework outputs its own tests check against (tests/data/rtneural,
BSD-3, see its README.md): Keras models in RTNeural's JSON export and torch state_dicts as JSON, read by
codegen.models and run by its reference runner, reproduce TensorFlow's / torch's recorded float32 outputs to
1e-6 absolute (RTNeural holds its own C++ to 1e-6, 5e-6 for gru), in float32 and in float64."""

from __future__ import annotations

import numpy
import pytest
from symcell.codegen.models import read_model, run

from tests.support import ROOT

DATA = ROOT / "tests" / "data" / "rtneural"
CASES = {  # model: the cells of its layers (None: Dense)
    "gru": [None, "gru", None, None],
    "gru_1d": ["gru", None, None],
    "lstm": [None, "lstm", None],
    "lstm_1d": ["lstm", None],
    "gru_torch": ["gru"] * 4 + [None],
    "lstm_torch": ["lstm"] * 4 + [None],
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_rtneural_models_reproduce_their_reference_outputs(name, dtype):
    stack = read_model(DATA / "models" / f"{name}.json")
    assert [getattr(lay, "cell", None) for lay in stack.layers] == CASES[name]
    x = numpy.loadtxt(DATA / "test_data" / f"{name}_x_python.csv", delimiter=",")
    want = numpy.loadtxt(DATA / "test_data" / f"{name}_y_python.csv", delimiter=",")
    assert x.shape == want.shape and len(x) >= 100
    got = run(stack, x[:, None], dtype)[:, 0]
    assert numpy.abs(got - want).max() <= 1e-6, numpy.abs(got - want).max()


def test_rtneural_layers_without_a_symcell_form_are_refused(tmp_path):
    """dense.json has elu and softmax Activation layers: the first is named in the error."""
    with pytest.raises(ValueError, match="layer '5:activation': activation 'elu'"):
        read_model(DATA / "models" / "dense.json")
    (tmp_path / "conv.json").write_text('{"in_shape": [null, null, 1], "layers": [{"type": "conv1d", '
                                        '"activation": "", "shape": [null, null, 2], "weights": []}]}')
    with pytest.raises(ValueError, match="layer '0:conv1d': an RTNeural 'conv1d' layer"):
        read_model(tmp_path / "conv.json")
