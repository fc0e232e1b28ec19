from symcell.derive import Cell, register, sigmoid, tanh


@register
class GRU(Cell):
    """GRU, PyTorch/cuDNN convention (Keras reset_after=True): the reset gate scales W_hn h + b_hn.

    r = sigma(a_r), z = sigma(a_z), n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) n + z h.
    Gate order r, z, n as in torch.nn.GRU. z -> 1 gives dh'/dh -> I (the update-gate path).
    """

    name = "gru"
    states = ("h",)
    gates = ("r", "z", "n")
    torch_module = "GRU"
    citation = "Cho et al. 2014 (arXiv:1406.1078), as implemented by cuDNN and torch.nn.GRU"

    def update(self, s, a):
        r, z = sigmoid(a.r), sigmoid(a.z)
        n = tanh(a.ih.n + r * a.hh.n)
        return {"h": (1 - z) * n + z * s.h}
