from symcell.derive import Cell, register, relu, sigmoid


@register
class LiGRU(Cell):
    """Light GRU: no reset gate and a ReLU candidate (the paper's batch normalisation of W x left out).

    z = sigma(a_z), h~ = relu(a_g), h' = z h + (1 - z) h~, with a_k = W_k x + U_k h + b_k (eqs. 5-7 of the
    paper, batch normalisation omitted). z -> 1 gives dh'/dh -> I.
    """

    name = "ligru"
    states = ("h",)
    gates = ("z", "g")
    citation = "Ravanelli, Brakel, Omologo, Bengio 2018, Light gated recurrent units for speech recognition, " \
               "arXiv 1803.10225: the Li-GRU without batch normalisation"

    def update(self, s, a):
        z, g = sigmoid(a.z), relu(a.g)
        return {"h": z * s.h + (1 - z) * g}
