"""Name the mistake in a wrong formula: each guess is a transformed true rule, confirmed at random points.

A layer-level answer (delta1, W3_1) is checked as the matrix of its entries' unit rules:
every guess transforms all entries at once (a path left out of every delta of a layer).
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

import sympy as sp
from sympy.matrices.exceptions import ShapeError

from ..derive import Derivation
from ..forms import MatrixAlgebra, weight_matrix
from ..forms import evaluate as evaluate_matrix
from ..printing import to_text
from . import algebra as alg
from .paths import PathTerm, describe, path_terms
from .symbols import Point, close, evaluate, matrix_symbols
from .target import Target, layer_names, matrix_rule, target

MISTAKES = ("constant_factor", "sign", "missing_activation_derivative", "missing_path", "wrong_index",
            "wrong_layer", "gradient_vs_update", "missing_learning_rate", "missing_transpose",
            "decay_sign_or_factor", "other")

# modelled in mistakes.py (tried after the checks of this module) and, for a matrix answer whose shapes
# do not fit, by reading it with one product as the other kind or in the other order (verify.repair)
MORE_MISTAKES = ("missing_sum", "wrong_activation_derivative", "hadamard_vs_matrix_product", "wrong_order",
                 "bias_not_summed")     # the last: a batch answer's bias (batch.py)
MISTAKES = (*MISTAKES[:-1], *MORE_MISTAKES, MISTAKES[-1])


def canonical(x: object) -> str:
    """A name ("w2_1_1", "W2") as it is, a formula as verify reads it back: the JSON's text."""
    return to_text(x) if isinstance(x, sp.Basic) else str(x)


@dataclass(frozen=True)
class Diagnosis:
    """A mistake code and a sentence that says what went wrong.

    The sentence is a template whose ``{}`` are ``args`` (names, formulas, numbers), printed when
    it is told: in identifiers for the JSON, in the student's LaTeX names and numbering for them.
    """

    mistake: str
    template: str
    args: tuple = ()

    def say(self, show: Callable[[object], str] = canonical) -> str:
        return self.template.format(*(show(a) for a in self.args))

    @property
    def message(self) -> str:
        return self.say()


@dataclass(eq=False)
class Case:
    """A wrong candidate for a target, with its values at the sample points.

    Guesses are rules in rule form (in deltas), evaluated at points where every delta has
    its number: computed once per point from the derivation's rules, and again, from the
    replaced rule down, for a guess that replaces some delta rules (``overrides``).
    """

    d: Derivation
    target: Target
    candidate: alg.Value          # unrolled: in unit outputs, net inputs, targets, weights
    points: list[Point]
    given: list | None = None  # the candidate's values at the points, when already computed

    @property
    def net(self):
        return self.d.net

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def quantity(self) -> str:
        return self.target.quantity

    @cached_property
    def values(self) -> list:
        known = list(self.given or [])[:len(self.points)]
        return known + [evaluate(self.candidate, p) for p in self.points[len(known):]]

    @cached_property
    def part_values(self) -> list:
        """The step part: a "new" value p + Delta p less p (compare steps, not values)."""
        if self.quantity != "new":
            return self.values
        offset = self.target.build(lambda n: self.d.params[n].symbol)
        return [None if c is None else alg.sub(c, evaluate(offset, p)) for c, p in zip(self.values, self.points)]

    # -- points with deltas -------------------------------------------------------------
    @cached_property
    def _with_deltas(self) -> list[Point]:
        return [self._deltas(p, {}, p) for p in self.points]

    def at(self, overrides: dict | None = None) -> list[Point]:
        """The points with the value of every delta and error, some delta rules replaced."""
        if not overrides:
            return self._with_deltas
        return [self._deltas(p, overrides, known) for p, known in zip(self.points, self._with_deltas)]

    def _deltas(self, point: Point, overrides: dict, known: Point) -> Point:
        net, d = self.net, self.d
        units = dict(point.units) if known is point else dict(known.units)
        if known is point:
            units.update({e: evaluate(net.error(j), point) for j, e in enumerate(net.e, start=1)})
        top = max((d.deltas[s].layer for s in overrides), default=net.depth)
        for l in reversed(net.graph.order):     # consumers first; above the replaced rules nothing changes
            if l > top:
                continue
            for s in net.delta[l]:
                units[s] = evaluate(overrides.get(s, d.deltas[s].value), Point(point.free, units))
        return Point(point.free, {k: v for k, v in units.items() if v is not None})

    def _at(self, expr: alg.Value, overrides: dict | None = None) -> list:
        return [evaluate(expr, p) for p in self.at(overrides)]

    # -- comparing --------------------------------------------------------------------------
    def matches(self, expr: alg.Value) -> bool:
        """Does the candidate equal ``expr`` (in rule form) at every point where both are defined?"""
        return _agree(self.values, self._at(expr))

    def explains(self, guess: alg.Value, overrides: dict | None = None) -> bool:
        """Is the candidate's step part this guess (``overrides`` replacing delta rules), which is not the rule?"""
        values = self._at(guess, overrides)
        if all(g is not None and t is not None and close(g, t) for g, t in zip(values, self.truth)):
            return False
        return _agree(self.part_values, values)

    def rule(self, name: str | None = None) -> alg.Value:
        """The step part of the quantity of ``name`` (default: the target's), in rule form."""
        t = self.target if name is None else target(self.d, name, self.quantity)
        return t.build(self._step)

    def _step(self, name: str) -> sp.Expr:
        if self.quantity == "delta":
            return sp.Symbol(name, real=True)
        # The step of a new value p + Delta p is Delta p.
        return getattr(self.d.params[name], "update" if self.quantity == "new" else self.quantity)

    @cached_property
    def true_part(self) -> alg.Value:
        return self.rule()

    @cached_property
    def truth(self) -> list:
        return self._at(self.true_part)

    @cached_property
    def depends_on(self) -> set:
        """Every symbol the rule reads, through the delta rules it uses (deltas included)."""
        seen, stack = set(), list(self.true_part.free_symbols)
        while stack:
            s = stack.pop()
            if s not in seen:
                seen.add(s)
                rule = self.d.deltas.get(s)
                stack += list(rule.value.free_symbols) if rule is not None else []
        return seen


def _agree(mine: list, other: list) -> bool:
    pairs = [(a, b) for a, b in zip(mine, other) if a is not None and b is not None]
    return len(pairs) >= 2 and all(close(a, b) for a, b in pairs)


def diagnose(case: Case) -> Diagnosis:
    """The first mistake that explains the candidate, in a fixed order of likelihood; else "other"."""
    for check in (_quantity_confusion, _decay_sign_or_factor, _sign_or_factor, _missing_activation_derivative,
                  _missing_path, _missing_transpose, _wrong_index, _wrong_layer):
        found = check(case)
        if found is not None:
            return found
    from .mistakes import CHECKS  # the hidden-layer mistakes (mistakes.py imports this module)
    for check in CHECKS:
        found = check(case)
        if found is not None:
            return found
    return Diagnosis("other", "Not equivalent, and no single common mistake (a factor, a sign, a missing "
                              "activation derivative or path, an index or a layer) explains the difference.")


# -- gradient, update, new value ------------------------------------------------------------

def _quantity_confusion(case: Case) -> Diagnosis | None:
    t, d = case.target, case.d
    if t.quantity == "delta":
        return None
    grad = t.build(lambda n: d.params[n].gradient)
    upd = t.build(lambda n: d.params[n].update)
    p, name = t.build(lambda n: d.params[n].symbol), t.name
    guesses = {      # the sentences' {} is the parameter's name
        "gradient": [(upd, "gradient_vs_update", "this is the update Delta {0} = -eta dE/d{0}"),
                     (alg.neg(upd), "gradient_vs_update", "this is eta dE/d{0}, the learning rate times the gradient"),
                     (alg.add(p, upd), "gradient_vs_update", "this is the new value {0} + Delta {0}")],
        "update": [(grad, "gradient_vs_update", "this is the gradient dE/d{0}, not -eta times it"),
                   (alg.neg(grad), "missing_learning_rate", "the learning rate eta is missing"),
                   (alg.add(p, upd), "gradient_vs_update", "this is the new value {0} + Delta {0}")],
        "new": [(alg.sub(p, grad), "missing_learning_rate", "the learning rate eta is missing"),
                (alg.add(p, grad), "gradient_vs_update", "the gradient was added as the step, not -eta times it"),
                (upd, "gradient_vs_update", "this is the update Delta {0} alone; add {0}"),
                (grad, "gradient_vs_update", "this is the gradient dE/d{0}")],
    }[t.quantity]
    what = {"gradient": "the gradient dE/d{0}", "update": "the update Delta {0} = -eta dE/d{0}",
            "new": "the new value {0} + Delta {0}"}[t.quantity]
    for expr, code, why in guesses:
        if expr.free_symbols and case.matches(expr):
            return Diagnosis(code, f"Not {what}: {why}.", (name,))
    return None


# -- weight decay: lambda w with the wrong sign or factor -------------------------------------

# c in "c lambda w instead of lambda w": the classic slips of differentiating lambda/2 w^2
_DECAY_SLIPS = ((-1, "has the wrong sign: -lambda w instead of + lambda w in dE/dw"),
                (2, "is twice too large: 2 lambda w is the derivative of lambda w^2, but the regulariser is "
                    "lambda/2 w^2, whose derivative is lambda w"),
                (sp.Rational(1, 2), "is half what it should be: d/dw of lambda/2 w^2 is lambda w, not lambda w / 2"),
                (0, "is missing: the regulariser lambda/2 w^2 adds lambda w to dE/dw"))


def _decay_sign_or_factor(case: Case) -> Diagnosis | None:
    """The answer is the rule with its decay term lambda*w times -1, 2, 1/2 or 0."""
    t, d = case.target, case.d
    if t.quantity == "delta" or all(d.params[n].decay == 0 for n in t.names):
        return None
    # the step part: dE/dp for a gradient, Delta p = ... - eta dE/dp for an update or new value
    per = 1 if t.quantity == "gradient" else -d.net.eta
    for c, why in _DECAY_SLIPS:
        guess = t.build(lambda n, c=c: case._step(n) + per * (c - 1) * d.params[n].decay)
        if case.explains(guess):
            return Diagnosis("decay_sign_or_factor", "The weight decay term {}.", (why,))
    return None


# -- sign and constant factors ---------------------------------------------------------------

def _sign_or_factor(case: Case) -> Diagnosis | None:
    tiny = sp.Float("1e-40")
    truth = case.truth
    batch = [p.free[case.net.batch] for p in case.points]
    ratios = []
    for mine, true, n in zip(case.part_values, truth, batch):
        if mine is None or true is None:
            continue
        for c, t in zip(alg.entries(mine), alg.entries(true)):
            if abs(t) > tiny:
                ratios.append((c / t, n))
            elif abs(c) > tiny:
                return None         # nonzero where the rule is zero: no factor explains it
    if len(ratios) < 2:
        return None
    uses_batch = case.net.batch in case.depends_on
    for power, _label in ((0, ""), (1, "N"), (-1, "1/N")):
        if power and not uses_batch:
            continue
        scaled = [r / n**power for r, n in ratios]
        if not all(close(s, scaled[0], floor=0) for s in scaled):
            continue
        factor = _nice(scaled[0])
        if factor is None:
            return None
        if power == 0 and factor == -1:
            return Diagnosis("sign", "The sign is wrong: yours is minus the right {}{}.",
                             (_what(case), _sign_hint(case)))
        if power == 0 and factor == 1:
            return None
        shown = {0: f"{factor}", 1: f"{factor}*N", -1: f"{factor}/N"}[power]
        shown = {"1*N": "N", "1/N": "1/N"}.get(shown, shown)
        return Diagnosis("constant_factor", "Off by a constant factor: yours is {} times the right {}{}.",
                         (shown, _what(case), _factor_hint(case, factor, power)))
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


# -- which deltas a target depends on ----------------------------------------------------------

def _units_by_layer(case: Case) -> Iterator[tuple[int, list]]:
    """(layer, its delta rules) for every layer at or above the target's, lowest first."""
    net, d = case.net, case.d
    for l in net.graph.order:
        if l >= case.target.layer:
            yield l, [d.deltas[s] for s in net.delta[l]]


def _trials(case: Case, per_unit: list) -> Iterator[tuple[object | None, dict]]:
    """(unit rule or None for the whole layer, overrides): one unit at a time for a unit's answer,
    then every unit of the layer together (all a layer-level answer can get wrong)."""
    if not case.target.layer_level:
        for rule, value in per_unit:
            yield rule, {rule.symbol: value}
    if len(per_unit) > 1 or case.target.layer_level:
        yield None, {rule.symbol: value for rule, value in per_unit}


def _uses(case: Case, overrides: dict) -> bool:
    """Does the target read a delta whose rule the guess replaces?"""
    return any(s in case.depends_on for s in overrides)


def _explaining(case: Case, per_unit: list) -> Iterator[object | None]:
    """The trials of ``per_unit``'s mistaken rules (see _trials) that the target reads and that explain
    the answer: each trial's unit rule, or None for the whole layer."""
    for rule, overrides in _trials(case, per_unit):
        if _uses(case, overrides) and case.explains(case.true_part, overrides):
            yield rule


# -- the activation derivative -----------------------------------------------------------------

def _activation_factor(rule) -> sp.Expr:
    """phi'(v) as the unit's rule writes it (its "activation" factor)."""
    return next(f.result for path in rule.chain for f in path if f.reason == "activation")


def _missing_activation_derivative(case: Case) -> Diagnosis | None:
    act = case.net.profile.activation
    for l, rules in reversed(list(_units_by_layer(case))):
        if not case.net.activation(l).elementwise:
            continue
        per_unit = [(r, r.value / _activation_factor(r)) for r in rules if _activation_factor(r) != 1]
        for rule in _explaining(case, per_unit):
            if rule is not None:
                factor = _activation_factor(rule)
                return Diagnosis("missing_activation_derivative",
                                 "The activation derivative {}'({}) = {} of unit {} of layer {} is missing "
                                 "(it is a factor of {}).",
                                 (act, rule.net, factor, rule.unit, rule.layer, rule.symbol))
            first = per_unit[0][0]
            return Diagnosis("missing_activation_derivative",
                             "The activation derivative {0}' of layer {1} is missing from every local gradient of "
                             "that layer (for unit {2}: {0}'({3}) = {4}).",
                             (act, l, first.unit, first.net, _activation_factor(first)))
    return None


# -- paths of the graph --------------------------------------------------------------------------

def _missing_path(case: Case) -> Diagnosis | None:
    """One path's terms left out of a hidden delta (the skip's, or the one through a residual shortcut)."""
    for l, rules in _units_by_layer(case):
        terms = [path_terms(case.d, r.symbol) for r in rules]
        if not terms or not terms[0]:
            continue
        for i, _path in enumerate(t.path for t in terms[0]):
            per_unit = [(r, ts[i].without) for r, ts in zip(rules, terms)]
            for rule in _explaining(case, per_unit):
                return _path_diagnosis(case, l, terms, i, rule)
    return None


def _path_diagnosis(case: Case, layer: int, terms: list[list[PathTerm]], i: int, rule) -> Diagnosis:
    path, count = terms[0][i].path, len(terms[0])
    where = _delta_vector(case, layer) if rule is None else rule.symbol
    term = (next(ts[i] for ts in terms if ts[i].delta == rule.symbol).term if rule is not None
            else weight_matrix(case.net, path.into).T * _delta_vector(case, path.into.dst))
    return Diagnosis("missing_path", "A path is missing from {0}: the term {1} that arrives through {2} is left out "
                                     "(the outputs of layer {3} reach {4} weighted connections, and {0} has a term "
                                     "for each).", (where, term, describe(path), layer, count))


def _delta_vector(case: Case, layer: int) -> sp.MatrixSymbol:
    """The matrix rules' vector of a layer's deltas (delta3), for W3_1.T @ delta3."""
    name, t = next((n, t) for n, t in layer_names(case.net).items() if t.kind == "delta" and t.layer == layer)
    return sp.MatrixSymbol(name, *t.shape)


# -- a transpose in the matrix form ----------------------------------------------------------------

def _missing_transpose(case: Case) -> Diagnosis | None:
    """A layer-level answer with W where the rule has W.T (square W: the shapes alone cannot tell)."""
    t = case.target
    if not t.layer_level:
        return None
    rule = matrix_rule(case.d, t, "update" if t.quantity == "new" else t.quantity)
    algebra = _explicit(case)
    for node in sorted(rule.atoms(sp.Transpose), key=str):
        try:
            variant = rule.xreplace({node: node.arg})
            value = sp.ImmutableMatrix(evaluate_matrix(variant, algebra))
        except (ShapeError, ValueError, TypeError):
            continue
        if value.shape == t.shape and case.explains(value):
            return Diagnosis("missing_transpose", "A transpose is missing: yours has {} where the rule has {} ({}).",
                             (node.arg, node, rule))
    return None


def _explicit(case: Case) -> MatrixAlgebra:
    table = matrix_symbols(case.net)
    return MatrixAlgebra(leaf=table.__getitem__, scalar=lambda e: e,
                         ones=lambda shape: sp.ImmutableMatrix.ones(*shape),
                         apply=lambda f, m: m.applyfunc(f), hadamard=lambda a, b: a.multiply_elementwise(b),
                         matmul=operator.mul)


# -- indices and layers ------------------------------------------------------------------------

def _groups(case: Case) -> dict[sp.Symbol, list[sp.Symbol]]:
    """Each symbol -> the symbols of the same kind in the same layer (what a slipped index gives)."""
    net = case.net
    kinds = [net.x, net.t] + [sum(w, []) for w in net.weights.values()] + list(net.b.values())
    kinds += list(net.v.values()) + [ys for l, ys in net.y.items() if l > 0]
    return {s: [o for o in group if o != s] for group in kinds for s in group}


def _wrong_index(case: Case) -> Diagnosis | None:
    if case.target.layer_level:
        return None             # a layer's answer has no indices to slip
    for other in _same_layer(case):
        if case.explains(case.rule(other)):
            return Diagnosis("wrong_index", "Wrong index: this is the rule of {}, not of {}.", (other, case.name))
    groups = _groups(case)
    # One symbol slipped where the rule is written out one level (delta1_1 in delta2_m and w2_m1):
    # as a student writes it, not in the fully unrolled formula.
    once = case.true_part.xreplace({s: r.value for s in case.true_part.free_symbols
                                    if (r := case.d.deltas.get(s)) is not None})
    for s in sorted(once.free_symbols, key=lambda s: s.name):
        for o in groups.get(s, []):
            if case.explains(once.xreplace({s: o})):
                return Diagnosis("wrong_index", "Wrong index: {} appears where {} belongs.", (o, s))
    return None


def _same_layer(case: Case) -> list[str]:
    """The other units of the layer, or the other entries of the same weight matrix or bias vector."""
    t, d, net = case.target, case.d, case.net
    if t.kind == "delta":
        return [r.symbol.name for r in d.deltas.values() if r.layer == t.layer and r.symbol.name != t.name]
    key = net.positions[t.name].key
    return [n for n, p in net.positions.items() if p.key == key and n != t.name]


def _wrong_layer(case: Case) -> Diagnosis | None:
    for other in _other_layers(case):
        if case.explains(case.rule(other)):
            return Diagnosis("wrong_layer", "Wrong layer: this is the rule of {}, not of {}.", (other, case.name))
    return None


def _other_layers(case: Case) -> list[str]:
    """The same unit elsewhere, the same position in another weight matrix (a skip's or the chain's
    into the same layer: another layer's outputs), or another layer's vector or matrix of the same shape."""
    t, d, net = case.target, case.d, case.net
    if t.layer_level:
        return [n for n, o in layer_names(net).items() if o.kind == t.kind and o.shape == t.shape and n != t.name]
    if t.kind == "delta":
        unit = d.deltas[sp.Symbol(t.name, real=True)].unit
        return [r.symbol.name for r in d.deltas.values() if r.unit == unit and r.layer != t.layer]
    mine = net.positions[t.name]
    return [n for n, p in net.positions.items()
            if p.index == mine.index and p.key != mine.key and p.is_weight == mine.is_weight]
