"""Check a hand derivation against the derived rule: equivalence, a counterexample, a diagnosis."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Union

import sympy as sp

from ..printing import to_text

from ..derive import QUANTITIES, Derivation, derive
from ..errors import SymbpError
from ..network import Network
from .diagnose import MISTAKES, Case, Diagnosis, diagnose
from .parse import ExpressionError, parse_expression
from .symbols import (Timeout, close, evaluate, function_table, output_symbols, relevant_values,
                      sample_points, symbol_table, time_limit)

__all__ = ["MISTAKES", "ExpressionError", "VerifyError", "VerifyResult", "parse_expression",
           "parse_for", "verify"]

POINTS = 4
MAX_POINTS = 12          # drawn only where a formula is undefined, or a ReLU kink is unseen
MAX_SYMBOLIC_OPS = 300   # beyond this, expand() may take long: go straight to the numeric test
SYMBOLIC_SECONDS = 2.0   # (a + b + ...)**100 is small to write and huge to expand


class VerifyError(SymbpError, ValueError):
    """A verify request names an unknown parameter or quantity."""


@dataclass(frozen=True)
class VerifyResult:
    """The verdict on a candidate formula; ``equivalent`` is None when it could not be decided."""

    equivalent: Optional[bool]
    expected: sp.Expr
    expected_text: str
    counterexample: Optional[dict[str, Optional[float]]]
    mistake: Optional[str]
    message: str

    def to_dict(self) -> dict:
        """The JSON of ``symbp verify --json``."""
        return {"equivalent": self.equivalent, "expected": self.expected_text,
                "counterexample": self.counterexample, "mistake": self.mistake, "message": self.message}


def verify(net: Union[Network, Derivation, str], param: str, expr: Union[str, sp.Expr],
           quantity: str = "gradient", seed: int = 0) -> VerifyResult:
    """Is ``expr`` the ``quantity`` of ``param`` in ``net``?

    ``net`` is a Network, a spec or layer string, or a Derivation (to reuse one); ``expr``
    is text in canonical identifiers (parsed safely) or a SymPy expression in the
    network's symbols. ``quantity`` is gradient, update, new or delta (``param`` then
    names a unit's local gradient, e.g. delta2_1; a delta name implies it).
    """
    d = net if isinstance(net, Derivation) else _derivation(Network.load(net))
    quantity = _check_request(d, param, quantity)
    candidate = parse_for(d.net, expr) if isinstance(expr, str) else expr
    candidate = d.unrolled(candidate).xreplace(output_symbols(d.net))
    expected = d.quantity(param, quantity, form="unrolled")
    text = to_text(expected)   # the same identifiers and functions verify accepts
    if _symbolically_equal(candidate, expected):
        return VerifyResult(True, expected, text, None, None, "Equivalent (identical after expansion).")
    return _numeric_verdict(d, param, quantity, candidate, expected, text, seed)


def parse_for(net: Network, text: str) -> sp.Expr:
    """Parse ``text`` with the identifiers and functions of ``net``."""
    return parse_expression(text, symbol_table(net), function_table(net))


@lru_cache(maxsize=8)
def _derivation(net: Network) -> Derivation:
    return derive(net)


def _check_request(d: Derivation, param: str, quantity: str) -> str:
    if quantity not in QUANTITIES:
        raise VerifyError(f"quantity: expected one of {', '.join(QUANTITIES)}, got {quantity!r}")
    is_delta = sp.Symbol(param, real=True) in d.deltas
    if is_delta and quantity == "gradient":
        return "delta"          # a local gradient has no gradient of its own: the name says what is meant
    if quantity == "delta" and not is_delta:
        names = ", ".join(s.name for s in d.deltas)
        raise VerifyError(f"param: expected a local gradient ({names}), got {param!r}")
    if quantity != "delta" and param not in d.params:
        names = ", ".join(d.params)
        raise VerifyError(f"param: expected a weight or bias ({names}), got {param!r}")
    return quantity


def _symbolically_equal(a: sp.Expr, b: sp.Expr) -> bool:
    """Exact check in unit symbols; sound (an identity there is one after the forward pass)."""
    difference = a - b
    if sp.count_ops(difference) > MAX_SYMBOLIC_OPS:
        return False
    try:
        with time_limit(SYMBOLIC_SECONDS):
            return sp.expand(difference) == 0
    except Timeout:
        return False


def _numeric_verdict(d, param, quantity, candidate, expected, text, seed) -> VerifyResult:
    """Compare at random 50-digit points until POINTS agree (and every ReLU kink is seen from both sides)."""
    points = sample_points(d.net, MAX_POINTS, seed)
    kinks = _kinks(d.net, candidate, expected)
    agreed, mine, signs = 0, [], set()
    for point in points:
        want, got = evaluate(expected, point), evaluate(candidate, point)
        mine.append(got)
        if want is None and got is None:
            continue
        if want is None or got is None or not close(want, got):
            case = Case(d, param, quantity, candidate, points[:max(POINTS, len(mine))], given=mine)
            return _wrong(case, expected, text, point, want, got)
        agreed += 1
        signs |= {(v, point.units[v] > 0) for v in kinks}
        if agreed >= POINTS and len(signs) == 2 * len(kinks):
            return VerifyResult(True, expected, text, None, None,
                                f"Equivalent: equal at {agreed} random points to 30 significant digits.")
    if agreed >= POINTS:
        return VerifyResult(True, expected, text, None, None,
                            f"Equivalent: equal at {agreed} random points to 30 significant digits "
                            "(some ReLU units were active, or inactive, at all of them).")
    return VerifyResult(None, expected, text, None, None,
                        "Undecided: the formulas are undefined at most sample points.")


def _kinks(net: Network, *exprs: sp.Expr) -> list[sp.Symbol]:
    """Net inputs of ReLU units the formulas depend on: a missing step H(v) shows only where v < 0."""
    used = set().union(*(e.free_symbols for e in exprs))
    used |= {h.args[0] for e in exprs for h in e.atoms(sp.Heaviside)}
    return [v for l in range(1, net.depth + 1) if _has_step(net.activation(l))
            for j, v in enumerate(net.v[l], start=1) if v in used or net.y[l][j - 1] in used]


def _has_step(act) -> bool:
    """Is phi' a step function (ReLU's H(v))? Read from the registry, not from the name."""
    if not act.elementwise:
        return False
    v = sp.Symbol("v", real=True)
    return act.derivative_in_output(act.function(v), v).has(sp.Heaviside)


def _wrong(case: Case, expected, text, point, want, got) -> VerifyResult:
    found: Diagnosis = diagnose(case)
    candidate = case.candidate
    values = relevant_values([candidate, expected], point, case.net)
    values["expected_value"] = None if want is None else float(want)
    values["candidate_value"] = None if got is None else float(got)
    direct = {s.name for e in (candidate, expected) for s in e.free_symbols}
    shown = ", ".join(f"{k} = {v:.6g}" for k, v in values.items() if k in direct)
    message = (f"{found.message} For example at {shown}: expected {_show(want)}, got {_show(got)}.")
    return VerifyResult(False, expected, text, values, found.mistake, message)


def _show(value) -> str:
    return "undefined" if value is None else f"{float(value):.10g}"
