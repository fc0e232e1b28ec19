"""Pure SymPy: recurrent cells, their registry, and everything derived from them (no files, no code)."""

from .activations import ACTIVATIONS, relu, sigmoid, tanh
from .cell import Cell, CellError, UnknownCellError, get_cell, register, registry, validate
from .elementwise import Elementwise, elementwise

__all__ = [
    "ACTIVATIONS",
    "Cell",
    "CellError",
    "Elementwise",
    "UnknownCellError",
    "elementwise",
    "get_cell",
    "register",
    "registry",
    "relu",
    "sigmoid",
    "tanh",
    "validate",
]
