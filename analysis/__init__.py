"""Diagnostics built on the derived cells and the generated kernels: gradient flow over long lags.

``analysis`` sits beside ``codegen``: it reads ``derive`` (Jacobians, bounds) and the generated NumPy
kernels, and never generates kernels itself. Figures need matplotlib (the ``plot`` extra).
"""

from .gradflow import KERNEL_RTOL, GradFlow, Init, gradflow, make_params, parse_init

#: What `make figures` writes under generated/ (path prefixes). `symcell generate` does not write these,
#: so the golden-regeneration test leaves them out of its comparison.
FIGURE_OUTPUTS = ("figures/", "latex/gradflow.tex")

__all__ = ["FIGURE_OUTPUTS", "KERNEL_RTOL", "GradFlow", "Init", "gradflow", "make_params", "parse_init"]
