"""Interleaved timing: every implementation of a configuration runs once per round, rounds repeat.

Machines here are noisy, so a ratio is only meaningful between numbers taken side by side: each round runs
every contender, in a rotated order, and we report medians and the spread (min..max) over rounds.

Contenders carry thread pools that keep spinning after their work ends (OpenBLAS's workers spin for up
to ~2^28 cycles, PyTorch's OpenMP team for a while too); on a 2-core machine a pool still spinning from
the previous contender takes a core from the next one, and the first measurements of this harness swung
5-20x that way (medium PyTorch LSTM forward: 5.3-115 ms). So before each contender's turn we sleep
``settle`` seconds (the other pools go idle), make one untimed call (this contender's pool and caches
warm up: what a user calling it in a loop sees), then time a block of calls lasting at least
``block`` seconds and record the mean per call of that block.

Given a ``placement`` (bench.placement), the core-to-core round trip is probed before the untimed call and
after the block; a block either probe saw in the far placement (the host had moved our vCPUs to cores that
share no cache) is taken again, up to ``retries`` times, and the retakes are counted. Every contender is
then timed with its threads in the same placement, the one a single-die machine (like the Ice Lake the
targets were set on) always has.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per call over rounds: median and spread."""

    median: float
    low: float
    high: float
    rounds: int
    retaken: int = 0  # blocks taken again because the placement probe saw the far placement

    def ms(self) -> str:
        return f"{self.median * 1e3:.3g} ms ({self.low * 1e3:.3g}-{self.high * 1e3:.3g})"

    def as_dict(self) -> dict:
        return {"median_s": self.median, "min_s": self.low, "max_s": self.high, "rounds": self.rounds,
                "retaken": self.retaken}


def _timed(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int = 5, settle: float = 0.15,
                block: float = 0.05, placement=None, retries: int = 10) -> dict[str, Timing]:
    """Seconds per call of each zero-argument callable over ``rounds`` rounds, contenders interleaved.

    Per round and contender: sleep ``settle`` s, one untimed call, then a block of ``n`` timed calls
    (``n`` fixed per contender from its first call, so a block lasts about ``block`` s or one call); with a
    ``placement``, again while a probe around it sees the far placement (at most ``retries`` times).
    """
    names = list(contenders)
    calls = {}
    for name in names:
        contenders[name]()  # the very first call pays one-time costs (workspaces, page faults, lazy loading)
        first = _timed(contenders[name], 1)  # so the block length is set from a warm call
        calls[name] = max(1, min(1000, round(block / max(first, 1e-7))))
    samples: dict[str, list[float]] = {n: [] for n in names}
    retaken = dict.fromkeys(names, 0)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate so no contender always goes first
        for name in order:
            for attempt in range(retries + 1):
                time.sleep(settle)
                before = placement.probe() if placement else 0.0
                contenders[name]()
                seconds = _timed(contenders[name], calls[name])
                if placement is None or attempt == retries:
                    break
                after = placement.probe()
                if placement.near(before) and placement.near(after):
                    break
                retaken[name] += 1
            samples[name].append(seconds)
    return {n: Timing(statistics.median(s), min(s), max(s), len(s), retaken[n]) for n, s in samples.items()}
