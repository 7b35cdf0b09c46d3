"""Every derived rule against sympy.diff of the explicit loss: symbolic when small, 50 digits when large."""
from __future__ import annotations

import random
from dataclasses import dataclass

import sympy as sp

from .errors import SelfCheckError

SYMBOLIC_MAX_PARAMS = 60   # beyond this, differentiating the expanded loss per weight is O(W^2)
EXPAND_MAX_OPS = 3000      # larger differences are decided at 50-digit points only
DIGITS = 50
TOLERANCE = 1e-35


@dataclass(frozen=True)
class CheckReport:
    """How the rules were checked: ``method`` is "symbolic" or "numeric", ``checked`` counts rules."""

    method: str
    checked: int
    points: int = 0
    max_rel_error: float = 0.0
    proved: int = 0

    def __str__(self) -> str:
        if self.method == "symbolic":
            return (f"{self.checked} rules equal sympy.diff of the explicit loss: {self.proved} proved by "
                    f"expansion, all agree at {self.points} random {DIGITS}-digit points "
                    f"(max difference {self.max_rel_error:.1e})")
        return (f"{self.checked} rules agree with sympy.diff of the explicit loss at {self.points} random "
                f"{DIGITS}-digit points (max relative difference {self.max_rel_error:.1e})")


def self_check(d, progress=None) -> CheckReport:
    """Raise SelfCheckError unless every rule of derivation ``d`` equals the true derivative."""
    if d.net.n_params <= SYMBOLIC_MAX_PARAMS:
        return _symbolic(d, progress)
    return _numeric(d, progress)


def _symbolic(d, progress) -> CheckReport:
    """Per rule: sympy.diff of the explicit loss, then a proof that the difference is zero.

    The difference is first evaluated at random 50-digit points (a cheap, certain reject);
    then ``expand`` must reduce it to 0. Where expansion cannot decide in reasonable size
    (softmax's exponential sums), the rule stands on the 50-digit agreement.
    """
    net = d.net
    constraint = net.target_constraint()
    E = net.explicit_loss().xreplace(constraint)
    rng = random.Random(0)
    points = [_random_point(net, rng) for _ in range(3)]
    proved, worst = 0, 0.0
    for i, (name, rule) in enumerate(d.params.items()):
        gap = sp.diff(E, rule.symbol) - d.explicit(rule.gradient).xreplace(constraint)
        for values in points:
            worst = max(worst, _relative(gap, values))
        if worst > TOLERANCE:
            raise SelfCheckError(f"derived dE/d{name} = {rule.gradient} disagrees with sympy.diff of the loss")
        if net.activation(net.depth).elementwise and sp.count_ops(gap) < EXPAND_MAX_OPS:
            if sp.expand(gap) != 0:
                raise SelfCheckError(f"derived dE/d{name} = {rule.gradient} is not sympy.diff of the loss")
            proved += 1
        if progress:
            progress(i + 1, len(d.params))
    return CheckReport("symbolic", len(d.params), len(points), worst, proved)


def _relative(gap: sp.Expr, values: dict) -> float:
    return float(abs(gap.xreplace(values).evalf(DIGITS)))


def _random_point(net, rng: random.Random) -> dict:
    def r(lo=-1.0, hi=1.0):
        return sp.Float(rng.uniform(lo, hi), DIGITS)
    values = {s: r() for s in net.x + net.params()}
    if net.spec.loss == "ce":
        raw = [r(0.1, 1.0) for _ in net.t]
        values.update({t: v / sp.Add(*raw) for t, v in zip(net.t, raw)})
    else:
        values.update({t: r(0.05, 0.95) for t in net.t})
    values[net.batch] = sp.Integer(3)
    values[net.eta] = r(0.1, 1.0)
    return values


def _forward(net, values: dict) -> dict:
    """Unit values at a point, in 50 digits."""
    vals = dict(values)
    for l in range(1, net.depth + 1):
        for j in net.units(l):
            vals[net.v[l][j - 1]] = net.net_input(l, j).xreplace(vals).evalf(DIGITS)
        for j in net.units(l):
            vals[net.y[l][j - 1]] = net.output(l, j).xreplace(vals).evalf(DIGITS)
    return vals


def _line_derivative(net, values: dict, direction: dict, tau: sp.Symbol) -> sp.Float:
    """d/dtau E(p + tau u) at tau = 0, by sympy.diff of the explicit loss along the line.

    Only first-order terms in tau reach the derivative at 0, so each unit carries its value
    and its tau-slope (y + y' tau) instead of the whole nested expression: the explicit
    composition is differentiated layer by layer, forward, in O(W). Activations enter by
    their exp form (``rewrite``), not by the registry's derivative.
    """
    line = {s: values[s] + direction.get(s, 0) * tau for s in net.x + net.params() + net.t}
    line[net.batch] = values[net.batch]

    def slope(expr: sp.Expr) -> sp.Expr:
        # term by term (d/dtau is linear): 35x faster than one diff of a wide Add in SymPy 1.14
        return sp.Add(*[sp.diff(a, tau) for a in sp.Add.make_args(expr)]).subs(tau, 0).evalf(DIGITS)

    def linear(expr: sp.Expr) -> sp.Expr:
        return expr.subs(tau, 0).evalf(DIGITS) + slope(expr) * tau

    for l in range(1, net.depth + 1):
        for j in net.units(l):
            line[net.v[l][j - 1]] = linear(net.net_input(l, j).xreplace(line))
        for j in net.units(l):
            out = net.output(l, j).xreplace(line)
            line[net.y[l][j - 1]] = linear(out.rewrite(sp.exp))
    return slope(net.loss_in_outputs().xreplace(line))


def _numeric(d, progress, points: int = 2) -> CheckReport:
    """At random points and directions u: sum_p u_p dE/dp == d/dtau E(p + tau u) at tau = 0.

    The right side is sympy.diff of the explicit loss along the line; any single wrong rule
    changes the left side, so it cannot pass (bar probability zero). One direction over all
    parameters per point; on a disagreement, one per layer's W and b to name the culprits.
    """
    net, rng = d.net, random.Random(1)
    worst = 0.0
    tau = sp.Symbol("tau", real=True)
    for n in range(points):
        point = _random_point(net, rng)
        vals = _unit_values(d, point)
        for group in [net.params()]:
            rel = _compare(d, net, point, vals, group, rng, tau)
            if rel > TOLERANCE:
                bad = [g for g in _groups(net) if _compare(d, net, point, vals, g, rng, tau) > TOLERANCE]
                names = "; ".join(f"{g[0].name}..{g[-1].name}" for g in bad)
                raise SelfCheckError(f"derived gradients of {names} disagree with sympy.diff of the loss")
            worst = max(worst, rel)
        if progress:
            progress(n + 1, points)
    return CheckReport("numeric", len(d.params), points, worst)


def _unit_values(d, point: dict) -> dict:
    net = d.net
    vals = _forward(net, point)
    vals.update({e: net.error(j).xreplace(vals) for j, e in enumerate(net.e, start=1)})
    for l in range(net.depth, 0, -1):
        for dl in net.delta[l]:
            vals[dl] = d.deltas[dl].value.xreplace(vals).evalf(DIGITS)
    return vals


def _compare(d, net, point, vals, group, rng, tau) -> float:
    u = {p: sp.Float(rng.uniform(-1, 1), DIGITS) for p in group}
    derived = sp.Add(*[u[p] * d.params[p.name].gradient.xreplace(vals) for p in group]).evalf(DIGITS)
    truth = _line_derivative(net, point, u, tau)
    return float(abs(truth - derived) / (1 + abs(truth)))


def _groups(net) -> list[list[sp.Symbol]]:
    out = []
    for l in range(1, net.depth + 1):
        out.append([w for row in net.W[l] for w in row])
        if net.bias:
            out.append(list(net.b[l]))
    return out
