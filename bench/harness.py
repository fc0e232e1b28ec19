"""Interleaved timing: every implementation of a configuration runs once per round, rounds repeat.

Machines here are noisy, so a ratio is only meaningful between numbers taken side by side: each round runs
every contender once, in a rotated order, and we report medians and the spread (min..max) over rounds.
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

    def ms(self) -> str:
        return f"{self.median * 1e3:.3g} ms ({self.low * 1e3:.3g}-{self.high * 1e3:.3g})"

    def as_dict(self) -> dict:
        return {"median_s": self.median, "min_s": self.low, "max_s": self.high, "rounds": self.rounds}


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int = 5, warmup: int = 1) -> dict[str, Timing]:
    """Time each zero-argument callable ``rounds`` times, interleaving contenders round by round."""
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate so no contender always goes first
        for name in order:
            start = time.perf_counter()
            contenders[name]()
            samples[name].append(time.perf_counter() - start)
    return {n: Timing(statistics.median(s), min(s), max(s), len(s)) for n, s in samples.items()}
