from symcell.derive import Cell, register, sigmoid, tanh


@register
class LSTM1997(Cell):
    """The original LSTM: no forget gate, so the cell state's self-loop is exactly the identity.

    i, o = sigma(a_i), sigma(a_o); g = tanh(a_g); c' = c + i g; h' = o tanh(c'). dc'/dc = I is the constant
    error carousel itself: no gate has to saturate for the error to flow back unchanged along c.
    Squashing as in the vanilla LSTM of Greff et al. 2017 without its forget gate (tanh for g and h; the
    1997 paper's logistic functions scaled to [-2, 2] and [-1, 1] are 4 sigma - 2 and 2 sigma - 1).
    """

    name = "lstm_1997"
    states = ("h", "c")
    gates = ("i", "g", "o")
    citation = ("Hochreiter, Schmidhuber 1997, Long short-term memory, Neural Computation 9(8), eqs. of sec. 4 "
                "without the forget gate of Gers et al. 2000")

    def update(self, s, a):
        i, g, o = sigmoid(a.i), tanh(a.g), sigmoid(a.o)
        c = s.c + i * g
        return {"h": o * tanh(c), "c": c}
