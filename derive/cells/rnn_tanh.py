from symcell.derive import Cell, register, tanh


@register
class RNNTanh(Cell):
    """Elman RNN with tanh: h' = tanh(W_ih x + b_ih + W_hh h + b_hh).

    Matches torch.nn.RNN(nonlinearity="tanh"); Elman 1990, Goodfellow et al. ch. 10 (form A).
    """

    name = "rnn_tanh"
    states = ("h",)
    gates = ("a",)
    torch_module = "RNN"
    torch_kwargs = {"nonlinearity": "tanh"}
    citation = "Elman, Finding structure in time, Cognitive Science 14 (1990)"

    def update(self, s, a):
        return {"h": tanh(a.a)}
