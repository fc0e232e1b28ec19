"""The streaming path of the fixed-size C variant: the packed (transposed) layout and the fast float
activations.

- ``<name>_step_packed`` with baked packed weights, and with weights packed at run time by
  ``<name>_pack``, matches the NumPy module (float64 reference on the float32-rounded weights) for
  every cell, as ``<name>_step`` does (tests/test_c_fixed.py), also at a size whose recurrent matrix
  does not fit in L1 (blocks in the other order on odd steps, units in groups); that order does not
  change a bit of the output.
- The float tanh and sigmoid (codegen/c/approx.py) are within approx.MAX_ABS_ERROR (5e-7) absolute
  of double-precision libm over a dense sweep of float32 inputs, built both as a real-time user builds
  them (-O3 -march=native: fmaf) and without FMA; NaN propagates and at +-inf they are within the
  same bound of their limits.
"""

from __future__ import annotations

import subprocess

import numpy
import pytest
from symcell.codegen.c import approx
from symcell.codegen.c.api import param_arg
from symcell.codegen.c.fixed import generate

from symcell.cbuild import compiler
from tests.conftest import assert_close
from tests.support import CELLS, kernel
from tests.test_c_fixed import _build_and_run, _c_array, _reference

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


@pytest.mark.parametrize("H", [17, 47])
@pytest.mark.parametrize("cell", CELLS)
def test_step_packed_matches_numpy(cell, H, tmp_path):
    """H = 17: G*H is no multiple of a vector block, so the tails run too. H = 47: a gated cell's
    recurrent matrix is too big for L1, so odd steps run its blocks backwards and (no second stage)
    each group of 16 units runs right after its block, the last group of 15 a tail."""
    T, X, N = 6, 3, 2
    rng = numpy.random.default_rng(11)
    kn = kernel(cell, "numpy")
    params = {k: rng.uniform(-0.8, 0.8, s) for k, s in kn.param_shapes(X, H).items()}
    dense = (rng.uniform(-1, 1, (N, H)), rng.uniform(-1, 1, N))
    weights = params | {"dense_weight": dense[0], "dense_bias": dense[1]}
    files = generate(cell, X, H, weights, N, name="m", dtype="float")
    xs = rng.standard_normal((T, X))
    fields = {k: param_arg(k) if k in params else k for k in weights}
    fill = "\n    ".join(f"{{ static const float v{k}{''.join(f'[{d}]' for d in numpy.shape(v))} = "
                         f"{_c_array(numpy.asarray(v), True)}; memcpy(&p.{fields[k]}, &v{k}, sizeof p.{fields[k]}); }}"
                         for k, v in weights.items())
    program = f"""#include <stdio.h>
#include <string.h>
#include "m.h"

static const float xs[{T}][{X}] = {_c_array(xs, True)};

int main(void)
{{
    static m_params p;
    static m_packed q;
    m_state a, b;
    float out[{N}];
    int t, k;
    {fill}
    m_pack(&p, &q);
    m_reset(&a), m_reset(&b);
    for (t = 0; t < {T}; ++t) {{
        m_step_packed(&m_packed_weights, &a, xs[t], out);
        for (k = 0; k < {N}; ++k) printf("a %d %d %.9g\\n", t, k, (double)out[k]);
        m_step_packed(&q, &b, xs[t], out);
        for (k = 0; k < {N}; ++k) printf("b %d %d %.9g\\n", t, k, (double)out[k]);
    }}
    return 0;
}}
"""
    got = {s: numpy.full((T, N), numpy.nan) for s in "ab"}
    for line in _build_and_run(tmp_path, files, program).splitlines():
        s, t, k, v = line.split()
        got[s][int(t), int(k)] = float(v)
    r32 = {k: numpy.float32(v).astype(numpy.float64) if numpy.ndim(v) == 0 else
           numpy.asarray(v).astype(numpy.float32).astype(numpy.float64) for k, v in params.items()}
    d32 = tuple(d.astype(numpy.float32).astype(numpy.float64) for d in dense)
    want = _reference(kn, r32, d32, xs.astype(numpy.float32).astype(numpy.float64))
    assert_close(got["a"], want, 1e-5, "baked packed weights")
    assert_close(got["b"], want, 1e-5, "weights packed at run time")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_block_order_does_not_change_bits(cell, tmp_path):
    """A recurrent matrix too big for L1 runs its blocks in the other order on odd steps: a stream
    started with the other parity gives the same outputs to the bit (each output's sum is fixed)."""
    T, X, H = 5, 2, 47
    kn = kernel(cell, "numpy")
    weights = kn.init_params(X, H, numpy.random.default_rng(3)) | {"dense_weight": numpy.full((1, H), 0.1),
                                                                    "dense_bias": numpy.zeros(1)}
    files = generate(cell, X, H, weights, 1, name="m", dtype="float")
    assert "sc_flip" in files["m.c"]
    program = f"""#include <stdio.h>
#include "m.h"

int main(void)
{{
    m_state a, b;
    float x[{X}], ya, yb;
    int t, k;
    m_reset(&a), m_reset(&b);
    b.sc_parity = 1; /* internal: the step count mod 2 */
    for (t = 0; t < {T}; ++t) {{
        for (k = 0; k < {X}; ++k) x[k] = (float)(t - k) * 0.25f;
        m_step_packed(&m_packed_weights, &a, x, &ya);
        m_step_packed(&m_packed_weights, &b, x, &yb);
        printf("%a %a\\n", (double)ya, (double)yb);
    }}
    return 0;
}}
"""
    lines = _build_and_run(tmp_path, files, program).splitlines()
    assert len(lines) == T and all(len(set(line.split())) == 1 for line in lines), lines


SWEEP = r"""
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "m.c"

static float from_bits(unsigned u) { float f; memcpy(&f, &u, sizeof f); return f; }

int main(void)
{
    double et = 0, es = 0, xt = 0, xs = 0;
    unsigned u, top = 0x41300000u; /* every 37th float in [0, 11] (tanh clamps at 7.9), both signs */
    int sgn, k;
    for (sgn = 0; sgn < 2; ++sgn)
        for (u = 0; u <= top; u += 37) {
            const float x = sgn ? -from_bits(u) : from_bits(u);
            const double t = fabs((double)sc_tanh_f32(x) - tanh((double)x));
            const double s = fabs((double)sc_sigmoid_f32(x) - 1.0 / (1.0 + exp(-(double)x)));
            if (t > et) et = t, xt = x;
            if (s > es) es = s, xs = x;
        }
    for (k = -400; k <= 400; ++k) { /* large arguments, geometrically up to 1e38 */
        const float x = (k < 0 ? -1.0f : 1.0f) * (float)pow(10.0, fabs((double)k) / 10.5);
        const double t = fabs((double)sc_tanh_f32(x) - tanh((double)x));
        const double s = fabs((double)sc_sigmoid_f32(x) - 1.0 / (1.0 + exp(-(double)x)));
        if (t > et) et = t, xt = x;
        if (s > es) es = s, xs = x;
    }
    printf("%.9g %.9g %.9g %.9g\n", et, xt, es, xs);
    printf("%d %d %g %g %g %g\n", isnan(sc_tanh_f32(NAN)) != 0, isnan(sc_sigmoid_f32(NAN)) != 0,
           (double)sc_tanh_f32(INFINITY), (double)sc_tanh_f32(-INFINITY), (double)sc_sigmoid_f32(INFINITY),
           (double)sc_sigmoid_f32(-INFINITY));
    return 0;
}
"""


@pytest.mark.parametrize("flags", [["-O3", "-march=native"], ["-O2"]], ids=["native-fma", "portable"])
def test_fast_activations_are_accurate(flags, tmp_path):
    for rel, text in generate("lstm", 1, 4, None, None, name="m", dtype="float").items():
        (tmp_path / rel).write_text(text)
    (tmp_path / "sweep.c").write_text(SWEEP)
    cc = subprocess.run([*compiler(), *STRICT, *flags, "-o", "sweep", "sweep.c", "-lm"], cwd=tmp_path,
                        capture_output=True, text=True)
    assert cc.returncode == 0 and not cc.stderr, cc.stderr
    out = subprocess.run([str(tmp_path / "sweep")], capture_output=True, text=True, timeout=120, check=True).stdout
    first, second = out.splitlines()
    et, xt, es, xs = map(float, first.split())
    assert et <= approx.MAX_ABS_ERROR, f"tanh: error {et:.3g} at x = {xt!r}"
    assert es <= approx.MAX_ABS_ERROR, f"sigmoid: error {es:.3g} at x = {xs!r}"
    nan_t, nan_s, *ends = second.split()
    assert (nan_t, nan_s) == ("1", "1"), "NaN must propagate"
    # saturation: the limits to within the same bound (tanh at the clamp is 1 - 2.4e-7, not 1)
    assert numpy.all(numpy.abs(numpy.array(list(map(float, ends))) - [1.0, -1.0, 1.0, 0.0]) <= approx.MAX_ABS_ERROR)
