"""The cells added through the recipe alone, each against a reference written here from its paper's equations.

Each reference is a PyTorch loop over time (no SymPy, no generated code), differentiated by autograd; the
kernels of both backends must match its outputs and every gradient in float64 (rtol 1e-10, with a floor at
1e-10 of each array's largest entry). The layouts are symcell's: per gate k, rows k*H:(k+1)*H of weight_ih,
weight_hh, bias_ih and bias_hh, in the cell's gate order.
"""

from __future__ import annotations

import numpy
import pytest
import torch

from tests.conftest import assert_close, by_leaf, make_problem
from tests.support import BACKENDS, kernel

RTOL = 1e-10


def _rows(w, k, H):
    return w[k * H:(k + 1) * H]


def _pre(p, k, H, x, h):
    """a_k = W_ih,k x + b_ih,k + W_hh,k h + b_hh,k."""
    return x @ _rows(p["weight_ih"], k, H).T + _rows(p["bias_ih"], k, H) + h @ _rows(p["weight_hh"], k, H).T \
        + _rows(p["bias_hh"], k, H)


def lstm_1997(p, xs, state):
    """Hochreiter & Schmidhuber 1997 without a forget gate: c' = c + i g, h' = o tanh(c')."""
    h, c = state
    H = h.shape[1]
    ys = []
    for x in xs:
        i, g = torch.sigmoid(_pre(p, 0, H, x, h)), torch.tanh(_pre(p, 1, H, x, h))
        o = torch.sigmoid(_pre(p, 2, H, x, h))
        c = c + i * g
        h = o * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys), (h, c)


def ugrnn(p, xs, state):
    """Collins et al. 2017, eqs. 8-10: c = tanh(.), g = sigma(.), h' = g h + (1 - g) c."""
    (h,) = state
    H = h.shape[1]
    ys = []
    for x in xs:
        c, g = torch.tanh(_pre(p, 0, H, x, h)), torch.sigmoid(_pre(p, 1, H, x, h))
        h = g * h + (1 - g) * c
        ys.append(h)
    return torch.stack(ys), (h,)


def ligru(p, xs, state):
    """Ravanelli et al. 2018 without batch normalisation: z = sigma(.), h~ = relu(.), h' = z h + (1 - z) h~."""
    (h,) = state
    H = h.shape[1]
    ys = []
    for x in xs:
        z, cand = torch.sigmoid(_pre(p, 0, H, x, h)), torch.relu(_pre(p, 1, H, x, h))
        h = z * h + (1 - z) * cand
        ys.append(h)
    return torch.stack(ys), (h,)


def sru(p, xs, state):
    """Lei et al. 2018, eqs. 4-7 with a highway projection: x~ = W x, f = sigma(W_f x + v_f c + b_f),
    r = sigma(W_r x + v_r c + b_r), c' = f c + (1 - f) x~, h' = r c' + (1 - r) W' x, with the projections'
    biases symcell's rows add (zero in the paper)."""
    h, c = state
    H = h.shape[1]
    W, b = p["weight_ih"], p["bias_ih"] + p["bias_hh"]
    ys = []
    for x in xs:
        xt, xp = x @ _rows(W, 0, H).T + _rows(b, 0, H), x @ _rows(W, 3, H).T + _rows(b, 3, H)
        f = torch.sigmoid(x @ _rows(W, 1, H).T + p["v_f"] * c + _rows(b, 1, H))
        r = torch.sigmoid(x @ _rows(W, 2, H).T + p["v_r"] * c + _rows(b, 2, H))
        c = f * c + (1 - f) * xt
        h = r * c + (1 - r) * xp
        ys.append(h)
    return torch.stack(ys), (h, c)


REFERENCES = {"lstm_1997": lstm_1997, "ugrnn": ugrnn, "ligru": ligru, "sru": sru}


def _problem(cell, seed):
    return make_problem(kernel(cell, "numpy"), (5, 3, 4, 6), seed)


def _reference_gradients(ref, p):
    t = {name: torch.tensor(a, requires_grad=True) for name, a in p.leaves().items()}
    params = {name: t[name] for name in p.params}
    state0 = tuple(t[f"state0[{j}]"] for j in range(len(p.state0)))
    y, state = ref(params, t["x"], state0)
    loss = (y * torch.tensor(p.dy)).sum() + sum((s * torch.tensor(d)).sum() for s, d in zip(state, p.dstate,
                                                                                            strict=True))
    loss.backward()
    return y.detach().numpy(), [s.detach().numpy() for s in state], {
        n: numpy.zeros_like(a.detach().numpy()) if a.grad is None else a.grad.numpy() for n, a in t.items()}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", sorted(REFERENCES))
@pytest.mark.parametrize("seed", [0, 1])
def test_cell_matches_its_papers_equations(cell, backend, seed):
    p = _problem(cell, seed)
    y_ref, state_ref, grads_ref = _reference_gradients(REFERENCES[cell], p)
    k = kernel(cell, backend)
    y, state, tape = k.forward(p.x, p.params, p.state0, save=True)
    assert_close(y, y_ref, RTOL, f"{cell}/{backend} y")
    for j, (a, b) in enumerate(zip(state, state_ref, strict=True)):
        assert_close(a, b, RTOL, f"{cell}/{backend} state[{j}]")
    grads = by_leaf(k.backward(tape, p.dy, p.dstate))
    assert set(grads) == set(grads_ref)
    for name, want in grads_ref.items():
        assert_close(grads[name], want, RTOL, f"{cell}/{backend} dL/d{name}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_minimal_rnn_is_chens_cell_with_a_linear_phi(backend):
    """Chen 2017, eqs. 1-3 with Phi(x) = W_z x + b_z: u = sigma(U_h h + U_z z + b_u), h' = u h + (1 - u) z.
    Its parameters map to symcell's as the docstring says: weight_ih's u rows = U_z W_z, bias_ih's u rows =
    U_z b_z + b_u, z rows W_z and b_z; z's weight_hh rows never act (their gradient is 0)."""
    T, B, X, H = 5, 3, 4, 6
    rng = numpy.random.default_rng(3)
    Wz, bz, Uh, Uz, bu = (rng.uniform(-1, 1, s) for s in ((H, X), (H,), (H, H), (H, H), (H,)))
    xs, h0 = rng.standard_normal((T, B, X)), rng.standard_normal((B, H))
    dy, dh = rng.standard_normal((T, B, H)), rng.standard_normal((B, H))
    params = {"weight_ih": numpy.concatenate([Uz @ Wz, Wz]), "bias_ih": numpy.concatenate([Uz @ bz + bu, bz]),
              "weight_hh": numpy.concatenate([Uh, rng.uniform(-1, 1, (H, H))]), "bias_hh": numpy.zeros(2 * H)}

    tx, th = torch.tensor(xs, requires_grad=True), torch.tensor(h0, requires_grad=True)
    tW = {n: torch.tensor(a) for n, a in dict(Wz=Wz, bz=bz, Uh=Uh, Uz=Uz, bu=bu).items()}
    h, ys = th, []
    for x in tx:
        z = x @ tW["Wz"].T + tW["bz"]
        u = torch.sigmoid(h @ tW["Uh"].T + z @ tW["Uz"].T + tW["bu"])
        h = u * h + (1 - u) * z
        ys.append(h)
    y_ref = torch.stack(ys)
    ((y_ref * torch.tensor(dy)).sum() + (h * torch.tensor(dh)).sum()).backward()

    k = kernel("minimal_rnn", backend)
    y, state, tape = k.forward(xs, params, (h0,), save=True)
    assert_close(y, y_ref.detach().numpy(), RTOL, "y")
    g = k.backward(tape, dy, (dh,))
    assert_close(g["x"], tx.grad.numpy(), RTOL, "dL/dx")
    assert_close(g["state0"][0], th.grad.numpy(), RTOL, "dL/dh0")
    assert numpy.all(g["weight_hh"][H:] == 0)
    assert numpy.abs(g["weight_hh"][:H]).max() > 1e-3
