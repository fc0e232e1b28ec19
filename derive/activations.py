"""Activation functions as SymPy functions whose derivatives are written in terms of their outputs.

Keeping sigmoid and relu as single SymPy function objects (instead of 1/(1+exp(-x)) or Max(0, x)) does
two things: printers can emit a numerically stable kernel for each, and the derivative that SymPy's
chain rule produces reads sigma(1 - sigma) or H(relu(x)), a function of the forward value. Codegen
relies on the latter: the backward pass only ever needs values the forward pass already computed.
"""

from __future__ import annotations

import sympy
from sympy import Function, Heaviside, S, exp

tanh = sympy.tanh


class sigmoid(Function):  # noqa: N801 - lower case, like sympy.tanh
    """Logistic function sigma(x) = 1 / (1 + exp(-x)); sigma' = sigma (1 - sigma)."""

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return S.Half
        return None

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + exp(-x))

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        return rf"\sigma\left({arg}\right)" if exp is None else rf"\sigma^{{{exp}}}\left({arg}\right)"


class relu(Function):  # noqa: N801
    """Rectifier max(0, x); relu' = H(relu(x)) with H(0) = 0, as PyTorch's relu backward uses."""

    def fdiff(self, argindex=1):
        return Heaviside(self, 0)

    def _eval_rewrite_as_Max(self, x, **kwargs):
        return sympy.Max(0, x)

    def _eval_rewrite_as_Piecewise(self, x, **kwargs):
        return sympy.Piecewise((x, x > 0), (0, True))

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        name = r"\operatorname{relu}" if exp is None else rf"\operatorname{{relu}}^{{{exp}}}"
        return rf"{name}\left({arg}\right)"


#: The activation classes a cell may use; codegen saves each application's value for the backward.
ACTIVATIONS: tuple[type[Function], ...] = (sigmoid, tanh, relu)
