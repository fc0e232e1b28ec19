"""Compile a generated <cell>.c into a cached shared library with the system C compiler (runtime: no SymPy).

The shared runtime (symcell_runtime.c: the products) is compiled once per build configuration into a cached
object that every cell's library links. Each file is named by a hash of its sources, the compiler's
identity, the CPU and the flags, so a change to any of them builds a new one and a stale one is never
loaded. It is written to a temp file in the cache folder and renamed into place, so concurrent builds
(test workers, two shells) never see a half-written file.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from .paths import KERNELS, cache_dir

# -march=native: the library is built on and for this machine (its CPU is part of the cache key), and
# the vectorized activations need the target's blend/select instructions (SSE2 alone has none).
OBJECT_FLAGS = ("-O3", "-march=native", "-std=c99", "-fPIC")
FLAGS = (*OBJECT_FLAGS, "-shared")
LIBS = ("-lm",)


def blas() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(compile flags, link flags) of the CBLAS the kernels' big GEMMs go to; ((), ()) for the portable loops.

    $SYMCELL_BLAS chooses: ``none`` (portable loops), ``openblas`` (the system's libopenblas, e.g.
    Debian's libopenblas-dev), or unset: the scipy-openblas32 wheel when it is installed (symcell's
    ``blas`` extra; its symbols carry the prefix ``scipy_``), else none. Both are part of the
    library's hash, so switching never loads a library built the other way.
    """
    choice = os.environ.get("SYMCELL_BLAS", "").strip().lower()
    if choice == "none":
        return (), ()
    if choice == "openblas":
        return ("-DSYMCELL_USE_CBLAS",), ("-lopenblas",)
    if choice:
        raise ValueError(f"SYMCELL_BLAS must be 'none', 'openblas' or unset; got {choice!r}")
    try:
        import scipy_openblas32 as wheel
    except ImportError:
        return (), ()
    lib = wheel.get_lib_dir()
    return (("-DSYMCELL_USE_CBLAS", "-DSYMCELL_CBLAS_PREFIX=scipy_", "-I", wheel.get_include_dir()),
            ("-L", lib, f"-Wl,-rpath,{lib}", f"-l{wheel.get_library()}"))


def openmp(cmd: tuple[str, ...]) -> tuple[str, ...]:
    """("-fopenmp",) when the compiler builds OpenMP code, else (): the kernels' time loops then run on one thread.

    $SYMCELL_OPENMP=0 turns it off. The generated C is correct either way (its pragmas vanish without
    OpenMP) and gives the same bits with any thread count; OMP_NUM_THREADS sets the count at run time.
    """
    if os.environ.get("SYMCELL_OPENMP", "").strip() == "0":
        return ()
    return ("-fopenmp",) if _compiles_openmp(cmd) else ()


@functools.lru_cache(maxsize=8)
def _compiles_openmp(cmd: tuple[str, ...]) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "omp.c"
        src.write_text("#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n")
        try:
            run = subprocess.run([*cmd, "-fopenmp", "-o", str(Path(tmp) / "omp"), str(src)], capture_output=True,
                                 timeout=120)
        except (OSError, subprocess.SubprocessError):
            return False
        return run.returncode == 0


def lto(cmd: tuple[str, ...]) -> tuple[str, ...]:
    """("-flto=auto",) when the compiler links with link-time optimisation, else ().

    The runtime object then carries the compiler's IR, and each cell's link specialises the runtime's products
    to that cell's calls (constant strides, flags, gate counts) as when they were one file; without it the
    small-batch steps are slower (docs/performance.md). It changes no bits: the order of every
    sum is in the source (no -ffast-math, and -std=c99 keeps contraction off). $SYMCELL_LTO=0 turns it off.
    """
    if os.environ.get("SYMCELL_LTO", "").strip() == "0":
        return ()
    return ("-flto=auto",) if _links_lto(cmd) else ()


@functools.lru_cache(maxsize=8)
def _links_lto(cmd: tuple[str, ...]) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.c", Path(tmp) / "b.c"
        a.write_text("int sc_twice(int x);\nint sc_call(int x) { return sc_twice(x) + 1; }\n")
        b.write_text("int sc_twice(int x);\nint sc_twice(int x) { return 2 * x; }\n")
        try:
            obj = subprocess.run([*cmd, "-flto=auto", "-fPIC", "-c", "-o", str(Path(tmp) / "b.o"), str(b)],
                                 capture_output=True, timeout=120)
            so = subprocess.run([*cmd, "-flto=auto", "-fPIC", "-shared", "-o", str(Path(tmp) / "a.so"), str(a),
                                 str(Path(tmp) / "b.o")], capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            return False
        return obj.returncode == 0 and so.returncode == 0


class CompilerNotFoundError(RuntimeError):
    """No C compiler: the C backend cannot build its libraries."""


class CompileError(RuntimeError):
    """The C compiler rejected a generated source file."""


def compiler() -> list[str]:
    """The compiler command: $CC (may carry flags) or ``cc``; a clear error if it is not installed."""
    cmd = shlex.split(os.environ.get("CC") or "cc")
    if not cmd or shutil.which(cmd[0]) is None:
        raise CompilerNotFoundError(
            f"symcell's C backend needs a C compiler, but {cmd[0] if cmd else '$CC'!r} was not found on PATH. "
            "Install one (e.g. `apt-get install gcc`) or point $CC at it."
        )
    return cmd


@functools.lru_cache(maxsize=8)
def _identity(cmd: tuple[str, ...]) -> str:
    try:
        out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise CompilerNotFoundError(f"the C compiler {' '.join(cmd)!r} does not run: {exc}") from None
    return shutil.which(cmd[0]) + "\n" + out.stdout


@functools.lru_cache(maxsize=1)
def _cpu() -> str:
    """The CPU model and feature flags, so a cache shared between machines never loads another's -march=native."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags", "Features", "CPU part"))]
        return "".join(sorted(set(lines)))
    except OSError:
        import platform

        return platform.machine() + platform.processor()


RUNTIME = "symcell_runtime"  # generated/c/symcell_runtime.{c,h}: the products every cell links


def source(cell: str, directory: Path | None = None) -> Path:
    """``directory``/c/<cell>.c (default: the installed kernels), or a clear error naming the command that makes it."""
    path = Path(KERNELS if directory is None else directory) / "c" / f"{cell}.c"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run `symcell generate` (make kernels) first")
    return path


def _build(name: str, suffix: str, parts: list[bytes], what: Path, argv: Callable[[str], list[str]]) -> Path:
    """cache/<name>-<hash of parts><suffix>, compiled now by ``argv(temp path)`` unless the cache has it. Written to
    a temp file in the cache folder and renamed into place, so concurrent builds never see a half-written file."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
        digest.update(b"\0")
    out = cache_dir() / f"{name}-{digest.hexdigest()[:20]}{suffix}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{name}-", suffix=f"{suffix}.tmp")
    os.close(fd)
    try:
        cmd = argv(tmp)
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            raise CompileError(f"compiling {what} failed ({cmd[0]}):\n{run.stderr.strip()}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _configuration() -> tuple[list[str], tuple[str, ...], tuple[str, ...], bytes]:
    """(compiler command, compile flags, link flags, what of the machine and the build a cache key must hold)."""
    cmd = compiler()
    cflags, libs = blas()
    cflags = (*openmp(tuple(cmd)), *lto(tuple(cmd)), *cflags, *shlex.split(os.environ.get("SYMCELL_CFLAGS", "")))
    key = _identity(tuple(cmd)) + "\0" + _cpu() + "\0" + " ".join([*cmd, *FLAGS, *cflags, *libs, *LIBS])
    return cmd, cflags, libs, key.encode()


def runtime_object(directory: Path | None = None) -> Path:
    """symcell_runtime.c of ``directory``/c (default: the installed kernels) compiled to a cached object, once per
    build configuration: every cell's library links the same one. The same flags as the cells (the runtime and
    the cells must agree on SC_NR and the rest)."""
    src = Path(KERNELS if directory is None else directory) / "c" / f"{RUNTIME}.c"
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist; run `symcell generate` (make kernels) first: every cell's "
                                "library links the runtime")
    cmd, cflags, _, key = _configuration()
    return _build(RUNTIME, ".o", [src.read_bytes(), src.with_suffix(".h").read_bytes(), key], src,
                  lambda tmp: [*cmd, *OBJECT_FLAGS, *cflags, "-I", str(src.parent), "-c", "-o", tmp, str(src)])


def library(cell: str, directory: Path | None = None) -> Path:
    """The shared library for ``cell`` (its kernels and the runtime), compiled now unless the cache has this build.

    ``directory`` is a folder ``symcell generate --out`` wrote (default: the installed kernels). $SYMCELL_CFLAGS adds
    flags (part of the hash), e.g. ``-DSC_PARALLEL_MIN=1`` to thread even tiny steps. The hash covers the cell's
    source and header and the runtime object's name (itself a hash of the runtime's source and the flags)."""
    src = source(cell, directory)
    obj = runtime_object(src.parent.parent)
    cmd, cflags, libs, key = _configuration()
    return _build(cell, ".so", [src.read_bytes(), src.with_suffix(".h").read_bytes(), obj.name.encode(), key], src,
                  lambda tmp: [*cmd, *FLAGS, *cflags, "-I", str(src.parent), "-o", tmp, str(src), str(obj),
                               *libs, *LIBS])
