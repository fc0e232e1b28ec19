from symcell.derive import Cell, register, sigmoid, tanh


@register
class GRUv3(Cell):
    """GRU as in Cho et al. 2014 v3 (Keras reset_after=False): the reset gate scales h BEFORE the matmul.

    r = sigma(a_r), z = sigma(a_z), n = tanh(W_in x + b_in + W_hn (r * h) + b_hn), h' = (1 - z) n + z h.
    Layout: PyTorch's (weight_ih 3H x X, weight_hh 3H x H, bias_ih, bias_hh; rows r, z, n), but the
    n rows of weight_hh multiply r * h. b_in and b_hn only ever appear summed (one bias in Keras).
    """

    name = "gru_v3"
    states = ("h",)
    gates = ("r", "z", "n")
    citation = "Cho et al., Learning phrase representations..., arXiv:1406.1078 v3 (2014), eqs. 5-8"

    def hidden_input(self, s, a):
        return {"n": sigmoid(a.r) * s.h}

    def update(self, s, a):
        z = sigmoid(a.z)
        return {"h": (1 - z) * tanh(a.n) + z * s.h}
