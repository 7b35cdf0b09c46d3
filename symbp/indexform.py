"""The general rules of a layer of any width, derived by SymPy on indexed sums.

Widths are symbols (K units feed layer l, which has J units and feeds M units), weights
and outputs are IndexedBase objects, and every derivative is ``sympy.diff`` of a Sum
followed by ``doit``. Per-unit rules are these results with the indices instantiated.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import sympy as sp

from .activations import get_activation, proves_derivative
from .losses import get_loss, scale

j, k, m, i = sp.symbols("j k m i", integer=True, positive=True)
K, J, M = sp.symbols("K J M", integer=True, positive=True)   # widths of layers l-1, l, l+1
N = sp.Symbol("N", integer=True, positive=True)

@dataclass(frozen=True)
class Role:
    """What an indexed base of the general rules stands for, relative to the layer l in hand.

    ``layer`` is the offset of the layer it belongs to (w_next: +1); ``src`` is the offset of
    the layer a weight reads, None for the chain (the layer below it).
    """

    kind: str               # "w", "b", "y", "v", "delta", "t", "e"
    layer: int = 0
    src: int | None = None


# The chain's roles keep their short names; roles of other connections are made on demand.
ROLE_TABLE: dict[str, Role] = {
    "w": Role("w"), "w_next": Role("w", 1), "b": Role("b"), "b_next": Role("b", 1),
    "y_prev": Role("y", -1), "y": Role("y"), "v": Role("v"), "v_next": Role("v", 1),
    "delta": Role("delta"), "delta_next": Role("delta", 1), "t": Role("t"), "e": Role("e"),
}
ROLES = tuple(ROLE_TABLE)
B = {role: sp.IndexedBase(role, real=True) for role in ROLES}


def base(kind: str, layer: int = 0, src: int | None = None) -> sp.IndexedBase:
    """The indexed base of a role, e.g. base("w", 2, 0): the skip weights from l into l + 2."""
    role = Role(kind, layer, src)
    for label, known in ROLE_TABLE.items():
        if known == role:
            return B[label]
    label = f"{kind}@{layer}" + ("" if src is None else f",{src}")
    ROLE_TABLE[label] = role
    B[label] = sp.IndexedBase(label, real=True)
    return B[label]


def role(label: str) -> Role:
    """The role of an indexed base's label (KeyError for a label no rule uses)."""
    return ROLE_TABLE[label]


_INDEX_SYMBOLS = {j, k, m, i, K, J, M}


def in_range(expr: sp.Expr) -> sp.Expr:
    """Keep the in-range branch of Piecewise((value, k <= K), (other, True)).

    SymPy guards each KroneckerDelta sum with the index range; every index of a rule
    lies in its layer's range, so the first branch is the rule. Only such guards are
    dropped: a Piecewise whose condition reads anything but indices and widths (an
    activation defined piecewise) is part of the rule and stays.
    """
    def is_guard(e) -> bool:
        if not isinstance(e, sp.Piecewise) or e.args[0].cond.free_symbols == set():
            return False
        return all(s in _INDEX_SYMBOLS or s.name.startswith("M_") for s in e.args[0].cond.free_symbols)
    return expr.replace(is_guard, lambda e: e.args[0].expr)


def net_input(bias_sign: int, bias: bool, nxt: bool = False, skips: tuple[int, ...] = ()) -> sp.Expr:
    """v_j = sum_i w_ji y_i (+ skips' sums) (+/-) b_j (or the next layer's v_m over this layer's outputs).

    ``skips`` are the offsets of the layers that reach layer l by a skip connection (-2: l - 2).
    """
    if nxt:
        total = sp.Sum(B["w_next"][m, i] * B["y"][i], (i, 1, J))
        return total + bias_sign * B["b_next"][m] if bias else total
    total = sp.Sum(B["w"][j, i] * B["y_prev"][i], (i, 1, K))
    for s in skips:
        total += sp.Sum(base("w", 0, s)[j, i] * base("y", s)[i], (i, 1, width(s)))
    return total + bias_sign * B["b"][j] if bias else total


def width(offset: int) -> sp.Symbol:
    """The width symbol of the layer at an offset from l: K below, J at l, M above (M_n for others)."""
    return {-1: K, 0: J, 1: M}.get(offset) or sp.Symbol(f"M_{offset}".replace("-", "m"), integer=True,
                                                        positive=True)


@dataclass(frozen=True)
class PathShape:
    """A path from y(l) to a weighted connection, in offsets from l (see graph.Path).

    ``via`` are the layers whose residual shortcuts carry y(l) on; the connection then runs
    from ``src`` (the last of them, or l itself) into ``dst``; ``skip`` when it is not the chain.
    """

    dst: int
    src: int = 0
    via: tuple[int, ...] = ()

    @property
    def skip(self) -> bool:
        return self.dst - self.src != 1

    @property
    def weight(self) -> sp.IndexedBase:
        return base("w", self.dst, self.src if self.skip else None)

    @property
    def delta(self) -> sp.IndexedBase:
        return base("delta", self.dst)


CHAIN_PATHS = (PathShape(1),)


def path_factor(path: PathShape, via_activations: tuple[str, ...]) -> sp.Expr:
    """dv_m/dy_j along one path: SymPy's derivative of the consumer's net input in y(l).

    Through a residual shortcut, y(r) = phi_r(v(r)) + y(l), so the consumer of r reads y(l) too.
    """
    carried = B["y"][i]
    for offset, name in zip(path.via, via_activations):
        carried = get_activation(name).function(base("v", offset)[i]) + carried
    v_def = sp.Sum(path.weight[m, i] * carried, (i, 1, J))
    return in_range(sp.diff(v_def, B["y"][j]).doit())


@dataclass(frozen=True)
class LayerRules:
    """General factors and rules around a layer l, with indices j (unit), k (input), m (next unit)."""

    dv_dw: sp.Expr          # d v_j / d w_jk
    dv_db: sp.Expr          # d v_j / d b_j
    dvnext_dy: sp.Expr      # d v_m^{(l+1)} / d y_j (the first path's)
    dy_dv: sp.Expr          # phi'(v_j), SymPy's derivative
    dy_dv_out: sp.Expr      # the same in terms of y_j (a checked identity), where y_j = phi(v_j)
    hidden_delta: sp.Expr   # delta_j = phi'(v_j) * sum over paths of sum_m delta_m w_mj (delta's own sign)
    paths: tuple[PathShape, ...] = CHAIN_PATHS
    path_factors: tuple[sp.Expr, ...] = ()
    skip_dv_dw: tuple[tuple[int, sp.Expr], ...] = ()   # (source offset, d v_j / d w^{(l,s)}_jk)


@cache
def layer_rules(activation: str, bias: bool, bias_sign: int, paths: tuple[PathShape, ...] = CHAIN_PATHS,
                via_activations: tuple[tuple[str, ...], ...] = ((),), output_form: bool = True,
                skips: tuple[int, ...] = ()) -> LayerRules:
    """Derive the factors of a hidden layer's chain rule once, for any width and any consumers.

    ``paths`` are the ways y(l) reaches later layers (one, into l + 1, on a chain);
    ``output_form`` is False where y(l) = phi(v(l)) + y(s), so phi' cannot be written in y(l);
    ``skips`` the offsets of the layers feeding l by skip connections.
    """
    act = get_activation(activation)
    v_def = net_input(bias_sign, bias, skips=skips)
    dv_dw = in_range(sp.diff(v_def, B["w"][j, k]).doit())
    dv_db = sp.diff(v_def, B["b"][j]).doit() if bias else sp.Integer(0)
    skip_dv_dw = tuple((s, in_range(sp.diff(v_def, base("w", 0, s)[j, k]).doit())) for s in skips)
    vj, yj = B["v"][j], B["y"][j]
    dy_dv = sp.diff(act.function(vj), vj) if act.elementwise else sp.nan
    own = act.derivative_in_output if act.elementwise else None
    dy_dv_out = own(yj, vj) if own is not None else (dy_dv if act.elementwise else sp.nan)
    if own is not None and not proves_derivative(act):
        dy_dv_out = dy_dv  # the output form is no identity of this derivative: keep phi'(v) as SymPy gives it
    if not output_form or own is None:
        dy_dv_out = dy_dv  # y_j is not phi(v_j) alone, or phi' has no form in y_j: phi' stays in v_j
    # Chain rule over every unit m of every consumer (the multivariable chain rule adds the
    # paths): dE/dy_j = sum_paths sum_m dE/dv_m dv_m/dy_j; with dE/dv = s delta (s = +/-1)
    # the signs cancel in delta_j = s dE/dv_j.
    factors = tuple(path_factor(p, a) for p, a in zip(paths, via_activations))
    terms = [sp.Sum(p.delta[m] * f, (m, 1, width(p.dst))) for p, f in zip(paths, factors)]
    hidden = dy_dv_out * sp.Add(*terms)
    return LayerRules(dv_dw, dv_db, factors[0], dy_dv, dy_dv_out, hidden, paths, factors, skip_dv_dw)


@dataclass(frozen=True)
class OutputRules:
    """The output layer's general delta rule, from differentiating the loss's indexed sum."""

    loss: sp.Expr           # E of one sample as an indexed sum over the outputs
    dE_dv: sp.Expr          # dE/dv_j before simplification
    dE_dv_simplified: sp.Expr
    delta: sp.Expr          # s * dE/dv_j
    assumption: str | None  # e.g. "targets sum to 1"


@cache
def output_rules(activation: str, loss_name: str, delta_sign: int, use_error: bool, mean: bool = False) -> OutputRules:
    """Derive the output delta for an output layer of any width M; ``mean``: the batch loss times 1/N."""
    act, loss = get_activation(activation), get_loss(loss_name)
    c = 1 / N if mean else scale(loss, N)     # mse is a mean already: reduction "mean" never divides twice
    y, t, e, _v = B["y"], B["t"], B["e"], B["v"]
    if use_error and loss.error_term is not None:
        E = c * sp.Sum(loss.error_term(e[m]), (m, 1, M))
        dE_dy = in_range(sp.diff(E, e[j]).doit()) * sp.diff(t[j] - y[j], y[j])
    else:
        E = c * sp.Sum(loss.term(y[m], t[m]), (m, 1, M))
        dE_dy = in_range(sp.diff(E, y[j]).doit())
    assumption = None
    if act.elementwise:
        rules = layer_rules(activation, True, 1)
        raw = dE_dy * rules.dy_dv_out
    else:
        # dE/dv_j = sum_m dE/dy_m dy_m/dv_j, with dy_m/dv_j the registry's proved identity.
        dE_dym = dE_dy.xreplace({j: m})
        dy_dv = act.derivative_in_output(y[m], y[j], False) + y[m] * sp.KroneckerDelta(m, j)
        raw = sp.Sum(sp.expand(dE_dym * dy_dv), (m, 1, M))
    simplified = _simplify(raw)
    if not act.elementwise:
        total = sp.Sum(t[m], (m, 1, M))
        simplified = sp.factor_terms(simplified).subs(total, 1)
        assumption = "the targets of a sample sum to 1"
    return OutputRules(E, raw, simplified, delta_sign * simplified, assumption)


def _simplify(expr: sp.Expr) -> sp.Expr:
    """Cancel fractions (sigmoid + bce) and evaluate sums; leave products as they are."""
    expr = in_range(expr.doit())
    if any(p.exp.is_negative and not (p.base.is_Number or p.base == N) for p in expr.atoms(sp.Pow)):
        return sp.factor(sp.cancel(expr))
    return expr


@cache
def _indexed(expr: sp.Expr) -> frozenset:
    return frozenset(expr.atoms(sp.Indexed))


def _unroll(s: sp.Sum) -> sp.Expr:
    """Sum(f(m), (m, 1, 3)) -> f(1) + f(2) + f(3); Sum.doit does the same, far more slowly."""
    (var, lo, hi), = s.limits
    return sp.Add(*[s.function.xreplace({var: sp.Integer(n)}) for n in range(int(lo), int(hi) + 1)])


def instantiate(expr: sp.Expr, indices: dict, widths: dict, symbol: Callable[[str, tuple], sp.Expr]) -> sp.Expr:
    """A general rule for concrete units: fix indices and widths, expand sums, name the entries."""
    if not expr.has(sp.Sum):
        # No sum to unroll: name each indexed entry straight away, without building the
        # concrete Indexed objects (their assumptions cost ~0.1 ms each; W can be 200,000).
        entries = {e: symbol(str(e.base.label), tuple(int(x.xreplace({**indices, **widths})) for x in e.indices))
                   for e in _indexed(expr)}
        return in_range(expr.xreplace({**entries, **indices, **widths}))
    concrete = in_range(expr.xreplace({**indices, **widths}).replace(
        lambda e: isinstance(e, sp.Sum), _unroll))
    return concrete.replace(lambda e: isinstance(e, sp.Indexed),
                            lambda e: symbol(str(e.base.label), tuple(int(x) for x in e.indices)))
