"""``symcell generate-c --model FILE``: a one-recurrent-layer model (with a Dense head) from a torch .pt, a Keras
.h5 and RTNeural's lstm_1d.json becomes the fixed-size C pair, which compiles with -std=c99 -Wall -Wextra
-Werror -pedantic (and, for the torch model, AddressSanitizer and UndefinedBehaviorSanitizer) and, streamed
sample by sample through both its plain and packed step, matches the framework over 4,096 steps: double C
to 1e-12 against torch float64, float C (its fast tanh/sigmoid, each within 5e-7) to 1e-6 against the
float32 framework (measured: at most 1.8e-7). A stack it cannot generate yet is a one-line CLI error."""

from __future__ import annotations

import os
import subprocess
import warnings

import numpy
import torch
from symcell.codegen.cli import main

from symcell.cbuild import compiler
from tests.support import ROOT

STEPS = 4096
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE = ["-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def _program(name: str, c: str, X: int, N: int) -> str:
    """Reads T samples of X values from stdin; prints each step's N outputs of the plain and the packed step."""
    fmt = "%.17g" if c == "double" else "%.9g"
    return f"""#include <stdio.h>
#include "{name}.h"

int main(void)
{{
    {name}_state plain, packed;
    {c} x[{X}], out[{N}], out_packed[{N}];
    double v;
    int k;
    {name}_reset(&plain), {name}_reset(&packed);
    for (;;) {{
        for (k = 0; k < {X}; ++k) {{
            if (scanf("%lf", &v) != 1) return 0;
            x[k] = ({c})v;
        }}
        {name}_step(&{name}_weights, &plain, x, out);
        {name}_step_packed(&{name}_packed_weights, &packed, x, out_packed);
        for (k = 0; k < {N}; ++k) printf("{fmt} {fmt}\\n", (double)out[k], (double)out_packed[k]);
    }}
}}
"""


def _generate_and_run(tmp_path, model_file, x: numpy.ndarray, N: int, dtype: str, extra=(),
                      options=()) -> numpy.ndarray:
    """generate-c --model, compile, stream x (T, X) through; (T, N, 2): the plain and the packed outputs."""
    out = tmp_path / dtype
    name = f"m_{dtype}"
    assert main(["generate-c", "--model", str(model_file), *options, "--dtype", dtype, "--name", name,
                 "--out", str(out)]) == 0
    (out / "main.c").write_text(_program(name, dtype, x.shape[1], N))
    cc = subprocess.run([*compiler(), *STRICT, *extra, "-O2", "-o", "main", "main.c", f"{name}.c", "-lm"], cwd=out,
                        capture_output=True, text=True)
    assert cc.returncode == 0 and not cc.stderr, cc.stderr
    stdin = "\n".join(" ".join(repr(float(v)) for v in row) for row in x)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")
    run = subprocess.run([str(out / "main")], input=stdin, capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0 and not run.stderr, run.stderr
    return numpy.array([line.split() for line in run.stdout.splitlines()], float).reshape(len(x), N, 2)


def _assert_both(got, want, tol, what):
    for j, step in enumerate(("plain", "packed")):
        err = numpy.abs(got[:, :, j] - want).max()
        assert err <= tol, (what, step, err)


def test_torch_model_to_c_matches_torch(tmp_path):
    torch.manual_seed(8)
    model = torch.nn.ModuleDict({"rnn": torch.nn.LSTM(2, 20), "head": torch.nn.Linear(20, 1)})
    torch.save(model.state_dict(), tmp_path / "amp.pt")
    x = numpy.random.default_rng(1).uniform(-1, 1, (STEPS, 2)).astype(numpy.float32)

    def framework(dtype):
        m = model.to(dtype)
        with torch.no_grad():
            return m["head"](m["rnn"](torch.from_numpy(x).to(dtype)[:, None, :])[0])[:, 0, :].double().numpy()

    _assert_both(_generate_and_run(tmp_path, tmp_path / "amp.pt", x, 1, "double", SANITIZE), framework(torch.float64),
                 1e-12, "double")
    _assert_both(_generate_and_run(tmp_path, tmp_path / "amp.pt", x, 1, "float"), framework(torch.float32), 1e-6,
                 "float")


def test_stack_description_names_the_cell(tmp_path, capsys):
    """An nn.RNN(nonlinearity="relu") state_dict cannot say relu: --stack says it, and the C matches torch."""
    torch.manual_seed(6)
    model = torch.nn.ModuleDict({"rnn": torch.nn.RNN(1, 8, nonlinearity="relu"), "out": torch.nn.Linear(8, 2)})
    model = model.double()
    torch.save(model.state_dict(), tmp_path / "relu.pt")
    (tmp_path / "stack.json").write_text('{"cells": {"rnn": "rnn_relu"}}')
    x = numpy.random.default_rng(3).uniform(-1, 1, (STEPS, 1))
    with torch.no_grad():
        want = model["out"](model["rnn"](torch.from_numpy(x)[:, None, :])[0])[:, 0, :].numpy()
    got = _generate_and_run(tmp_path, tmp_path / "relu.pt", x, 2, "double",
                            options=["--stack", str(tmp_path / "stack.json")])
    _assert_both(got, want, 1e-12, "double")
    assert "rnn_relu 1->8, dense 8->2 (none)" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["generate-c", "--model", str(tmp_path / "relu.pt"), "--stack", str(tmp_path / "bad.json")]) == 2
    assert capsys.readouterr().err.startswith("symcell: error: --stack")


def test_keras_gru_v3_to_c_matches_keras(tmp_path):
    """Keras GRU reset_after=False (symcell's gru_v3), 3 outputs, from a legacy .h5 file."""
    os.environ["KERAS_BACKEND"] = "torch"
    import keras

    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((None, 1)), keras.layers.GRU(16, reset_after=False, return_sequences=True,
                                                                       bias_initializer="random_normal"),
                              keras.layers.Dense(3, bias_initializer="random_normal")])
    with warnings.catch_warnings():  # Keras 3.15's Variable.__array__ under NumPy 2.4 (see test_models_keras)
        warnings.filterwarnings("ignore", "__array__ implementation doesn't accept a copy keyword", DeprecationWarning)
        model.save(tmp_path / "gru.h5")
    x = numpy.random.default_rng(2).uniform(-1, 1, (STEPS, 1)).astype(numpy.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x[None]), training=False)[0].cpu().numpy().astype(numpy.float64)
    _assert_both(_generate_and_run(tmp_path, tmp_path / "gru.h5", x, 3, "float"), want, 1e-6, "float")


def test_rtneural_lstm_1d_to_c_reproduces_its_reference_output(tmp_path):
    data = ROOT / "tests" / "data" / "rtneural"
    x = numpy.loadtxt(data / "test_data" / "lstm_1d_x_python.csv", delimiter=",")[:, None]
    want = numpy.loadtxt(data / "test_data" / "lstm_1d_y_python.csv", delimiter=",")[:, None]
    _assert_both(_generate_and_run(tmp_path, data / "models" / "lstm_1d.json", x, 1, "double"), want, 1e-6, "double")
    _assert_both(_generate_and_run(tmp_path, data / "models" / "lstm_1d.json", x, 1, "float"), want, 1e-6, "float")


def test_stacks_not_generated_yet_are_one_line_errors(tmp_path, capsys):
    data = ROOT / "tests" / "data" / "rtneural" / "models"
    for model in ("gru.json", "lstm_torch.json"):  # a Dense before the GRU; four LSTM layers
        assert main(["generate-c", "--model", str(data / model), "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("symcell: error: ") and err.count("\n") == 1 and "multi-layer stacks are not generated" \
            " yet" in err, err
    assert main(["generate-c", "lstm", "--model", str(data / "lstm_1d.json"), "--out", str(tmp_path)]) == 2
    assert "drop a cell" in capsys.readouterr().err
    assert main(["generate-c", "--out", str(tmp_path)]) == 2
    assert "needs a cell with --input-size and --hidden-size, or --model FILE" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
