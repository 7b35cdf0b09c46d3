"""Name the mistake in a wrong formula: each guess is a transformed true rule, confirmed at random points."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterator, Optional

import sympy as sp

from ..printing import to_text

from ..derive import Derivation
from .symbols import Point, close, evaluate

MISTAKES = ("constant_factor", "sign", "missing_activation_derivative", "wrong_index",
            "wrong_layer", "gradient_vs_update", "missing_learning_rate", "other")


@dataclass(frozen=True)
class Diagnosis:
    """A mistake code and a sentence that says what went wrong."""

    mistake: str
    message: str


@dataclass(eq=False)
class Case:
    """A wrong candidate for ``quantity`` of ``name``, with its values at the sample points."""

    d: Derivation
    name: str
    quantity: str
    candidate: sp.Expr            # unrolled: in unit outputs, net inputs, targets, weights
    points: list[Point]
    given: Optional[list] = None  # the candidate's values at the points, when already computed

    @property
    def net(self):
        return self.d.net

    @cached_property
    def values(self) -> list[Optional[sp.Float]]:
        known = list(self.given or [])[:len(self.points)]
        return known + [evaluate(self.candidate, p) for p in self.points[len(known):]]

    @cached_property
    def offset(self) -> sp.Expr:
        """The p of p + Delta p: the part of a "new" value that is not the step."""
        return self.d.params[self.name].symbol if self.quantity == "new" else sp.Integer(0)

    @cached_property
    def part_values(self) -> list[Optional[sp.Float]]:
        offsets = [evaluate(self.offset, p) for p in self.points]
        return [None if c is None else c - o for c, o in zip(self.values, offsets)]

    def matches(self, expr: sp.Expr, part: bool = False) -> bool:
        """Does the candidate (or its step part) equal ``expr`` at every point where both are defined?"""
        mine = self.part_values if part else self.values
        pairs = [(a, evaluate(expr, p)) for a, p in zip(mine, self.points)]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        return len(pairs) >= 2 and all(close(a, b) for a, b in pairs)

    def rule(self, name: str, overrides: Optional[dict] = None) -> sp.Expr:
        """The step part of ``quantity`` for ``name`` in rule form, unrolled (with delta overrides)."""
        if self.quantity == "delta":
            expr = sp.Symbol(name, real=True)
        else:
            # The step of a new value p + Delta p is Delta p: compare steps, not values.
            expr = getattr(self.d.params[name], "update" if self.quantity == "new" else self.quantity)
        return unroll(self.d, expr, overrides or {})

    @cached_property
    def true_part(self) -> sp.Expr:
        return self.rule(self.name)


def unroll(d: Derivation, expr: sp.Expr, overrides: dict) -> sp.Expr:
    """Like ``Derivation.unrolled``, but with some delta rules replaced by ``overrides``."""
    net = d.net
    errors = {e: net.error(j) for j, e in enumerate(net.e, start=1)}
    out: dict[sp.Symbol, sp.Expr] = {}
    for l in range(net.depth, 0, -1):
        for s in net.delta[l]:
            out[s] = overrides.get(s, d.deltas[s].value).xreplace(errors).xreplace(out)
    return expr.xreplace(out).xreplace(errors)


def diagnose(case: Case) -> Diagnosis:
    """The first mistake that explains the candidate, in a fixed order of likelihood; else "other"."""
    for check in (_quantity_confusion, _sign_or_factor, _missing_activation_derivative,
                  _wrong_index, _wrong_layer):
        found = check(case)
        if found is not None:
            return found
    return Diagnosis("other", "Not equivalent, and no single common mistake (a factor, a sign, a missing "
                              "activation derivative, an index or a layer) explains the difference.")


# -- gradient, update, new value ------------------------------------------------------------

def _quantity_confusion(case: Case) -> Optional[Diagnosis]:
    if case.quantity == "delta":
        return None
    rule = case.d.params[case.name]
    grad, upd = case.d.unrolled(rule.gradient), case.d.unrolled(rule.update)
    p, name = rule.symbol, case.name
    what = {"gradient": f"the gradient dE/d{name}", "update": f"the update Delta {name} = -eta dE/d{name}",
            "new": f"the new value {name} + Delta {name}"}[case.quantity]
    guesses = {
        "gradient": [(upd, "gradient_vs_update", f"this is the update Delta {name} = -eta dE/d{name}"),
                     (-upd, "gradient_vs_update", f"this is eta dE/d{name}, the learning rate times the gradient"),
                     (p + upd, "gradient_vs_update", f"this is the new value {name} + Delta {name}")],
        "update": [(grad, "gradient_vs_update", f"this is the gradient dE/d{name}, not -eta times it"),
                   (-grad, "missing_learning_rate", "the learning rate eta is missing"),
                   (p + upd, "gradient_vs_update", f"this is the new value {name} + Delta {name}")],
        "new": [(p - grad, "missing_learning_rate", "the learning rate eta is missing"),
                (p + grad, "gradient_vs_update", "the gradient was added as the step, not -eta times it"),
                (upd, "gradient_vs_update", f"this is the update Delta {name} alone; add {name}"),
                (grad, "gradient_vs_update", f"this is the gradient dE/d{name}")],
    }[case.quantity]
    for expr, code, why in guesses:
        if expr.free_symbols and case.matches(expr):
            return Diagnosis(code, f"Not {what}: {why}.")
    return None


# -- sign and constant factors ---------------------------------------------------------------

def _sign_or_factor(case: Case) -> Optional[Diagnosis]:
    truth = [evaluate(case.true_part, p) for p in case.points]
    batch = [p.free[case.net.batch] for p in case.points]
    ratios = [(c / t, n) for c, t, n in zip(case.part_values, truth, batch)
              if c is not None and t is not None and abs(t) > sp.Float("1e-40")]
    if len(ratios) < 2:
        return None
    uses_batch = case.net.batch in case.true_part.free_symbols
    for power, label in ((0, ""), (1, "N"), (-1, "1/N")):
        if power and not uses_batch:
            continue
        scaled = [r / n**power for r, n in ratios]
        if not all(close(s, scaled[0], floor=0) for s in scaled):
            continue
        factor = _nice(scaled[0])
        if factor is None:
            return None
        if power == 0 and factor == -1:
            return Diagnosis("sign", f"The sign is wrong: yours is minus the right {_what(case)}"
                                     f"{_sign_hint(case)}.")
        if power == 0 and factor == 1:
            return None
        shown = {0: f"{factor}", 1: f"{factor}*N", -1: f"{factor}/N"}[power]
        shown = {"1*N": "N", "1/N": "1/N"}.get(shown, shown)
        return Diagnosis("constant_factor", f"Off by a constant factor: yours is {shown} times the right "
                                            f"{_what(case)}{_factor_hint(case, factor, power)}.")
    return None


def _nice(value: sp.Float):
    """A short rational (2, 1/2, -3/4), else the float to 6 digits if plausible, else None."""
    if not sp.Float("1e-3") < abs(value) < sp.Float("1e3"):
        return None             # 1e-80 times the rule is not a slipped constant
    approx = sp.Rational(str(value)).limit_denominator(1000)
    return approx if close(value, sp.Float(approx, 50)) else sp.Float(value, 6)


def _what(case: Case) -> str:
    names = {"gradient": "gradient", "update": "update", "new": "step Delta p", "delta": "local gradient"}
    return names[case.quantity]


def _sign_hint(case: Case) -> str:
    if case.quantity == "delta":
        return f" (in this notation {case.net.profile.delta_definition})"
    if case.quantity in ("update", "new"):
        return " (the step goes against the gradient: Delta p = -eta dE/dp)"
    return ""


_LOSS_HINTS = {"half_sse": "the 1/2 of half_sse cancels the 2 that differentiating the square gives",
               "sse": "differentiating the square of sse gives a factor 2",
               "mse": "differentiating the square of mse gives a factor 2, and the mean a factor 1/N"}


def _factor_hint(case: Case, factor, power: int) -> str:
    if power:
        return " (check the 1/N of the mean over the batch)"
    hint = _LOSS_HINTS.get(case.net.loss.name)
    return f" (check the constants: {hint})" if hint and factor in (2, -2, sp.Rational(1, 2)) else ""


# -- the activation derivative -----------------------------------------------------------------

def _activation_factors(case: Case) -> Iterator[tuple[sp.Symbol, sp.Expr, sp.Symbol]]:
    """(delta symbol, phi'(v) as the rule writes it, v) for each unit the quantity depends on."""
    net, d = case.net, case.d
    first = int(case.name[5:].split("_")[0]) if case.quantity == "delta" else d.params[case.name].layer
    for l in range(net.depth, first - 1, -1):
        if not net.activation(l).elementwise:
            continue
        for s in net.delta[l]:
            rule = d.deltas[s]
            factor = next(f.result for path in rule.chain for f in path if f.reason == "activation")
            if factor != 1:
                yield s, factor, rule.net


def _missing_activation_derivative(case: Case) -> Optional[Diagnosis]:
    for s, factor, v in _activation_factors(case):
        variant = case.rule(case.name, {s: case.d.deltas[s].value / factor})
        if variant != case.true_part and case.matches(variant, part=True):
            act, rule = case.net.profile.activation, case.d.deltas[s]
            return Diagnosis("missing_activation_derivative",
                             f"The activation derivative {act}'({v}) = {to_text(factor)} of unit {rule.unit} "
                             f"of layer {rule.layer} is missing (it is a factor of {s}).")
    return None


# -- indices and layers ------------------------------------------------------------------------

def _groups(case: Case) -> dict[sp.Symbol, list[sp.Symbol]]:
    """Each symbol -> the symbols of the same kind in the same layer (what a slipped index gives)."""
    net = case.net
    kinds = [net.x, net.t] + [sum(net.W[l], []) for l in net.W] + list(net.b.values())
    kinds += list(net.v.values()) + [ys for l, ys in net.y.items() if l > 0]
    return {s: [o for o in group if o != s] for group in kinds for s in group}


def _wrong_index(case: Case) -> Optional[Diagnosis]:
    for other in _same_layer(case):
        if case.matches(case.rule(other), part=True):
            return Diagnosis("wrong_index", f"Wrong index: this is the rule of {other}, not of {case.name}.")
    groups = _groups(case)
    for s in sorted(case.true_part.free_symbols, key=lambda s: s.name):
        for o in groups.get(s, []):
            variant = case.true_part.xreplace({s: o})
            if variant != case.true_part and case.matches(variant, part=True):
                return Diagnosis("wrong_index", f"Wrong index: {o} appears where {s} belongs.")
    return None


def _same_layer(case: Case) -> list[str]:
    if case.quantity == "delta":
        layer = int(case.name[5:].split("_")[0])
        return [s.name for s in case.net.delta[layer] if s.name != case.name]
    layer = case.d.params[case.name].layer
    return [n for n, r in case.d.params.items() if r.layer == layer and n != case.name]


def _wrong_layer(case: Case) -> Optional[Diagnosis]:
    head, _, tail = case.name.partition("_")
    letters = head.rstrip("0123456789")
    for l in range(1, case.net.depth + 1):
        other = f"{letters}{l}_{tail}"
        if other == case.name or not _exists(case, other):
            continue
        if case.matches(case.rule(other), part=True):
            return Diagnosis("wrong_layer", f"Wrong layer: this is the rule of {other}, not of {case.name}.")
    return None


def _exists(case: Case, name: str) -> bool:
    if case.quantity == "delta":
        return sp.Symbol(name, real=True) in case.d.deltas
    return name in case.d.params
