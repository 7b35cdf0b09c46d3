"""The identifiers and functions a formula may use, and the random points where formulas are compared."""
from __future__ import annotations

import random
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from .. import notation as nt
from ..activations import ACTIVATIONS, Activation, derivative

# forms names the vectors and matrices of the matrix rules; verify reads the same names back.
from ..forms import _entries as matrix_entries
from ..forms import _input as input_vector
from ..forms import _vectors as layer_vectors
from ..network import Network
from ..printing import latex_names, to_latex
from .parse import ExpressionError

DIGITS = 50
EVAL_SECONDS = 1.0     # mpmath can spin on exp(exp(exp(99))): each evaluation is cut off
GENERIC = ("phi", "varphi", "f")       # the generic activation of any profile, applied to a net input


def _step(x: sp.Expr) -> sp.Expr:
    """step(v): relu's derivative H(v) with H(0) = 0, as symbp prints it."""
    return sp.Heaviside(x, 0)


# The few elementary functions a formula may call besides the activations; "'" marks those
# whose derivative may be written with a prime (exp'(v) is exp(v)).
ELEMENTARY: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "exp'": sp.exp, "log": sp.log, "ln": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs, "erf'": sp.erf,
    "tanh'": sp.tanh, "sech'": sp.sech, "cosh'": sp.cosh, "sinh'": sp.sinh, "step": _step,
}


def symbol_table(net: Network) -> dict[str, sp.Symbol]:
    """Every canonical identifier of ``net`` (plus ``y0_k`` for input k) -> its symbol."""
    table: dict[str, sp.Symbol] = {}
    groups = [net.x, net.params(), net.t, net.e, [net.eta, net.batch], net.training_symbols()]
    for grid in (net.v, net.y, net.delta):
        groups += [grid[l] for l in sorted(grid)]
    for group in groups:
        table.update({s.name: s for s in group})
    for k, x in enumerate(net.x, start=1):
        table[nt.out_id(net.profile, 0, k)] = x
    return table


def _net_inputs(net: Network) -> dict[sp.Symbol, tuple[int, int]]:
    return {v: (l, j) for l, vs in net.v.items() for j, v in enumerate(vs, start=1)}


def _rows(net: Network) -> list[Activation]:
    """Every elementwise activation row: the registry's, then any of the network's own."""
    rows = {a.name: a for a in (*ACTIVATIONS, *net.activations) if a.elementwise}
    return list(rows.values())


def fixed_functions(net: Network) -> dict[str, Callable[..., sp.Expr]]:
    """Each activation row by its name and aliases (with a primed derivative), and ELEMENTARY."""
    table: dict[str, Callable[..., sp.Expr]] = {}
    for act in _rows(net):
        for name in (act.name, *act.aliases):
            table[name], table[f"{name}'"] = act.function, _derivative_of(act.function)
    for key, fn in ELEMENTARY.items():
        name = key.rstrip("'")
        table.setdefault(name, fn)
        if key.endswith("'"):
            table.setdefault(f"{name}'", _derivative_of(fn))
    return table


def function_table(net: Network) -> dict[str, Callable[..., sp.Expr]]:
    """Function names a formula may call: fixed functions, and phi/f/sigma of a unit's net input."""
    units = _net_inputs(net)
    table = fixed_functions(net)
    generic = set(GENERIC) | {net.profile.activation}
    # The letter sigma: the unit's activation where the profile uses it so (ont, nielsen),
    # else the function of the activation row printed as sigma (the logistic function).
    sigma = _sigma(net)
    for name in generic | {"sigma"}:
        fallback = sigma if name == "sigma" else None
        if name in generic:
            table[name] = _generic(net, units, name, fallback, prime=False)
            table[f"{name}'"] = _generic(net, units, name, fallback, prime=True)
        elif fallback is not None:
            table[name], table[f"{name}'"] = fallback, _derivative_of(fallback)
    return table


def _sigma(net: Network) -> Callable[[sp.Expr], sp.Expr] | None:
    """The function of the activation row whose LaTeX is sigma (the logistic function)."""
    return next((a.function for a in _rows(net) if a.latex == r"\sigma"), None)


def _derivative_of(fn) -> Callable[[sp.Expr], sp.Expr]:
    def prime(arg: sp.Expr) -> sp.Expr:
        z = sp.Dummy("z", real=True)
        return sp.diff(fn(z), z).xreplace({z: arg})
    return prime


def _generic(net: Network, units, name: str, fallback, prime: bool) -> Callable[[sp.Expr], sp.Expr]:
    """phi(v2_1) is the activation of layer 2 at v2_1; phi'(v2_1) its derivative there."""
    def apply(arg: sp.Expr) -> sp.Expr:
        if arg in units:
            layer, j = units[arg]
            act = net.activation(layer)
            if not prime:
                return activation_of(net, layer, j)
            if not act.elementwise:
                raise ExpressionError(f"{act.name} is not elementwise; write its derivative out")
            return derivative(act, arg)
        if fallback is not None:
            return _derivative_of(fallback)(arg) if prime else fallback(arg)
        raise ExpressionError(f"{name} applies to a unit's net input, such as "
                              f"{nt.net_id(net.profile, net.depth, 1)}, not to {arg}")
    return apply


def activation_of(net: Network, layer: int, j: int) -> sp.Expr:
    """phi(v_j) of unit j (1-based): the activation alone, without a residual shortcut's y(s)."""
    act, v = net.activation(layer), net.v[layer]
    return act.function(v[j - 1]) if act.elementwise else act.function(v, j - 1)


def output_symbols(net: Network) -> dict[sp.Expr, sp.Symbol]:
    """{phi(v_j): y_j} for elementwise, non-identity layers: a formula in phi(v) back in outputs.

    A layer a residual shortcut adds to has y_j = phi(v_j) + y_j(s): phi(v_j) stays as it is.
    """
    out = {}
    for l in net.graph.order:
        if not net.activation(l).elementwise or net.graph.is_shortcut_target(l):
            continue
        for j in net.units(l):
            fv = net.output(l, j)
            if fv != net.v[l][j - 1]:
                out[fv] = net.y[l][j - 1]
    return out


@lru_cache(maxsize=8)
def matrix_symbols(net: Network) -> dict[sp.MatrixSymbol, sp.ImmutableMatrix]:
    """Every vector and matrix of the matrix form -> its entries: v1, y1, delta1, W3, W3_1, x, d, e, b1.

    Named as the matrix rules name them (W3_1 for the skip matrix from layer 1 into 3); the
    bias vectors by their params keys; y0 is x, as y0_k is x_k.
    """
    out = dict(matrix_entries(net))
    column = lambda symbols: sp.ImmutableMatrix(len(symbols), 1, list(symbols))     # noqa: E731
    for bs in net.b.values():
        key = net.positions[bs[0].name].key
        out[sp.MatrixSymbol(key, len(bs), 1)] = column(bs)
    out[layer_vectors(net, 0)["y"]] = out[input_vector(net)]
    return out


@lru_cache(maxsize=8)
def matrix_table(net: Network) -> dict[str, sp.ImmutableMatrix]:
    """The names of ``matrix_symbols`` -> their entries, as a formula refers to them."""
    return {m.name: e for m, e in matrix_symbols(net).items()}


# -- a batch of samples: every per-sample quantity once per sample -----------------------------

MAX_BATCH = 16


def per_sample(net: Network) -> list[sp.Symbol]:
    """The quantities each sample has its own of: inputs, targets, errors, net inputs, outputs, deltas."""
    out = [*net.x, *net.t, *net.e]
    for grid in (net.v, net.y, net.delta):
        out += [s for l in sorted(grid) for s in grid[l]]
    return out


@lru_cache(maxsize=8)
def sample_copies(net: Network, size: int) -> tuple[dict[sp.Symbol, sp.Symbol], ...]:
    """For samples n = 1..size: each per-sample symbol -> its copy of sample n, named y1_2(n)."""
    symbols = per_sample(net)
    return tuple({s: sp.Symbol(f"{s.name}({n})", real=True) for s in symbols} for n in range(1, size + 1))


@lru_cache(maxsize=8)
def batch_matrices(net: Network, size: int) -> dict[sp.MatrixSymbol, sp.ImmutableMatrix]:
    """``matrix_symbols`` over a batch: a per-sample vector (x, d, y1, delta2) becomes a matrix with one
    column per sample, as a batch's arrays are written in the matrix form; W and b stay as they are."""
    copies, own = sample_copies(net, size), set(per_sample(net))
    out = {}
    for m, entries in matrix_symbols(net).items():
        if entries.cols == 1 and set(entries) <= own:
            entries = sp.ImmutableMatrix(entries.rows, size, [copies[n][e] for e in entries for n in range(size)])
        out[m] = entries
    return out


# -- points ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """Values of the free quantities (inputs, parameters, targets, eta, N) and the forward pass."""

    free: dict[sp.Symbol, sp.Float]
    units: dict[sp.Symbol, sp.Float]

    @property
    def values(self) -> dict[sp.Symbol, sp.Float]:
        return {**self.free, **self.units}


def _value(rng: random.Random, low: float, high: float) -> sp.Rational:
    """A short, nonzero decimal: readable in a counterexample, exact for 50-digit arithmetic."""
    while True:
        k = rng.randint(round(low * 1000), round(high * 1000))
        if k:
            return sp.Rational(k, 1000)


def sample_points(net: Network, count: int = 4, seed: int = 0) -> list[Point]:
    """``count`` reproducible random points; softmax + ce targets sum to 1."""
    rng = random.Random(seed)
    return [_point(net, rng) for _ in range(count)]


def batch_points(net: Network, size: int, count: int = 4, seed: int = 0) -> list[Point]:
    """``count`` reproducible points of a batch of ``size`` samples: shared parameters, and each sample's
    own inputs and targets with its forward pass, in the symbols of ``sample_copies``."""
    rng, copies, own = random.Random(seed), sample_copies(net, size), set(per_sample(net))
    points = []
    for _ in range(count):
        first = _point(net, rng)
        free = {s: v for s, v in first.free.items() if s not in own}
        free[net.batch] = sp.Integer(size)
        units = {}
        for n, copy in enumerate(copies):
            sample = first if n == 0 else _point(net, rng, keep=free)
            free.update({copy[s]: v for s, v in sample.free.items() if s in own})
            units.update({copy[s]: v for s, v in sample.units.items()})
        points.append(Point(free, units))
    return points


def _point(net: Network, rng: random.Random, keep: dict | None = None) -> Point:
    """A random point; ``keep`` holds values (a batch's shared parameters) that override those drawn."""
    free: dict[sp.Symbol, sp.Expr] = {x: _value(rng, -1, 1) for x in net.x}
    free.update({p: _value(rng, -1, 1) for p in net.params()})
    targets = [_value(rng, 0.05, 0.95) for _ in net.t]
    if net.target_constraint():
        total = sum(targets)
        targets = [t / total for t in targets]
    free.update(zip(net.t, targets))
    free[net.eta] = _value(rng, 0.05, 0.95)
    free[net.batch] = sp.Integer(rng.randint(2, 5))
    # [training]: lambda and alpha in (0, 1), a previous step Delta p(n-1) of either sign
    free.update({s: _value(rng, -1, 1) if s.name.endswith("_prev") else _value(rng, 0.05, 0.95)
                 for s in net.training_symbols()})
    free.update({s: v for s, v in (keep or {}).items() if s in free})
    units: dict[sp.Symbol, sp.Expr] = {}
    for l in range(1, net.depth + 1):
        for j in net.units(l):
            units[net.v[l][j - 1]] = sp.Float(net.net_input(l, j).xreplace(free).xreplace(units), DIGITS)
        for j in net.units(l):
            units[net.y[l][j - 1]] = sp.Float(net.output(l, j).xreplace(units).evalf(DIGITS), DIGITS)
    floats = {s: sp.Float(v, DIGITS) if not v.is_Integer else v for s, v in free.items()}
    return Point(floats, units)


class Timeout(Exception):
    """Raised inside ``time_limit`` when the time is up."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Timeout after ``seconds`` (SIGALRM: POSIX main thread only; elsewhere no limit)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise Timeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def evaluate(expr, point: Point):
    """``expr`` (in unit symbols) at ``point`` to 50 digits; None where undefined, not real or too slow.

    A matrix evaluates entry by entry (None if any entry is undefined).
    """
    if isinstance(expr, sp.MatrixBase):
        values = [evaluate(e, point) for e in expr]
        return None if any(v is None for v in values) else sp.ImmutableMatrix(*expr.shape, values)
    try:
        with time_limit(EVAL_SECONDS):
            value = sp.N(expr.xreplace(point.values), DIGITS)
    except (ZeroDivisionError, ValueError, TypeError, OverflowError, RecursionError, Timeout):
        return None
    if not value.is_Number or value.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or not value.is_real:
        return None
    return value


def close(a, b, floor: float = 1e-40) -> bool:
    """Equal to ~30 significant digits (the points are exact, the arithmetic has 50); matrices entrywise."""
    if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
        return (isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase) and a.shape == b.shape
                and all(close(x, y, floor) for x, y in zip(a, b)))
    # Relative, with a tiny absolute floor: 50-digit cancellation leaves ~1e-50, not 1e-40.
    return abs(a - b) <= sp.Float("1e-30", DIGITS) * max(abs(a), abs(b)) + sp.Float(floor, DIGITS)


def relevant_values(exprs, point: Point, net: Network) -> dict[str, float]:
    """The values a counterexample needs: used free symbols, used units and what those depend on."""
    forward = net.forward_substitution()
    used: set[sp.Symbol] = set()
    for expr in exprs:
        for s in expr.free_symbols:
            used.add(s)
            if s in forward:
                used |= forward[s].free_symbols
    values = point.values
    order = {s: i for i, s in enumerate(values)}
    return {s.name: float(values[s]) for s in sorted(used & set(values), key=order.get)}


def tex_names(net) -> dict[str, str]:
    """Each identifier's LaTeX in ``net``'s notation, [training]'s alpha, lambda and Delta w(n-1) included (which
    latex_names, the notes' table of the network's own quantities, leaves out): how a message names a point."""
    names = {s.name: tex for s, tex in latex_names(net).items()}
    names.update({s.name: to_latex(s, net) for s in net.training_symbols()})
    return names


def number_text(value) -> str:
    """A value of a counterexample as its message prints it: ten digits, or undefined."""
    return "undefined" if value is None else f"{float(value):.10g}"


def point_text(values: dict, keys, names: dict[str, str] | None = None) -> str:
    """The point of a counterexample, ``x1 = 0.5, w2_1_1 = -0.3``: the ``keys`` of ``values``, each
    identifier printed by ``names`` where it has an entry."""
    names = names or {}
    return ", ".join(f"{names.get(k, k)} = {values[k]:.6g}" for k in keys)


def symbol_listing(net: Network) -> str:
    """`symbp verify NET --list-symbols`: every identifier with its meaning, layer by layer."""
    p = net.profile
    rows = [(x.name, f"input {k} (also {nt.out_id(p, 0, k)})") for k, x in enumerate(net.x, start=1)]
    for l in net.graph.order:
        kind = "output" if l == net.depth else "hidden"
        for j in net.units(l):
            rows.append((net.v[l][j - 1].name, f"net input of unit {j}, layer {l} ({kind})"))
            rows.append((net.y[l][j - 1].name, f"output of unit {j}, layer {l} ({kind}){_shortcut_note(net, l, j)}"))
            rows.append((net.delta[l][j - 1].name, f"local gradient of unit {j}, layer {l}: {p.delta_definition}"))
            for c in net.graph.inputs(l):
                via = "" if c.kind == "chain" else f" (skip connection {c.key})"
                rows += [(w.name, f"weight into unit {j} of layer {l} from unit {k} of layer {c.src}{via}")
                         for k, w in enumerate(net.weights[c][j - 1], start=1)]
            if net.bias:
                rows.append((net.b[l][j - 1].name, f"bias of unit {j}, layer {l} (sign {net.spec.bias_sign})"))
    rows += [(t.name, f"target of output {j}") for j, t in enumerate(net.t, start=1)]
    rows += [(e.name, f"error of output {j}: {net.error(j)}") for j, e in enumerate(net.e, start=1)]
    rows += [("eta", "learning rate"), ("N", "number of samples in the batch")]
    rows += _training_rows(net)
    rows += [(m.name, f"{m.rows} x {m.cols} {'vector' if m.cols == 1 else 'matrix'} of "
                      f"{', '.join(e.name for e in _ends(entries))}")
             for m, entries in matrix_symbols(net).items()]
    names = sorted({n.rstrip("'") for n in fixed_functions(net)})
    fns = (f"functions: {' '.join(names)}; {', '.join(sorted(set(GENERIC) | {p.activation}))} (the unit's "
           "activation); a prime for the derivative, e.g. phi'(v1_2)")
    layer_level = ("a layer's answer (--param with a vector or matrix name above): @ the matrix product, "
                   "* + - ** entry by entry, .T the transpose, M.sum(axis=1) the sum along each row; with "
                   "--batch N every per-sample vector has one column per sample (delta2 is n_2 x N)")
    width = max(len(n) for n, _ in rows)
    return "\n".join(f"{n:<{width}}  {m}" for n, m in rows) + "\n" + fns + "\n" + layer_level


def _training_rows(net: Network) -> list[tuple[str, str]]:
    """lam, alpha and the previous steps d{param}_prev, where [training] uses them."""
    t, rows = net.training, []
    if t.weight_decay:
        rows.append(("lam", f"weight decay lambda (E + lam/2 sum w^2; {t.weight_decay:g} in this network)"))
    if t.momentum:
        rows.append(("alpha", f"momentum constant ({t.momentum:g} in this network)"))
        prev = [net.previous(p).name for p in net.params()]
        rows.append((prev[0] if len(prev) == 1 else f"{prev[0]} ... {prev[-1]}",
                     "the previous step Delta p(n-1) of each parameter p: d{p}_prev"))
    return rows


def _shortcut_note(net: Network, layer: int, j: int) -> str:
    adds = [net.y[c.src][j - 1].name for c in net.graph.shortcuts(layer)]
    phi = f"{net.profile.activation}({net.v[layer][j - 1].name})"
    return f" = {phi} + {' + '.join(adds)} (residual shortcut)" if adds else ""


def _ends(entries: sp.ImmutableMatrix) -> list[sp.Symbol]:
    """The first and last entries of a vector or matrix (all of them when there are at most two)."""
    flat = list(entries)
    return flat if len(flat) <= 2 else [flat[0], sp.Symbol("..."), flat[-1]]
