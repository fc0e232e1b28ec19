"""Measure ||dh_T / dh_{T-l}||_2 against the lag l: the vanishing gradient as a number per step.

For every seed: draw weights, drive the cell with x ~ N(0, I) for a burn-in (so the state is typical,
not the zero start), then for L more steps. The Jacobian norms come from chaining derive's one-step
Jacobians, J_T ... J_{T-l+1}, over the full state (S*H x S*H: the LSTM's cell path is in it) and then
selecting the h rows and h columns. The generated backward kernel gives the same matrix a second way
(BPTT of h_T with unit cotangents), and the two must agree to KERNEL_RTOL: a cheap guard against a wrong
Jacobian, a wrong kernel, or a wrong reading of either.

Products are carried with a separate log scale, so lags at which the norm is below float64's range
still have a finite log norm (the backward kernel cannot: its check is skipped below about 1e-280).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy
import symcell.derive as derive
from symcell.derive import get_cell
from symcell.derive.bounds import elman_form

from .weights import Init, kernel, load_params, make_params, parse_init, set_gate_bias

#: Relative agreement required between the Jacobian-product norms and the backward-kernel norms.
KERNEL_RTOL = 1e-8
#: log of the smallest norm the kernel cross-check is run at (about 1e-280, well above denormals).
_LOG_TINY = -645.0


@dataclass(frozen=True)
class GradFlow:
    """One measurement. Arrays are (seeds, L); lag l is column l - 1. ``log_bounds`` is None where the
    Elman bound does not apply; ``kernel_rel`` is NaN where the kernel check was not run (or the norm is
    below float64's range) and inf where the kernel's Jacobian is non-zero but the product's is exactly 0."""

    cell: str
    lags: numpy.ndarray
    log_norms: numpy.ndarray
    log_bounds: numpy.ndarray | None
    kernel_rel: numpy.ndarray
    gamma: float | None
    settings: dict = field(default_factory=dict)

    @property
    def norms(self) -> numpy.ndarray:
        return numpy.exp(self.log_norms)

    @property
    def median_norm(self) -> numpy.ndarray:
        """Per-lag median over seeds, taken of the logs (for an even count: the geometric mean of the two
        middle values), so it is defined where the norm itself is below float64's range."""
        return numpy.exp(numpy.median(self.log_norms, axis=0))

    @property
    def bound(self) -> numpy.ndarray | None:
        """Median over seeds of each seed's bound: never below the median norm if each seed's holds
        (order statistics are monotone)."""
        return None if self.log_bounds is None else numpy.exp(numpy.median(self.log_bounds, axis=0))

    @property
    def factor(self) -> float:
        """exp of the least-squares slope of log(median norm) against lag: the per-step decay factor."""
        return fit_factor(self.lags, numpy.median(self.log_norms, axis=0))

    @property
    def kernel_max_rel(self) -> float:
        """Largest relative difference over the checked (seed, lag) pairs; NaN if none was checked."""
        checked = self.kernel_rel[~numpy.isnan(self.kernel_rel)]
        return float(checked.max()) if checked.size else float("nan")

    def to_json(self) -> dict:
        bound = self.bound
        return {
            "cell": self.cell,
            "lags": self.lags.tolist(),
            "median_norm": self.median_norm.tolist(),
            "bound": None if bound is None else bound.tolist(),
            "factor": self.factor,
            "settings": self.settings,
        }


def fit_factor(lags: numpy.ndarray, log_norm: numpy.ndarray) -> float:
    """exp(slope) of the least-squares line through (lag, log norm), over the finite points."""
    ok = numpy.isfinite(log_norm)
    if ok.sum() < 2:
        raise ValueError("need at least two lags with a finite norm to fit a decay factor")
    slope = numpy.polyfit(numpy.asarray(lags, float)[ok], log_norm[ok], 1)[0]
    return float(numpy.exp(slope))


def elman_gamma(cell: str) -> tuple[float | None, str | None]:
    """(gamma, gate) if the cell is an Elman cell h' = f(a_k), as derive.bounds reads it off the cell's
    expressions, with gamma = sup|f'| derived by derive.gamma; (None, None) otherwise."""
    form = elman_form(get_cell(cell))
    if form is None:
        return None, None
    activation, gate = form
    return float(derive.gamma(activation)), gate


def step_jacobians(cell: str, params: dict, xs: numpy.ndarray, states: list[tuple]) -> numpy.ndarray:
    """J_1..J_L, (L, S*H, S*H), from derive: J_t = d(s_t)/d(s_{t-1}) at input xs[t-1] (1, X) and state
    states[t-1] (tuples of (1, H)). The steps are independent given the states, so they go to derive as
    one batch of L."""
    L = xs.shape[0]
    state = tuple(numpy.concatenate([st[j] for st in states[:L]]) for j in range(len(states[0])))
    return derive.jacobian_numeric(cell, params, xs.reshape(L, -1), state)


def chain_log_norms(jacs: numpy.ndarray, H: int) -> numpy.ndarray:
    """log ||[J_L ... J_{L-l+1}]_hh||_2 for l = 1..L: chain the full S*H blocks, then select the h rows and
    columns (h is the first state). The product is rescaled every step and the scale kept as a log."""
    L = jacs.shape[0]
    out = numpy.full(L, -numpy.inf)
    prod, log_scale = None, 0.0
    for lag in range(1, L + 1):
        J = jacs[L - lag]
        prod = J if prod is None else prod @ J
        scale = numpy.abs(prod).max()
        if scale == 0:  # an exactly zero product (relu): every longer lag is zero too
            break
        prod = prod / scale
        log_scale += numpy.log(scale)
        norm = numpy.linalg.norm(prod[:H, :H], 2)
        if norm > 0:
            out[lag - 1] = log_scale + numpy.log(norm)
    return out


def trajectory(mod, params: dict, x: numpy.ndarray, burn_in: int, H: int) -> list[tuple]:
    """States s_0..s_L after the burn-in, each replicated H times along the batch.

    The kernel check runs the forward on a batch of H copies; stepping the reference trajectory with the
    same batch shape makes both read bitwise the same states. It matters at large gains, where the
    dynamics are chaotic: a rounding difference between a batch of 1 and a batch of H grows by the
    per-step factor (about 1.3 at gain 3) and would show up as a disagreement of the two methods.
    """
    state = mod.forward(x[:burn_in], params)[1] if burn_in else tuple(numpy.zeros((1, H)) for _ in mod.STATES)
    states = [tuple(numpy.repeat(v, H, axis=0) for v in state)]
    for t in range(burn_in, x.shape[0]):
        states.append(mod.step(numpy.repeat(x[t], H, axis=0), params, states[-1]))
    return states


def kernel_jacobian(cell: str, params: dict, xs: numpy.ndarray, state: tuple) -> numpy.ndarray:
    """dh_T/dh_{T-l} (H x H) by the generated backward kernel: forward over the l inputs ``xs`` (l, 1, X)
    from ``state``, with the H unit vectors of h as the batch's cotangents, so one backward call returns
    every row of the Jacobian (row i is the gradient of h_T[i]). ``state`` is (1, H) per state, or already
    replicated to (H, H)."""
    mod = kernel(cell)
    H = state[0].shape[1]
    if state[0].shape[0] == 1:
        state = tuple(numpy.repeat(s, H, axis=0) for s in state)
    y, _, tape = mod.forward(numpy.repeat(xs, H, axis=1), params, state, save=True)
    dstate = (numpy.eye(H),) + tuple(numpy.zeros((H, H)) for _ in state[1:])
    return mod.backward(tape, numpy.zeros_like(y), dstate)["state0"][0]


def gradflow(cell: str, input_size: int | None = None, hidden_size: int | None = None, max_lag: int = 50,
             seeds: int = 5, *, init: Init | str = "default", forget_bias: float | None = None,
             update_bias: float | None = None, weights: str | Path | None = None, burn_in: int = 100,
             check_lags: str | list[int] = "log") -> GradFlow:
    """Measure the gradient flow of ``cell``; see the module docstring. Seeds are 0 .. seeds-1.

    ``check_lags``: "all", "log" (8 log-spaced lags including 1 and L), "none", or a list of lags at
    which to run the backward-kernel cross-check. Lag l costs a forward and a backward of l steps on a
    batch of H, so "all" costs O(L^2) steps per seed and "log" O(L).
    """
    c = get_cell(cell)
    init = parse_init(init)
    mod = kernel(c.name)
    for what, n, low in (("max_lag", max_lag, 2), ("seeds", seeds, 1), ("burn_in", burn_in, 0)):
        if not isinstance(n, (int, numpy.integer)) or isinstance(n, bool) or n < low:
            raise ValueError(f"{what} must be an integer >= {low}; got {n!r}")
    base = None
    if weights is not None:
        if init.kind != "default":
            raise ValueError("--init draws weights; it cannot be combined with --weights")
        base = load_params(c.name, weights)
        X, H = base["weight_ih"].shape[1], base["bias_ih"].shape[0] // len(c.gates)  # no weight_hh in IndRNN
        for what, given, actual in (("input_size", input_size, X), ("hidden_size", hidden_size, H)):
            if given is not None and given != actual:
                raise ValueError(f"{what} {given} contradicts the weights in {Path(weights).name} ({actual})")
        input_size, hidden_size = X, H
    if input_size is None or hidden_size is None:
        raise ValueError("give input_size and hidden_size (or weights to take them from)")
    mod.param_shapes(input_size, hidden_size)  # validates the sizes with the kernel's message
    X, H, L = int(input_size), int(hidden_size), int(max_lag)
    lags_to_check = _lags_to_check(check_lags, L)
    gamma, gate = elman_gamma(c.name)

    log_norms = numpy.empty((seeds, L))
    log_bounds = None if gamma is None else numpy.empty((seeds, L))
    kernel_rel = numpy.full((seeds, L), numpy.nan)
    lags = numpy.arange(1, L + 1)
    for seed in range(seeds):
        rng = numpy.random.default_rng(seed)
        params = base if base is not None else make_params(c.name, X, H, rng, init)
        if forget_bias is not None:
            params = set_gate_bias(c.name, params, "f", forget_bias, "--forget-bias")
        if update_bias is not None:
            params = set_gate_bias(c.name, params, "z", update_bias, "--update-bias")
        x = rng.standard_normal((burn_in + L, 1, X))
        states = trajectory(mod, params, x, burn_in, H)
        jacs = step_jacobians(c.name, params, x[burn_in:], [tuple(v[:1] for v in st) for st in states])
        log_norms[seed] = chain_log_norms(jacs, H)
        if gamma is not None:
            k = c.gates.index(gate)
            sigma = numpy.linalg.norm(params["weight_hh"][k * H:(k + 1) * H], 2)
            log_bounds[seed] = lags * numpy.log(gamma * sigma)
        for lag in lags_to_check:
            jac = kernel_jacobian(c.name, params, x[burn_in + L - lag:burn_in + L], states[L - lag])
            norm, log_norm = numpy.linalg.norm(jac, 2), log_norms[seed, lag - 1]
            if log_norm == -numpy.inf:  # an exactly zero product (relu): the kernel's must be zero too
                kernel_rel[seed, lag - 1] = 0.0 if norm == 0 else numpy.inf
            elif log_norm > _LOG_TINY:  # below it, the kernel's float64 product underflows: not compared
                kernel_rel[seed, lag - 1] = abs(norm / numpy.exp(log_norm) - 1.0)

    checked = kernel_rel[~numpy.isnan(kernel_rel)]
    settings = {
        "input_size": X, "hidden_size": H, "max_lag": L, "seeds": seeds, "burn_in": burn_in,
        "init": str(init), "forget_bias": forget_bias, "update_bias": update_bias,
        "weights": None if weights is None else Path(weights).name,
        "gamma": gamma,
        "kernel_check_lags": len(lags_to_check),
        "kernel_check_max_rel": float(checked.max()) if checked.size else None,
    }
    return GradFlow(c.name, lags, log_norms, log_bounds, kernel_rel, gamma, settings)


def _lags_to_check(check_lags: str | list[int], L: int) -> list[int]:
    if check_lags == "all":
        return list(range(1, L + 1))
    if check_lags == "log":  # 8 log-spaced lags, always including 1 and L: O(L) steps, not O(L^2)
        return sorted({int(round(v)) for v in numpy.geomspace(1, L, 8)})
    if check_lags == "none":
        return []
    if isinstance(check_lags, str):
        raise ValueError(f"check_lags must be 'all', 'log', 'none' or a list of lags; got {check_lags!r}")
    lags = sorted({int(k) for k in check_lags})
    if lags and (lags[0] < 1 or lags[-1] > L):
        raise ValueError(f"check_lags must lie in 1..{L}; got {lags}")
    return lags
