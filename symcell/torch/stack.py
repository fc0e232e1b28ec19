"""Layers and directions of a recurrent stack over time-major data, with per-row lengths done exactly.

Data are kept as torch's PackedSequence keeps them: one (N, X) tensor, time-major, the rows present at a
step first (rows sorted by length, longest first). A dense (T, B, X) input is the case of one segment,
N = T * B. A *segment* is a run of steps with the same number of rows present, so it is a contiguous
(steps, rows, X) block of the data: one kernel call each, with the state carried from one segment into
the next. Rows whose sequence ended are dropped (their state is final); in the reverse direction rows
join, from their initial state, at their own last step. Gradients chain through the carried states by
autograd. (Lengths inside the kernels themselves would take one call a layer; that remains to do.)
"""

from __future__ import annotations

import torch

from . import ops


def segments(batch_sizes: list[int]) -> list[tuple[int, int, int]]:
    """(steps, rows, first data row) of each run of equal batch sizes, in time order."""
    out, offset, t = [], 0, 0
    while t < len(batch_sizes):
        n, t0 = batch_sizes[t], t
        while t < len(batch_sizes) and batch_sizes[t] == n:
            t += 1
        out.append((t - t0, n, offset))
        offset += (t - t0) * n
    return out


def direction(info: ops.CellInfo, data: torch.Tensor, segs, params, state0: torch.Tensor, reverse: bool):
    """One layer, one direction over the data from state0 (S, B, H): (output data (N, H), final state)."""
    N, X = data.shape
    outs, finals = [None] * len(segs), []
    order = range(len(segs) - 1, -1, -1) if reverse else range(len(segs))
    state = None
    for j in order:
        steps, n, offset = segs[j]
        # whole tensors are passed as they are, not as slices: autograd's backward of a slice allocates and
        # fills a zero tensor of the whole size (a quarter of a medium LSTM's wrapper time)
        x = (data if steps * n == N else data[offset:offset + steps * n]).view(steps, n, X)
        if reverse:
            x = x.flip(0)
            # rows still running carry their state in; the rows whose last step this segment holds join
            s0 = _rows(state0, n) if state is None else torch.cat([state, state0[:, state.shape[1]:n]], 1)
        else:
            s0 = _rows(state0 if state is None else state, n)
        y, s = ops.run(info, x, params, s0.contiguous())
        outs[j] = (y.flip(0) if reverse else y).reshape(steps * n, -1)
        if not reverse:  # rows that are absent from the next segment on end here
            rest = segs[j + 1][1] if j + 1 < len(segs) else 0
            finals.append(s if rest == 0 else s[:, rest:n])
        state = s
    final = state if reverse else torch.cat(finals[::-1], 1) if len(finals) > 1 else finals[0]
    out = torch.cat(outs, 0) if len(outs) > 1 else outs[0]
    return out, final


def _rows(state: torch.Tensor, n: int) -> torch.Tensor:
    """The first n rows of an (S, B, H) state (the tensor itself when that is all of them)."""
    return state if state.shape[1] == n else state[:, :n]


def layers(info: ops.CellInfo, data: torch.Tensor, segs, weights, state0: torch.Tensor, num_layers: int,
           directions: int, dropout: float, training: bool):
    """The whole stack: weights[layer * directions + d] are the kernel params of that layer and direction,
    state0 (num_layers * directions, S, B, H). Dropout as torch applies it: to every layer's output but the
    last, in training (the same call on the same shape, so the same masks under the same seed).
    Returns (output data (N, directions * H), final states (num_layers * directions, S, B, H))."""
    finals = []
    for layer in range(num_layers):
        outs = []
        for d in range(directions):
            k = layer * directions + d
            out, final = direction(info, data, segs, weights[k], state0[k], reverse=d == 1)
            outs.append(out)
            finals.append(final)
        data = torch.cat(outs, 1) if directions > 1 else outs[0]
        if dropout > 0 and training and layer < num_layers - 1:
            data = torch.nn.functional.dropout(data, dropout, True)
    return data, torch.stack(finals)
