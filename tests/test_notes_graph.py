"""Lecture notes for graphs of layers: skip arcs and shortcuts in the figure, one delta term per successor,
skip-weight updates; real PDFs without errors or overfull lines; chains untouched; the same .tex every run."""
from __future__ import annotations

import re
import shutil
import subprocess
from math import hypot

import pytest

from symbp import Network, builtin_spec, derive
from symbp import figure as fg
from symbp.notes import notes_context, render_notes, render_tex

needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                               reason="TeX Live (pdflatex, pdftotext) not installed")

SKIP = dict(layers="2-3-3-1", activation="tanh,tanh,linear", skip="1:3")
MIXED = dict(layers="3-4-4-4-4-2", activation="tanh,sigmoid,relu,softplus,softmax", loss="ce",
             skip="0:2,1:4", residual="1:3")
CASES = {"skip": SKIP, "mixed": MIXED}
# the weight worked step by step on a skip connection, its unit's delta and its input, as pdftotext lays them out
SKIP_UPDATE = {"skip": ("(3,1)", "(3) (1)"), "mixed": ("(4,1)", "(4) (1)")}


def network(case: str) -> Network:
    args = dict(CASES[case])
    return Network.from_string(args.pop("layers"), **args)


_DERIVED: dict = {}


def derived(case: str):
    if case not in _DERIVED:
        _DERIVED[case] = derive(network(case))
    return _DERIVED[case]


def pdf_text(pdf, layout: bool = True) -> str:
    flags = ["-layout"] if layout else []
    return subprocess.run(["pdftotext", *flags, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def overfull(log: str) -> list[float]:
    return [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


@pytest.mark.slow
@needs_tex
@pytest.mark.parametrize("case", sorted(CASES))
def test_graph_notes_compile_clean(case, tmp_path):
    pdf = render_notes(derived(case), tmp_path)
    log = (tmp_path / "notes.log").read_text(errors="replace")
    assert not [line for line in log.splitlines() if line.startswith("!")]
    assert [w for w in overfull(log) if w > 5] == []
    text = pdf_text(pdf)
    flat = " ".join(text.split())
    assert "a unit collects one delta term from each successor" in flat
    assert "A weight of a skip connection" in flat
    assert "skip connection W(l,s)" in flat               # the figure's legend line
    assert "A worked example" in flat
    # the skip weight's update w(n+1) = w(n) + Delta w(n) = w + eta delta y, with its superscripts above it
    lines = text.splitlines()
    conn, unit = SKIP_UPDATE[case]
    update = re.compile(r"w11 \(n \+ 1\) = w11 \(n\) \+ ∆w11 \(n\) = w11\s+\+ ηδ1 y1")
    hits = [n for n, line in enumerate(lines) if update.search(line)]
    assert any(lines[n - 1].count(conn) >= 3 and unit in lines[n - 1] for n in hits), hits
    tex = (tmp_path / "notes.tex").read_text()
    for leak in ("Subs(", "Derivative(", "Dummy", "\\operatorname{Subs}"):
        assert leak not in tex


def test_successors_are_worked_one_path_each():
    ctx = notes_context(derived("mixed"))
    w = ctx["hidden_weight"]
    assert w["symbol"] == "w^{(1)}_{11}"                 # layer 1 feeds layers 2 and 4, and 4 again via 3
    assert len(w["graph"]["feeds"]) == 3
    assert "skip weights" in w["graph"]["feeds"][1] and "shortcut into layer~3" in w["graph"]["feeds"][2]
    chain = "\n".join(w["chain"])
    for label in ("layer 2", "layer 4, skip", "layer 4, via the shortcut"):
        assert rf"\text{{{label}}}" in chain
    assert r"\frac{\partial y^{(3)}_{1}}{\partial y^{(1)}_{1}}" in chain       # the shortcut's own factor
    reasons = " ".join(f["why"] for f in w["why"])
    assert "identity shortcut passes $y^{(1)}_{1}$ on unchanged" in reasons
    assert "local gradient of layer~4" in reasons
    assert w["graph"]["shortcut"] == r"\partial y^{(3)}_{1} / \partial y^{(1)}_{1}"


def test_skip_weights_reach_every_section():
    d = derived("skip")
    ctx = notes_context(d)
    assert ctx["skip_weight"]["symbol"] == "w^{(3,1)}_{11}"
    assert any(r"\partial w^{(l,l-2)}_{jk}" in row for row in ctx["index"]["gradients"])
    matrix = " ".join(row for m in ctx["matrix"] for row in m["rows"])
    assert r"\frac{\partial \mathcal{E}}{\partial \mathbf{W}^{(3,1)}} &= - \boldsymbol{\delta}^{(3)}" in matrix
    assert r"\mathbf{W}^{(3,1)}\right)^{T} \boldsymbol{\delta}^{(3)}" in matrix    # layer 1's delta, two terms
    updates = " ".join(row for layer in ctx["summary"]["layers"] for row in layer["updates"])
    assert r"w^{(3,1)}_{13} &\leftarrow" in updates
    forward = " ".join(row for layer in ctx["forward"]["layers"] for row in layer["rows"])
    assert r"w^{(3)}_{13} y^{(2)}_{3} + w^{(3,1)}_{11} y^{(1)}_{1}" in forward     # chain sum, then the skip's
    hidden = next(h for h in ctx["index"]["hidden"] if 1 in h["layers"])["tex"]
    assert hidden.index(r"\delta^{(l+1)}") < hidden.index(r"\delta^{(l+2)}")      # in the order of the paths


def test_worked_example_has_the_skip_weights():
    ex = notes_context(derived("skip"))["example"]
    skip = [p for p in ex["params"] if p["tex"].startswith("w^{(3,1)}")]
    assert len(skip) == 3 and all(p["grad"] != "0" for p in skip)


def test_wide_summary_shows_a_skip_weight():
    ctx = notes_context(derived("mixed"))
    assert not ctx["summary"]["complete"]
    layer4 = next(layer for layer in ctx["summary"]["layers"] if layer["layer"] == 4)
    assert any(r"w^{(4,1)}_{11} &\leftarrow" in row for row in layer4["updates"])


def test_shortcut_output_and_phi_prime_in_v():
    ctx = notes_context(derived("mixed"))
    layer3 = next(layer for layer in ctx["forward"]["layers"] if layer["layer"] == 3)
    assert r"y^{(3)}_{1} &= \operatorname{ReLU}" in layer3["rows"][1] and "+ y^{(1)}_{1}" in layer3["rows"][1]
    assert "identity shortcut from layer~1" in layer3["links"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_figure_arcs_miss_every_node(case):
    """Every skip arc and shortcut arc stays clear of each unit and bias node it does not join."""
    fig = notes_context(derived(case))["figure"]
    centres = {n["name"]: (n["x"], n["y"]) for n in fig["nodes"] if n["kind"] != "dots"}
    centres.update({b["name"]: (b["x"], b["y"]) for b in fig["biases"]})
    number = r"(-?\d+(?:\.\d+)?), (-?\d+(?:\.\d+)?)"
    arcs = [e["path"] for s in fig["graph"]["skips"] for e in s["edges"]]
    arcs += [r["path"] for r in fig["graph"]["shortcuts"]]
    assert arcs
    for path in arcs:
        points = [(float(a), float(b)) for a, b in re.findall(number, path)]
        curve = []
        for n in range(0, len(points) - 1, 3):
            curve += fg.bezier(*points[n:n + 4])
        ends = {name for name, c in centres.items() for p in (points[0], points[-1])
                if hypot(p[0] - c[0], p[1] - c[1]) < 0.8}
        for name, (cx, cy) in centres.items():
            if name not in ends:
                assert min(hypot(x - cx, y - cy) for x, y in curve) > fg.UNIT_RADIUS, (name, path)


def test_figure_draws_every_skip_edge_and_the_worked_one_thick():
    fig = notes_context(derived("mixed"))["figure"]
    skips = fig["graph"]["skips"]
    assert [len(s["edges"]) for s in skips] == [3 * 4, 4 * 4]          # W(2,0), then W(4,1)
    assert [e["thick"] for s in skips for e in s["edges"]].count(True) == 1
    assert [s["matrix"] for s in skips] == [r"\mathbf{W}^{(2,0)}", r"\mathbf{W}^{(4,1)}"]
    assert len(fig["graph"]["shortcuts"]) == 1 and len(fig["graph"]["shortcuts"][0]["boxes"]) == 2


@pytest.mark.parametrize("case", sorted(CASES))
def test_graph_tex_is_deterministic(case):
    assert render_tex(derive(network(case), check=False)) == render_tex(derive(network(case), check=False))


CHAIN = {"builtin": lambda: Network(builtin_spec()),
         "ont": lambda: Network.from_string("4-5-3", activation="relu,sigmoid", loss="bce", notation="ont",
                                            bias_sign="-"),
         "deep": lambda: Network.from_string("3-4-4-2", activation="tanh,relu,softmax", loss="ce")}


@pytest.mark.parametrize("case", sorted(CHAIN))
def test_chain_tex_unchanged_by_graph_support(case):
    """A chain's notes are built twice alike and say nothing of skips, shortcuts or successors."""
    first = render_tex(derive(CHAIN[case](), check=False))
    assert first == render_tex(derive(CHAIN[case](), check=False))
    for word in (r"\bskip\b", "shortcut", "successor", r"\\tikzset", r"\^\{\(\d+,\d+\)\}", r"\(l,s\)"):
        assert not re.search(word, first), word
    assert "The two thick connections are the" in first


def test_skip_terms_sit_between_the_chain_and_a_trailing_bias():
    """Where SymPy puts the bias last (mitchell's letters sort before b), the skip's terms go before it."""
    net = Network.from_string("2-2-2-1", activation="tanh,tanh,linear", notation="mitchell", skip="1:3")
    layer3 = notes_context(derive(net, check=False))["forward"]["layers"][2]["rows"][0]
    assert layer3.endswith(r"+ w^{(3,1)}_{12} a^{(1)}_{2} + b^{(3)}_{1}"), layer3
