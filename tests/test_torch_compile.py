"""torch.compile(fullgraph=True) of a small model that uses symcell.torch: no graph break (fullgraph raises
on one), the custom operator in the graph, and the compiled forward and backward equal to eager."""

import pytest
import torch

import symcell.torch as st


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = st.LSTM(3, 8, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
        self.cell = st.Recurrent("janet", 16, 4, dtype=torch.float64)
        self.head = torch.nn.Linear(4, 1, dtype=torch.float64)

    def forward(self, x):
        y, (h, c) = self.rnn(x)
        z, _ = self.cell(y.transpose(0, 1).contiguous())
        return self.head(z).sum() + h.sum() + c.sum()


# inductor itself calls the deprecated torch.jit.script_method (torch 2.13); the suite turns warnings into errors
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_model_has_no_graph_break_and_matches_eager():
    torch.manual_seed(0)
    model = Model()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    eager = model(x)
    eager_grads = torch.autograd.grad(eager, list(model.parameters()))
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0 and explained.graph_count == 1
    assert "symcell.sequence" in str(explained.graphs[0].code)
    compiled = torch.compile(model, fullgraph=True)
    got = compiled(x)
    grads = torch.autograd.grad(got, list(model.parameters()))
    torch.testing.assert_close(got, eager, rtol=0, atol=1e-12)
    for a, b in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
