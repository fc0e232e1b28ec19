"""DistributedDataParallel over symcell.torch: two processes (gloo, CPU), each training on half the batch,
end with the parameters one process reaches on the whole batch (DDP averages the gradients of the two
halves' mean losses, which is the gradient of the whole batch's mean loss)."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

import symcell.torch as st

STEPS, B = 4, 8

def make_model():
    torch.manual_seed(0)
    return torch.nn.ModuleDict({"rnn": st.LSTM(3, 6, num_layers=2, bidirectional=True, dtype=torch.float64),
                                "head": torch.nn.Linear(12, 1, dtype=torch.float64)})

def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(5, B, 3, generator=g, dtype=torch.float64), torch.randn(B, 1, generator=g, dtype=torch.float64)

class Net(torch.nn.Module):
    """The rnn and head in one module, as DDP wraps them."""

    def __init__(self, parts):
        super().__init__()
        self.parts = parts

    def forward(self, x):
        y, _ = self.parts["rnn"](x)
        return self.parts["head"](y.mean(0))

def _worker(rank, init, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        parts = make_model()
        ddp = DistributedDataParallel(Net(parts))
        x, target = data()
        rows = slice(rank * B // 2, (rank + 1) * B // 2)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.5)
        for _ in range(STEPS):
            opt.zero_grad()
            loss = ((ddp(x[:, rows]) - target[rows]) ** 2).mean()
            loss.backward()
            opt.step()
        torch.save(parts.state_dict(), f"{out}.{rank}")
    finally:
        dist.destroy_process_group()

def test_two_processes_match_one_on_the_whole_batch(tmp_path):
    mp.spawn(_worker, args=(f"file://{tmp_path / 'init'}", str(tmp_path / "params")), nprocs=2, join=True)
    parts = make_model()
    net = Net(parts)
    x, target = data()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(STEPS):
        opt.zero_grad()
        loss = ((net(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
    start = make_model().state_dict()
    for rank in (0, 1):
        got = torch.load(tmp_path / f"params.{rank}")
        for name, value in parts.state_dict().items():
            assert not torch.equal(value, start[name]), name  # training moved it
            torch.testing.assert_close(got[name], value, rtol=0, atol=1e-10)
