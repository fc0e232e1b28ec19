"""Fast float32 activations for the C kernels: tanh as a clamped rational minimax, sigmoid through tanh.

libm's ``tanhf``/``expf`` are calls the compiler cannot vectorize without -ffast-math, and they
dominate a streaming step at small H. Here tanh(x) is x P(x^2) / Q(x^2), P of degree 6 and Q of
degree 3 in x^2 (a 13/6 rational minimax, the coefficients of Eigen's float tanh), with x clamped to
[-c, c] where tanh(c) rounds to 1 in float, and exactly +-1 returned beyond it (so sigmoid saturates to exactly
0 and 1, as the correctly rounded float does); sigmoid(x) = 0.5 + 0.5 tanh(x / 2). Everything is branch-free
(the clamp and the saturation are selects, which also let NaN through), so a loop of them vectorizes.

Error bound: tests/test_c_streaming.py sweeps a dense grid of float32 inputs against double-precision
libm and holds both functions to ``MAX_ABS_ERROR`` absolute (a test target, not a measurement).

The coefficients live here, not in a template: the templates receive the printed C lines.
"""

from __future__ import annotations

#: beyond this |x|, float tanh is +-1 to within the bound (1 - tanh(c) < 2.7e-7)
TANH_CLAMP = 7.90531110763549805
#: numerator x * (a1 + a3 x^2 + ... + a13 x^12), lowest power first
TANH_P = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
          -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)
#: denominator b0 + b2 x^2 + b4 x^4 + b6 x^6
TANH_Q = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)
#: the bound the test holds the generated C to (the issue's target: 5e-7 absolute)
MAX_ABS_ERROR = 5e-7


def _f(v: float) -> str:
    return repr(float(v)) + "f"


def _estrin(coeffs: tuple[float, ...], z: str, powers: dict[int, str]) -> str:
    """c0 + c1 z + ... by Estrin's scheme: pairs (c_2i + c_2i+1 z), then pairs of pairs with z^2, z^4, ...

    A shorter chain of dependent operations than Horner's (log2 of the degree instead of the degree):
    a streaming step is latency-bound. SC_FMA is fmaf where the target has a fast FMA.
    """
    terms = [_f(c) for c in coeffs]
    step = 1
    while len(terms) > 1:
        zp = z if step == 1 else powers[step]
        terms = [f"SC_FMA({terms[i + 1]}, {zp}, {terms[i]})" if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
        step *= 2
    return terms[0]


def tanh_lines(arg: str = "x") -> list[str]:
    """The body of ``static inline float sc_tanh_f32(float x)``."""
    c = _f(TANH_CLAMP)
    return [
        f"const float sc_x = {arg} < -{c} ? -{c} : ({arg} > {c} ? {c} : {arg}); /* NaN passes through */",
        "const float sc_x2 = sc_x * sc_x;",
        "const float sc_x4 = sc_x2 * sc_x2;",
        "const float sc_x8 = sc_x4 * sc_x4;",
        f"const float sc_p = {_estrin(TANH_P, 'sc_x2', {2: 'sc_x4', 4: 'sc_x8'})};",
        f"const float sc_q = {_estrin(TANH_Q, 'sc_x2', {2: 'sc_x4', 4: 'sc_x8'})};",
        # beyond the clamp the rational stops 2.7e-7 short of 1; the float nearest tanh there is +-1 itself, and
        # returning it keeps 1 - sigmoid exactly 0 where it is (else a huge value times it is a wrong answer)
        f"return {arg} < -{c} ? -1.0f : ({arg} > {c} ? 1.0f : sc_x * sc_p / sc_q); /* NaN passes through */",
    ]


def sigmoid_lines(arg: str = "x") -> list[str]:
    """The body of ``static inline float sc_sigmoid_f32(float x)``: 0.5 + 0.5 tanh(x / 2)."""
    return [f"return SC_FMA(0.5f, sc_tanh_f32(0.5f * {arg}), 0.5f);"]
