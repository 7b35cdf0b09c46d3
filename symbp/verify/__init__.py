"""Check a hand derivation against the derived rule: equivalence, a counterexample, a diagnosis."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import sympy as sp

from ..derive import Derivation, derive
from ..network import Network
from ..printing import to_text
from . import algebra as alg
from .batch import check_batch, check_size
from .batch import verdict as batch_verdict
from .diagnose import MISTAKES, Case, Diagnosis, canonical, diagnose
from .lhs import read_answer
from .parse import ExpressionError, parse_expression
from .refs import resolve
from .score import credit
from .steps import check_chain, is_chain
from .symbols import (
    Timeout,
    batch_matrices,
    close,
    evaluate,
    function_table,
    matrix_table,
    number_text,
    output_symbols,
    point_text,
    relevant_values,
    sample_points,
    symbol_table,
    tex_names,
    time_limit,
)
from .target import Target, VerifyError, layer_names, matrix_rule, target

__all__ = ["MISTAKES", "ExpressionError", "VerifyError", "VerifyResult", "parse_expression",
           "parse_for", "verify"]

POINTS = 4
MAX_POINTS = 12          # drawn only where a formula is undefined, or a ReLU kink is unseen
MAX_SYMBOLIC_OPS = 300   # beyond this, expand() may take long: go straight to the numeric test
SYMBOLIC_SECONDS = 2.0   # (a + b + ...)**100 is small to write and huge to expand


@dataclass(frozen=True)
class VerifyResult:
    """The verdict on a candidate formula; ``equivalent`` is None when it could not be decided.

    ``expected`` is the right rule unrolled (a matrix for a layer-level answer); ``expected_text``
    the rule as verify accepts it (a layer's in matrix form: (1 - y1**2)*(W2.T @ delta2)).
    """

    equivalent: bool | None
    expected: alg.Value
    expected_text: str
    counterexample: dict[str, float | None] | None
    mistake: str | None
    message: str
    rule: sp.Basic | None = field(default=None, compare=False)      # the expected rule, as verify prints it
    network: Network | None = field(default=None, repr=False, compare=False)
    param: str | None = field(default=None, compare=False)       # what was checked, as given or
    quantity: str | None = field(default=None, compare=False)    # as the answer's left side named it
    score: float | None = field(default=None, compare=False)     # partial credit in [0, 1] (README, verify)
    diagnosis: Diagnosis | None = field(default=None, compare=False)  # what went wrong, before the example
    shown: tuple = field(default=(), compare=False)              # the counterexample's names in the message
    entry: tuple = field(default=(), compare=False)     # a matrix's first wrong entry: ("entry (1, 2), dE/d{}: ", name)
    notation: Network | None = field(default=None, repr=False, compare=False)  # a LaTeX answer's numbering
    canonical: str | None = field(default=None, compare=False)  # the message in identifiers, for JSON
    steps: tuple | None = field(default=None, compare=False)     # the links of a chain (steps.Link), in order

    def _repr_latex_(self) -> str:
        """The verdict and the expected rule, in the network's notation (Jupyter)."""
        from ..printing import to_latex
        verdict = {True: "Equivalent", False: "Not equivalent", None: "Undecided"}[self.equivalent]
        if self.mistake:
            verdict += f" ({self.mistake.replace('_', ' ')})"
        rows = [rf"&\text{{{verdict}.}}"]
        for link in self.steps or ():         # a derivation: one row per step, the student's LaTeX beside it
            ok = {True: "follows", False: "does not follow", None: "undecided"}[link.equivalent]
            shown = rf"\quad {link.to}" if self.notation is not None else ""
            rows.append(rf"&\text{{step {link.index}: {ok}}}{shown}")
        if self.rule is not None and self.network is not None:
            rows.append(rf"&\text{{expected: }} {to_latex(self.rule, self.network)}")
        return r"$\begin{aligned}" + r"\\ ".join(rows) + r"\end{aligned}$"

    @property
    def expected_shown(self) -> str:
        """The expected rule as the student wrote theirs: LaTeX in their numbering, or identifiers."""
        from ..printing import to_latex
        if self.notation is None or self.rule is None:
            return self.expected_text
        rule = to_latex(self.rule, self.notation)
        if alg.is_matrix(self.expected) or self.rule == self.expected:
            return rule
        return f"{rule} = {to_latex(self.expected, self.notation)}"     # in deltas, then written out

    def to_dict(self) -> dict:
        """The JSON of ``symbp verify --json``."""
        out = {"equivalent": self.equivalent, "expected": self.expected_text,
               "counterexample": self.counterexample, "mistake": self.mistake,
               "message": self.canonical or self.message,
               "param": self.param, "quantity": self.quantity, "score": self.score}
        if self.steps is not None:
            out["steps"] = [link.to_dict() for link in self.steps]
        if self.notation is not None:
            out["expected_latex"] = self.expected_shown
        return out


def verify(net: Network | Derivation | str, param: str | None = None,
           expr: str | sp.Expr | sp.MatrixBase | None = None, quantity: str | None = None,
           seed: int = 0, latex: bool = False, steps: bool = False, rubric: dict | None = None,
           batch: int | None = None, **flags: Any) -> VerifyResult:
    """Is ``expr`` the ``quantity`` of ``param`` in ``net``?

    Parameters
    ----------
    net : Network, Derivation, Spec, str or Path
        The network (a spec file or a layer string too), or a Derivation to reuse.
    param : str or None
        A canonical name: ``w2_1_3``, ``b1_2``, ``delta2_1``, or a whole layer (``delta1``,
        ``W1``, the skip matrix ``W3_1``, ``b1``) whose ``expr`` is then a matrix formula such as
        ``(1 - y1**2)*(W2.T @ delta2 + W3_1.T @ delta3)``, compared entry by entry.
    expr : str or sympy expression
        Text in canonical identifiers (parsed by a whitelist parser, never evaluated), or a SymPy
        expression in the network's symbols. A text may be ``lhs = rhs``: the left side names the
        parameter and quantity (``Delta w2_1_1 = ...``, ``dE/dw2_1_1 = ...``, ``w2_1_1(n+1) = ...``,
        ``delta2_1 = ...``; in LaTeX ``\\Delta w_{41}``, ``\\frac{\\partial E}{\\partial w_{41}}``),
        and must agree with ``param`` and ``quantity`` where they are given.
    quantity : str or None
        ``gradient`` (dE/dp, the default), ``update`` (-eta dE/dp), ``new`` (p + update) or
        ``delta`` (implied by a delta name).
    seed : int
        Seeds the random points of the numeric comparison.
    latex : bool
        ``expr`` is LaTeX in the notes' notation (see ``parse_latex_for``).
    steps : bool
        ``expr`` is a derivation (``lhs = step 1 = step 2 ...``), checked link by link even with one
        '=' (a text with several '=' always is); the result has ``steps`` and an error-carried-forward
        ``score``.
    rubric : dict or None
        Weights of the factor roles for partial credit, over ``score.RUBRIC``.
    batch : int or None
        A layer's answer over a batch of this many samples (2 to 16): every per-sample vector is a
        matrix of one column per sample (``delta2`` is (n_2, N)), and a parameter's gradient is the
        batch's, the sum over its samples (``delta2 @ y1.T``; ``delta2.sum(axis=1)`` for a bias, in
        LaTeX ``\\sum_{n} \\boldsymbol{\\delta}^{(2)}(n)`` or ``\\boldsymbol{\\delta}^{(2)} \\mathbf{1}``).
    **flags
        With a layer string: ``activation`` (or ``activations``), ``loss``, ``notation``, ...

    Returns
    -------
    VerifyResult
        ``equivalent`` (True, False or None), ``expected``, ``counterexample``, ``mistake``.

    Examples
    --------
    >>> verify("2-3-1", "w2_1_1", "eta*(d1 - y2_1)*y1_1", quantity="update",
    ...        activation="sigmoid,linear").equivalent
    True
    """
    network = net.net if isinstance(net, Derivation) else Network.load(net, **flags)
    original = expr
    if expr is None:
        raise VerifyError("expr: expected a formula")
    if batch is not None:
        check_size(batch)
    if isinstance(expr, str) and (steps or is_chain(expr)):     # a derivation: checked link by link
        if batch is not None:
            raise VerifyError("batch: --batch checks one formula, not a derivation of several steps")
        return check_chain(network, expr, param, quantity, latex, seed,
                           net if isinstance(net, Derivation) else None, rubric)
    repairs: list = []
    seen: set = set()
    if isinstance(expr, str):       # parsed first: a refused answer never waits for the derivation
        try:
            answer = read_answer(network, expr, param, quantity, latex, seen=seen, batch=batch)
        except ExpressionError as exc:     # shapes that do not fit: is it the slip of one product?
            answer = _slip_reading(network, expr, param, quantity, latex, repairs, exc, batch)
        param, quantity, expr = answer.param, answer.quantity, answer.value
    if param is None:
        raise VerifyError("param: expected --param NAME, or an answer lhs = rhs whose left side names it "
                          "(Delta w2_1_1 = ..., or in LaTeX \\Delta w_{21} = ...)")
    t = target(network, param, quantity or "gradient")
    d = net if isinstance(net, Derivation) else _derivation(network)
    if batch is not None:
        check_batch(d, t)
        result = batch_verdict(d, t, expr, batch, seed)
    else:
        result = _verify_value(d, t, resolve(expr, d), seed, rubric)
    if latex and isinstance(original, str):
        result = in_notation(result, _numbering(d.net, seen))
    if repairs:
        if not result.equivalent:
            raise repairs[-1]           # read as the slip, it is still wrong: the shapes are the message
        (mistake, why), *_ = repairs[:-1]
        return replace(result, equivalent=False, mistake=mistake, score=0.0, counterexample=None,
                       message=f"Not {t.what}: {why}; read so, it would be right.")
    return result


def _numbering(net: Network, seen: set) -> Network:
    """The network in the numbering the student wrote: its own, or the other where names were read so."""
    if "other numbering" not in seen:
        return net
    other = "layer" if net.spec.numbering == "global" else "global"
    return _twin(net, other)


@lru_cache(maxsize=8)
def _twin(net: Network, numbering: str) -> Network:
    from dataclasses import replace as replace_spec
    return Network(replace_spec(net.spec, numbering=numbering))


def in_notation(result: VerifyResult, net: Network) -> VerifyResult:
    """The result with its diagnosis and counterexample in ``net``'s LaTeX names (the JSON keeps the identifiers)."""
    names = tex_names(net)
    result = replace(result, notation=net)
    if result.diagnosis is None or result.counterexample is None:
        return result
    return replace(result, message=_example_message(result, _latex_show(net), names), canonical=result.message)


def _latex_show(net: Network):
    """Prints a diagnosis's names and formulas as the notes write them in ``net``; words stay words."""
    from ..printing import to_latex
    names, layers = symbol_table(net), layer_names(net)

    def show(x: object) -> str:
        if isinstance(x, str) and x in layers:
            x = sp.MatrixSymbol(x, *layers[x].shape)
        elif isinstance(x, str):
            x = names.get(x, x)
        return to_latex(x, net) if isinstance(x, sp.Basic) else str(x)
    return show


def _example_message(result: VerifyResult, show=canonical, names: dict[str, str] | None = None) -> str:
    """The diagnosis and the point where the formulas differ, printed by ``show`` (``names`` for the
    counterexample's identifiers)."""
    values = result.counterexample
    shown = point_text(values, result.shown, names)
    want, got = values["expected_value"], values["candidate_value"]
    entry = result.entry[0].format(*map(show, result.entry[1:])) if result.entry else ""
    return (f"{result.diagnosis.say(show)} For example at {shown}: {entry}expected {number_text(want)}, "
            f"got {number_text(got)}.")


def _slip_reading(network, expr: str, param, quantity, latex: bool, repairs: list, exc: ExpressionError,
                  batch: int | None = None):
    """The answer read with each product whose shapes do not fit taken as the slip it would be (the
    other product, or the other order); the original error when no such reading exists. ``repairs``
    gets the slips made, then the error to raise if the reading is wrong too."""
    try:
        answer = read_answer(network, expr, param, quantity, latex, repairs, batch=batch)
    except ExpressionError:
        raise exc from None
    if not repairs or answer.param is None \
            or not target(network, answer.param, answer.quantity or "gradient").layer_level:
        raise exc
    repairs.append(exc)
    return answer


def _verify_value(d: Derivation, t: Target, expr, seed: int, rubric: dict | None = None) -> VerifyResult:
    """The verdict on a parsed candidate for target ``t``, with its score."""
    candidate = _fit(d, t, expr)
    expected = t.build(lambda n: d.quantity(n, t.quantity, form="unrolled"))
    text = to_text(matrix_rule(d, t) if t.layer_level else expected)   # what verify accepts back
    rule = matrix_rule(d, t) if t.layer_level else d.quantity(t.name, t.quantity)
    if t.layer_level and (not alg.is_matrix(candidate) or candidate.shape != t.shape):
        result = _shape_verdict(d, t, candidate, expected, text, seed)
    else:
        result = _compare(d, t, candidate, expected, text, seed)
    return replace(result, rule=rule, network=d.net, param=t.name, quantity=t.quantity,
                   score=credit(d, t, candidate, result.equivalent, rubric))


def _compare(d: Derivation, t: Target, candidate, expected, text: str, seed: int) -> VerifyResult:
    candidate = d.unrolled(candidate).xreplace(output_symbols(d.net))
    if _symbolically_equal(candidate, expected):
        return VerifyResult(True, expected, text, None, None, "Equivalent (identical after expansion).")
    return _numeric_verdict(d, t, candidate, expected, text, seed)


def parse_for(net: Network, text: str, repairs: list | None = None, batch: int | None = None) -> alg.Value:
    """Parse ``text`` with the identifiers, vectors, matrices and functions of ``net``; with ``batch`` (a
    number of samples) every per-sample vector is a matrix of one column per sample."""
    matrices = {m.name: e for m, e in batch_matrices(net, batch).items()} if batch else matrix_table(net)
    return parse_expression(text, {**matrices, **symbol_table(net)}, function_table(net), repairs)


@lru_cache(maxsize=8)
def _derivation(net: Network) -> Derivation:
    return derive(net)


def _fit(d: Derivation, t: Target, candidate):
    """A 1 x 1 matrix is its entry for one unit, a number a 1 x 1 layer; a unit's answer must be one number."""
    if not alg.is_matrix(candidate):
        return sp.ImmutableMatrix([[candidate]]) if t.shape == (1, 1) else candidate
    if t.layer_level:
        return candidate
    if candidate.shape == (1, 1):
        return candidate[0, 0]
    layer = next(n for n, o in layer_names(d.net).items() if t.name in o.names)
    raise VerifyError(f"param: {t.name} is one {'local gradient' if t.kind == 'delta' else t.kind}, but the "
                      f"answer is a {candidate.rows} x {candidate.cols} matrix (a layer's answer goes with "
                      f"--param {layer})")


def _shape_verdict(d: Derivation, t: Target, candidate, expected, text: str, seed: int) -> VerifyResult:
    """A layer-level answer of the wrong shape: the transpose of the right one, or simply wrong."""
    want = f"({t.shape[0]}, {t.shape[1]})"
    if alg.is_matrix(candidate) and candidate.shape == t.shape[::-1]:
        inner = _compare(d, t, alg.transpose(candidate), expected, text, seed)
        if inner.equivalent:
            return VerifyResult(False, expected, text, None, "missing_transpose",
                                f"Yours is the transpose of {t.what}: shape {alg.shape_text(candidate)}, "
                                f"expected {want}; transposed, it is right.")
        return VerifyResult(False, expected, text, None, "other",
                            f"Wrong shape {alg.shape_text(candidate)}, expected {want}; and transposed, "
                            f"it is still wrong: {inner.message}")
    return VerifyResult(False, expected, text, None, "other",
                        f"Wrong shape: the answer is {alg.shape_text(candidate)}; {t.what} is {want}.")


def _symbolically_equal(a, b) -> bool:
    """Exact check in unit symbols; sound (an identity there is one after the forward pass)."""
    return all(_equal_entry(x, y) for x, y in zip(alg.entries(a), alg.entries(b)))


def _equal_entry(a: sp.Expr, b: sp.Expr) -> bool:
    difference = a - b
    if sp.count_ops(difference) > MAX_SYMBOLIC_OPS:
        return False
    try:
        with time_limit(SYMBOLIC_SECONDS):
            return sp.expand(difference) == 0
    except Timeout:
        return False


def _numeric_verdict(d, t, candidate, expected, text, seed) -> VerifyResult:
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
            case = Case(d, t, candidate, points[:max(POINTS, len(mine))], given=mine)
            return _wrong(case, expected, text, point, want, got)
        agreed += 1
        signs |= {(v, point.units[v] > kink) for v, kink in kinks.items()}
        if agreed >= POINTS and len(signs) == 2 * len(kinks):
            return VerifyResult(True, expected, text, None, None,
                                f"Equivalent: equal at {agreed} random points to 30 significant digits.")
    if agreed >= POINTS:
        return VerifyResult(True, expected, text, None, None,
                            f"Equivalent: equal at {agreed} random points to 30 significant digits "
                            "(some ReLU units were active, or inactive, at all of them).")
    return VerifyResult(None, expected, text, None, None,
                        "Undecided: the formulas are undefined at most sample points.")


def _kinks(net: Network, *exprs) -> dict[sp.Symbol, float]:
    """Net inputs of units whose phi' jumps (ReLU's step at 0) that the formulas depend on, with
    where it jumps (the registry row's ``kink``): a missing step shows only on one side of it."""
    used = set().union(*(e.free_symbols for e in exprs))
    used |= {h.args[0] for e in exprs for h in e.atoms(sp.Heaviside)}
    return {v: net.activation(l).kink for l in net.graph.order if net.activation(l).kink is not None
            for j, v in enumerate(net.v[l], start=1) if v in used or net.y[l][j - 1] in used}


def _wrong(case: Case, expected, text, point, want, got) -> VerifyResult:
    found: Diagnosis = diagnose(case)
    entry, cand, exp, want, got = _first_difference(case, expected, want, got)
    values = relevant_values([cand, exp], point, case.net)
    values["expected_value"] = None if want is None else float(want)
    values["candidate_value"] = None if got is None else float(got)
    direct = {s.name for e in (cand, exp) for s in e.free_symbols}
    result = VerifyResult(False, expected, text, values, found.mistake, "", diagnosis=found,
                          shown=tuple(k for k in values if k in direct), entry=entry)
    return replace(result, message=_example_message(result))


def _first_difference(case: Case, expected, want, got):
    """(where, candidate, expected, their values) of the first entry that differs (the whole of a scalar)."""
    if not case.target.layer_level:
        return (), case.candidate, expected, want, got
    for i, name in enumerate(case.target.names):
        a = None if want is None else want[i]
        b = None if got is None else got[i]
        if a is None or b is None or not close(a, b):
            row, col = divmod(i, case.target.shape[1])
            what = {"delta": "{0}", "gradient": "dE/d{0}", "update": "Delta {0}", "new": "{0} + Delta {0}"}
            return ((f"entry ({row + 1}, {col + 1}), {what[case.quantity]}: ", name), case.candidate[i],
                    expected[i], a, b)
    return (), case.candidate, expected, want, got
