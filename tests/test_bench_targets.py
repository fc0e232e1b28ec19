"""The benchmark's share-of-peak table: the FLOP count it divides by, and its met/missed verdict, which must
agree with the plain time comparison (time <= target x PyTorch's time)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.targets import gemm_flops, peak_markdown, target

dims = st.integers(1, 300)


@settings(max_examples=50, deadline=None)
@given(dims, dims, dims, dims, st.integers(1, 4))
def test_gemm_flops_counts_six_products_of_every_weight(T, B, X, H, G):
    # forward: x W_ih^T and h W_hh^T; backward: dh, dx, dW_ih, dW_hh: each weight in three products of T*B rows
    assert gemm_flops(T, B, X, H, G) == 2 * 3 * T * B * G * H * (X + H)


def _result(c_ratio: float, numpy_ratio: float) -> dict:
    torch_s = 0.0123
    timing = lambda s: {"median_s": s, "min_s": s, "max_s": s, "rounds": 1}  # noqa: E731
    row = {"config": "medium", "cell": "lstm", "gemm_flops": 1.89e9,
           "timings": {"torch fwd+bwd": timing(torch_s), "c fwd+bwd": timing(c_ratio * torch_s),
                       "numpy fwd+bwd": timing(numpy_ratio * torch_s)}}
    return {"rows": [row], "fma_peak": {"gflops": 233.0, "per_core": [116.0, 117.0], "vector_bits": 512}}


def _verdicts(text: str) -> list[str]:
    row = text.strip().splitlines()[-1].split(" | ")
    return [v.split("(")[1].rstrip(") |") for v in row if "(" in v]


def test_met_exactly_when_the_time_is_within_the_target():
    assert target("c", "medium", "lstm") == 0.8 and target("numpy", "medium", "lstm") == 1.5
    assert _verdicts(peak_markdown(_result(0.79, 1.49))) == ["met", "met"]
    assert _verdicts(peak_markdown(_result(0.81, 1.51))) == ["missed", "missed"]
    assert _verdicts(peak_markdown(_result(0.5, 1.6))) == ["met", "missed"]


def test_no_table_without_a_measured_peak():
    result = _result(0.5, 1.0)
    result["fma_peak"] = None
    assert peak_markdown(result) == ""
