"""symcell's generated kernels as PyTorch modules: drop-ins for torch.nn.LSTM, GRU and RNN, and Recurrent for
any cell. See docs/torch.md.

Autograd runs through the custom operators of ``symcell.torch.ops`` (``symcell::sequence`` and its backward),
so torch.compile traces models that use these modules without a graph break. CPU only.
"""

from .modules import GRU, LSTM, RNN, Recurrent

__all__ = ["GRU", "LSTM", "RNN", "Recurrent"]
