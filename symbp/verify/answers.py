"""Grading many answers: a TOML list of (param, quantity, expr) checked against one derivation.

Every answer is read first, against the network alone; the derivation follows only if one
could be read. An answer is text, or LaTeX with ``latex = true`` (or ``--latex`` for all).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from time import monotonic

from ..derive import QUANTITIES, Derivation
from ..errors import SpecError, SymbpError
from ..files import MAX_SPEC_BYTES, read_text
from ..network import Network
from . import VerifyResult, _derivation, verify
from .lhs import read_answer
from .parse import ExpressionError
from .steps import is_chain

GRADING_SECONDS = 120.0     # one answers file: answers not begun by then are undecided (README, verify)

ANSWER_KEYS = ("param", "quantity", "expr", "id", "latex")


@dataclass(frozen=True)
class Answer:
    """One entry of an answers file."""

    param: str | None             # None: the left side of ``lhs = rhs`` names it
    quantity: str | None          # None: the left side's, or gradient
    expr: str
    id: str | None = None
    latex: bool | None = None     # None: as --latex says


@dataclass(frozen=True)
class Graded:
    answer: Answer
    result: VerifyResult | None
    error: str | None = None     # the answer could not be read (a parse error): graded wrong

    @property
    def correct(self) -> bool:
        return self.result is not None and self.result.equivalent is True


def load_answers(path: str | Path) -> list[Answer]:
    """[[answer]] tables with expr, param and quantity (or an expr lhs = rhs), optionally id and
    latex; bad files raise SpecError."""
    text = read_text(path, "answers file", MAX_SPEC_BYTES)     # a regular file of at most 1 MB
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(path), "valid TOML", str(exc)) from None
    entries = raw.get("answer")
    if not isinstance(entries, list) or not entries or set(raw) - {"answer", "rubric"}:
        raise SpecError(str(path), "one or more [[answer]] tables (and optionally a [rubric] table)", sorted(raw))
    _rubric(raw.get("rubric", {}))
    return [_answer(i, e) for i, e in enumerate(entries)]


def load_rubric(path: str | Path) -> dict[str, float] | None:
    """The answers file's [rubric] table (role = weight, over score.RUBRIC), or None without one."""
    raw = tomllib.loads(read_text(path, "answers file", MAX_SPEC_BYTES))
    return _rubric(raw["rubric"]) if "rubric" in raw else None


def _rubric(table) -> dict[str, float]:
    from .score import RUBRIC
    if not isinstance(table, dict):
        raise SpecError("rubric", "a table of role = weight", table)
    for key, weight in table.items():
        if key not in RUBRIC:
            raise SpecError(f"rubric.{key}", "a role: one of " + ", ".join(RUBRIC), "unknown key")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1000:
            raise SpecError(f"rubric.{key}", "a weight from 0 to 1000", weight)
    return dict(table)


def _answer(i: int, entry: dict) -> Answer:
    where = f"answer[{i}]"
    for key in entry:
        if key not in ANSWER_KEYS:
            raise SpecError(f"{where}.{key}", "a known key: one of " + ", ".join(ANSWER_KEYS), "unknown key")
    if not isinstance(entry.get("expr"), str):
        raise SpecError(f"{where}.expr", "a string", entry.get("expr"))
    if "param" in entry and not isinstance(entry["param"], str):
        raise SpecError(f"{where}.param", "a string", entry["param"])
    quantity = entry.get("quantity")
    if quantity is not None and quantity not in QUANTITIES:
        raise SpecError(f"{where}.quantity", "one of " + ", ".join(QUANTITIES), quantity)
    latex = entry.get("latex")
    if latex is not None and not isinstance(latex, bool):
        raise SpecError(f"{where}.latex", "true or false", latex)
    return Answer(entry.get("param"), quantity, entry["expr"], str(entry["id"]) if "id" in entry else None,
                  latex)


def grade(net: Network | Derivation, answers: list[Answer], latex: bool = False,
          rubric: dict | None = None, seconds: float = GRADING_SECONDS) -> list[Graded]:
    """Check every answer (LaTeX where ``latex = true``, or all with ``latex``); an unreadable
    formula is graded wrong with its message, not fatal. Answers are read before deriving.
    ``rubric`` weighs the partial credit of each wrong answer (see score.RUBRIC). Answers not begun
    within ``seconds`` of the start are undecided (``equivalent`` None) and say why."""
    network = net.net if isinstance(net, Derivation) else net
    start = monotonic()
    read: list = []
    for a in answers:
        try:
            if is_chain(a.expr):        # a derivation: its steps are read by verify, link by link
                read.append(None)
                continue
            r = _read(network, a, latex if a.latex is None else a.latex)
            if r is None:
                read.append(None)       # read only as a slip of a matrix product: verify names it
                continue
            if r.param is None:
                raise SymbpError("param: expected a param key, or an expr lhs = rhs whose left side names it")
            read.append(r)
        except SymbpError as exc:
            read.append(exc)
    if all(isinstance(r, SymbpError) for r in read):
        return [Graded(a, None, str(r)) for a, r in zip(answers, read)]
    d = net if isinstance(net, Derivation) else _derivation(network)
    out = []
    for a, r in zip(answers, read):
        if isinstance(r, SymbpError):
            out.append(Graded(a, None, str(r)))
            continue
        tex = latex if a.latex is None else a.latex
        if r is not None:
            a = Answer(r.param, r.quantity or "gradient", a.expr, a.id, a.latex)
        if monotonic() - start >= seconds:
            out.append(Graded(a, _undecided(a, seconds)))
            continue
        try:            # the text again, so the feedback follows the student's notation
            out.append(Graded(a, verify(d, a.param, a.expr, quantity=a.quantity, latex=tex, rubric=rubric)))
        except SymbpError as exc:
            out.append(Graded(a, None, str(exc)))
    return out


def _read(network: Network, a: Answer, latex: bool):
    """The answer read against the network; None where it reads only with a matrix product taken as the
    slip it would be (⊙ for @, the other order), which verify then diagnoses."""
    try:
        return read_answer(network, a.expr, a.param, a.quantity, latex)
    except ExpressionError:
        repairs: list = []
        try:
            read_answer(network, a.expr, a.param, a.quantity, latex, repairs)
        except ExpressionError:
            repairs = []
        if not repairs:
            raise
        return None


def _undecided(a: Answer, seconds: float) -> VerifyResult:
    return VerifyResult(None, None, "", None, None, f"Undecided: not checked, the grading run's time limit of "
                        f"{seconds:g} s was reached before this answer", param=a.param, quantity=a.quantity,
                        score=0.0)


def grade_dict(graded: list[Graded]) -> dict:
    rows = []
    for g in graded:
        row = {"id": g.answer.id, "param": g.answer.param, "quantity": g.answer.quantity, "expr": g.answer.expr}
        row.update(g.result.to_dict() if g.result else {"equivalent": None, "mistake": None, "error": g.error})
        rows.append(row)
    credit = sum(g.result.score or 0 for g in graded if g.result is not None)
    return {"score": sum(g.correct for g in graded), "total": len(graded), "credit": round(credit, 3),
            "answers": rows}


def grade_text(graded: list[Graded]) -> str:
    lines = [f"{'#':>3}  {'param':<10} {'quantity':<9} {'verdict':<8} mistake"]
    for i, g in enumerate(graded, start=1):
        verdict = "ok" if g.correct else ("error" if g.result is None else
                                          "wrong" if g.result.equivalent is False else "undecided")
        mistake = g.error if g.result is None else (g.result.mistake or "")
        lines.append(f"{g.answer.id or i:>3}  {g.answer.param or '?':<10} {g.answer.quantity or '?':<9} "
                     f"{verdict:<8} {mistake}")
    lines.append(f"score: {sum(g.correct for g in graded)}/{len(graded)}")
    return "\n".join(lines)
