"""Exercise sheets: one variant per student, reproducible, never degenerate, keyed by numbers the
hand-written reference backprop agrees with; Moodle XML of the documented structure; bad input refused."""
from __future__ import annotations

import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from symbp import reference
from symbp.errors import SpecError
from symbp.exercises import Student, draw_variant, exercise_spec_from_dict, load_exercise_spec, load_roster
from symbp.sheets import render, sheet_context, write_exercises

DATA = Path(__file__).parent / "data"
SPEC = DATA / "exercises.toml"
ROSTER = DATA / "roster.csv"


@pytest.fixture(scope="module")
def spec():
    return load_exercise_spec(SPEC)


def _params(variant) -> dict[str, np.ndarray]:
    ex = variant.spec.example
    params = {f"W{l}": np.array(w, dtype=float) for l, w in enumerate(ex.weights, start=1)}
    params.update({f"b{l}": np.array(b, dtype=float) for l, b in enumerate(ex.biases, start=1)})
    return params


def _reference(variant):
    """v of every layer and every gradient, from symbp/reference.py (no symbolic code)."""
    s = variant.spec
    params, X, T = _params(variant), np.array(s.example.inputs), np.array(s.example.targets)
    forward = reference.forward(params, X, s.layers, s.activations, +1)
    grads = reference.gradients(params, X, T, s.activations, s.loss, +1)
    return params, [np.ravel(v) for v, _ in forward], grads


def _entry(arrays: dict, name: str) -> float:
    """w{l}_{j}_{k} -> W{l}[j-1, k-1]; b{l}_{j} -> b{l}[j-1] (1-based canonical names)."""
    kind, *idx = re.fullmatch(r"([wb])(\d+)_(\d+)(?:_(\d+))?", name).groups()
    l, j, k = (int(i) if i else None for i in idx)
    if kind == "w":
        return float(arrays[f"W{l}"][j - 1, k - 1])
    return float(arrays[f"b{l}"][j - 1])


def test_the_same_id_gives_the_same_sheet_and_ids_differ(spec):
    a1, a2 = draw_variant(spec, Student("ada")), draw_variant(spec, Student("ada"))
    b = draw_variant(spec, Student("emile"))
    sheet = lambda v: render("exercise_sheet.tex.j2", sheet_context(v, spec))   # noqa: E731
    assert sheet(a1) == sheet(a2)
    assert a1.network == a2.network
    assert a1.network["example"] != b.network["example"]
    assert sheet(a1) != sheet(b)


def test_the_stream_is_sha256_of_seed_id_counter(spec):
    # the draw does not depend on Python's hash() or on a library's generator: worked by hand,
    # the first unit number of ("7", "ada") is the first 8 bytes of sha256(b"7\0ada\0" b"1") / 2**64
    import hashlib

    from symbp.exercises import Draw
    digest = hashlib.sha256(b"7\x00ada\x001").digest()
    assert Draw("7", "ada").unit() == int.from_bytes(digest[:8], "big") / 2.0 ** 64


def test_no_degenerate_variant_over_200_ids(spec):
    """Checked with the reference backprop, not with the code that drew them."""
    for i in range(200):
        v = draw_variant(spec, Student(f"s{i:03d}"))
        params, vs, grads = _reference(v)
        for act, layer in zip(v.spec.activations, vs):
            if act == "relu":
                assert np.all(np.abs(layer) >= 0.1), (v.student, layer)
            if act == "sigmoid":
                assert np.all(np.abs(layer) < 4.02), (v.student, layer)     # sigma'(4)/sigma'(0) = 0.0707
            if act == "tanh":
                assert np.all(np.abs(layer) < 2.01), (v.student, layer)     # sech^2(2.0) = 0.0707
        for g in grads.values():
            assert np.all(np.abs(g) >= 1e-3), (v.student, grads)


def test_key_numbers_agree_with_the_reference_backprop(spec):
    for sid in ("ada", "emile", "k-3", "s100", "s101", "s102"):
        v = draw_variant(spec, Student(sid))
        params, _, grads = _reference(v)
        eta = v.spec.example.learning_rate
        for q in v.questions:
            if q.answer != "number":
                continue
            if q.quantity == "gradient":
                want = _entry(grads, q.param)
            elif q.quantity == "new":
                want = _entry(params, q.param) - eta * _entry(grads, q.param)
            else:       # haykin: delta = -dE/dv, and dE/db = dE/dv with bias sign +
                l, j = map(int, q.param[len("delta"):].split("_"))
                want = -float(grads[f"b{l}"][j - 1])
            assert math.isclose(q.value, want, rel_tol=1e-9, abs_tol=1e-12), (sid, q)


def test_roles_draw_names_of_the_right_layer(spec):
    v = draw_variant(spec, Student("ada"))
    depth = len(v.spec.layers) - 1
    q1, q2, q3, q4 = v.questions
    assert re.fullmatch(rf"w{depth}_\d+_\d+", q1.param)
    assert re.fullmatch(r"b1_\d+", q2.param) and q2.quantity == "new"
    assert re.fullmatch(r"delta1_\d+", q3.param)
    assert q4.answer == "formula" and q4.formula is not None and q4.value is None


def _raw(**changes) -> dict:
    import tomllib
    raw = tomllib.loads(SPEC.read_text())
    for path, value in changes.items():
        table, key = path.split(".") if "." in path else (None, path)
        (raw[table] if table else raw)[key] = value
    return raw


@pytest.mark.parametrize("path, value, field", [
    ("numbers.weights", [1.0, -1.0], "numbers.weights"),
    ("network.layers", [2, [3, 2], 1], "network.layers[1]"),
    ("network.losses", ["ce"], "network.losses"),
    ("network.activations", [["softmax"], ["linear"]], "network.activations[0]"),
    ("tolerance", 0, "tolerance"),
    ("question", [{"param": "hidden_unit", "quantity": "gradient"}], "question[0].quantity"),
    ("numbers.colour", 1, "numbers.colour"),
])
def test_bad_ranges_name_the_field(path, value, field):
    with pytest.raises(SpecError) as err:
        exercise_spec_from_dict(_raw(**{path: value}))
    assert str(err.value).startswith(f"{field}: expected")


def test_ranges_that_always_degenerate_say_so_within_max_tries():
    spec = exercise_spec_from_dict(_raw(**{"numbers.weights": [0.0, 0.0], "max_tries": 20}))
    with pytest.raises(SpecError, match=r"in 20 draws .* below min_gradient"):
        draw_variant(spec, Student("ada"))


def test_roster_needs_an_id_column_and_safe_ids(tmp_path):
    assert [s.id for s in load_roster(ROSTER)] == ["ada", "emile", "k-3"]
    for text, field in [("name\nAda\n", "header"), ("id,name\n../x,Eve\n", "row 2: id"),
                        ("id\nada\nada\n", "row 3: id")]:
        path = tmp_path / "r.csv"
        path.write_text(text)
        with pytest.raises(SpecError, match=re.escape(f"r.csv: {field}: expected")):
            load_roster(path)


def test_roster_from_a_spreadsheet_with_bom_and_semicolons(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("\ufeffid;name\nA1;Anne, B.\n".encode("utf-8"))
    assert load_roster(path) == [Student("A1", "Anne, B.")]


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symbp", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student,name\nada,Ada\n")
    done = _cli("exercises", SPEC, "--students", roster, "-o", tmp_path / "out", "--no-pdf")
    assert done.returncode == 2 and "roster.csv: header: expected" in done.stderr and "id column" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(SPEC.read_text().replace("learning_rate = [0.1, 0.9]", "learning_rate = [-0.1, 0.9]"))
    done = _cli("exercises", bad, "--students", ROSTER, "-o", tmp_path / "out", "--no-pdf")
    assert done.returncode == 2 and done.stderr.startswith("symbp: error: numbers.learning_rate: expected")
    assert not (tmp_path / "out").exists()


def test_moodle_xml_has_the_documented_structure(tmp_path, spec):
    write_exercises(spec, load_roster(ROSTER), tmp_path, pdf=False, moodle=True)
    root = ET.parse(tmp_path / "moodle.xml").getroot()
    assert root.tag == "quiz"
    categories = root.findall("question[@type='category']")
    numerical = root.findall("question[@type='numerical']")
    assert len(categories) == 3 and all(c.findtext("category/text").startswith("$course$/") for c in categories)
    assert len(numerical) == 3 * 3          # three students, three number questions each
    keys = {}
    for sid in ("ada", "emile", "k-3"):
        v = draw_variant(spec, Student(sid))
        keys.update({f"{sid} {q.id}": q.value for q in v.questions if q.answer == "number"})
    for q in numerical:
        assert q.findtext("name/text") and q.find("questiontext").get("format") == "html"
        assert q.findtext("questiontext/text").startswith("<p>")
        assert float(q.findtext("defaultgrade")) > 0
        answers = q.findall("answer")
        assert len(answers) == 1 and answers[0].get("fraction") == "100"
        value, tolerance = float(answers[0].findtext("text")), float(answers[0].findtext("tolerance"))
        assert value == keys[q.findtext("name/text").split(":")[0]]
        assert math.isclose(tolerance, 0.01 * abs(value))


def test_tex_is_byte_identical_across_runs(tmp_path, spec):
    roster = load_roster(ROSTER)
    write_exercises(spec, roster, tmp_path / "a", pdf=False)
    write_exercises(spec, roster, tmp_path / "b", pdf=False)
    for name in ("key.tex", "exercises.json", "students/ada/sheet.tex", "students/k-3/answers.toml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.slow
def test_cli_builds_sheets_and_key_as_pdf(tmp_path):
    done = _cli("exercises", SPEC, "--students", ROSTER, "-o", tmp_path / "out", "--moodle")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    for name in ("key.pdf", "students/ada/sheet.pdf", "students/k-3/sheet.pdf"):
        assert (out / name).read_bytes().startswith(b"%PDF")
    assert (out / "students/emile/answers.toml").exists() and (out / "submissions").is_dir()


def test_each_sheet_draws_its_students_network(spec):
    """The notes' drawing on the sheet: one node per input and unit, labelled with the sheet's own symbols,
    one arrow per weight and per bias of the student's network (not the neighbour's)."""
    for sid in ("ada", "emile"):
        v = draw_variant(spec, Student(sid))
        tex = render("exercise_sheet.tex.j2", sheet_context(v, spec))
        picture = tex[tex.index(r"\begin{tikzpicture}"):tex.index(r"\end{tikzpicture}")]
        layers = v.spec.layers
        nodes = re.findall(r"\\node\[(input|unit)\] \(n(\d+)x(\d+)\)", picture)
        assert [(kind, int(l)) for kind, l, _ in nodes] == [("input" if l == 0 else "unit", l)
                                                            for l, n in enumerate(layers) for _ in range(n)]
        assert r"{$x_{1}$}" in picture and r"{$y^{(1)}_{1}$}" in picture
        weights = sum(a * b for a, b in zip(layers, layers[1:]))
        assert picture.count(r"\draw[edge] ") == weights
        assert picture.count(r"\draw[edge, dashed] ") == sum(layers[1:])       # the biases
        assert tex.index(r"\begin{tikzpicture}") < tex.index(r"\section*{The numbers}")
