"""Pure SymPy: recurrent cells, their registry, and everything derived from them (no files, no code)."""

from .activations import ACTIVATIONS, relu, sigmoid, tanh
from .bounds import Statement, Step, gamma, gamma_statement, statements
from .cell import Cell, CellError, UnknownCellError, get_cell, load_cell_file, register, registry, validate
from .elementwise import Elementwise, elementwise
from .jacobian import Jacobian, jacobian
from .jacobian_numeric import bptt, jacobian_numeric, jacobian_product, jacobian_sequence, step_numeric

__all__ = [
    "ACTIVATIONS",
    "Cell",
    "CellError",
    "Elementwise",
    "Jacobian",
    "Statement",
    "Step",
    "bptt",
    "UnknownCellError",
    "elementwise",
    "gamma",
    "gamma_statement",
    "jacobian",
    "jacobian_numeric",
    "jacobian_product",
    "jacobian_sequence",
    "get_cell",
    "load_cell_file",
    "register",
    "registry",
    "relu",
    "sigmoid",
    "statements",
    "step_numeric",
    "tanh",
    "validate",
]
