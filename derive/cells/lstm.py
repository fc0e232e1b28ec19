from symcell.derive import Cell, register, sigmoid, tanh


@register
class LSTM(Cell):
    """LSTM with forget gate, PyTorch convention (gate order i, f, g, o).

    i, f, o = sigma(a_i), sigma(a_f), sigma(a_o); g = tanh(a_g); c' = f c + i g; h' = o tanh(c').
    The direct cell path dc'/dc = f is the constant error carousel when f = 1.
    """

    name = "lstm"
    states = ("h", "c")
    gates = ("i", "f", "g", "o")
    torch_module = "LSTM"
    citation = "Hochreiter, Schmidhuber 1997; forget gate: Gers, Schmidhuber, Cummins 2000"

    def update(self, s, a):
        i, f, g, o = sigmoid(a.i), sigmoid(a.f), tanh(a.g), sigmoid(a.o)
        c = f * s.c + i * g
        return {"h": o * tanh(c), "c": c}
