"""Grading many answers: a TOML list of (param, quantity, expr) checked against one derivation."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..derive import QUANTITIES, Derivation
from ..errors import SpecError, SymbpError
from ..files import MAX_SPEC_BYTES, read_text
from . import VerifyResult, verify

ANSWER_KEYS = ("param", "quantity", "expr", "id")


@dataclass(frozen=True)
class Answer:
    """One entry of an answers file."""

    param: str
    quantity: str
    expr: str
    id: str | None = None


@dataclass(frozen=True)
class Graded:
    answer: Answer
    result: VerifyResult | None
    error: str | None = None     # the answer could not be read (a parse error): graded wrong

    @property
    def correct(self) -> bool:
        return self.result is not None and self.result.equivalent is True


def load_answers(path: str | Path) -> list[Answer]:
    """[[answer]] tables with param, quantity (default gradient) and expr; bad files raise SpecError."""
    text = read_text(path, "answers file", MAX_SPEC_BYTES)     # a regular file of at most 1 MB
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(path), "valid TOML", str(exc)) from None
    entries = raw.get("answer")
    if not isinstance(entries, list) or not entries or set(raw) - {"answer"}:
        raise SpecError(str(path), "one or more [[answer]] tables and nothing else", sorted(raw))
    return [_answer(i, e) for i, e in enumerate(entries)]


def _answer(i: int, entry: dict) -> Answer:
    where = f"answer[{i}]"
    for key in entry:
        if key not in ANSWER_KEYS:
            raise SpecError(f"{where}.{key}", "a known key: one of " + ", ".join(ANSWER_KEYS), "unknown key")
    for key in ("param", "expr"):
        if not isinstance(entry.get(key), str):
            raise SpecError(f"{where}.{key}", "a string", entry.get(key))
    quantity = entry.get("quantity", "gradient")
    if quantity not in QUANTITIES:
        raise SpecError(f"{where}.quantity", "one of " + ", ".join(QUANTITIES), quantity)
    return Answer(entry["param"], quantity, entry["expr"], str(entry["id"]) if "id" in entry else None)


def grade(d: Derivation, answers: list[Answer]) -> list[Graded]:
    """Check every answer; an unreadable formula is graded wrong with its message, not fatal."""
    out = []
    for a in answers:
        try:
            out.append(Graded(a, verify(d, a.param, a.expr, quantity=a.quantity)))
        except SymbpError as exc:
            out.append(Graded(a, None, str(exc)))
    return out


def grade_dict(graded: list[Graded]) -> dict:
    rows = []
    for g in graded:
        row = {"id": g.answer.id, "param": g.answer.param, "quantity": g.answer.quantity, "expr": g.answer.expr}
        row.update(g.result.to_dict() if g.result else {"equivalent": None, "mistake": None, "error": g.error})
        rows.append(row)
    return {"score": sum(g.correct for g in graded), "total": len(graded), "answers": rows}


def grade_text(graded: list[Graded]) -> str:
    lines = [f"{'#':>3}  {'param':<10} {'quantity':<9} {'verdict':<8} mistake"]
    for i, g in enumerate(graded, start=1):
        verdict = "ok" if g.correct else ("error" if g.result is None else
                                          "wrong" if g.result.equivalent is False else "undecided")
        mistake = g.error if g.result is None else (g.result.mistake or "")
        lines.append(f"{g.answer.id or i:>3}  {g.answer.param:<10} {g.answer.quantity:<9} {verdict:<8} {mistake}")
    lines.append(f"score: {sum(g.correct for g in graded)}/{len(graded)}")
    return "\n".join(lines)
