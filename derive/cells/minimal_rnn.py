from symcell.derive import Cell, register, sigmoid


@register
class MinimalRNN(Cell):
    """MinimalRNN with a linear input map: z = Phi(x) = W_z x + b_z, u = sigma(U_h h + U_z z + b_u),
    h' = u h + (1 - u) z.

    With Phi linear, U_z z = (U_z W_z) x + U_z b_z is itself a linear map of x, so u is the gate
    sigma(W_u x + U_h h + b_u) with W_u = U_z W_z and b_u absorbing U_z b_z: the same cell, parametrised
    by (W_z, W_u). z reads no state: its recurrent matrix multiplies hidden_input 0, so its weight_hh rows
    never act (their gradient is 0). A nonlinear Phi (the paper allows any encoder) would need U_z
    applied to a value of the step, which the gate form W x + U m + b cannot express.
    """

    name = "minimal_rnn"
    states = ("h",)
    gates = ("u", "z")
    citation = "Chen 2017, MinimalRNN: toward more interpretable and trainable recurrent neural networks, " \
               "arXiv 1711.06788, eqs. 1-3 with a linear Phi"

    def update(self, s, a):
        u = sigmoid(a.u)
        return {"h": u * s.h + (1 - u) * a.z}

    def hidden_input(self, s, a):
        return {"z": 0}
