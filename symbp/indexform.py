"""The general rules of a layer of any width, derived by SymPy on indexed sums.

Widths are symbols (K units feed layer l, which has J units and feeds M units), weights
and outputs are IndexedBase objects, and every derivative is ``sympy.diff`` of a Sum
followed by ``doit``. Per-unit rules are these results with the indices instantiated.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import sympy as sp

from .activations import get_activation
from .losses import get_loss, scale

j, k, m, i = sp.symbols("j k m i", integer=True, positive=True)
K, J, M = sp.symbols("K J M", integer=True, positive=True)   # widths of layers l-1, l, l+1
N = sp.Symbol("N", integer=True, positive=True)

# Roles of the indexed quantities around layer l; printers give them the profile's letters.
ROLES = ("w", "w_next", "b", "b_next", "y_prev", "y", "v", "v_next", "delta", "delta_next", "t", "e")
B = {role: sp.IndexedBase(role, real=True) for role in ROLES}


def in_range(expr: sp.Expr) -> sp.Expr:
    """Keep the in-range branch of Piecewise((value, k <= K), (0, True)).

    SymPy guards each KroneckerDelta sum with the index range; every index of a rule
    lies in its layer's range, so the first branch is the rule.
    """
    return expr.replace(lambda e: isinstance(e, sp.Piecewise), lambda e: e.args[0].expr)


def net_input(bias_sign: int, bias: bool, nxt: bool = False) -> sp.Expr:
    """v_j = sum_i w_ji y_i (+/-) b_j (or the next layer's v_m over this layer's outputs)."""
    if nxt:
        total = sp.Sum(B["w_next"][m, i] * B["y"][i], (i, 1, J))
        return total + bias_sign * B["b_next"][m] if bias else total
    total = sp.Sum(B["w"][j, i] * B["y_prev"][i], (i, 1, K))
    return total + bias_sign * B["b"][j] if bias else total


@dataclass(frozen=True)
class LayerRules:
    """General factors and rules around a layer l, with indices j (unit), k (input), m (next unit)."""

    dv_dw: sp.Expr          # d v_j / d w_jk
    dv_db: sp.Expr          # d v_j / d b_j
    dvnext_dy: sp.Expr      # d v_m^{(l+1)} / d y_j
    dy_dv: sp.Expr          # phi'(v_j), SymPy's derivative
    dy_dv_out: sp.Expr      # the same in terms of y_j (a checked identity)
    hidden_delta: sp.Expr   # delta_j = phi'(v_j) * sum_m delta_m w_mj (in delta's own sign)


@lru_cache(maxsize=None)
def layer_rules(activation: str, bias: bool, bias_sign: int) -> LayerRules:
    """Derive the factors of a hidden layer's chain rule once, for any width."""
    act = get_activation(activation)
    v_def = net_input(bias_sign, bias)
    dv_dw = in_range(sp.diff(v_def, B["w"][j, k]).doit())
    dv_db = sp.diff(v_def, B["b"][j]).doit() if bias else sp.Integer(0)
    dvnext_dy = in_range(sp.diff(net_input(bias_sign, bias, nxt=True), B["y"][j]).doit())
    vj, yj = B["v"][j], B["y"][j]
    dy_dv = sp.diff(act.function(vj), vj) if act.elementwise else sp.nan
    dy_dv_out = (act.derivative_in_output(yj, vj) if act.elementwise else sp.nan)
    if act.elementwise and sp.simplify(dy_dv.xreplace({act.function(vj): yj}) - dy_dv_out) != 0:
        dy_dv_out = dy_dv  # no output form: keep phi'(v) as SymPy gives it
    # Chain rule over every unit m of the next layer: dE/dy_j = sum_m dE/dv_m dv_m/dy_j;
    # with dE/dv = s delta (s = +/-1) the signs cancel in delta_j = s dE/dv_j.
    hidden = dy_dv_out * sp.Sum(B["delta_next"][m] * dvnext_dy, (m, 1, M))
    return LayerRules(dv_dw, dv_db, dvnext_dy, dy_dv, dy_dv_out, hidden)


@dataclass(frozen=True)
class OutputRules:
    """The output layer's general delta rule, from differentiating the loss's indexed sum."""

    loss: sp.Expr           # E of one sample as an indexed sum over the outputs
    dE_dv: sp.Expr          # dE/dv_j before simplification
    dE_dv_simplified: sp.Expr
    delta: sp.Expr          # s * dE/dv_j
    assumption: str | None  # e.g. "targets sum to 1"


@lru_cache(maxsize=None)
def output_rules(activation: str, loss_name: str, delta_sign: int, use_error: bool) -> OutputRules:
    """Derive the output delta for an output layer of any width M."""
    act, loss = get_activation(activation), get_loss(loss_name)
    c = scale(loss, N)
    y, t, e, v = B["y"], B["t"], B["e"], B["v"]
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


@lru_cache(maxsize=None)
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
