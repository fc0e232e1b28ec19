from symcell.derive import Cell, register, sigmoid, tanh


@register
class LSTMPeephole(Cell):
    """LSTM with peephole connections: the gates see the cell state through per-unit weights.

    i = sigma(a_i + w_ci c), f = sigma(a_f + w_cf c), g = tanh(a_g), c' = f c + i g,
    o = sigma(a_o + w_co c'), h' = o tanh(c'). The output gate peeks at the NEW cell state c'.
    """

    name = "lstm_peephole"
    states = ("h", "c")
    gates = ("i", "f", "g", "o")
    unit_params = ("w_ci", "w_cf", "w_co")
    citation = ("Gers, Schmidhuber, Recurrent nets that time and count, IJCNN 2000; Gers, Schraudolph, "
                "Schmidhuber, Learning precise timing with LSTM recurrent networks, JMLR 3 (2002)")

    def update(self, s, a):
        p = self.p
        i, f, g = sigmoid(a.i + p.w_ci * s.c), sigmoid(a.f + p.w_cf * s.c), tanh(a.g)
        c = f * s.c + i * g
        o = sigmoid(a.o + p.w_co * c)
        return {"h": o * tanh(c), "c": c}
