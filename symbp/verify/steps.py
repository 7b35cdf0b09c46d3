r"""A derivation checked step by step: an ``=`` chain, or the lines of an align environment.

``b_1(n+1) = b_1(n) + \Delta b_1(n) = b_1(n) + \eta \delta_1`` has a left side and two steps. Link
1 compares step 1 with the rule the left side names; link k compares step k with step k-1, the
student's own line, so an error is carried forward: a wrong step costs its link only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..errors import SymbpError
from ..files import MAX_SPEC_BYTES, read_text
from ..network import Network
from . import algebra as alg
from .parse import ExpressionError, check_plain
from .symbols import close, evaluate, point_text, relevant_values, sample_points, tex_names

MAX_STEPS = 20          # links in one derivation: each one is a comparison
ENVIRONMENTS = ("align", "align*", "aligned", "alignat", "alignat*", "equation", "equation*", "split",
                "eqnarray", "eqnarray*", "gather", "gather*", "multline", "multline*")
_COMPARISONS = ("==", "<=", ">=", "!=")


@dataclass(frozen=True)
class Link:
    """One link of a chain: is ``to`` (step ``index``) equal to ``source``, the step before it?"""

    index: int
    source: str
    to: str
    equivalent: bool | None
    mistake: str | None
    message: str
    counterexample: dict | None = None
    right: bool | None = None        # is ``to`` the true rule itself?
    credit: float = 0.0              # 1 if the link holds; a first wrong step's partial credit; else 0
    canonical: str | None = None     # the message in identifiers, where ``message`` is in the student's

    def to_dict(self) -> dict:
        return {"from": self.source, "to": self.to, "equivalent": self.equivalent, "mistake": self.mistake,
                "message": self.canonical or self.message, "counterexample": self.counterexample}


def split_chain(text: str, bare: bool = False) -> list[tuple[str, int]]:
    """The parts of ``a = b = c`` (each with its column), split at top-level '=' only; with ``bare``
    the first part may be empty (``&= ...`` lines under a --param that names the quantity)."""
    for op in _COMPARISONS:
        col = text.find(op)
        if col >= 0:
            raise ExpressionError(f"'{op}' is a comparison; a step is a formula, and steps are joined by '='", col)
    depth, cuts = 0, [-1]
    for col, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "=" and depth == 0:
            cuts.append(col)
    cuts.append(len(text))
    parts = [(text[a + 1:b], a + 1) for a, b in zip(cuts, cuts[1:])]
    for k, ((part, col), end) in enumerate(zip(parts, cuts[1:])):
        if k == 0 and bare and not part.strip() and len(parts) > 1:
            continue
        if not part.strip() and k == 0:
            raise ExpressionError("nothing before the first '=': start with the left side, as in "
                                  "b_1(n+1) = ..., or name it with --param", 0)
        if not part.strip():
            raise ExpressionError("an empty step between two '='" if end < len(text)
                                  else "nothing after the last '='", min(col, len(text) - 1))
    if len(parts) - 1 > MAX_STEPS:
        raise ExpressionError(f"more than {MAX_STEPS} steps in one derivation", cuts[MAX_STEPS + 1])
    return parts


def is_chain(text: str) -> bool:
    """Has ``text`` more than one top-level '=' (a chain of steps, not one answer)?"""
    depth, count = 0, 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        count += ch == "=" and depth == 0
    return count > 1 and not any(op in text for op in _COMPARISONS)


def read_steps(path: str) -> str:
    r"""The chain written in a .tex file: the lines of an align environment (``&=``, ``\\``) joined.

    Math delimiters, ``\begin{align*}``/``\end{align*}`` (and the other display environments),
    ``&``, ``\\``, ``\nonumber``, ``\notag``, ``\label{}``, ``\tag{}`` and TeX comments are layout:
    they are dropped.
    """
    text = read_text(path, "steps file", MAX_SPEC_BYTES)
    check_plain(text, "steps file", whitespace="\t\r\n", hint="")
    text = re.sub(r"(?<!\\)%[^\n]*", " ", text)                 # comments
    for m in re.finditer(r"\\(begin|end)\s*\{([^}]*)\}", text):
        if m.group(2).strip() not in ENVIRONMENTS:
            raise SymbpError(f"{path}: environment {{{m.group(2)}}} is not a display of equations; "
                             "expected align, align*, equation or aligned")
    text = re.sub(r"\\(begin|end)\s*\{[^}]*\}(\{[^}]*\})?", " ", text)
    text = re.sub(r"\\(nonumber|notag)(?![A-Za-z])", " ", text)
    text = re.sub(r"\\(label|tag\*?)\s*\{[^}]*\}", " ", text)          # \label{eq:b1}, \tag{3}
    text = re.sub(r"\\\\(\[[^\]]*\])?", " ", text)             # line breaks, \\[2pt]
    text = re.sub(r"\$\$|\$|\\\[|\\\]", " ", text)
    text = text.replace("&", " ")
    if not text.strip():
        raise SymbpError(f"{path}: expected the lines of a derivation, found none")
    return " ".join(text.split())


def check_chain(network: Network, text: str, param: str | None, quantity: str | None, latex: bool,
                seed: int = 0, d=None, rubric: dict | None = None):
    """The VerifyResult of a chain: links in order, the first broken one named, a score for the rest."""
    from . import _derivation, _fit, _numbering, parse_for
    from .latex import parse_latex_for
    from .lhs import read_lhs
    from .refs import resolve
    from .target import target
    parts = split_chain(text, bare=param is not None)
    headless = not parts[0][0].strip()
    if headless:
        parts = parts[1:]           # no left side: --param names it, every part is a step
    seen: set = set()

    def parse(net, part):
        return parse_latex_for(net, part, None, seen) if latex else parse_for(net, part)

    head = parts[0][0]
    try:
        if len(parts) == 1 or headless:
            raise ExpressionError("a derivation without a left side")
        named, implied = read_lhs(network, head, latex)
    except ExpressionError:
        if param is None:
            raise
        named, implied, steps = param, quantity or "gradient", parts     # no left side: every part a step
    else:
        steps = parts[1:]
        if param is not None and param != named:
            raise SymbpError(f"param: the derivation's left side '{head.strip()}' names {named}, but --param "
                             f"is {param}")
        if quantity is not None and quantity != implied and not (implied == "delta" and quantity == "gradient"):
            raise SymbpError(f"quantity: the derivation's left side '{head.strip()}' is the {implied} of {named}, "
                             f"but --quantity is {quantity}")
    values = []
    for i, (part, col) in enumerate(steps, start=1):
        try:
            col += len(part) - len(part.lstrip())
            values.append(parse(network, part.strip()))
        except ExpressionError as exc:
            raise ExpressionError(f"step {i} of {len(steps)} ('{part.strip()}'): {exc.reason}",
                                  None if exc.column is None else exc.column + col) from None
    t = target(network, named, implied)
    d = d or _derivation(network)       # parsed first: a refused step never waits for the derivation
    fitted = [_fit(d, t, resolve(v, d)) for v in values]
    notation = _numbering(d.net, seen) if latex else None       # feedback in the student's numbering
    return _links(d, t, [s.strip() for s, _ in steps], fitted, head.strip() if steps is not parts else None,
                  seed, rubric, notation)


def _links(d, t, texts: list[str], values: list, head: str | None, seed: int, rubric: dict | None,
           notation: Network | None = None):
    from . import VerifyResult, _verify_value, in_notation
    truth = [_verify_value(d, t, v, seed, rubric) for v in values]      # each step against the derived rule
    if notation is not None:
        truth = [in_notation(r, notation) for r in truth]
    links: list[Link] = []
    for i, (text, result) in enumerate(zip(texts, truth), start=1):
        source = (head or t.what) if i == 1 else texts[i - 2]
        if i == 1 or truth[i - 2].equivalent:
            link = Link(i, source, text, result.equivalent, result.mistake, result.message, result.counterexample,
                        result.equivalent, result.score, result.canonical)
        else:
            link = _relative(d, t, values[i - 2], values[i - 1], i, source, text, seed, result.equivalent, notation)
        links.append(link)
    last = truth[-1]
    broken = next((k for k in links if k.equivalent is not True), None)
    held = sum(k.equivalent is True for k in links)
    score = round(sum(k.credit for k in links) / len(links), 3)
    if broken is None:
        message = f"Every step follows ({len(links)} of {len(links)}): {last.message}"
        return replace(last, message=message, steps=tuple(links), score=1.0, canonical=None)
    message = _chain_message(broken, len(links), held, broken.message)
    canonical = _chain_message(broken, len(links), held, broken.canonical) if broken.canonical else None
    equivalent = None if broken.equivalent is None and all(k.equivalent is not False for k in links) else False
    base = last if last.equivalent is not True else truth[broken.index - 1]
    return VerifyResult(equivalent, base.expected, base.expected_text, broken.counterexample, broken.mistake,
                        message, rule=base.rule, network=d.net, param=t.name, quantity=t.quantity,
                        steps=tuple(links), score=score, notation=notation, canonical=canonical)


def _chain_message(broken: Link, n: int, held: int, why: str) -> str:
    """step k of n: ... is not equal to step k-1: mistake. Why. m of n steps follow."""
    before = "the rule it names" if broken.index == 1 else f"step {broken.index - 1}"
    message = (f"step {broken.index} of {n}: {broken.to} is not equal to {before}"
               f"{': ' + broken.mistake.replace('_', ' ') if broken.mistake else ''}. {why}")
    if held:
        message += f" {held} of {n} steps follow (an error carried forward costs its own step only)."
    return message


def _relative(d, t, before, after, index: int, source: str, to: str, seed: int, right,
              notation: Network | None = None) -> Link:
    """Step ``index`` judged against the student's own (wrong) step before it: equal, or how not; with
    ``notation`` (a LaTeX chain) the example is in its LaTeX names, the identifiers kept for the JSON."""
    from . import _symbolically_equal
    from .symbols import output_symbols
    a = d.unrolled(after).xreplace(output_symbols(d.net))
    b = d.unrolled(before).xreplace(output_symbols(d.net))
    if _symbolically_equal(a, b):
        return Link(index, source, to, True, None, "Equal to the step before (identical after expansion).",
                    None, right, 1.0)
    agreed = 0
    for point in sample_points(d.net, 8, seed):
        want, got = evaluate(b, point), evaluate(a, point)
        if want is None or got is None:
            continue
        if close(want, got):
            agreed += 1
            continue
        values = relevant_values([a, b], point, d.net)
        values["expected_value"], values["candidate_value"] = float(alg.entries(want)[0]), \
            float(alg.entries(got)[0])
        mistake, why = _relative_mistake(d.net, a, b, seed)
        if right:
            why = "it is the right rule again, but it does not follow from the step before"
        if notation is None:
            return Link(index, source, to, False, mistake, _told(why, values), values, right)
        names = tex_names(notation)     # alpha as \alpha too: a momentum rule's wrong step names its point
        return Link(index, source, to, False, mistake, _told(why, values, names), values, right,
                    canonical=_told(why, values))
    if agreed >= 4:
        return Link(index, source, to, True, None, f"Equal to the step before at {agreed} random points.",
                    None, right, 1.0)
    return Link(index, source, to, None, None, "Undecided: the steps are undefined at most sample points.",
                None, right)


def _told(why: str, values: dict, names: dict | None = None) -> str:
    """A wrong link's sentence and its example, the point's identifiers printed by ``names``."""
    shown = point_text(values, [k for k in values if k not in ("expected_value", "candidate_value")], names)
    return (f"{why[0].upper()}{why[1:]}. For example at {shown}: the step before gives "
            f"{values['expected_value']:.10g}, this one {values['candidate_value']:.10g}.")


def _relative_mistake(net: Network, after, before, seed: int) -> tuple[str, str]:
    """sign or constant_factor if ``after`` is a constant times ``before``; else other."""
    ratios = []
    for point in sample_points(net, 6, seed + 1):
        a, b = evaluate(after, point), evaluate(before, point)
        if a is None or b is None:
            continue
        for x, y in zip(alg.entries(a), alg.entries(b)):
            if abs(y) > 1e-30:
                ratios.append(x / y)
    if len(ratios) >= 2 and all(close(r, ratios[0]) for r in ratios):
        if close(ratios[0], -1):
            return "sign", "the sign changed from the step before"
        return "constant_factor", f"this step is {float(ratios[0]):.6g} times the step before"
    return "other", "this step is not equal to the step before"


def steps_text(result) -> str:
    """The terminal report of a chain: one line per link, then the verdict."""
    links = result.steps or ()
    n = len(links)
    lines = []
    for k in links:
        verdict = {True: "ok", False: "not equal", None: "undecided"}[k.equivalent]
        if k.mistake:
            verdict += f" ({k.mistake})"
        lines.append(f"step {k.index} of {n}: {verdict:<28} {k.to}")
    lines.append(result.message)
    if not result.equivalent:
        lines.append(f"expected: {result.expected_shown}")
    lines.append(f"score: {result.score:g}")
    return "\n".join(lines)
