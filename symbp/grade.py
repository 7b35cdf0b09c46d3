"""Grading a class: DIR/exercises.json (the key) + DIR/submissions/<id>.toml -> scores, mistakes, partial credit.

A number is right within the relative tolerance of the sheet (|answer - key| <= tolerance * |key|);
a wrong number is named where it is a known slip (sign, gradient for update, no update). A formula is
checked by verify: its ``score`` is the partial credit where verify gives one, else 1 or 0. A missing
or unreadable submission is a row with an error, never the end of the class.
"""
from __future__ import annotations

import csv
import io
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import SpecError, SymbpError
from .files import MAX_SPEC_BYTES, read_text, write_many
from .network import Network
from .sheets import FORMAT, MANIFEST, SUBMISSIONS
from .spec import spec_from_dict

SUBMISSION_KEYS = ("student", "answer")
ANSWER_KEYS = ("id", "param", "quantity", "value", "expr", "latex")


@dataclass(frozen=True)
class Mark:
    """One question of one student."""

    id: str
    param: str
    quantity: str
    points: float
    score: float                  # in [0, 1]
    mistake: str | None           # None when right; unanswered, unreadable, sign, wrong_value, verify's codes
    answer: str | float | None
    expected: str | float
    message: str = ""


@dataclass(frozen=True)
class StudentGrade:
    id: str
    name: str
    marks: tuple[Mark, ...] = ()
    error: str | None = None      # the submission is missing or could not be read
    total: float = 0.0
    max: float = 0.0

    @property
    def percent(self) -> float:
        return round(100 * self.total / self.max, 2) if self.max else 0.0


@dataclass(frozen=True)
class Gradebook:
    title: str
    tolerance: float
    questions: tuple[str, ...] = ()
    students: tuple[StudentGrade, ...] = field(default=())

    def to_dict(self) -> dict:
        return {"title": self.title, "tolerance": self.tolerance, "questions": list(self.questions),
                "students": [{**asdict(s), "percent": s.percent} for s in self.students]}


# -- reading ------------------------------------------------------------------------------------

def load_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    text = read_text(path, "exercises manifest", 50 * MAX_SPEC_BYTES,
                     missing=f" (is {folder} a directory written by symbp exercises?)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(str(path), "the JSON written by symbp exercises", str(exc)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SpecError(f"{path}: format", f"{FORMAT!r} (written by symbp exercises)",
                        data.get("format") if isinstance(data, dict) else data)
    return data


def _submission(path: Path, sid: str) -> dict[str, dict]:
    """The answers of one file by question id; SymbpError naming the file and the field."""
    raw = tomllib.loads(read_text(path, "submission", MAX_SPEC_BYTES))
    for key in raw:
        if key not in SUBMISSION_KEYS:
            raise SpecError(f"{path}: {key}", "only student and [[answer]] tables", "unknown key")
    if raw.get("student") != sid:
        raise SpecError(f"{path}: student", f"{sid!r}, the id the file is named after", raw.get("student"))
    answers = raw.get("answer")
    if not isinstance(answers, list):
        raise SpecError(f"{path}: answer", "[[answer]] tables, as in the template", answers)
    out = {}
    for i, a in enumerate(answers):
        for key in a:
            if key not in ANSWER_KEYS:
                raise SpecError(f"{path}: answer[{i}].{key}", "a key of the template: " + ", ".join(ANSWER_KEYS),
                                "unknown key")
        if not isinstance(a.get("id"), str):
            raise SpecError(f"{path}: answer[{i}].id", "the question's id, as in the template", a.get("id"))
        out[a["id"]] = {**a, "_where": f"{path}: answer[{i}]"}
    return out


# -- marking ------------------------------------------------------------------------------------

def _close(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= tolerance * abs(b)


def _number_mistake(q: dict, a: float, values: dict, tolerance: float) -> str:
    """The slip a wrong number shows, where it is one of the common ones."""
    p = q["param"]
    if _close(-a, q["value"], tolerance):
        return "sign"
    swapped = {"gradient": f"update:{p}", "update": f"gradient:{p}"}.get(q["quantity"])
    if swapped and _close(a, values[swapped], tolerance):
        return "gradient_vs_update"
    if q["quantity"] == "new":
        if _close(a, values[p], tolerance):
            return "missing_update"
        if _close(a, values[p] - values[f"update:{p}"], tolerance):
            return "sign"
    return "wrong_value"


def _mark_number(q: dict, given: dict | None, values: dict, tolerance: float) -> Mark:
    base = dict(id=q["id"], param=q["param"], quantity=q["quantity"], points=q["points"], expected=q["value"])
    value = None if given is None else given.get("value", "")
    if value == "" or value is None:
        return Mark(**base, score=0.0, mistake="unanswered", answer=None)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return Mark(**base, score=0.0, mistake="unreadable", answer=str(value),
                    message=f"{given['_where']}.value: expected a number, got {value!r}")
    if _close(float(value), q["value"], tolerance):
        return Mark(**base, score=1.0, mistake=None, answer=float(value))
    return Mark(**base, score=0.0, mistake=_number_mistake(q, float(value), values, tolerance), answer=float(value))


def _mark_formula(q: dict, given: dict | None, net: Network) -> Mark:
    from .verify.answers import Answer, grade
    base = dict(id=q["id"], param=q["param"], quantity=q["quantity"], points=q["points"], expected=q["expected"])
    expr = None if given is None else given.get("expr", "")
    if not expr:
        return Mark(**base, score=0.0, mistake="unanswered", answer=None)
    latex = given.get("latex", False)
    if not isinstance(expr, str) or not isinstance(latex, bool):
        what, got = ("expr", expr) if not isinstance(expr, str) else ("latex", latex)
        return Mark(**base, score=0.0, mistake="unreadable", answer=str(expr),
                    message=f"{given['_where']}.{what}: expected {'a string' if what == 'expr' else 'true or false'}"
                            f", got {got!r}")
    graded = grade(net, [Answer(q["param"], q["quantity"], expr, q["id"], latex)])[0]
    if graded.result is None:
        return Mark(**base, score=0.0, mistake="unreadable", answer=expr, message=f"{given['_where']}.expr: "
                                                                                  f"{graded.error}")
    r = graded.result
    score = getattr(r, "score", None)
    score = float(score) if score is not None else (1.0 if r.equivalent else 0.0)
    return Mark(**base, score=1.0 if r.equivalent else score, mistake=None if r.equivalent else r.mistake,
                answer=expr, message="" if r.equivalent else r.message)


def _check_names(q: dict, given: dict | None) -> str | None:
    for key in ("param", "quantity"):
        if given is not None and key in given and given[key] != q[key]:
            return f"{given['_where']}.{key}: expected {q[key]!r} as in the template, got {given[key]!r}"
    return None


def grade_student(student: dict, folder: Path, tolerance: float) -> StudentGrade:
    sid, name = student["id"], student.get("name", "")
    top = sum(q["points"] for q in student["questions"])
    path = folder / SUBMISSIONS / f"{sid}.toml"
    if not path.exists():
        return StudentGrade(sid, name, error=f"{path}: no submission", max=top)
    try:
        given = _submission(path, sid)
    except tomllib.TOMLDecodeError as exc:
        return StudentGrade(sid, name, error=f"{path}: expected valid TOML, {exc}", max=top)
    except SymbpError as exc:
        return StudentGrade(sid, name, error=str(exc), max=top)
    net = Network(spec_from_dict(student["spec"]))
    marks = []
    for q in student["questions"]:
        a = given.get(q["id"])
        wrong_name = _check_names(q, a)
        if wrong_name:
            marks.append(Mark(q["id"], q["param"], q["quantity"], q["points"], 0.0, "unreadable", None,
                              q.get("value", q.get("expected")), wrong_name))
        elif q["answer"] == "number":
            marks.append(_mark_number(q, a, student["values"], tolerance))
        else:
            marks.append(_mark_formula(q, a, net))
    total = sum(m.points * m.score for m in marks)
    return StudentGrade(sid, name, tuple(marks), None, round(total, 4), top)


def grade_class(folder: str | Path) -> Gradebook:
    """Every student of the manifest, in roster order."""
    folder = Path(folder)
    data = load_manifest(folder)
    questions = tuple(q["id"] for q in data["students"][0]["questions"]) if data["students"] else ()
    return Gradebook(data["title"], data["tolerance"], questions,
                     tuple(grade_student(s, folder, data["tolerance"]) for s in data["students"]))


# -- writing ------------------------------------------------------------------------------------

def grades_text(book: Gradebook) -> str:
    """What `symbp grade` prints: a line per student, then the class mean of each question's score."""
    lines = [f"{s.id:<16} {s.total:>6g} / {s.max:g}  {s.percent:>6g} %" + (f"  ({s.error})" if s.error else "")
             for s in book.students]
    graded = [s for s in book.students if s.error is None]
    if graded:
        means = [sum(m.score for s in graded for m in s.marks if m.id == q) / len(graded) for q in book.questions]
        lines.append(f"mean of {len(graded)} graded: " + ", ".join(f"{q} {m:.2f}" for q, m in zip(book.questions,
                                                                                                    means)))
    return "\n".join(lines)


def grades_csv(book: Gradebook) -> str:
    """One row per student: per question its score (0..1) and mistake, then total, max, percent, error."""
    ids = book.questions
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["id", "name", *[c for q in ids for c in (q, f"{q}_mistake")], "total", "max", "percent", "error"])
    for s in book.students:
        marks = {m.id: m for m in s.marks}
        cells = [c for q in ids for c in ((f"{marks[q].score:g}", marks[q].mistake or "") if q in marks else ("", ""))]
        w.writerow([s.id, s.name, *cells, f"{s.total:g}", f"{s.max:g}", f"{s.percent:g}", s.error or ""])
    return out.getvalue()


def write_grades(folder: str | Path) -> tuple[list[Path], Gradebook]:
    """grades.csv and grades.json in ``folder``; returns them and the gradebook."""
    folder = Path(folder)
    book = grade_class(folder)
    files = {folder / "grades.csv": grades_csv(book).encode("utf-8"),
             folder / "grades.json": (json.dumps(book.to_dict(), indent=1, ensure_ascii=False) + "\n").encode()}
    return write_many(files), book
