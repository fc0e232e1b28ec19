"""symcell.torch.Recurrent for every registered cell and for a cell generated outside the package:
parameter names, torch.autograd.gradcheck through the custom operator (float64 central differences, eps 1e-6,
atol 1e-8, rtol 1e-6) over a packed, bidirectional two-layer stack, and clear errors for what is not supported."""

import subprocess
import sys

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import symcell
import symcell.cbuild
import symcell.torch as st
from symcell.torch import ops
from tests.test_cell_file import TOY, _symcell

CELLS = symcell.cells()


def expected_names(cell, layers, bidirectional):
    kernels = symcell.load(cell)
    names = list(kernels.param_shapes(1, 1))
    return [f"{n}_l{k}{s}" for k in range(layers) for s in ("", "_reverse")[:1 + bidirectional] for n in names]


@pytest.mark.parametrize("cell", CELLS)
def test_parameters_are_named_per_layer_and_direction(cell):
    m = st.Recurrent(cell, 2, 3, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    assert names == expected_names(cell, 2, True)
    kernels = symcell.load(cell)
    for n, p in m.named_parameters():
        base, rest = n.split("_l", 1)
        x = 2 if rest.startswith("0") else 6
        assert tuple(p.shape) == kernels.param_shapes(x, 3)[base]
    assert ("weight_hh_l0" in names) == ("weight_hh" in kernels.param_shapes(1, 1))


def test_named_unit_parameters_of_peephole_and_indrnn():
    assert {"w_ci_l0", "w_cf_l0", "w_co_l0"} <= set(dict(st.Recurrent("lstm_peephole", 2, 3).named_parameters()))
    names = set(dict(st.Recurrent("indrnn", 2, 3).named_parameters()))
    assert "u_l0" in names and "weight_hh_l0" not in names


@pytest.mark.parametrize("cell", CELLS)
def test_gradcheck(cell):
    torch.manual_seed(0)
    m = st.Recurrent(cell, 2, 2, num_layers=2, bidirectional=True, dtype=torch.float64)
    S = len(symcell.load(cell).STATES)
    names = [n for n, _ in m.named_parameters()]
    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(S, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([3, 2])
    params = [p.detach().clone().requires_grad_() for p in m.parameters()]

    def f(x, h0, *params):
        out, state = torch.func.functional_call(m, dict(zip(names, params, strict=True)),
                                                (pack_padded_sequence(x, lengths), tuple(h0) if S > 1 else h0[0]))
        return (out.data, *(state if S > 1 else (state,)))

    assert torch.autograd.gradcheck(f, (x, h0, *params), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_cell_generated_outside_the_package(tmp_path):
    cell_file = tmp_path / "my_cell.py"
    cell_file.write_text(TOY)
    command = [_symcell()] if _symcell() else [sys.executable, "-m", "symcell.codegen"]
    out = tmp_path / "kernels"
    run = subprocess.run([*command, "generate", "--cell-file", str(cell_file), "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    m = st.Recurrent("leaky_coupled_toy", 2, 3, path=out, dtype=torch.float64)
    assert [n for n, _ in m.named_parameters()] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                                    "w_l0"]
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    y, h = m(x)
    assert y.shape == (4, 2, 3) and h.shape == (1, 2, 3)
    # the same cell by hand in torch: h' = f h + (1 - f) tanh(a_c + w h)
    p = dict(m.named_parameters())
    hs, ys = torch.zeros(2, 3, dtype=torch.float64), []
    for t in range(4):
        a = x[t] @ p["weight_ih_l0"].T + p["bias_ih_l0"] + hs @ p["weight_hh_l0"].T + p["bias_hh_l0"]
        f = torch.sigmoid(a[:, :3])
        hs = f * hs + (1 - f) * torch.tanh(a[:, 3:] + p["w_l0"] * hs)
        ys.append(hs)
    ref = torch.stack(ys)
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)
    g = torch.autograd.grad((y * ref.detach()).sum(), [x, p["w_l0"]])
    g_ref = torch.autograd.grad((ref * ref.detach()).sum(), [x, p["w_l0"]])
    for a, b in zip(g, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_numpy_backend_gives_the_c_backend_result():
    torch.manual_seed(0)
    c = st.Recurrent("janet", 3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    n = st.Recurrent("janet", 3, 4, num_layers=2, bidirectional=True, dtype=torch.float64, backend="numpy")
    n.load_state_dict(c.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    yc, yn = c(x)[0], n(x)[0]
    torch.testing.assert_close(yn, yc, rtol=0, atol=1e-12)
    gc = torch.autograd.grad(yc.sum(), [x, *c.parameters()])
    gn = torch.autograd.grad(yn.sum(), [x, *n.parameters()])
    for a, b in zip(gc, gn, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-12)


def test_threads_follow_torch():
    """The C kernels' OpenMP team follows torch.set_num_threads; the result does not depend on it."""
    m = st.LSTM(8, 64, dtype=torch.float64)
    x = torch.randn(20, 64, 8, dtype=torch.float64)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = m(x)[0]
        torch.set_num_threads(2)
        two = m(x)[0]
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)
    compiled_with_openmp = bool(symcell.cbuild.openmp(tuple(symcell.cbuild.compiler())))
    assert (ops._OMP[m._cell.key] is not None) == compiled_with_openmp  # the team size is set through it


def test_unsupported_options_are_named():
    with pytest.raises(ValueError, match="proj_size"):
        st.LSTM(2, 4, proj_size=2)
    with pytest.raises(ValueError, match="CPU"):
        st.LSTM(2, 4, device="cuda")
    with pytest.raises(TypeError, match="dtype"):
        st.GRU(2, 4, dtype=torch.float16)
    with pytest.raises(ValueError, match="nonlinearity"):
        st.RNN(2, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="no NumPy kernels for cell 'nope'|no C kernels for cell 'nope'"):
        st.Recurrent("nope", 2, 4)
    with pytest.raises(ValueError, match="hidden_size"):
        st.GRU(2, 0)
    with pytest.raises(ValueError, match="dropout"):
        st.GRU(2, 3, 2, dropout=1.5)


def test_bad_input_is_named():
    m = st.LSTM(2, 4)
    with pytest.raises(ValueError, match="on meta.*CPU"):
        m(torch.zeros(3, 1, 2, device="meta"))
    with pytest.raises(TypeError, match="dtype"):
        m(torch.zeros(3, 1, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="input_size"):
        m(torch.zeros(3, 1, 5))
    with pytest.raises(ValueError, match="dimensions"):
        m(torch.zeros(3, 1, 1, 2))
    with pytest.raises(ValueError, match=r"hx \(h\) must have shape \(1, 1, 4\)"):
        m(torch.zeros(3, 1, 2), (torch.zeros(1, 2, 4), torch.zeros(1, 1, 4)))
    with pytest.raises(TypeError, match="tuple of 2"):
        m(torch.zeros(3, 1, 2), torch.zeros(1, 1, 4))
    with pytest.raises(TypeError, match="PackedSequence"):
        m([[1.0, 2.0]])
