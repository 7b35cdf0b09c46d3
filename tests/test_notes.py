"""Lecture notes: real PDFs for a corpus of networks, no LaTeX errors or overfull lines, escaping, determinism."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from symbp import Network, Spec, builtin_spec, derive
from symbp.notes import NotesError, make_env, notes_context, render_notes, tex_escape

needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                               reason="TeX Live (pdflatex, pdftotext) not installed")

CORPUS = {
    "builtin": lambda: Network(builtin_spec()),
    "haykin": lambda: Network.from_string("2-2-1", activation="sigmoid,linear"),
    "ont": lambda: Network.from_string("2-2-1", activation="sigmoid", loss="mse", notation="ont", bias_sign="-"),
    "mitchell": lambda: Network.from_string("2-2-2", activation="sigmoid", notation="mitchell"),
    "nielsen": lambda: Network.from_string("2-3-2", activation="sigmoid", loss="bce", notation="nielsen"),
    "tanh_3442": lambda: Network.from_string("3-4-4-2", activation="tanh,tanh,linear", notation="mitchell"),
    "softmax_453": lambda: Network.from_string("4-5-3", activation="relu,softmax", loss="ce"),
    "no_bias": lambda: Network.from_string("2-3-1", activation="tanh,linear", bias=False),
    "global": lambda: Network.from_string("2-2-1", activation="softplus,linear", numbering="global"),
    "wide": lambda: Network.from_string("10-2-1", activation="sigmoid", loss="bce"),
}


def pdf_text(pdf) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def overfull(log: str) -> list[float]:
    return [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


@pytest.mark.slow
@needs_tex
@pytest.mark.parametrize("case", sorted(CORPUS))
def test_notes_compile_clean(case, tmp_path):
    pdf = render_notes(CORPUS[case](), tmp_path)
    assert pdf == tmp_path / "notes.pdf" and pdf.stat().st_size > 10_000
    log = (tmp_path / "notes.log").read_text(errors="replace")
    assert not [line for line in log.splitlines() if line.startswith("!")]
    assert [w for w in overfull(log) if w > 5] == []
    assert "undefined" not in log.lower() or "There were undefined references" not in log
    text = pdf_text(pdf)
    assert "Summary: the learning rules" in text
    assert "(n + 1) = " in text            # an update rule p(n+1) = p(n) + Delta p(n)
    tex = (tmp_path / "notes.tex").read_text()
    for leak in ("Subs(", "Derivative(", "Dummy", "\\operatorname{Subs}", "\\theta"):
        assert leak not in tex


def test_context_has_printed_formulas():
    d = derive(Network(builtin_spec()))
    ctx = notes_context(d)
    assert ctx["title"] == "Backpropagation for a 2-3-1 network"
    assert any(r"w_{41}" in row for row in ctx["output_weight"]["chain"])
    assert any(r"\eta" in row for layer in ctx["summary"]["layers"] for row in layer["updates"])
    reasons = " ".join(f["why"] for f in ctx["hidden_weight"]["why"])
    assert "definition of the local gradient" in reasons and "sigmoid" in reasons
    assert ctx["example"]["loss"] == "0.974618"


def test_tex_is_deterministic(tmp_path):
    net = Network(builtin_spec())
    a = render_notes(net, tmp_path / "a", pdf=False).read_bytes()
    b = render_notes(Network(builtin_spec()), tmp_path / "b", pdf=False).read_bytes()
    assert a == b
    assert b"\\date{}" in a and b"\\today" not in a


TITLE = r"\input{/etc/passwd} $ % & _ # { } ~ ^ \ "


def test_escape_filter():
    assert tex_escape("a_b & {c}") == r"a\_b \& \{c\}"
    assert tex_escape("\\") == r"\textbackslash{}"
    env = make_env()
    assert env.from_string(r"\VAR{x|tex}").render(x="50%") == r"50\%"


@pytest.mark.slow
@needs_tex
def test_hostile_title_is_printed_literally(tmp_path):
    spec = Spec(layers=(2, 2, 1), activations=("sigmoid", "linear"), title=TITLE)
    pdf = render_notes(Network(spec), tmp_path)
    tex = (tmp_path / "notes.tex").read_text()
    assert r"\input{/etc/passwd}" not in tex
    text = pdf_text(pdf)
    assert TITLE.strip() in text.replace("\n", " ")
    assert "root:" not in text


@pytest.mark.slow
@needs_tex
def test_custom_templates(tmp_path):
    custom = tmp_path / "tpl"
    custom.mkdir()
    (custom / "notes.tex.j2").write_text(
        "\\documentclass{article}\n\\begin{document}\nCustom notes: \\VAR{title}.\n"
        "\\BLOCK{for layer in summary.layers}\n\\[\\VAR{layer.updates[0]|replace('&', '')}\\]\n"
        "\\BLOCK{endfor}\n\\end{document}\n")
    pdf = render_notes(Network(builtin_spec()), tmp_path / "out", templates=custom)
    assert "Custom notes: Backpropagation for a 2-3-1 network." in pdf_text(pdf)


def test_missing_template_dir(tmp_path):
    with pytest.raises(FileNotFoundError):
        make_env(tmp_path / "nope")


@pytest.mark.slow
@needs_tex
def test_latex_error_is_reported_and_tex_kept(tmp_path):
    custom = tmp_path / "tpl"
    custom.mkdir()
    (custom / "notes.tex.j2").write_text("\\documentclass{article}\n\\begin{document}\n\\undefinedmacro\n\\end{document}\n")
    with pytest.raises(NotesError) as err:
        render_notes(Network(builtin_spec()), tmp_path / "out", templates=custom)
    assert err.value.log_line.startswith("! Undefined control sequence")
    assert (tmp_path / "out" / "notes.tex").exists()
    assert not (tmp_path / "out" / "notes.pdf").exists()
