"""Shared test settings and helpers for the kernel contract suite.

Hypothesis runs derandomized (the same examples on every run and machine, so a failure reproduces and
the suite's time is stable) and without a deadline (the first call of a kernel pays for imports).
The helpers below build random problems through the generated-module contract only
(``param_shapes``, ``forward``, ``backward``), so they serve every backend in ``tests.support``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy
import pytest
from hypothesis import settings
from hypothesis import strategies as st


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="write a fresh generation into generated/ (and delete orphaned files) before the golden "
                          "test compares; then review `git diff generated/` and commit")


settings.register_profile("symcell", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("symcell")

#: Sizes the issue fixes for the gradient checks: T in 1..6, B in 1..3, X in 1..4, H in 1..5.
SIZES = st.tuples(st.integers(1, 6), st.integers(1, 3), st.integers(1, 4), st.integers(1, 5))
SEEDS = st.integers(0, 2**32 - 1)


@dataclass(frozen=True)
class Problem:
    """One forward/backward problem: the inputs, and the cotangents that define the scalar loss
    L = sum(y * dy) + sum_j sum(state[j] * dstate[j])."""

    x: numpy.ndarray
    params: dict
    state0: tuple
    dy: numpy.ndarray
    dstate: tuple

    def astype(self, dtype) -> Problem:
        cast = lambda a: numpy.asarray(a, dtype=dtype)  # noqa: E731
        return Problem(
            cast(self.x),
            {k: cast(v) for k, v in self.params.items()},
            tuple(map(cast, self.state0)),
            cast(self.dy),
            tuple(map(cast, self.dstate)),
        )

    def leaves(self) -> dict[str, numpy.ndarray]:
        """Every array a gradient is defined for, keyed like backward's result ("state0[j]" per state)."""
        out = {"x": self.x}
        out.update({f"state0[{j}]": s for j, s in enumerate(self.state0)})
        out.update(self.params)
        return out

    def with_leaves(self, leaves: dict[str, numpy.ndarray]) -> Problem:
        state0 = tuple(leaves[f"state0[{j}]"] for j in range(len(self.state0)))
        params = {k: leaves[k] for k in self.params}
        return replace(self, x=leaves["x"], state0=state0, params=params)


def make_problem(k, sizes, seed, *, wscale=1.0, xscale=1.0, sscale=1.0, dtype=numpy.float64) -> Problem:
    """A random problem for kernel module ``k``: weights U(-wscale, wscale), x and state0 normal.

    Weights wider than PyTorch's default U(+-1/sqrt(H)) push the gates into their nonlinear range,
    where a wrong derivative term shows up.
    """
    T, B, X, H = sizes
    rng = numpy.random.default_rng(seed)
    params = {name: rng.uniform(-wscale, wscale, size=shape) for name, shape in k.param_shapes(X, H).items()}
    return Problem(
        x=xscale * rng.standard_normal((T, B, X)),
        params=params,
        state0=tuple(sscale * rng.standard_normal((B, H)) for _ in k.STATES),
        dy=rng.standard_normal((T, B, H)),
        dstate=tuple(rng.standard_normal((B, H)) for _ in k.STATES),
    ).astype(dtype)


def loss_terms(k, p: Problem) -> numpy.ndarray:
    """The terms of L for problem ``p`` (their sum is L; their absolute sum sets round-off scales)."""
    y, state = k.forward(p.x, p.params, p.state0)
    return numpy.concatenate([(y * p.dy).ravel(), *((s * d).ravel() for s, d in zip(state, p.dstate, strict=True))])


def gradients(k, p: Problem) -> dict[str, numpy.ndarray]:
    """backward's result flattened to the keys of Problem.leaves()."""
    _, _, tape = k.forward(p.x, p.params, p.state0, save=True)
    return by_leaf(k.backward(tape, p.dy, p.dstate))


def by_leaf(g: dict) -> dict[str, numpy.ndarray]:
    """A backward result keyed like Problem.leaves(): its state0 tuple becomes "state0[j]" entries."""
    out = {"x": g["x"]}
    out.update({f"state0[{j}]": s for j, s in enumerate(g["state0"])})
    out.update({name: a for name, a in g.items() if name not in ("x", "state0")})
    return out


def assert_close(got, want, rtol, what=""):
    """|got - want| <= rtol * (|want| + max|want|): relative per entry, with an absolute floor at the
    array's own scale (entries far below the largest one carry the round-off of the largest)."""
    got, want = numpy.asarray(got), numpy.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert numpy.all(numpy.isfinite(got)), f"{what}: non-finite values {got}"
    scale = numpy.abs(want).max(initial=0.0)
    err = numpy.abs(got.astype(numpy.float64) - want)
    bound = rtol * (numpy.abs(want) + scale)
    worst = numpy.unravel_index(numpy.argmax(err - bound), err.shape) if err.size else ()
    assert numpy.all(err <= bound), (
        f"{what}: max error {err.max():.3g} exceeds rtol={rtol:g} at {worst}: got {got[worst]!r}, "
        f"want {want[worst]!r} (scale {scale:.3g})"
    )


@pytest.fixture
def strict_numpy():
    """Floating-point errors raise instead of warning; underflow stays ignored, as in NumPy's default,
    because flushing exp(-|a|) to 0 for a saturated gate is the correct result, not an error."""
    with numpy.errstate(all="raise", under="ignore"):
        yield
