"""Gradient-flow diagnostics (analysis.gradflow, symcell gradflow): the two routes to dh_T/dh_{T-l} agree,
the Elman bound holds, and the qualitative facts of the vanishing-gradient story come out of the numbers.

Sizes are small and seeds fixed, so every run sees the same numbers. The fitted factors are statistics of
random weights and inputs: their thresholds are loose, but each sits between the values the two sides of
the claim produce (e.g. tanh at default init decays at about 0.5 per step here, the threshold is 0.8).
"""

from __future__ import annotations

import json

import numpy
import pytest
import torch
from symcell.analysis import KERNEL_RTOL, gradflow, make_params, parse_init
from symcell.analysis.gradflow import (
    chain_log_norms,
    elman_gamma,
    fit_factor,
    kernel_jacobian,
    step_jacobians,
    trajectory,
)
from symcell.analysis.weights import kernel, set_gate_bias
from symcell.codegen.cli import main

from tests.support import CELLS

ELMAN = [c for c in CELLS if elman_gamma(c)[0] is not None]


@pytest.mark.parametrize("cell", CELLS)
def test_jacobian_products_match_backward_kernel_at_every_lag(cell):
    r = gradflow(cell, 3, 5, 12, 2, burn_in=20, check_lags="all")
    assert not numpy.isnan(r.kernel_rel).any()  # every (seed, lag) was checked
    assert r.kernel_max_rel <= KERNEL_RTOL


@pytest.mark.parametrize("cell", CELLS)
def test_whole_matrices_agree_not_only_norms(cell):
    """The h-h block of the chained full-state product equals the kernel's BPTT Jacobian entry by entry."""
    X, H, L = 3, 4, 9
    rng = numpy.random.default_rng(7)
    mod = kernel(cell)
    wide = "weight_hh" in mod.param_shapes(X, H)  # --init redraws weight_hh; IndRNN has none to redraw
    params = make_params(cell, X, H, rng, "gaussian:1.3" if wide else "default")
    x = rng.standard_normal((10 + L, 1, X))
    states = trajectory(mod, params, x, 10, H)
    jacs = step_jacobians(cell, params, x[10:], [tuple(v[:1] for v in s) for s in states])
    prod = numpy.eye(jacs.shape[1])
    for lag in range(1, L + 1):
        prod = prod @ jacs[L - lag]
        ref = kernel_jacobian(cell, params, x[10 + L - lag:], states[L - lag])
        scale = numpy.linalg.norm(ref, 2)
        assert numpy.abs(prod[:H, :H] - ref).max() <= 1e-10 * scale, f"lag {lag}"


def test_lstm_needs_the_full_state_chain():
    """Chaining only the h-h blocks misses the cell-state path; the measurement must not do that."""
    X, H, L = 3, 4, 6
    rng = numpy.random.default_rng(3)
    params = make_params("lstm", X, H, rng)
    x = rng.standard_normal((5 + L, 1, X))
    states = trajectory(kernel("lstm"), params, x, 5, H)
    jacs = step_jacobians("lstm", params, x[5:], [tuple(v[:1] for v in s) for s in states])
    naive = numpy.eye(H)
    for lag in range(1, L + 1):
        naive = naive @ jacs[L - lag][:H, :H]
    ref = numpy.linalg.norm(kernel_jacobian("lstm", params, x[5:], states[0]), 2)
    assert chain_log_norms(jacs, H)[-1] == pytest.approx(numpy.log(ref), abs=1e-10)
    assert abs(numpy.log(numpy.linalg.norm(naive, 2) / ref)) > 1e-3


@pytest.mark.parametrize("cell", ELMAN)
@pytest.mark.parametrize("init", ["default", "orthogonal", "gaussian:0.5", "gaussian:3"])
def test_bound_is_never_below_the_measured_norm(cell, init):
    r = gradflow(cell, 4, 8, 25, 3, init=init, burn_in=20, check_lags="none")
    assert r.log_bounds is not None
    assert (r.log_bounds >= r.log_norms - 1e-12).all()  # per seed and lag
    assert (r.bound >= r.median_norm * (1 - 1e-12)).all()


def test_bound_only_where_it_applies():
    assert set(ELMAN) >= {"rnn_tanh", "rnn_sigmoid", "rnn_relu"}
    for cell in ("gru", "gru_v3", "lstm"):
        assert gradflow(cell, 2, 3, 3, 1, burn_in=0, check_lags="none").bound is None
    assert elman_gamma("rnn_sigmoid") == (0.25, "a")
    assert elman_gamma("rnn_tanh") == (1.0, "a")


def test_rnn_tanh_at_default_init_decays():
    r = gradflow("rnn_tanh", 8, 16, 30, 5, burn_in=50, check_lags="none")
    assert r.factor < 0.8
    assert r.median_norm[-1] < 1e-4 * r.median_norm[0]


def test_lstm_forget_bias_3_decays_more_slowly_than_0():
    slow = gradflow("lstm", 8, 16, 30, 5, forget_bias=3.0, burn_in=50, check_lags="none")
    fast = gradflow("lstm", 8, 16, 30, 5, forget_bias=0.0, burn_in=50, check_lags="none")
    assert slow.factor > fast.factor + 0.1


def test_gru_update_bias_slows_the_decay():
    slow = gradflow("gru", 8, 16, 30, 5, update_bias=2.0, burn_in=50, check_lags="none")
    fast = gradflow("gru", 8, 16, 30, 5, update_bias=0.0, burn_in=50, check_lags="none")
    assert slow.factor > fast.factor + 0.1


def test_fit_factor_recovers_a_geometric_sequence():
    lags = numpy.arange(1, 21)
    assert fit_factor(lags, numpy.log(3.0 * 0.7**lags)) == pytest.approx(0.7, rel=1e-12)
    with_floor = numpy.log(0.5**lags.astype(float))
    with_floor[10:] = -numpy.inf  # underflowed lags are left out, not fitted as -inf
    assert fit_factor(lags, with_floor) == pytest.approx(0.5, rel=1e-12)


def test_inits_draw_what_they_say():
    H = 64
    rng = numpy.random.default_rng(0)
    w = make_params("gru", 3, H, rng, "orthogonal:1.5")["weight_hh"]
    for k in range(3):
        block = w[k * H:(k + 1) * H]
        assert numpy.allclose(block.T @ block, 2.25 * numpy.eye(H), atol=1e-12)
    w = make_params("rnn_tanh", 3, H, rng, "gaussian:2")["weight_hh"]
    assert numpy.std(w) * numpy.sqrt(H) == pytest.approx(2.0, rel=0.05)
    assert numpy.abs(make_params("rnn_tanh", 3, H, rng)["weight_hh"]).max() <= 1 / numpy.sqrt(H)


def test_gate_bias_sets_only_that_gate():
    H = 3
    p = make_params("lstm", 2, H, numpy.random.default_rng(1))
    q = set_gate_bias("lstm", p, "f", 3.0, "--forget-bias")
    assert (q["bias_ih"][H:2 * H] == 3.0).all() and (q["bias_hh"][H:2 * H] == 0.0).all()
    rest = numpy.r_[0:H, 2 * H:4 * H]
    assert (q["bias_ih"][rest] == p["bias_ih"][rest]).all() and (q["bias_hh"][rest] == p["bias_hh"][rest]).all()
    assert (p["bias_hh"][H:2 * H] != 0).all()  # the input was not modified


@pytest.mark.parametrize("bad", [
    dict(cell="gru", forget_bias=1.0), dict(cell="lstm", update_bias=1.0), dict(cell="rnn_tanh", forget_bias=1.0),
    dict(cell="lstm", init="gaussian"), dict(cell="lstm", init="default:2"), dict(cell="lstm", init="uniform"),
    dict(cell="lstm", init="gaussian:-1"), dict(cell="lstm", max_lag=1), dict(cell="lstm", seeds=0),
    dict(cell="lstm", check_lags=[0]), dict(cell="lstm", check_lags="some"), dict(cell="lstm", hidden_size=0),
])
def test_bad_options_are_clear_errors(bad):
    kwargs = dict(input_size=2, hidden_size=3, max_lag=4, seeds=1, burn_in=0) | bad
    with pytest.raises(ValueError):
        gradflow(kwargs.pop("cell"), **kwargs)


def test_parse_init_round_trips():
    for text in ("default", "orthogonal", "orthogonal:2", "gaussian:1.5"):
        assert str(parse_init(text)) == text


def test_weights_file_npz_and_torch(tmp_path):
    H = 6
    q = numpy.linalg.qr(numpy.random.default_rng(2).standard_normal((H, H)))[0]
    p = make_params("rnn_tanh", 3, H, numpy.random.default_rng(2))
    p["weight_hh"] = 0.5 * q
    numpy.savez(tmp_path / "w.npz", **p)
    r = gradflow("rnn_tanh", max_lag=5, seeds=2, weights=tmp_path / "w.npz", burn_in=5)
    assert r.settings["hidden_size"] == H and r.settings["input_size"] == 3
    assert r.bound[0] == pytest.approx(0.5, rel=1e-12)  # gamma = 1 times sigma_max of the loaded W_hh
    rnn = torch.nn.RNN(4, 5, dtype=torch.float64)
    torch.save(rnn.state_dict(), tmp_path / "w.pt")
    r = gradflow("rnn_tanh", max_lag=5, seeds=1, weights=tmp_path / "w.pt", burn_in=5, check_lags="all")
    sigma = numpy.linalg.norm(rnn.weight_hh_l0.detach().numpy(), 2)
    assert r.bound[0] == pytest.approx(sigma, rel=1e-12)
    assert r.kernel_max_rel <= KERNEL_RTOL
    with pytest.raises(ValueError, match="contradicts"):
        gradflow("rnn_tanh", hidden_size=7, max_lag=5, seeds=1, weights=tmp_path / "w.pt")
    with pytest.raises(ValueError, match="does not fit"):
        gradflow("lstm", max_lag=5, seeds=1, weights=tmp_path / "w.pt")


def test_cli_json(capsys):
    code = main(["gradflow", "lstm", "--input-size", "3", "--hidden-size", "4", "--max-lag", "6", "--seeds", "3",
                 "--forget-bias", "1", "--burn-in", "5", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out) == {"cell", "lags", "median_norm", "bound", "factor", "settings"}
    assert out["cell"] == "lstm" and out["lags"] == [1, 2, 3, 4, 5, 6] and out["bound"] is None
    assert len(out["median_norm"]) == 6 and out["settings"]["forget_bias"] == 1.0
    direct = gradflow("lstm", 3, 4, 6, 3, forget_bias=1.0, burn_in=5)
    assert out["median_norm"] == direct.median_norm.tolist() and out["factor"] == direct.factor


def test_cli_text_plot_and_errors(capsys, tmp_path):
    plot = tmp_path / "g.png"
    code = main(["gradflow", "rnn_sigmoid", "--input-size", "2", "--hidden-size", "3", "--max-lag", "5",
                 "--seeds", "1", "--burn-in", "0", "--plot", str(plot)])
    out = capsys.readouterr().out
    assert code == 0 and "per-step factor" in out and "gamma = 0.25" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["gradflow", "gru", "--input-size", "2", "--hidden-size", "3", "--forget-bias", "1"]) == 2
    assert "gate named 'f'" in capsys.readouterr().err
    assert main(["gradflow", "gru", "--input-size", "2", "--hidden-size", "3", "--plot", "x.svg"]) == 2


@pytest.mark.parametrize("cell", [c for c in CELLS if "weight_hh" not in kernel(c).param_shapes(1, 1)])
def test_redrawing_a_recurrent_matrix_the_cell_lacks_is_refused(cell):
    rng = numpy.random.default_rng(0)
    with pytest.raises(ValueError, match="no recurrent matrix"):
        make_params(cell, 3, 4, rng, "orthogonal")
    assert make_params(cell, 3, 4, rng).keys() == kernel(cell).param_shapes(3, 4).keys()
