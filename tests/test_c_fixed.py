"""The fixed-size C variant: compiled into small C drivers it matches the NumPy module on the same
weights and inputs; weights come from .npz or a torch state_dict; and the documented example program
compiles and runs exactly as printed in docs/c-api.md."""

from __future__ import annotations

import re
import shlex
import subprocess

import numpy
import pytest
from symcell.codegen.c.api import param_arg
from symcell.codegen.c.fixed import generate
from symcell.codegen.c.weights import read_arrays, select
from symcell.codegen.cli import main
from symcell.codegen.ir import lower

from symcell.cbuild import compiler
from tests.conftest import assert_close
from tests.support import CELLS, ROOT, kernel

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def _c_array(a, single=False) -> str:
    fmt = (lambda v: repr(float(numpy.float32(v))) + "f") if single else (lambda v: repr(float(v)))
    if a.ndim == 1:
        return "{" + ", ".join(fmt(v) for v in a) + "}"
    return "{" + ", ".join(_c_array(r, single) for r in a) + "}"


def _build_and_run(tmp_path, files: dict, program: str) -> str:
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    (tmp_path / "main.c").write_text(program)
    sources = ["main.c", *(rel for rel in files if rel.endswith(".c"))]
    cc = subprocess.run([*compiler(), *STRICT, "-O2", "-o", "main", *sources, "-lm"], cwd=tmp_path,
                        capture_output=True, text=True)
    assert cc.returncode == 0 and not cc.stderr, cc.stderr
    run = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _reference(kn, params, dense, xs):
    """NumPy module forward over one stream (batch 1), then the dense layer."""
    y, _ = kn.forward(xs[:, None, :], params, None)
    return y[:, 0, :] @ dense[0].T + dense[1]


@pytest.mark.parametrize("cell", CELLS)
def test_fixed_size_matches_numpy(cell, tmp_path):
    """Two streams of a double model with baked weights (from an .npz) agree with NumPy to 1e-12; a
    float model of the same cell with runtime-filled params, linked into the same program, agrees to
    float32 accuracy. Two models and three streams in one process share nothing mutable."""
    T, X, H, N = 7, 3, 5, 2
    rng = numpy.random.default_rng(7)
    kn = kernel(cell, "numpy")
    params = {k: rng.uniform(-0.8, 0.8, s) for k, s in kn.param_shapes(X, H).items()}
    dense = (rng.uniform(-1, 1, (N, H)), rng.uniform(-1, 1, N))
    numpy.savez(tmp_path / "w.npz", **params, **{"head.weight": dense[0], "head.bias": dense[1]})
    shapes = kn.param_shapes(X, H)
    weights = select(read_arrays(tmp_path / "w.npz"), shapes, H, N)
    files = generate(cell, X, H, weights, N, name="m64", dtype="double")
    files |= generate(cell, X, H, None, N, name="m32", dtype="float")
    xs = [rng.standard_normal((T, X)) for _ in range(2)]
    p32 = {**params, "dense_weight": dense[0], "dense_bias": dense[1]}
    fields = {k: param_arg(k) if k in kn.param_shapes(X, H) else k for k in p32}  # per-unit w is p_w
    fill = "\n    ".join(f"{{ static const float v{k}{''.join(f'[{d}]' for d in v.shape)} = {_c_array(v, True)}; "
                         f"memcpy(&p.{fields[k]}, &v{k}, sizeof p.{fields[k]}); }}" for k, v in p32.items())
    program = f"""#include <stdio.h>
#include <string.h>
#include "m64.h"
#include "m32.h"

static const double xa[{T}][{X}] = {_c_array(xs[0])};
static const double xb[{T}][{X}] = {_c_array(xs[1])};

int main(void)
{{
    m64_state a, b;
    m32_state c;
    m32_params p;
    double out[{N}];
    float xf[{X}], outf[{N}];
    int t, k;
    {fill}
    m64_reset(&a), m64_reset(&b), m32_reset(&c);
    for (t = 0; t < {T}; ++t) {{
        m64_step(&m64_weights, &a, xa[t], out);
        for (k = 0; k < {N}; ++k) printf("a %d %d %.17g\\n", t, k, out[k]);
        m64_step(&m64_weights, &b, xb[t], out);
        for (k = 0; k < {N}; ++k) printf("b %d %d %.17g\\n", t, k, out[k]);
        for (k = 0; k < {X}; ++k) xf[k] = (float)xa[t][k];
        m32_step(&p, &c, xf, outf);
        for (k = 0; k < {N}; ++k) printf("c %d %d %.9g\\n", t, k, (double)outf[k]);
    }}
    return 0;
}}
"""
    got = {s: numpy.full((T, N), numpy.nan) for s in "abc"}
    for line in _build_and_run(tmp_path, files, program).splitlines():
        s, t, k, v = line.split()
        got[s][int(t), int(k)] = float(v)
    assert_close(got["a"], _reference(kn, params, dense, xs[0]), 1e-12, "stream a")
    assert_close(got["b"], _reference(kn, params, dense, xs[1]), 1e-12, "stream b")
    x32 = xs[0].astype(numpy.float32).astype(numpy.float64)
    p32_64 = {k: v.astype(numpy.float32).astype(numpy.float64) for k, v in params.items()}
    d32 = tuple(d.astype(numpy.float32).astype(numpy.float64) for d in dense)
    assert_close(got["c"], _reference(kn, p32_64, d32, x32), 1e-5, "float model")


@pytest.mark.parametrize("cell", [c for c in CELLS if lower(c).torch_module])
def test_state_dict_weights_equal_npz_weights(cell, tmp_path):
    """A torch.save'd state_dict of a module holding the torch RNN and a Linear head bakes in the same
    weights as an .npz of the params converted by params_from_state_dict."""
    import torch

    ir, X, H = lower(cell), 2, 4
    torch.manual_seed(0)
    kwargs = {k: {"True": True, "False": False}.get(v, v) for k, v in ir.torch_kwargs}
    model = torch.nn.ModuleDict({"rnn": getattr(torch.nn, ir.torch_module)(X, H, **kwargs),
                                 "head": torch.nn.Linear(H, 3)}).double()
    sd = model.state_dict()
    torch.save(sd, tmp_path / "model.pt")
    kn = kernel(cell, "numpy")
    params = kn.params_from_state_dict({k[len("rnn."):]: v for k, v in sd.items() if k.startswith("rnn.")})
    numpy.savez(tmp_path / "w.npz", **params, unrelated=numpy.zeros(1),
                **{"head.weight": sd["head.weight"].numpy(), "head.bias": sd["head.bias"].numpy()})
    shapes = kn.param_shapes(X, H)
    from_pt = select(read_arrays(tmp_path / "model.pt"), shapes, H, 3)
    from_npz = select(read_arrays(tmp_path / "w.npz"), shapes, H, 3)
    assert generate(cell, X, H, from_pt, 3) == generate(cell, X, H, from_npz, 3)


def test_bad_weights_are_refused(tmp_path, capsys):
    X, H = 2, 3
    kn = kernel("lstm", "numpy")
    shapes = kn.param_shapes(X, H)
    params = kn.init_params(X, H, numpy.random.default_rng(0))
    cases = {
        "missing": ({k: v for k, v in params.items() if k != "bias_hh"}, "bias_hh"),
        "shape": ({**params, "weight_hh": params["weight_hh"][:, :-1]}, "weight_hh has shape"),
        "deep": ({**params, "weight_ih_l1": params["weight_ih"]}, "one-layer"),
        "nan": ({**params, "bias_ih": params["bias_ih"] * numpy.nan}, "finite"),
        "dense": (params, "dense"),
    }
    for name, (arrays, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            select(arrays, shapes, H, 1 if name == "dense" else None)
    numpy.savez(tmp_path / "bad.npz", **cases["shape"][0])
    code = main(["generate-c", "lstm", "--input-size", "2", "--hidden-size", "3", "--weights",
                 str(tmp_path / "bad.npz"), "--out", str(tmp_path)])
    assert code == 2 and "weight_hh" in capsys.readouterr().err
    with pytest.raises(ValueError, match="finite float"):  # representable in double, not in float
        generate("lstm", X, H, {**params, "bias_ih": params["bias_ih"] + 1e39}, dtype="float")
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="torch.load"):
        read_arrays(tmp_path / "junk.pt")


def _doc_blocks():
    text = (ROOT / "docs" / "c-api.md").read_text()
    example = text[text.index("### Example"):]
    shell = re.search(r"```sh\n(.*?)```", example, re.S).group(1).strip().splitlines()
    program = re.search(r"```c\n(.*?)```", example, re.S).group(1)
    return shell, program


def test_doc_example_compiles_and_runs_as_printed(tmp_path, monkeypatch):
    """The commands and the program of docs/c-api.md, verbatim (the compile line with -Wall -Wextra
    -Werror -pedantic added); its output matches the NumPy module run on the same float32 weights."""
    import torch

    shell, program = _doc_blocks()
    assert len(program.splitlines()) <= 22
    torch.manual_seed(1)
    model = torch.nn.ModuleDict({"rnn": torch.nn.LSTM(1, 16), "head": torch.nn.Linear(16, 1)})
    torch.save(model.state_dict(), tmp_path / "model.pt")
    (tmp_path / "example.c").write_text(program)
    monkeypatch.chdir(tmp_path)
    generate_line, cc_line = shell
    argv = shlex.split(generate_line)
    assert argv[0] == "symcell" and main(argv[1:]) == 0
    argv = shlex.split(cc_line)
    assert argv[0] == "cc"
    cc = subprocess.run([*compiler(), *STRICT, *argv[1:]], capture_output=True, text=True)
    assert cc.returncode == 0 and not cc.stderr, cc.stderr
    run = subprocess.run(["./example"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stderr == ""
    got = float(re.fullmatch(r"y = (\S+)\n", run.stdout).group(1))

    f32 = numpy.float32
    n = numpy.arange(480, dtype=f32)
    x = numpy.sin(f32(2.0) * f32(3.14159265) * f32(440.0) * n / f32(48000.0)).astype(numpy.float64)
    sd = {k: v.double().numpy() for k, v in model.state_dict().items()}
    kn = kernel("lstm", "numpy")
    params = kn.params_from_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("rnn.")})
    want = _reference(kn, params, (sd["head.weight"], sd["head.bias"]), x[:, None])[-1, 0]
    assert abs(got - want) <= 1e-5 + 1e-5 * abs(want)  # float32 kernel vs float64 reference; printed to 1e-6
