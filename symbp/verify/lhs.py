r"""An answer as students write it: ``lhs = rhs``, the left side naming the parameter and quantity.

``\Delta w_{41} = ...`` is an update, ``\frac{\partial E}{\partial w_{21}} = ...`` and
``\partial E/\partial w_{21} = ...`` a gradient, ``w_{41}(n+1) = ...`` a new value and
``\delta_4 = ...`` a local gradient; in text ``Delta w2_1_1``, ``dE/dw2_1_1``,
``w2_1_1(n+1)`` and ``delta2_1``. The loss is the profile's letter (``\mathcal{E}``, ``C``)
or E. Only the network is needed, never its derivation, so a refused answer is refused at once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..network import Network
from . import algebra as alg
from .parse import ExpressionError, check_plain
from .target import VerifyError, layer_names

# (pattern, quantity): the left side's shapes; <x> is the name, <loss> the loss letter.
_LOSS_TEX = r"(?P<loss>\\mathcal\s*(?:\{\s*[A-Za-z]\s*\}|[A-Za-z])|[A-Za-z])"
LATEX_LHS = (
    (re.compile(r"\\Delta\s*(?P<x>.+)", re.S), "update"),
    (re.compile(r"\\[dt]?frac\s*\{\s*\\partial\s*" + _LOSS_TEX + r"\s*\}\s*\{\s*\\partial\s*(?P<x>.+)\}", re.S),
     "gradient"),
    (re.compile(r"\\partial\s*" + _LOSS_TEX + r"\s*/\s*\\partial\s*(?P<x>.+)", re.S), "gradient"),
    (re.compile(r"(?P<x>.+?)\s*\(\s*(?P<step>\\?[A-Za-z]+)\s*\+\s*1\s*\)", re.S), "new"),
    (re.compile(r"(?P<x>.+)", re.S), "delta"),
)
TEXT_LHS = (
    (re.compile(r"Delta(?:\s+|_)(?P<x>\w+)"), "update"),
    (re.compile(r"d(?P<loss>[A-Za-z])\s*/\s*d\s*(?P<x>\w+)"), "gradient"),
    (re.compile(r"(?P<x>\w+)\s*\(\s*(?P<step>[A-Za-z]+)\s*\+\s*1\s*\)"), "new"),
    (re.compile(r"(?P<x>\w+)"), "delta"),
)
_COMPARISONS = ("==", "<=", ">=", "!=")


@dataclass(frozen=True)
class Answer:
    """What an answer asks: the parameter, the quantity and the parsed right side."""

    param: str | None
    quantity: str | None
    value: alg.Value


def read_answer(net: Network, text: str, param: str | None, quantity: str | None,
                latex: bool, repairs: list | None = None, seen: set | None = None, batch: int | None = None) -> Answer:
    """Parse ``text`` (``rhs`` or ``lhs = rhs``) against ``net``; the left side must agree with
    ``param`` and ``quantity`` where they are given, and supplies them where not."""
    from . import parse_for
    from .latex import _strip_math_delimiters, parse_latex_for
    # the size and alphabet of the whole answer first, so no pattern below ever sees a huge text
    check_plain(text, "formula" if latex else "expression", whitespace="\t\r\n" if latex else "")
    if latex:
        text = _strip_math_delimiters(text)
    split = split_equals(text, latex)
    def parse(net, text, repairs):
        return parse_latex_for(net, text, repairs, seen, batch) if latex else parse_for(net, text, repairs, batch)

    if split is None:
        return Answer(param, quantity, parse(net, text, repairs))
    lhs, rhs, offset = split
    named, implied = read_lhs(net, lhs, latex)
    if param is not None and param != named:
        raise VerifyError(f"param: the answer's left side '{lhs.strip()}' names {named}, but --param is {param}")
    if quantity is not None and quantity != implied and not (implied == "delta" and quantity == "gradient"):
        raise VerifyError(f"quantity: the answer's left side '{lhs.strip()}' is the {implied} of {named}, "
                          f"but --quantity is {quantity}")
    try:
        value = parse(net, rhs, repairs)
    except ExpressionError as exc:
        raise ExpressionError(exc.reason, None if exc.column is None else exc.column + offset) from None
    return Answer(named, implied, value)


_AXIS = re.compile(r"\baxis\s*$")


def split_equals(text: str, latex: bool) -> tuple[str, str, int] | None:
    """(lhs, rhs, column of rhs) of ``lhs = rhs``; None without an '='; ExpressionError for an '='
    that cannot split an answer (a second one, one inside brackets, '==', nothing on a side)."""
    if not isinstance(text, str) or "=" not in text:
        return None
    for op in _COMPARISONS:
        col = text.find(op)
        if col >= 0:
            raise ExpressionError(f"'{op}' is a comparison; an answer is a formula, or lhs = rhs with one '='", col)
    depth, tops = 0, []
    for col, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "=":
            if depth > 0 and not latex and _AXIS.search(text, 0, col):
                continue            # delta2.sum(axis=1): a sum's keyword, not a side
            if depth > 0:
                raise ExpressionError("an '=' inside brackets; an answer is a formula, or lhs = rhs "
                                      "with the '=' between the two sides", col)
            tops.append(col)
    if not tops:
        return None
    if len(tops) > 1:
        raise ExpressionError("a second '=': an answer is one formula, or one lhs = rhs", tops[1])
    col = tops[0]
    lhs, rhs = text[:col], text[col + 1:]
    if not lhs.strip():
        raise ExpressionError("nothing before '=': write the parameter on the left, as in "
                              + (r"\Delta w_{21} = ..." if latex else "Delta w2_1_1 = ..."), col)
    if not rhs.strip():
        raise ExpressionError("nothing after '='", col)
    if latex:
        return lhs, " " * (col + 1) + rhs, 0          # the columns of the user's text
    stripped = rhs.lstrip()
    return lhs, stripped, col + 1 + len(rhs) - len(stripped)


def read_lhs(net: Network, lhs: str, latex: bool) -> tuple[str, str]:
    """The canonical name and the quantity that a left side names."""
    body = lhs.strip()
    for pattern, quantity in (LATEX_LHS if latex else TEXT_LHS):
        m = pattern.fullmatch(body)
        if m is None:
            continue
        if "loss" in m.groupdict():
            _check_loss(net, m.group("loss"), latex, body)
        if "step" in m.groupdict():
            _check_step(net, m.group("step"), latex, body)
        name = _latex_name(net, m.group("x"), body) if latex else m.group("x")
        return name, _check_kind(net, name, quantity, body, latex)
    new = net.profile.at_step(1)
    raise ExpressionError(f"the left side '{body}' names no parameter; write "
                          + (rf"\Delta w_{{21}}, \partial E/\partial w_{{21}}, w_{{21}}{new} or \delta_2"
                             if latex else "Delta w2_1_1, dE/dw2_1_1, w2_1_1(n+1) or delta2_1"))


def _check_loss(net: Network, letter: str, latex: bool, body: str) -> None:
    squeezed = re.sub(r"[\s{}]+", "", letter)         # \mathcal{E}, \mathcal E, \mathcal{ E }
    accepted = {"E", net.profile.loss, re.sub(r"[\s{}]+", "", net.profile.loss_tex)} if latex \
        else {"E", net.profile.loss}
    if squeezed not in accepted:
        shown = " or ".join(sorted({net.profile.loss_tex if latex else net.profile.loss, "E"}))
        raise ExpressionError(f"the left side '{body}' differentiates {letter}; the loss is {shown} "
                              f"in the {net.profile.name} notation")


def _check_step(net: Network, letter: str, latex: bool, body: str) -> None:
    letters = net.profile.step_letters(latex)
    if letter not in letters:
        raise ExpressionError(f"the left side '{body}' counts steps with {letter}; the {net.profile.name} notation "
                              f"counts them with {' or '.join(letters)}")


def _latex_name(net: Network, text: str, body: str) -> str:
    from .latex import parse_latex_for
    try:
        value = parse_latex_for(net, text)
    except ExpressionError as exc:
        raise ExpressionError(f"the left side '{body}': {exc.reason}") from None
    if isinstance(value, sp.Symbol):
        return value.name
    if alg.is_matrix(value):
        names = tuple(getattr(e, "name", None) for e in alg.entries(value))
        for key, layered in layer_names(net).items():
            if layered.names == names:
                return key
    raise ExpressionError(f"the left side '{body}' names no parameter or local gradient")


def _check_kind(net: Network, name: str, quantity: str, body: str, latex: bool) -> str:
    layered = layer_names(net).get(name)
    deltas = {s.name for ds in net.delta.values() for s in ds}
    is_delta = name in deltas or (layered is not None and layered.kind == "delta")
    is_param = name in net.positions or (layered is not None and layered.kind != "delta")
    if quantity == "delta":
        if is_delta:
            return "delta"
        if is_param:
            hint = (rf"\Delta {body}, \partial E/\partial {body} or {body}{net.profile.at_step(1)}" if latex
                    else f"Delta {body}, dE/d{body} or {body}(n+1)")
            raise ExpressionError(f"the left side '{body}' is a parameter; say which quantity: {hint}")
    elif is_param:
        return quantity
    elif is_delta:
        raise ExpressionError(f"the left side '{body}' takes a weight or bias; {name} is a local gradient, "
                              "written alone on the left")
    raise ExpressionError(f"the left side '{body}' names no parameter or local gradient of this network "
                          "(symbp verify NET --list-symbols lists them)")
