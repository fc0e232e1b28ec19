from symcell.derive import Cell, register, sigmoid, tanh


@register
class MGU(Cell):
    """Minimal gated unit: one forget gate, which both resets h before the matmul and interpolates.

    f = sigma(a_f), n = tanh(W_in x + b_in + W_hn (f * h) + b_hn), h' = (1 - f) h + f n.
    """

    name = "mgu"
    states = ("h",)
    gates = ("f", "n")
    citation = "Zhou, Wu, Zhang, Zhou, Minimal gated unit for recurrent neural networks, IJAC 13 (2016)"

    def hidden_input(self, s, a):
        return {"n": sigmoid(a.f) * s.h}

    def update(self, s, a):
        f = sigmoid(a.f)
        return {"h": (1 - f) * s.h + f * tanh(a.n)}
