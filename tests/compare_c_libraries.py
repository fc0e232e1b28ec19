"""Old C libraries against new ones: the same bits, and the speed side by side (a script, not a test).

The reference is the committed generated/c of a git commit (default 3d0b81c, the last one whose cells
carried their own copy of the GEMM and activation helpers). Its sources are extracted into a temp folder
and compiled with the flags symcell.cbuild uses today (same compiler, -march, OpenMP, BLAS and
$SYMCELL_CFLAGS); the new libraries come from symcell.cbuild.library. Both are driven through
symcell.ckernels.CKernels with their own manifests.

    python -m tests.compare_c_libraries                 # bits: every cell, float32/float64, several shapes
    SYMCELL_CFLAGS="-DSC_PARALLEL_MIN=1 ..." python -m tests.compare_c_libraries   # forced threaded path
    python -m tests.compare_c_libraries --speed         # medium LSTM/GRU forward+backward, small step

Bits: forward (y, state, tape), backward (every gradient) and step must be equal byte for byte. Speed:
alternating calls of old and new in one process, the median of each, and their ratio new/old.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import os
import shlex
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy

from symcell import cbuild
from symcell.ckernels import CKernels
from symcell.manifest import Manifest

ROOT = Path(__file__).resolve().parent.parent
CELLS = sorted(p.stem for p in (ROOT / "generated" / "c").glob("*.json"))
# (T, B, X, H): tiny, odd edges, B = 1 (one-row products, chunked input projections), and shapes big enough for
# the default build's threaded path (B*G*H*H >= SC_PARALLEL_MIN) with a batch split and without
SHAPES = [(3, 2, 3, 4), (1, 1, 1, 1), (7, 1, 1, 40), (5, 3, 2, 20), (4, 16, 8, 64), (3, 5, 7, 96), (2, 33, 17, 70)]


def reference_sources(commit: str, dest: Path) -> Path:
    """generated/c of ``commit`` extracted into ``dest``/c."""
    tar = subprocess.run(["git", "archive", commit, "generated/c"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        for m in t.getmembers():
            if m.isfile():
                out = dest / "c" / Path(m.name).name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(t.extractfile(m).read())
    return dest


def reference_library(cell: str, directory: Path) -> Path:
    """Compile the reference ``cell`` (one self-contained .c) as symcell.cbuild compiles a cell today."""
    cmd = cbuild.compiler()
    cflags, libs = cbuild.blas()
    cflags = (*cbuild.openmp(tuple(cmd)), *cflags, *shlex.split(os.environ.get("SYMCELL_CFLAGS", "")))
    src = directory / "c" / f"{cell}.c"
    out = directory / f"{cell}.so"
    if not out.exists():
        subprocess.run([*cmd, *cbuild.FLAGS, *cflags, "-I", str(src.parent), "-o", str(out), str(src), *libs,
                        *cbuild.LIBS], check=True)
    return out


def kernels(cell: str, so: Path, manifest: Path, dtype) -> CKernels:
    return CKernels(Manifest.read(manifest), ctypes.CDLL(str(so)), numpy.dtype(dtype))


def pair(cell: str, ref: Path, dtype) -> tuple[CKernels, CKernels]:
    old = kernels(cell, reference_library(cell, ref), ref / "c" / f"{cell}.json", dtype)
    new = kernels(cell, cbuild.library(cell), ROOT / "generated" / "c" / f"{cell}.json", dtype)
    return old, new


def outputs(k: CKernels, shape, dtype) -> list[numpy.ndarray]:
    T, B, X, H = shape
    r = numpy.random.default_rng(T * 1000 + B * 100 + X * 10 + H)
    p = k.init_params(X, H, r, dtype)
    x = r.standard_normal((T, B, X)).astype(dtype)
    dy = r.standard_normal((T, B, H)).astype(dtype)
    s0 = tuple(r.standard_normal((B, H)).astype(dtype) for _ in k.STATES)
    ds = tuple(r.standard_normal((B, H)).astype(dtype) for _ in k.STATES)
    y, state, tape = k.forward(x, p, s0, save=True)
    grads = k.backward(tape, dy, ds)
    y0, state0 = k.forward(x, p)
    grads0 = k.backward(k.forward(x, p, save=True)[2], dy)
    nxt = k.step(x[0], p, s0)
    return _flat([y, state, tape.slots, tape.seq, y0, state0, grads, grads0, nxt])


def _flat(value) -> list[numpy.ndarray]:
    """Every array in nested tuples, lists and dicts (dicts in key order)."""
    if isinstance(value, dict):
        return [a for k in sorted(value) for a in _flat(value[k])]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _flat(v)]
    if value is None:
        return []
    return [numpy.array(value, copy=True)]  # a copy: the loader may reuse a tape's buffer on the next call


def compare_bits(ref: Path) -> int:
    bad = 0
    for cell in CELLS:
        for dtype in (numpy.float64, numpy.float32):
            old, new = pair(cell, ref, dtype)
            for shape in SHAPES:
                a, b = outputs(old, shape, dtype), outputs(new, shape, dtype)
                same = len(a) == len(b) and all(u.shape == v.shape and u.tobytes() == v.tobytes()
                                                for u, v in zip(a, b, strict=True))
                if not same:
                    bad += 1
                    print(f"DIFFERENT {cell} {numpy.dtype(dtype).name} {shape}")
        print(f"{cell}: float64 and float32, {len(SHAPES)} shapes: {'same bits' if not bad else 'see above'}")
    print(f"{len(CELLS)} cells x 2 dtypes x {len(SHAPES)} shapes x (forward, backward, step): "
          + ("every output the same bits" if not bad else f"{bad} cases differ"))
    return bad


def _median_pair(f_old, f_new, rounds: int) -> tuple[float, float]:
    told, tnew = [], []
    for _ in range(rounds):
        for f, acc in ((f_old, told), (f_new, tnew)):
            t0 = time.perf_counter()
            f()
            acc.append(time.perf_counter() - t0)
    return statistics.median(told), statistics.median(tnew)


def compare_speed(ref: Path, rounds: int) -> None:
    cases = [("lstm", (100, 32, 64, 128)), ("gru", (100, 32, 64, 128))]
    for cell, (T, B, X, H) in cases:
        for dtype in (numpy.float32, numpy.float64):
            old, new = pair(cell, ref, dtype)
            r = numpy.random.default_rng(0)
            p = old.init_params(X, H, r, dtype)
            x = r.standard_normal((T, B, X)).astype(dtype)
            dy = r.standard_normal((T, B, H)).astype(dtype)

            def fb(k, x=x, p=p, dy=dy):
                return lambda: k.backward(k.forward(x, p, save=True)[2], dy)

            to, tn = _median_pair(fb(old), fb(new), rounds)
            print(f"{cell} T={T} B={B} X={X} H={H} {numpy.dtype(dtype).name} forward+backward: old {to * 1e3:.2f} ms, "
                  f"new {tn * 1e3:.2f} ms, new/old {tn / to:.3f}")
    for cell, (B, X, H) in [("lstm", (1, 1, 40)), ("gru", (1, 1, 40))]:
        old, new = pair(cell, ref, numpy.float32)
        r = numpy.random.default_rng(0)
        p = old.init_params(X, H, r, numpy.float32)
        xt = r.standard_normal((B, X)).astype(numpy.float32)
        s = tuple(numpy.zeros((B, H), numpy.float32) for _ in old.STATES)

        def steps(k, xt=xt, p=p, s=s):
            return lambda: [k.step(xt, p, s) for _ in range(200)]

        to, tn = _median_pair(steps(old), steps(new), rounds * 5)
        print(f"{cell} step B={B} X={X} H={H} float32 (200 calls): old {to / 200 * 1e6:.2f} us, "
              f"new {tn / 200 * 1e6:.2f} us a call, new/old {tn / to:.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="3d0b81c", help="git commit whose generated/c is the reference")
    ap.add_argument("--speed", action="store_true", help="time old against new instead of comparing bits")
    ap.add_argument("--rounds", type=int, default=41)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ref = reference_sources(args.ref, Path(tmp))
        if args.speed:
            compare_speed(ref, args.rounds)
            return 0
        return 1 if compare_bits(ref) else 0


if __name__ == "__main__":
    sys.exit(main())
