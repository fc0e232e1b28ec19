from symcell.derive import Cell, register, sigmoid, tanh


@register
class LSTMCIFG(Cell):
    """LSTM with coupled input and forget gate (CIFG): i = 1 - f, so there is no input-gate weight.

    f = sigma(a_f), g = tanh(a_g), o = sigma(a_o), c' = f c + (1 - f) g, h' = o tanh(c').
    """

    name = "lstm_cifg"
    states = ("h", "c")
    gates = ("f", "g", "o")
    citation = ("Greff, Srivastava, Koutnik, Steunebrink, Schmidhuber, LSTM: A Search Space Odyssey, "
                "IEEE TNNLS 28 (2017)")

    def update(self, s, a):
        f, g, o = sigmoid(a.f), tanh(a.g), sigmoid(a.o)
        c = f * s.c + (1 - f) * g
        return {"h": o * tanh(c), "c": c}
