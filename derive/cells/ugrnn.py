from symcell.derive import Cell, register, sigmoid, tanh


@register
class UGRNN(Cell):
    """Update-gate RNN: one gate interpolates between the old state and a tanh candidate.

    c = tanh(a_c), g = sigma(a_g), h' = g h + (1 - g) c, with a_k = W_k x + U_k h + b_k (eqs. 8-10 of the paper).
    g -> 1 gives dh'/dh -> I (the update-gate path).
    """

    name = "ugrnn"
    states = ("h",)
    gates = ("c", "g")
    citation = "Collins, Sohl-Dickstein, Sussillo 2017, Capacity and trainability in recurrent neural networks, " \
               "arXiv 1611.09913: the UGRNN"

    def update(self, s, a):
        c, g = tanh(a.c), sigmoid(a.g)
        return {"h": g * s.h + (1 - g) * c}
