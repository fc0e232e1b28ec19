"""The C kernels run clean under AddressSanitizer and UndefinedBehaviorSanitizer.

A standalone C driver (no Python: the sanitizer runtimes need to own the process) links every cell,
gives each function buffers of exactly the size the size functions report, each from its own
malloc, so a read or write one element past any buffer is a reported error. It runs forward (with
and without tape and NULL state0), backward (with and without dstate) and step, both dtypes,
several shapes, and checks that bad arguments are refused with -1 rather than dereferenced. It runs
twice: built serially, and built with OpenMP with the thresholds forced down so that every shape takes
the threaded path on three threads.
"""

from __future__ import annotations

import os
import re
import subprocess
from string import Template

import pytest
from symcell.codegen.c.api import grad_arg, param_arg
from symcell.codegen.ir import lower
from symcell.codegen.render import GENERATED

from symcell.cbuild import compiler
from tests.support import CELLS, FORCE_THREADED

SHAPES = [(3, 2, 3, 4), (1, 1, 1, 1), (5, 3, 1, 7), (2, 7, 2, 5), (5, 1, 2, 20)]  # B = 7: the threaded forward splits
# the batch; B = 1 takes the one-row products (sc_row), H = 20 meets their half-width panels, T = 5 more than
# one chunk of input projections (sc_chunk) in the forced build

PRELUDE = r"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
$includes

static unsigned long seed = 12345;
static double uniform(void) /* in [-1, 1): a fixed LCG, so every run sees the same data */
{
    seed = seed * 6364136223846793005UL + 1442695040888963407UL;
    return (double)((seed >> 11) & 0xFFFFFFFFFUL) / (double)0x800000000UL - 1.0;
}
"""

PER_TYPE = r"""
static $R *rnd_$sfx(size_t n)
{
    $R *p = malloc(n * sizeof(*p) + !n);
    size_t i;
    for (i = 0; i < n; ++i)
        p[i] = ($R)uniform();
    return p;
}

static int finite_$sfx(const $R *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i)
        if (!isfinite(p[i]))
            return 0;
    return 1;
}
"""

PER_CELL = r"""
static int run_${cell}_$sfx(size_t T, size_t B, size_t X, size_t H, int nulls)
{
    const size_t G = SYMCELL_${CELL}_NUM_GATES, S = SYMCELL_${CELL}_NUM_STATES;
    const size_t nt = symcell_${cell}_tape_size(T, B, H);
    const size_t nf = symcell_${cell}_forward_workspace_size(T, B, X, H);
    const size_t nb = symcell_${cell}_backward_workspace_size(T, B, X, H);
    const size_t ns = symcell_${cell}_step_workspace_size(B, X, H);
    $R *x = rnd_$sfx(T * B * X), *s0 = rnd_$sfx(S * B * H);
    $R *y = rnd_$sfx(T * B * H), *st = rnd_$sfx(S * B * H), *tape = rnd_$sfx(nt);
    $R *wf = rnd_$sfx(nf), *wb = rnd_$sfx(nb), *ws = rnd_$sfx(ns), *dy = rnd_$sfx(T * B * H);
    $R *ds = rnd_$sfx(S * B * H), *dx = rnd_$sfx(T * B * X), *ds0 = rnd_$sfx(S * B * H);
    $R *y2 = rnd_$sfx(T * B * H), *st2 = rnd_$sfx(S * B * H), *nx = rnd_$sfx(S * B * H);
    $declare
    int bad = 0;
    (void)G;
    bad |= !nf || !nb || !ns;
    bad |= symcell_${cell}_forward_$sfx(T, B, X, H, x, $params, nulls ? NULL : s0, y, st, tape, wf) != 0;
    bad |= symcell_${cell}_forward_$sfx(T, B, X, H, x, $params, nulls ? NULL : s0, y2, st2, NULL, wf) != 0;
    bad |= symcell_${cell}_backward_$sfx(T, B, X, H, x, $bparams, nulls ? NULL : s0, y, tape, dy, nulls ? NULL : ds,
                                         dx, ds0, $grads, wb) != 0;
    bad |= symcell_${cell}_step_$sfx(B, X, H, x, $params, nulls ? NULL : s0, nx, ws) != 0;
    bad |= !finite_$sfx(y, T * B * H) || !finite_$sfx(st, S * B * H) || !finite_$sfx(dx, T * B * X);
    bad |= !finite_$sfx(ds0, S * B * H) || !finite_$sfx(nx, S * B * H);
    $finite
    /* with and without a tape the forward computes the same thing; step is its first step */
    {
        size_t i;
        for (i = 0; i < T * B * H; ++i)
            bad |= y[i] != y2[i];
        for (i = 0; i < S * B * H; ++i)
            bad |= st[i] != st2[i];
        for (i = 0; i < B * H; ++i)
            bad |= nx[i] != y[i];
    }
    /* refused, not dereferenced */
    bad |= symcell_${cell}_forward_$sfx(0, B, X, H, x, $params, s0, y, st, tape, wf) != -1;
    bad |= symcell_${cell}_forward_$sfx(T, B, X, H, NULL, $params, s0, y, st, tape, wf) != -1;
    bad |= symcell_${cell}_backward_$sfx(T, B, X, 0, x, $bparams, s0, y, tape, dy, ds, dx, ds0, $grads, wb) != -1;
    bad |= symcell_${cell}_step_$sfx(B, X, H, x, $params, s0, nx, NULL) != -1;
    bad |= symcell_${cell}_forward_workspace_size((size_t)-1, 2, 2, 2) != 0;
    free(x), free(s0), free(y), free(st), free(tape), free(wf), free(wb), free(ws), free(dy), free(ds), free(dx);
    free(ds0), free(y2), free(st2), free(nx);
    $free
    if (bad)
        fprintf(stderr, "FAILED ${cell} $sfx T=%zu B=%zu X=%zu H=%zu nulls=%d\n", T, B, X, H, nulls);
    return bad;
}
"""

#: Element counts of each parameter, as C expressions of the driver's sizes.
COUNTS = {"weight_ih": "G * H * X", "weight_hh": "G * H * H", "bias_ih": "G * H", "bias_hh": "G * H"}


def _cell_text(cell: str, R: str, sfx: str) -> str:
    """One cell's run function; its parameter lists come from the same description as the header."""
    ir = lower(cell)
    names = ir.param_names
    count = {n: COUNTS.get(n, "H") for n in names}
    declare = [f"{R} *{param_arg(n)} = rnd_{sfx}({count[n]}), *{grad_arg(n)} = rnd_{sfx}({count[n]});"
               for n in names]
    return Template(PER_CELL).substitute(
        R=R, sfx=sfx, cell=cell, CELL=cell.upper(),
        declare="\n    ".join(declare),
        params=", ".join(param_arg(n) for n in names),
        bparams=", ".join(param_arg(n) for n in names if n not in ("bias_ih", "bias_hh")),
        grads=", ".join(grad_arg(n) for n in names),
        finite="\n    ".join(f"bad |= !finite_{sfx}({grad_arg(n)}, {count[n]});" for n in names),
        free="\n    ".join(f"free({param_arg(n)}), free({grad_arg(n)});" for n in names),
    )


def driver() -> tuple[str, int]:
    """The driver's source and the number of runs it reports."""
    text = Template(PRELUDE).substitute(includes="\n".join(f'#include "{c}.h"' for c in CELLS))
    calls = []
    for R, sfx in (("double", "f64"), ("float", "f32")):
        text += Template(PER_TYPE).substitute(R=R, sfx=sfx)
        for cell in CELLS:
            text += _cell_text(cell, R, sfx)
            calls += [f"bad |= run_{cell}_{sfx}({T}, {B}, {X}, {H}, {n});" for T, B, X, H in SHAPES for n in (0, 1)]
    body = "\n    ".join(calls)
    text += f"\nint main(void)\n{{\n    int bad = 0;\n    {body}\n    printf(\"runs: {len(calls)}\\n\");\n"
    text += "    return bad;\n}\n"
    return text, len(calls)


# The OpenMP build with every threshold forced down, so these tiny shapes take the threaded path: whole
# tiles and edges of the packed product (2 x 4 tiles, k in slices of 3), several row blocks, three threads.
THREADED = ["-fopenmp", *FORCE_THREADED]


@pytest.mark.parametrize("variant", ["serial", "threaded"])
def test_kernels_run_clean_under_asan_and_ubsan(tmp_path, variant):
    source, runs = driver()
    (tmp_path / "driver.c").write_text(source)
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", "-g", "-fno-omit-frame-pointer",
             "-fsanitize=address,undefined", "-fno-sanitize-recover=all", *(THREADED if variant == "threaded" else [])]
    cells = [str(GENERATED / "c" / f"{c}.c") for c in (*CELLS, "symcell_runtime")]
    build = subprocess.run([*compiler(), *flags, "-I", str(GENERATED / "c"), "-o", "driver", "driver.c", *cells, "-lm"],
                           cwd=tmp_path, capture_output=True, text=True)
    if build.returncode != 0 and re.search(r"cannot find .*(asan|ubsan)|sanitize", build.stderr):
        pytest.fail(f"the compiler lacks the sanitizer runtimes (install libasan/libubsan):\n{build.stderr}")
    assert build.returncode == 0, build.stderr
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1",
               OMP_NUM_THREADS="3")
    run = subprocess.run([str(tmp_path / "driver")], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0 and run.stderr == "", run.stderr[-5000:]
    assert run.stdout.strip() == f"runs: {runs}"
