from symcell.derive import Cell, register, sigmoid


@register
class RNNSigmoid(Cell):
    """Elman RNN with the logistic sigmoid: h' = sigma(W_ih x + b_ih + W_hh h + b_hh).

    The activation of the classic vanishing-gradient analyses (sigma' <= 1/4): Hochreiter 1991,
    Bengio, Simard, Frasconi 1994. PyTorch has no such module; it is checked against the others.
    """

    name = "rnn_sigmoid"
    states = ("h",)
    gates = ("a",)
    citation = "Bengio, Simard, Frasconi, IEEE Trans. Neural Networks 5(2) (1994)"

    def update(self, s, a):
        return {"h": sigmoid(a.a)}
