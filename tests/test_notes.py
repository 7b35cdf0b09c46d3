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
    # mixed hidden slopes name each layer's activation in prose: a parametrised name has an underscore
    # slopes too wide for a row beside its tag (gelu's erf, elu's cases): the rule breaks before its sum
    "long_slopes": lambda: Network.from_string("3-4-4-2", activation="gelu,elu,softmax", loss="ce", notation="mitchell"),
    "mixed_params": lambda: Network.from_string("3-4-4-2", activation="elu,leaky_relu(0.2),softmax", loss="ce",
                                                notation="nielsen", skip="0:2"),
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
    n = CORPUS[case]().profile.step_tex.replace("\\tau", "τ")    # the step letter (ont's n is its net input)
    assert f"({n} + 1) = " in text          # an update rule p(n+1) = p(n) + Delta p(n)
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


def _custom_templates(tmp_path, old: str, new: str):
    from symbp.notes import template_dirs
    d = tmp_path / "tpl"
    d.mkdir()
    for f in template_dirs()[0].glob("*.j2"):
        (d / f.name).write_text(f.read_text())
    main = d / "notes.tex.j2"
    main.write_text(main.read_text().replace(old, new, 1))
    return d


def test_a_template_cannot_reach_python(tmp_path):
    """--templates is user input: the sandbox refuses Python's internals, exit 2, nothing run."""
    import sys
    marker = tmp_path / "pwned"
    tpl = _custom_templates(tmp_path, r"\begin{document}",
                            r"\begin{document}\VAR{lipsum.__globals__['os'].system('touch " + str(marker) + "')}")
    done = subprocess.run([sys.executable, "-m", "symbp", "notes", "-o", str(tmp_path / "out"), "--no-pdf",
                           "--templates", str(tpl)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "--templates" in done.stderr
    assert not marker.exists()


def test_tex_cannot_read_files_outside_its_directory(tmp_path):
    """openin_any=p: a template's \\input of an absolute path fails instead of printing the file."""
    secret = tmp_path / "secret.tex"
    secret.write_text("SECRETWORD\n")
    tpl = _custom_templates(tmp_path, r"\begin{document}", r"\begin{document}\input{" + str(secret) + "}")
    with pytest.raises(NotesError):
        render_notes("2-2-1", tmp_path / "out", templates=tpl)
    assert not (tmp_path / "out" / "notes.pdf").exists()
