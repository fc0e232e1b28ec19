from symcell.derive import Cell, register, relu


@register
class RNNRelu(Cell):
    """Elman RNN with relu: h' = relu(W_ih x + b_ih + W_hh h + b_hh); relu'(0) = 0 as in PyTorch.

    Matches torch.nn.RNN(nonlinearity="relu").
    """

    name = "rnn_relu"
    states = ("h",)
    gates = ("a",)
    torch_module = "RNN"
    torch_kwargs = {"nonlinearity": "relu"}
    citation = "Elman 1990; relu as in Le, Jaitly, Hinton 2015 (arXiv:1504.00941)"

    def update(self, s, a):
        return {"h": relu(a.a)}
