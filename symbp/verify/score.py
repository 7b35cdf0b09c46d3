"""Partial credit: which factors of the true rule a wrong answer has, weighed by a lecturer's rubric.

The true rule and the answer, both in unit outputs, are factored (``sympy.factor_list``); each
factor of the rule is given a role, and the answer earns the role's weight for every factor it
shares with the rule. Factors the rule lacks count against it, one point each::

    score = (weights of the shared factors) / (weights of all the rule's factors + extra factors)

An equivalent answer scores 1; a layer-level (matrix) answer 1 or 0.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import sympy as sp

from ..derive import Derivation
from .symbols import Timeout, evaluate, output_symbols, sample_points, time_limit
from .target import Target

# role -> weight; change it here, with verify(..., rubric={...}) or an answers file's [rubric] table.
RUBRIC: Mapping[str, float] = {
    "constant": 1,                 # the sign and any number in front (the 2 of sse, the 1/N of mse)
    "learning_rate": 1,            # eta, in an update or a new value
    "error": 2,                    # what comes back from the loss: (d - y), or the sum over the next layer
    "activation_derivative": 2,    # phi'(v) of a unit the rule passes through
    "weight": 1,                   # a weight on the path back from the output
    "input": 1,                    # the output of the unit the weight comes from (x_k, y_k)
}
MAX_OPS = 300                      # beyond this the answer is not factored: no partial credit
FACTOR_SECONDS = 2.0


def credit(d: Derivation, t: Target, candidate, equivalent: bool | None,
           rubric: Mapping[str, float] | None = None) -> float:
    """The score of ``candidate`` (a parsed answer) for target ``t``, in [0, 1]."""
    if equivalent:
        return 1.0
    if t.layer_level:
        return 0.0
    rubric = {**RUBRIC, **(rubric or {})}
    true = _part(d, t, d.quantity(t.name, t.quantity, form="unrolled"))
    mine = _part(d, t, d.unrolled(candidate).xreplace(output_symbols(d.net)))
    ours, theirs = _factors(true), _factors(mine)
    if ours is None or theirs is None:
        return 0.0
    (c_true, f_true), (c_mine, f_mine) = ours, theirs
    roles = _roles(d, t)
    total = rubric["constant"] + sum(rubric[_role(d, f, roles)] * n for f, n in f_true.items())
    extra = f_mine - f_true
    got = rubric["constant"] if _same_constant(d, c_true, c_mine, true, mine, extra) else 0
    got += sum(rubric[_role(d, f, roles)] * min(n, f_mine[f]) for f, n in f_true.items())
    spare = sum(extra.values())
    return round(float(got / (total + spare)), 3) if total + spare else 0.0


def _same_constant(d: Derivation, c_true, c_mine, true: sp.Expr, mine: sp.Expr, extra: Counter) -> bool:
    """The same number in front and the same sign: the answer, less the factors the rule lacks, has the
    sign of the rule at a random point (a factor the answer lacks, such as 1 - y, changes nothing)."""
    if abs(c_true) != abs(c_mine):
        return False
    point = sample_points(d.net, 1, 0)[0]
    a, b = evaluate(true, point), evaluate(mine / sp.Mul(*[f**n for f, n in extra.items()]), point)
    return a is not None and b is not None and (a == 0 or b == 0 or (a > 0) == (b > 0))


def _part(d: Derivation, t: Target, value: sp.Expr) -> sp.Expr:
    """The step of a new value p + Delta p (its factors are Delta p's); else the value itself."""
    return value - d.params[t.name].symbol if t.quantity == "new" else value


def _factors(expr: sp.Expr) -> tuple[sp.Expr, Counter] | None:
    if not isinstance(expr, sp.Expr) or sp.count_ops(expr) > MAX_OPS:
        return None
    try:
        with time_limit(FACTOR_SECONDS):
            coeff, pairs = sp.factor_list(sp.together(expr))
    except (Timeout, sp.PolynomialError, sp.polys.polyerrors.PolificationFailed, ValueError, TypeError):
        return None
    return coeff, Counter({f: n for f, n in pairs})


def _roles(d: Derivation, t: Target) -> set[sp.Expr]:
    """The factors of every activation derivative phi'(v) in the rules (y and 1 - y of a sigmoid)."""
    out = set()
    for rule in d.deltas.values():
        for path in rule.chain:
            for f in path:
                if f.reason == "activation":
                    factored = _factors(d.unrolled(f.result).xreplace(output_symbols(d.net)))
                    out |= set(factored[1]) if factored else set()
    return out


def _role(d: Derivation, factor: sp.Expr, activation: set) -> str:
    net = d.net
    if factor == net.eta:
        return "learning_rate"
    if factor.free_symbols & set(net.t) or isinstance(factor, sp.Add) and factor not in activation:
        return "error"
    if factor in activation:
        return "activation_derivative"
    if factor in {w for ws in net.weights.values() for row in ws for w in row}:
        return "weight"
    return "input"
