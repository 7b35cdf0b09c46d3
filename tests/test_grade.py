"""Grading: the key grades 100 %, wrong answers get the scores worked out below, and a missing or
unreadable submission is one row with its error while the rest of the class is graded."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from symbp.exercises import load_exercise_spec, load_roster
from symbp.grade import grade_class, write_grades
from symbp.sheets import write_exercises

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("class")
    write_exercises(load_exercise_spec(DATA / "exercises.toml"), load_roster(DATA / "roster.csv"), out, pdf=False)
    return out


def _manifest(folder: Path) -> dict:
    return {s["id"]: s for s in json.loads((folder / "exercises.json").read_text())["students"]}


def _submit(folder: Path, sid: str, answers: dict[str, dict], student: str | None = None) -> None:
    """A filled template: [[answer]] tables with id, param, quantity and value or expr."""
    questions = {q["id"]: q for q in _manifest(folder)[sid]["questions"]}
    lines = [f'student = "{student or sid}"']
    for qid, given in answers.items():
        q = questions[qid]
        lines += ["[[answer]]", f'id = "{qid}"', f'param = "{q["param"]}"', f'quantity = "{q["quantity"]}"']
        lines += [f"{k} = {json.dumps(v)}" for k, v in given.items()]
    (folder / "submissions" / f"{sid}.toml").write_text("\n".join(lines) + "\n")


def _key_answers(student: dict) -> dict[str, dict]:
    """What a student copying the key would write: numbers to 4 significant digits, formulas as text."""
    return {q["id"]: ({"value": float(f"{q['value']:.4g}")} if q["answer"] == "number" else {"expr": q["expected"]})
            for q in student["questions"]}


def _clear(folder: Path) -> None:
    for p in (folder / "submissions").iterdir():
        p.unlink()


def test_the_key_grades_100_percent(folder):
    _clear(folder)
    for sid, student in _manifest(folder).items():
        _submit(folder, sid, _key_answers(student))
    paths, book = write_grades(folder)
    assert [s.percent for s in book.students] == [100.0, 100.0, 100.0]
    assert all(m.mistake is None and m.score == 1.0 for s in book.students for m in s.marks)
    rows = list(csv.DictReader((folder / "grades.csv").open()))
    assert [r["id"] for r in rows] == ["ada", "emile", "k-3"]
    assert [(r["total"], r["max"], r["percent"], r["error"]) for r in rows] == [("5", "5", "100", "")] * 3
    assert json.loads((folder / "grades.json").read_text())["students"][0]["percent"] == 100.0


def test_wrong_answers_get_the_scores_worked_out_by_hand(folder):
    _clear(folder)
    ada = _manifest(folder)["ada"]
    q1, q2, q3, q4 = ada["questions"]
    values = ada["values"]
    _submit(folder, "ada", {
        "q1": {"value": -q1["value"]},                       # sign slip: 0 of 1 point
        "q2": {"value": values[q2["param"]]},                # the bias before the step: 0 of 1
        "q3": {"value": q3["value"] * 1.005},                # 0.5 % off, within the 1 % tolerance: 1 of 1
        # q4 (2 points) not answered: 0 of 2
    })
    emile = _manifest(folder)["emile"]
    e1, e2, e3, e4 = emile["questions"]
    _submit(folder, "emile", {
        "q1": {"value": values_update(emile, e1)},           # the update given for the gradient: 0 of 1
        "q2": {"value": e2["value"] * 1.02},                 # 2 % off: 0 of 1
        "q3": {"value": e3["value"]},                        # right: 1 of 1
        "q4": {"expr": f"-({e4['expected']})"},              # the update with the wrong sign: verify's score of 2
    })
    book = grade_class(folder)
    a, e, k = book.students
    assert [(m.score, m.mistake) for m in a.marks] == [(0.0, "sign"), (0.0, "missing_update"), (1.0, None),
                                                        (0.0, "unanswered")]
    assert (a.total, a.max, a.percent) == (1.0, 5.0, 20.0)
    assert [(m.score, m.mistake) for m in e.marks[:3]] == [(0.0, "gradient_vs_update"), (0.0, "wrong_value"),
                                                           (1.0, None)]
    formula = e.marks[3]
    assert formula.mistake == "sign" and 0.0 <= formula.score < 1.0
    assert e.total == pytest.approx(1.0 + 2 * formula.score)
    assert k.error.endswith("k-3.toml: no submission") and k.marks == () and k.total == 0


def values_update(student: dict, q: dict) -> float:
    return student["values"][f"update:{q['param']}"]


def test_a_formula_in_latex_counts(folder):
    _clear(folder)
    from symbp.exercises import Student, draw_variant
    from symbp.printing import to_latex
    v = draw_variant(load_exercise_spec(DATA / "exercises.toml"), Student("ada"))
    q4 = v.questions[3]
    _submit(folder, "ada", {"q4": {"expr": to_latex(q4.formula, v.derivation.net), "latex": True}})
    mark = grade_class(folder).students[0].marks[3]
    assert (mark.score, mark.mistake) == (1.0, None), mark.message


def test_bad_submissions_are_rows_naming_file_and_field(folder):
    _clear(folder)
    _submit(folder, "ada", {"q1": {"value": "0.5x"}})
    _submit(folder, "emile", {"q1": {"value": 1.0}}, student="ada")
    (folder / "submissions" / "k-3.toml").write_text("student = 'k-3'\n[[answer]\n")
    a, e, k = grade_class(folder).students
    assert a.marks[0].mistake == "unreadable" and "ada.toml: answer[0].value: expected a number" in a.marks[0].message
    assert "emile.toml: student: expected 'emile'" in e.error
    assert "k-3.toml: expected valid TOML" in k.error


def test_cli_grade_writes_csv_and_exits_1_for_a_missing_submission(folder):
    _clear(folder)
    _submit(folder, "ada", _key_answers(_manifest(folder)["ada"]))
    done = subprocess.run([sys.executable, "-m", "symbp", "grade", str(folder)], capture_output=True, text=True)
    assert done.returncode == 1 and "emile: " in done.stderr and "no submission" in done.stderr
    assert "Traceback" not in done.stderr
    rows = list(csv.DictReader((folder / "grades.csv").open()))
    assert [(r["id"], r["percent"]) for r in rows] == [("ada", "100"), ("emile", "0"), ("k-3", "0")]


def test_cli_grade_of_a_folder_without_a_key_exits_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "symbp", "grade", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "exercises.json" in done.stderr and "Traceback" not in done.stderr


MIXED = {
    "title": "Mixed", "seed": 3,
    "network": {"layers": [2, [2, 3], 2], "bias_sign": "-", "numberings": ["layer", "global"],
                "activations": {"hidden": ["sigmoid", "tanh", "relu"], "output": ["linear", "sigmoid", "softmax"]},
                "losses": ["half_sse", "bce", "ce", "mse"], "notations": ["haykin", "nielsen", "ont", "mitchell"]},
    "question": [{"param": "hidden_unit", "quantity": "delta", "answer": "formula"},
                 {"param": "hidden_weight", "quantity": "new", "answer": "formula"},
                 {"param": "output_bias", "quantity": "update"}],
}


def test_the_key_grades_100_percent_in_every_notation_as_latex_or_unrolled_text(tmp_path):
    from symbp.exercises import Student, draw_variant, exercise_spec_from_dict
    from symbp.printing import to_latex
    spec = exercise_spec_from_dict(MIXED)
    roster = [Student(f"m{i}") for i in (2, 3, 7)]   # mitchell/global, nielsen/global, ont/global with softmax + ce
    write_exercises(spec, roster, tmp_path, pdf=False)
    manifest = _manifest(tmp_path)
    for s in roster:
        v = draw_variant(spec, s)
        answers = {}
        for q, key in zip(v.questions, manifest[s.id]["questions"]):
            if q.answer == "number":
                answers[q.id] = {"value": float(f"{q.value:.4g}")}
            elif q.quantity == "delta":       # in LaTeX, in the sheet's notation
                answers[q.id] = {"expr": to_latex(q.formula, v.derivation.net), "latex": True}
            else:                             # in unit outputs only, as text
                answers[q.id] = {"expr": key["unrolled"]}
        _submit(tmp_path, s.id, answers)
    book = grade_class(tmp_path)
    drawn = {(manifest[s.id]["spec"]["network"]["notation"], manifest[s.id]["spec"]["network"]["loss"])
             for s in roster}
    assert {n for n, _ in drawn} == {"mitchell", "nielsen", "ont"} and "ce" in {lo for _, lo in drawn}
    assert [(s.id, s.percent) for s in book.students] == [(s.id, 100.0) for s in roster], \
        [m.message for s in book.students for m in s.marks if m.score < 1]
