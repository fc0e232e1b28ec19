from symcell.derive import Cell, register, sigmoid, tanh

BETA = 1  # the paper's shift: the input gate is 1 - sigma(a_f - beta), slightly more open than 1 - f


@register
class JANET(Cell):
    """JANET, the forget-gate-only LSTM: the cell state is the output, and the input gate is tied to f.

    f = sigma(a_f), h' = f h + (1 - sigma(a_f - beta)) tanh(a_c), with beta = 1.
    """

    name = "janet"
    states = ("h",)
    gates = ("f", "c")
    citation = ("van der Westhuizen, Lasenby, The unreasonable effectiveness of the forget gate, "
                "arXiv:1804.04849 (2018)")

    def update(self, s, a):
        return {"h": sigmoid(a.f) * s.h + (1 - sigmoid(a.f - BETA)) * tanh(a.c)}
