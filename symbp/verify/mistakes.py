"""The hidden-layer mistakes, each a model built from the derivation and confirmed at random points.

A guess is the true rule with one mistake made in it: one term of the next layer's sum kept
(``missing_sum``); phi' replaced by another activation's, by 1 - y for 1 - y^2, or once too often
where the loss cancels it, or softmax's Jacobian by its diagonal (``wrong_activation_derivative``);
one symbol of another layer (``wrong_layer``); the same index slip in every term (``wrong_index``).
diagnose() tries them after its own checks.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

import sympy as sp

from ..activations import ACTIVATIONS
from .diagnose import Case, Diagnosis, _activation_factor, _explaining, _groups, _units_by_layer

MAX_GUESSES = 60        # slips (or sum terms) tried per matrix or layer: a wide layer has one per unit

# -- the sum over the next layer -----------------------------------------------------------------


def _terms(rule) -> tuple[sp.Expr, tuple[sp.Expr, ...]]:
    """(phi', the terms w_mj delta_m of the sum it multiplies) of a hidden unit's rule."""
    phi = _activation_factor(rule)
    return phi, sp.Add.make_args(sp.expand(rule.value / phi))


def missing_sum(case: Case) -> Diagnosis | None:
    """The answer keeps one term of a hidden delta's sum over the units of the next layer."""
    for l, rules in _units_by_layer(case):
        hidden = [(r, *_terms(r)) for r in rules if not r.output]
        hidden = [(r, phi, terms) for r, phi, terms in hidden if len(terms) > 1]
        if not hidden:
            continue
        for i in range(min(MAX_GUESSES, max(len(terms) for _, _, terms in hidden))):
            per_unit = [(r, phi * terms[i]) for r, phi, terms in hidden if i < len(terms)]
            for rule in _explaining(case, per_unit):
                r, phi, terms = next(h for h in hidden if rule is None or h[0] is rule)
                where = r.symbol if rule is not None else f"every local gradient of layer {l}"
                return Diagnosis("missing_sum", "A sum is missing from {}: it adds one term per unit fed by unit {} "
                                                "of layer {} ({}), and yours keeps only {}.",
                                 (where, r.unit, l, sp.Add(*terms), terms[i]))
    return _missing_term(case)


def _missing_term(case: Case) -> Diagnosis | None:
    """The sum over the next layer with one of its (three or more) terms left out."""
    for _l, rules in _units_by_layer(case):
        hidden = [(r, *_terms(r)) for r in rules if not r.output]
        for r, phi, terms in hidden:
            if len(terms) < 3 or r.symbol not in case.depends_on:
                continue
            for term in terms[:MAX_GUESSES]:
                if case.explains(case.true_part, {r.symbol: phi * (sp.Add(*terms) - term)}):
                    return Diagnosis("missing_sum", "A term is missing from the sum in {}: {} is left out of {} "
                                                    "(one term per unit of the next layer).",
                                     (r.symbol, term, sp.Add(*terms)))
    return None


# -- the activation derivative -----------------------------------------------------------------------

def _alternatives(case: Case, rule) -> Iterator[tuple[sp.Expr, str, tuple]]:
    """(a mistaken phi' of the unit, what it is: a template and its arguments) for a unit of an elementwise layer."""
    net = case.net
    row = net.activation(rule.layer)
    y, v = net.y[rule.layer][rule.unit - 1], rule.net
    own = _activation_factor(rule)
    squared = own.replace(lambda e: e.is_Pow and e.exp == 2 and e.base == y, lambda e: e.base)
    if squared != own:
        yield squared, "{} is not {}' = {}: the square is lost", (squared, row.name, own)
    for other in ACTIVATIONS:
        if other.name == row.name or not other.elementwise or other.derivative_in_output is None:
            continue
        alt = other.derivative_in_output(y, v)
        if alt != 1 and alt != own and alt.free_symbols <= {y}:
            yield alt, "{} is the derivative of {}, but layer {} is {}, whose derivative is {}", \
                (alt, other.name, rule.layer, row.name, own)
    if own != y:
        yield y, "{}({}) = {} stands where its derivative {} belongs", (net.profile.activation, v, y, own)


def wrong_activation_derivative(case: Case) -> Diagnosis | None:
    net = case.net
    for l, rules in reversed(list(_units_by_layer(case))):
        if not net.activation(l).elementwise:
            found = _softmax_elementwise(case, rules)
        else:
            found = _wrong_slope(case, l, rules) or _extra_slope(case, rules)
        if found is not None:
            return found
    return None


def _wrong_slope(case: Case, layer: int, rules) -> Diagnosis | None:
    units = [(r, list(_alternatives(case, r))) for r in rules if _activation_factor(r) != 1]
    if not units:
        return None
    for i in range(len(units[0][1])):
        per_unit = [(r, r.value / _activation_factor(r) * alts[i][0]) for r, alts in units if i < len(alts)]
        for rule in _explaining(case, per_unit):
            r, alts = next(u for u in units if rule is None or u[0] is rule)
            where = f"unit {r.unit} of layer {layer}" if rule is not None else f"every unit of layer {layer}"
            _, why, args = alts[i]
            return Diagnosis("wrong_activation_derivative", f"The activation derivative of {where} is wrong: {why}.",
                             args)
    return None


def _extra_slope(case: Case, rules) -> Diagnosis | None:
    """phi' once too often at an output unit: where the loss's derivative cancels it (sigmoid + bce)."""
    per_unit = [(r, r.value * _activation_factor(r)) for r in rules if r.output and r.simplification
                and _activation_factor(r) != 1]
    for rule in _explaining(case, per_unit):
        r = rule or per_unit[0][0]
        return Diagnosis("wrong_activation_derivative",
                         "An extra activation derivative {0} in {1}: with {2} the loss's derivative cancels phi' "
                         "({3}), so {1} = {4}.",
                         (_activation_factor(r), r.symbol, case.net.loss.name, r.simplification, r.value))
    return None


def _softmax_elementwise(case: Case, rules) -> Diagnosis | None:
    """softmax's Jacobian taken as its diagonal: one path dE/dy_j dy_j/dv_j instead of the sum over m."""
    net, per_unit = case.net, []
    for r in rules:
        own = net.y[r.layer][r.unit - 1]
        path = next((p for p in r.chain if any(f.reason == "activation" and f.of == own for f in p)), None)
        if path is not None and len(r.chain) > 1:
            per_unit.append((r, net.profile.delta_sign * sp.Mul(*[f.result for f in path])))
    for rule in _explaining(case, per_unit):
        r = rule or per_unit[0][0]
        return Diagnosis("wrong_activation_derivative",
                         "softmax is treated as elementwise in {0}: only dy_j/dv_j = y_j (1 - y_j) is kept, but "
                         "every output of a softmax depends on every net input, so {0} sums dE/dy_m dy_m/dv_j over "
                         "all m ({0} = {1}).", (r.symbol, r.value))
    return None


# -- a symbol of another layer, the same index slip in every term ------------------------------------

def _rule_once(case: Case) -> sp.Expr:
    """The rule with each delta written out one level, as a student writes it."""
    part = case.true_part
    return part.xreplace({s: r.value for s in part.free_symbols if (r := case.d.deltas.get(s)) is not None})


def _layer_twins(case: Case) -> dict[sp.Symbol, list[sp.Symbol]]:
    """Each unit symbol -> the same unit's symbol of the same kind in the other layers (x_k is layer 0)."""
    net, out = case.net, {}
    kinds = [net.y, net.v, net.delta] + ([net.b] if net.bias else [])
    for table in kinds:
        for l, symbols in table.items():
            for j, s in enumerate(symbols):
                out[s] = [o[j] for m, o in table.items() if m != l and j < len(o)]
    for name, pos in net.positions.items():
        if pos.is_weight:
            out[sp.Symbol(name, real=True)] = [sp.Symbol(n, real=True) for n, p in net.positions.items()
                                               if p.is_weight and p.index == pos.index and p.key != pos.key]
    return out


def wrong_layer(case: Case) -> Diagnosis | None:
    """One symbol of the rule, everywhere or in one factor, taken from another layer (y2_1 for y1_1)."""
    if case.target.layer_level:
        return None
    once, twins = _rule_once(case), _layer_twins(case)
    factors = sp.Mul.make_args(once)
    for s in sorted(once.free_symbols, key=lambda s: s.name):
        for o in twins.get(s, []):
            guesses = [once.xreplace({s: o})]
            holding = [i for i, f in enumerate(factors) if s in f.free_symbols]
            if len(holding) > 1:
                guesses += [sp.Mul(*[f.xreplace({s: o}) if i == k else f for i, f in enumerate(factors)])
                            for k in holding]
            if any(case.explains(g) for g in guesses):
                return Diagnosis("wrong_layer", "Wrong layer: {} appears where {} belongs (a symbol of another "
                                                "layer in one factor).", (o, s))
    return None


def index_slips(case: Case) -> Diagnosis | None:
    """The same index slip in every term: a weight index k read as k' across a matrix, or w_kj for w_jk."""
    if case.target.layer_level:
        return None
    net, once = case.net, _rule_once(case)
    used = {s.name for s in once.free_symbols}
    by_key: dict[str, dict[tuple, str]] = {}
    for name, pos in net.positions.items():
        if pos.is_weight:
            by_key.setdefault(pos.key, {})[pos.index] = name
    for cells in by_key.values():
        mine = [(i, n) for i, n in cells.items() if n in used]
        if len(mine) < 2:
            continue
        for slip, why in islice(_slips(cells, mine), MAX_GUESSES):
            guess = once.xreplace({sp.Symbol(a, real=True): sp.Symbol(b, real=True) for a, b in slip.items()})
            if guess != once and case.explains(guess):
                pairs = ", ".join("{} for {}" for _ in slip)
                return Diagnosis("wrong_index", f"Wrong index in every term: {why} ({pairs}).",
                                 tuple(x for a, b in slip.items() for x in (b, a)))
    return _two_slips(case, once)


def _two_slips(case: Case, once: sp.Expr) -> Diagnosis | None:
    """Two different symbols, each with a slipped index (x2 for x1 and w2_1_2 for w2_1_1)."""
    groups = _groups(case)
    singles = [(s, o) for s in sorted(once.free_symbols, key=lambda s: s.name) for o in groups.get(s, [])]
    pairs = ((a, b) for i, a in enumerate(singles) for b in singles[i + 1:] if a[0] != b[0])
    for (s1, o1), (s2, o2) in islice(pairs, MAX_GUESSES):
        if case.explains(once.xreplace({s1: o1, s2: o2})):
            return Diagnosis("wrong_index", "Wrong indices: {} appears where {} belongs, and {} where {} does.",
                             (o1, s1, o2, s2))
    return None


def _slips(cells: dict[tuple, str], mine: list) -> Iterator[tuple[dict[str, str], str]]:
    swapped = {n: cells[(i[1], i[0])] for i, n in mine if (i[1], i[0]) in cells}
    if len(swapped) == len(mine):
        yield swapped, "the weight's two indices are swapped (w_kj written for w_jk)"
    for pos, what in ((0, "first"), (1, "second")):
        values = sorted({i[pos] for i, _ in mine})
        others = sorted({i[pos] for i in cells})
        for a in values:
            for b in others:
                if a == b:
                    continue
                slip = {}
                for i, n in mine:
                    if i[pos] == a:
                        j = (b, i[1]) if pos == 0 else (i[0], b)
                        if j in cells:
                            slip[n] = cells[j]
                if len(slip) > 1:
                    yield slip, f"the {what} index of the weights is {b + 1} where it should be {a + 1}"


CHECKS = (missing_sum, wrong_activation_derivative, index_slips, wrong_layer)
