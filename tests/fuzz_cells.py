"""Random valid cells from a small grammar, and the checks every generated cell must pass.

A drawn cell is a CellSpec: plain data (names and an expression tree), so a failing draw prints as a
readable spec and can be rebuilt in another process. The grammar (docs/cells.md shows one cell that uses
all of it):

- 1-3 states (``h`` first), 1-5 gates, 0-2 per-unit parameters, with or without a recurrent matrix;
- every gate is an activation of its pre-activation ``a.g``, of ``a.g`` plus a parameter times a state, or
  of ``a.ih.g + v * a.hh.g`` with v an earlier gate's value (GRU's reset);
- optionally the last gate is a second stage: its recurrent matrix multiplies ``hidden_input``, a product
  of a state and a first-stage gate (GRU v3);
- each new state is a tree of sums, products and differences of gates, old states, constants and
  activations of them;
- every name is random, drawn often from the generated code's own names (d_h, next_h, T, numpy, ...).

check_cell runs one spec through validation, generation (NumPy and C into a folder), both loaded
kernels, float64 central differences (eps 1e-6, rtol 1e-6 plus a round-off floor of 1e-9 times the
loss's absolute scale, as tests/test_contract_gradients.py), NumPy against C, the symbolic one-step
Jacobian against central differences of the generated step, and regeneration byte for byte.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from pathlib import Path

import numpy
import sympy
from hypothesis import strategies as st
from symcell.derive import Cell, CellError, relu, sigmoid, tanh, validate

from tests.conftest import gradients, loss_terms, make_problem
from tests.test_contract_gradients import ATOL_PER_LOSS_SCALE, RTOL, _central_differences

#: Names the generator itself uses or derives (and near misses): a user may pick any of them.
HOSTILE = ("d_h", "d_c", "DP", "DS", "D", "T", "N", "S", "P", "H", "numpy", "next_h", "next_c", "gi_f", "gh",
           "gi", "dgi", "a_f", "m_r", "ds_h", "dp_w", "tape_i", "pre_f", "_t0", "_", "u_T", "u_", "sigmoid0",
           "tanh_f", "sigmoid_h", "relu1", "int", "double", "exp", "sc_u", "sc_g", "x", "y", "W", "W_r", "t",
           "seq", "spare", "i", "f", "g", "o", "c", "n", "r", "z", "w")
RESERVED_PARAMS = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}
IDENT = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,7}\Z", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and s != "h" and s not in RESERVED_PARAMS)
NAME = st.one_of(st.sampled_from(HOSTILE).filter(lambda s: s != "h"), IDENT)
ACTS = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu}
CONSTS = (1, 2, -1, "1/2")  # strings sympify exactly, and a spec's repr stays exact

#: The messages of registration's rules (docs/cells.md states each). A drawn cell that registration
#: refuses must be refused by one of these.
RULES = ("is declared but its input part", "is declared but its hidden part", "is declared but never used")


@dataclass(frozen=True)
class CellSpec:
    """A cell as data. Trees: ("gate", k), ("state", j), ("const", c), ("act", name, tree),
    ("add" | "sub" | "mul", tree, tree). A gate is (activation, form, extra): form "sum" (act(a.g)),
    "param" (act(a.g + p_extra[0] * state extra[1])) or "split" (act(a.ih.g + gate extra * a.hh.g))."""

    name: str
    states: tuple[str, ...]
    gates: tuple[str, ...]
    unit_params: tuple[str, ...]
    recurrent_matrix: bool
    gate_defs: tuple[tuple, ...]
    updates: tuple[tuple, ...]
    hidden: tuple | None  # (state index, first-stage gate index) for the last gate, or None

    def cell(self) -> Cell:
        """A Cell instance (never registered) computing this spec."""
        spec = self

        class Fuzzed(Cell):
            """A cell drawn by tests/fuzz_cells.py."""

            name = spec.name
            states = spec.states
            gates = spec.gates
            unit_params = spec.unit_params
            recurrent_matrix = spec.recurrent_matrix
            citation = "tests/fuzz_cells.py"

            def update(self, s, a):
                values = spec.gate_values(self, s, a)
                return {n: spec.tree(t, s, values) for n, t in zip(spec.states, spec.updates, strict=True)}

            def hidden_input(self, s, a):
                if spec.hidden is None:
                    return {}
                j, k = spec.hidden
                return {spec.gates[-1]: getattr(s, spec.states[j]) * spec.gate_values(self, s, a)[k]}

        return Fuzzed()

    def gate_values(self, cell, s, a) -> list:
        values = []
        for g, (act, form, extra) in zip(self.gates, self.gate_defs, strict=True):
            if form == "param":
                arg = getattr(a, g) + getattr(cell.p, self.unit_params[extra[0]]) * getattr(s, self.states[extra[1]])
            elif form == "split":
                arg = getattr(a.ih, g) + values[extra] * getattr(a.hh, g)
            else:
                arg = getattr(a, g)
            values.append(ACTS[act](arg))
        return values

    def tree(self, t, s, values):
        kind = t[0]
        if kind == "gate":
            return values[t[1]]
        if kind == "state":
            return getattr(s, self.states[t[1]])
        if kind == "const":
            return sympy.sympify(t[1])
        if kind == "act":
            return ACTS[t[1]](self.tree(t[2], s, values))
        left, right = self.tree(t[1], s, values), self.tree(t[2], s, values)
        return {"add": left + right, "sub": left - right, "mul": left * right}[kind]


def _trees(n_states: int, n_gates: int):
    leaf = st.one_of(st.tuples(st.just("gate"), st.integers(0, n_gates - 1)),
                     st.tuples(st.just("state"), st.integers(0, n_states - 1)),
                     st.tuples(st.just("const"), st.sampled_from(CONSTS)))

    def extend(inner):
        return st.one_of(st.tuples(st.sampled_from(("add", "sub", "mul")), inner, inner),
                         st.tuples(st.just("act"), st.sampled_from(sorted(ACTS)), inner))

    return st.recursive(leaf, extend, max_leaves=5)


def _gate_uses(t) -> set[int]:
    if t[0] == "gate":
        return {t[1]}
    if t[0] in ("state", "const"):
        return set()
    return set().union(*(_gate_uses(x) for x in t[1:] if isinstance(x, tuple)))


@st.composite
def cell_specs(draw, name: str = "fuzzed") -> CellSpec:
    """A random CellSpec: distinct random names, every gate and parameter used (SymPy may still cancel one:
    registration then refuses the cell with one of RULES)."""
    n_states, n_gates, n_params = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(0, 2))
    names = draw(st.lists(NAME, min_size=n_states - 1 + n_gates + n_params, max_size=n_states - 1 + n_gates + n_params,
                          unique=True))
    states = ("h", *names[:n_states - 1])
    gates = tuple(names[n_states - 1:n_states - 1 + n_gates])
    params = tuple(names[n_states - 1 + n_gates:])
    recurrent = draw(st.booleans()) if n_params else draw(st.sampled_from((True, True, True, False)))
    gate_defs = []
    for k in range(n_gates):
        forms = ["sum", "sum"] + (["param"] if params else []) + (["split"] if k else [])
        form = draw(st.sampled_from(forms))
        extra = None
        if form == "param":
            extra = (draw(st.integers(0, n_params - 1)), draw(st.integers(0, n_states - 1)))
        elif form == "split":
            extra = draw(st.integers(0, k - 1))
        gate_defs.append((draw(st.sampled_from(sorted(ACTS))), form, extra))
    hidden = None
    if recurrent and n_gates > 1 and draw(st.booleans()):
        hidden = (draw(st.integers(0, n_states - 1)), draw(st.integers(0, n_gates - 2)))
        if gate_defs[-1][1] == "split" or any(d[1] == "split" and d[2] == n_gates - 1 for d in gate_defs):
            gate_defs[-1] = (gate_defs[-1][0], "sum", None)
    trees = [draw(_trees(n_states, n_gates)) for _ in states]
    used = set().union(*map(_gate_uses, trees)) | {d[2] for d in gate_defs if d[1] == "split"}
    if hidden:
        used.add(hidden[1])
    for k in range(n_gates):  # every gate reaches a new state: the unused ones are added into h'
        if k not in used:
            trees[0] = ("add", trees[0], ("gate", k))
    used_params = {d[2][0] for d in gate_defs if d[1] == "param"}
    for p in range(n_params):  # every parameter is read: the unused ones scale h in the first gate
        if p not in used_params:
            gate_defs[0] = (gate_defs[0][0], "param", (p, 0))
            used_params = {p}
    params = tuple(params[p] for p in sorted(used_params))
    gate_defs = [(a, f, (sorted(used_params).index(e[0]), e[1]) if f == "param" else e) for a, f, e in gate_defs]
    return CellSpec(name, states, gates, params, recurrent, tuple(gate_defs), tuple(trees), hidden)


# --- the checks ------------------------------------------------------------------------------------------
def generated_files(cell: Cell) -> dict[str, str]:
    """The NumPy and C files generation writes for one (unregistered) cell."""
    from symcell.codegen.c import c_files
    from symcell.codegen.generate import numpy_files
    from symcell.codegen.ir import lower

    ir = lower(cell)
    return numpy_files([ir]) | c_files([ir])


def check_cell(spec: CellSpec, out: Path, rng_seed: int = 0, c: bool = True) -> str:
    """Run every check on ``spec``; return "refused: <rule>" or "ok". Raises AssertionError on a failure."""
    from symcell.derive import jacobian_numeric

    import symcell
    cell = spec.cell()
    try:
        validate(cell)
    except CellError as err:
        rule = next((r for r in RULES if r in str(err)), None)
        assert rule is not None, f"registration refused the cell for a reason docs/cells.md does not state: {err}"
        return f"refused: {rule}"
    files = generated_files(cell)
    again = generated_files(spec.cell())
    changed = sorted(rel for rel in files if again.get(rel) != files[rel])
    if changed:
        import difflib

        old, new = files[changed[0]].splitlines(True), again[changed[0]].splitlines(True)
        diff = "".join(list(difflib.unified_diff(old, new))[:30])
        raise AssertionError(f"regeneration is not byte-identical: {changed}\n{diff}")
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    k = symcell.load(spec.name, path=out)
    assert k.STATES == spec.states and k.GATES == spec.gates
    sizes = (3, 2, 2, 3)
    p = make_problem(k, sizes, rng_seed)
    grads = gradients(k, p)
    fd = _central_differences(k, p)
    assert set(grads) == set(fd)
    atol = ATOL_PER_LOSS_SCALE * numpy.abs(loss_terms(k, p)).sum()
    for name, want in fd.items():
        err = numpy.abs(grads[name] - want)
        assert numpy.all(err <= RTOL * numpy.abs(want) + atol), f"NumPy d L/d {name}: max error {err.max():.3g}"
    if c:
        kc = symcell.load(spec.name, "c", path=out)
        assert kc.STATES == spec.states and kc.GATES == spec.gates
        (y1, s1), (y2, s2) = k.forward(p.x, p.params, p.state0), kc.forward(p.x, p.params, p.state0)
        scale = max(1.0, numpy.abs(y1).max())
        assert numpy.allclose(y1, y2, rtol=1e-12, atol=1e-12 * scale), "C forward differs from NumPy"
        for a, b in zip(s1, s2, strict=True):
            assert numpy.allclose(a, b, rtol=1e-12, atol=1e-12 * max(1.0, numpy.abs(a).max())), "C state differs"
        gc = gradients(kc, p)
        for name, want in grads.items():
            tol = 1e-10 * max(1.0, numpy.abs(want).max())
            assert numpy.allclose(gc[name], want, rtol=1e-10, atol=tol), f"C d L/d {name} differs from NumPy"
    # the symbolic one-step Jacobian against central differences of the generated step
    x = p.x[0]
    state = p.state0
    J = jacobian_numeric(cell, p.params, x, state)
    S, B, H = len(spec.states), x.shape[0], state[0].shape[1]
    fdj = numpy.empty((B, S * H, S * H))
    eps = 1e-6
    for j in range(S):
        for u in range(H):
            plus = [s.copy() for s in state]
            minus = [s.copy() for s in state]
            plus[j][:, u] += eps
            minus[j][:, u] -= eps
            up, dn = k.step(x, p.params, tuple(plus)), k.step(x, p.params, tuple(minus))
            fdj[:, :, j * H + u] = numpy.concatenate([(a - b) / (2 * eps) for a, b in zip(up, dn, strict=True)], axis=1)
    scale = max(1.0, numpy.abs(fdj).max())
    assert numpy.allclose(J, fdj, rtol=1e-6, atol=1e-8 * scale), (
        f"symbolic Jacobian differs from central differences: max error {numpy.abs(J - fdj).max():.3g}")
    return "ok"


def main(argv=None) -> int:
    """``python -m tests.fuzz_cells --cells N [--seed S] [--no-c]``: draw N cells and check every one; print the
    seed, and each failing cell's spec and error (the spec is Python: CellSpec(...) rebuilds it). Exit 1 on any."""
    import argparse
    import os
    import random
    import tempfile
    import time
    import traceback

    from hypothesis import HealthCheck, given, seed, settings

    parser = argparse.ArgumentParser(prog="python -m tests.fuzz_cells")
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-c", action="store_true", help="NumPy only (no C compiler)")
    args = parser.parse_args(argv)
    run_seed = random.SystemRandom().randrange(2**32) if args.seed is None else args.seed
    os.environ.setdefault("SYMCELL_CFLAGS", "-O1")
    print(f"fuzz seed {run_seed}: {args.cells} cells", flush=True)
    counts: dict[str, int] = {}
    failures: list[str] = []
    start = time.time()

    @seed(run_seed)
    @settings(max_examples=args.cells, database=None, derandomize=False, deadline=None, phases=["generate"],
              suppress_health_check=list(HealthCheck))
    @given(spec=cell_specs())
    def one(spec):
        with tempfile.TemporaryDirectory() as folder:
            try:
                result = check_cell(spec, Path(folder), c=not args.no_c)
            except Exception as err:  # noqa: BLE001 - every failure is recorded, the run goes on
                result = f"FAIL {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                failures.append(f"{spec!r}\n{traceback.format_exc()}")
                print(f"seed {run_seed}: {result}\n  {spec!r}", flush=True)
        counts[result] = counts.get(result, 0) + 1

    one()
    print(f"fuzz seed {run_seed}: {sum(counts.values())} cells drawn in {time.time() - start:.0f} s: "
          + ", ".join(f"{n} {r}" for r, n in sorted(counts.items())), flush=True)
    for f in failures:
        print(f)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
