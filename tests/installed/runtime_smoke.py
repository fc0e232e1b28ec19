"""Run inside a venv that has the symcell wheel and numpy only (no SymPy, no Jinja2): the README's runtime
examples. tests/test_wheel.py runs it from a folder of its own; it prints OK and exits 0, else raises."""

import sys

import numpy

import symcell

out = sys.argv[1]  # a folder `symcell generate --cell-file ... --out` wrote (an empty string: none yet)
if not out:  # the first stage: the venv has numpy and the wheel only
    for generator_dependency in ("sympy", "jinja2"):
        try:
            __import__(generator_dependency)
        except ImportError:
            continue
        raise AssertionError(f"this venv must not have {generator_dependency}: the runtime has to work without it")
rng = numpy.random.default_rng(0)
x = rng.standard_normal((6, 2, 3))
for cell in ("lstm", "gru", "rnn_tanh"):
    kn = symcell.load(cell)
    p = kn.init_params(3, 4, rng=rng)
    y, state, tape = kn.forward(x, p, save=True)
    grads = kn.backward(tape, numpy.ones_like(y))
    for dtype, rtol in ((numpy.float64, 1e-12), (numpy.float32, 1e-5)):
        kc = symcell.load(cell, "c", dtype=dtype)
        pc = {k: v.astype(dtype) for k, v in p.items()}
        yc, _, tc = kc.forward(x.astype(dtype), pc, save=True)
        gc = kc.backward(tc, numpy.ones_like(yc))
        assert numpy.allclose(yc, y, rtol=rtol, atol=rtol), cell
        assert numpy.allclose(gc["weight_hh"], grads["weight_hh"], rtol=rtol * 100, atol=rtol * 100), cell
if out:
    for backend in ("numpy", "c"):
        k = symcell.load("leaky_coupled_toy", backend, path=out)
        p = k.init_params(3, 4, rng=0)
        assert k.forward(x, p)[0].shape == (6, 2, 4)
assert "sympy" not in sys.modules and "jinja2" not in sys.modules, sorted(m for m in sys.modules if "sym" in m)
print("OK")
