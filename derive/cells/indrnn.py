from symcell.derive import Cell, register, relu


@register
class IndRNN(Cell):
    """Independently recurrent network: each unit sees only its own past, through a per-unit weight u.

    h' = relu(W_ih x + b_ih + b_hh + u * h). There is no weight_hh matrix; u has shape (H,).
    """

    name = "indrnn"
    states = ("h",)
    gates = ("a",)
    unit_params = ("u",)
    recurrent_matrix = False
    citation = "Li, Li, Cook, Zhu, Gao, Independently Recurrent Neural Network (IndRNN), CVPR 2018"

    def update(self, s, a):
        return {"h": relu(a.a + self.p.u * s.h)}
