"""The sizes the fixed-size generator's C can hold, checked where sizes enter (the first lines of generate).

The emitted code (templates/c/fixed.c.jinja) indexes its parameter arrays with C ``int`` and writes the sizes
as integer literals in its loop bounds: a size past INT_MAX overflows the index arithmetic (undefined
behaviour, which -Werror reports) or makes a loop whose bound its counter never reaches. The largest index
is one below the element count of the largest array, so every array must hold at most INT_MAX elements.
"""

from __future__ import annotations

#: INT_MAX of every target the generated C is for (int is 32 bits on ILP32, LP64 and LLP64 alike).
C_INT_MAX = 2**31 - 1


def check_fixed_sizes(gates: int, input_size, hidden_size, dense=None) -> None:
    """ValueError naming the size and the array it makes too large for the emitted C's int indices."""
    for what, n in (("input size", input_size), ("hidden size", hidden_size), ("dense size", dense)):
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ValueError(f"{what} must be a positive integer; got {n!r}")
    G, X, H = gates, input_size, hidden_size
    arrays = {"weight_ih": (G * H * X, f"{G} x {H} x {X}"), "weight_hh": (G * H * H, f"{G} x {H} x {H}")}
    if dense:
        arrays["dense_weight"] = (dense * H, f"{dense} x {H}")
    name, (count, product) = max(arrays.items(), key=lambda item: item[1][0])
    if count > C_INT_MAX:
        raise ValueError(f"input size {X}, hidden size {H}{f', dense size {dense}' if dense else ''}: {name} "
                         f"would hold {product} = {count} elements, more than the generated C's int indices "
                         f"reach ({C_INT_MAX}); choose smaller sizes, or use the C library "
                         "(symcell.load(cell, \"c\")), whose sizes are size_t")
