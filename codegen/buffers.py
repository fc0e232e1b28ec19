"""Every buffer a cell's kernels touch, listed once: role, shape and slot, built from a CellIR.

A backend never lays buffers out itself: it formats how it addresses each ``Buffer`` (the C backend as
``sc_S0[sc_u]`` or ``sc_T[2 * sc_BH + sc_u]``, see codegen/c/plan.py), and the parameter shapes, the C
API's arguments (codegen/c/api.py, hence the manifest and the loader's ctypes argument kinds) and the
elementwise kernels' bindings all come from the lists here.

Roles of the per-element buffers (what a kernel symbol names, for element (b, j)):

======================  =====================================================  ======================
role                    holds                                                  slot
======================  =====================================================  ======================
``state``               a state before the step, (B, H)                        state index
``next_state``          a state after the step, (B, H)                         state index
``tape``                a per-step tape value, (K, B, H) for the step          tape slot
``unit_param``          a per-unit parameter, (H)                              index in unit_params
``gate_input``          a gate's input part gi (forward) or its gradient dgi   gate index
``gate_hidden``         a gate's hidden part gh (forward) or its gradient dgh  gate index
``state_grad``          the gradient w.r.t. a state after the step (backward)  state index
``state_grad_prev``     ... before the step (the kernel's output)              state index
``hidden_input_grad``   the gradient of a second-stage gate's hidden input m   index in stage2_gates
``unit_param_grad``     a per-unit parameter's gradient, summed over b and t   index in unit_params
======================  =====================================================  ======================
"""

from __future__ import annotations

from dataclasses import dataclass

from .ir import CellIR, symbol_name

#: The parameters every cell with a recurrent matrix has, in PyTorch's order.
STANDARD = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
#: Parameters the backward does not read (they are only added).
BIASES = ("bias_ih", "bias_hh")


@dataclass(frozen=True)
class Buffer:
    """One buffer: ``symbol`` is the name a kernel or an API uses for it, ``role`` what it holds (see the module
    docstring), ``shape`` its dimensions as text (``"G*H"``, ``"X"``; a literal gate count is printed in), ``slot``
    its index among the buffers of its role."""

    symbol: str
    role: str
    shape: tuple[str, ...] = ()
    slot: int = 0


def param_buffers(ir: CellIR) -> tuple[Buffer, ...]:
    """The cell's parameters in ``param_names`` order: matrices and biases per gate row, per-unit vectors (H)."""
    G = len(ir.gates)
    shapes = {"weight_ih": (f"{G}*H", "X"), "weight_hh": (f"{G}*H", "H"), "bias_ih": (f"{G}*H",),
              "bias_hh": (f"{G}*H",)}
    units = {n: k for k, n in enumerate(ir.unit_params)}
    return tuple(Buffer(n, "unit_param" if n in units else "param", shapes.get(n, ("H",)), units.get(n, k))
                 for k, n in enumerate(ir.param_names))


def backward_param_buffers(ir: CellIR) -> tuple[Buffer, ...]:
    """The parameters the backward reads: every one but the biases."""
    return tuple(b for b in param_buffers(ir) if b.symbol not in BIASES)


def param_shapes(ir: CellIR) -> dict[str, str]:
    """Each parameter's shape as the header documents it, e.g. ``"(4*H, X)"``."""
    return {b.symbol: "(" + ", ".join(b.shape) + ")" for b in param_buffers(ir)}


# Kernel symbols carry the user's names through symbol_name (escaped where they could meet a generated name);
# parameters keep the user's names, which only the API and the params dict see.
def _states(ir: CellIR, role: str, prefix: str = "") -> list[Buffer]:
    return [Buffer(f"{prefix}{symbol_name(s)}", role, ("B", "H"), j) for j, s in enumerate(ir.states)]


def _tape(ir: CellIR) -> list[Buffer]:
    return [Buffer(name, "tape", ("B", "H"), k) for k, name in enumerate(ir.tape)]


def _units(ir: CellIR, role: str, prefix: str = "") -> list[Buffer]:
    return [Buffer(f"{prefix}{symbol_name(n)}", role, ("H",), k) for k, n in enumerate(ir.unit_params)]


def forward_buffers(ir: CellIR) -> tuple[Buffer, ...]:
    """What the forward kernels read and write, by kernel symbol (a tape value is also ``tape_<name>``, the raw
    copy of a gate's part). In the forward, gi and gh are always the live products of the step."""
    tape = _tape(ir)
    return tuple([*_states(ir, "state"), *_states(ir, "next_state", "next_"), *tape,
                  *(Buffer(f"tape_{b.symbol}", b.role, b.shape, b.slot) for b in tape), *_units(ir, "unit_param"),
                  *(Buffer(f"gi_{symbol_name(g)}", "gate_input", ("B", "H"), k) for k, g in enumerate(ir.gates)),
                  *(Buffer(f"gh_{symbol_name(g)}", "gate_hidden", ("B", "H"), k) for k, g in enumerate(ir.gates))])


def backward_buffers(ir: CellIR) -> tuple[Buffer, ...]:
    """What the backward kernels read and write, by kernel symbol."""
    return tuple([
        *_states(ir, "state_grad", "d_"),
        *(Buffer(f"dm_{symbol_name(g)}", "hidden_input_grad", ("B", "H"), j) for j, g in enumerate(ir.stage2_gates)),
        *_states(ir, "state"), *_states(ir, "next_state", "next_"), *_tape(ir),
        *(Buffer(f"dgi_{symbol_name(g)}", "gate_input", ("B", "H"), k) for k, g in enumerate(ir.gates)),
        *(Buffer(f"dgh_{symbol_name(g)}", "gate_hidden", ("B", "H"), k) for k, g in enumerate(ir.gates)),
        *_states(ir, "state_grad_prev", "ds_"), *_units(ir, "unit_param"), *_units(ir, "unit_param_grad", "dp_"),
    ])


def extra_seq_states(ir: CellIR) -> tuple[str, ...]:
    """The states beyond h whose whole sequence the tape keeps after its slots (h's sequence is y)."""
    return tuple(s for s in ir.states if s != "h" and s in ir.seq_states)


__all__ = ["BIASES", "STANDARD", "Buffer", "backward_buffers", "backward_param_buffers", "extra_seq_states",
           "forward_buffers", "param_buffers", "param_shapes"]
