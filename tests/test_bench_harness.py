"""The benchmark harness takes a timed block again when the placement probe saw the far placement, counts
it, and gives up after ``retries`` retakes (keeping the last block), so a host stuck far cannot hang it."""

from bench.harness import interleaved


class ScriptedPlacement:
    """Probe results from a script; near means under 100 ns."""

    def __init__(self, script):
        self.script = list(script)

    def probe(self) -> float:
        return self.script.pop(0)

    @staticmethod
    def near(ns: float) -> bool:
        return ns < 100


def _run(script, rounds, retries=10):
    calls = []
    placement = ScriptedPlacement(script)
    timing = interleaved({"k": lambda: calls.append(1)}, rounds=rounds, settle=0, block=0,
                         placement=placement, retries=retries)["k"]
    return timing, len(calls), placement.script


def test_far_probe_before_or_after_retakes_the_block():
    # round 0: far before -> again, then near/near; round 1: far after -> again, then near/near
    timing, calls, left = _run([300, 50, 50, 50, 50, 300, 50, 50], rounds=2)
    assert (timing.rounds, timing.retaken, left) == (2, 2, [])
    assert calls == 2 + 4 * 2  # two first calls, then per block one untimed call and a block of one


def test_retakes_stop_after_retries():
    timing, calls, left = _run([300] * 5, rounds=1, retries=2)
    assert (timing.rounds, timing.retaken, left) == (1, 2, [])  # the last attempt is kept without a probe after it
    assert calls == 2 + 3 * 2


def test_no_placement_times_each_block_once():
    calls = []
    timing = interleaved({"k": lambda: calls.append(1)}, rounds=3, settle=0, block=0)["k"]
    assert (timing.rounds, timing.retaken, len(calls)) == (3, 0, 2 + 3 * 2)


def test_placement_summary_splits_probes_at_twice_the_fastest():
    from bench.placement import summarize

    s = summarize([56.0, 60.0, 111.0, 113.0, 340.0, 330.0])
    assert (s["probes"], s["near"], s["far"]) == (6, 3, 3)  # 111 <= 2 x 56 < 113
    assert (s["near_median_ns"], s["far_median_ns"]) == (60.0, 330.0)
    assert summarize([])["probes"] == 0
