"""The step counter of w(n+1) = w(n) + Delta w(n) is each profile's own letter and names nothing else (issues 13, 14).

Oracles: the letters of the profile table (net input, output, target, loss, error, activation, and the
input x, weight w and bias b every profile shares), and the letters the notes themselves use as a symbol
or an index, read off the .tex.
"""
from __future__ import annotations

import random
import re

import pytest
import sympy as sp
from sympy.printing.latex import LatexPrinter
from test_notes_wrap import same

from symbp import Network, derive
from symbp.network import previous_step
from symbp.notation import PROFILES, get_profile
from symbp.notes import _summary, _Tex, _worked_weight, render_tex
from symbp.present import learning_rule
from symbp.printing import NotesLatexPrinter
from symbp.report import derivation_latex
from symbp.spec import Training, spec_from_layer_string
from symbp.verify.latex import parse_latex_for

MOMENTUM = Training(0.9, 0.0, False, "sum")
# a step index follows the closing brace of a parameter's subscript or superscript: w^{(2)}_{11}(n+1),
# \Delta \mathbf{W}^{(1)}(n-1); E(n) and y_j(x) (samples) and ^{(l+1)} (layers) are not steps
STEP = re.compile(r"\}\((\\?[A-Za-z]+)\s*(?:([+-])\s*1)?\)")
# every letter the notes write as a symbol with a subscript or superscript (x_{1}, o^{(1)}), or as an index
BASE = re.compile(r"(?<![\\A-Za-z])(\\?[A-Za-z]+)\s*[_^]")
INDEX = re.compile(r"[_^]\{\(?([^{}]*)\)?\}")


def notes(profile: str, layers: str = "2-2-1", training: Training | None = MOMENTUM, **flags) -> str:
    spec = spec_from_layer_string(layers, notation=profile, training=training or Training(), **flags)
    return render_tex(derive(Network(spec), check=False))


def table_letters(profile) -> set[str]:
    """The symbols of the profile table, and x, w, b, which every profile uses for inputs, weights, biases."""
    return {profile.net_tex, profile.out_tex, profile.target_tex, profile.loss_tex, profile.activation_tex,
            profile.generic_tex, "x", "w", "b"} | ({profile.error} if profile.error else set())


def symbol_and_index_letters(tex: str) -> set[str]:
    """The letters the notes use as a symbol (before _ or ^) or inside an index ({jk}, {(l,s)}, {i=1})."""
    found = set(BASE.findall(tex))
    for index in INDEX.findall(tex):
        found |= set(re.findall(r"\\[A-Za-z]+|[A-Za-z]", index))
    return found - {r"\mathrm", r"\mathbf", r"\boldsymbol", r"\text", r"\left", r"\right"}


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_the_step_letter_is_none_of_the_profiles_symbols(profile):
    assert profile.step_tex not in table_letters(profile)
    if profile.step_tex != profile.sample:      # haykin and mitchell count samples and steps with one n
        assert profile.name in ("ont", "nielsen") and profile.sample == "x"


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_every_step_index_of_the_notes_is_the_profiles_letter(profile):
    tex = notes(profile.name)
    steps = STEP.findall(tex)
    assert {letter for letter, _ in steps} == {profile.step_tex}
    assert {sign for _, sign in steps} == {"", "+", "-"}        # w(n), w(n+1) and Delta w(n-1) are all printed
    assert rf"a weight at step ${profile.step_tex}$ of gradient descent" in tex     # the notation table says so
    # the letter stands for nothing else in these notes: no symbol, no unit, layer or sum index (haykin's and
    # mitchell's sum over the samples n = 1..N is theirs: sample n is the one presented at step n)
    used = symbol_and_index_letters(tex.replace(rf"\sum_{{{profile.sample}=1}}", ""))
    assert {"w", "b", "x", "j", "k"} <= used                      # the reader did find the letters
    assert profile.step_tex not in used


@pytest.mark.parametrize("name", ["ont", "nielsen"])
def test_a_skip_connection_index_is_not_the_step(name):
    """s names a skip's source layer (w^{(l,s)}); ont's and nielsen's steps stay clear of it."""
    tex = notes(name, "3-4-4-2", activation="tanh,tanh,linear", skip="0:2", residual="1:2")
    assert r"w^{(l,s)}_{jk}" in tex
    assert {letter for letter, _ in STEP.findall(tex)} == {get_profile(name).step_tex}
    assert get_profile(name).step_tex not in symbol_and_index_letters(tex)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_momentum_prints_the_previous_step_in_the_profiles_letter(profile):
    tex = notes(profile.name)
    n = profile.step_tex
    worked = rf"\Delta w^{{(2)}}_{{11}}({n}) &= \alpha \Delta w^{{(2)}}_{{11}}({n}-1) - \eta"
    assert worked in tex
    assert rf"+ \alpha \Delta w^{{(1)}}_{{22}}({n}-1)" in tex                  # the summary's rules
    assert rf"\Delta \mathbf{{W}}^{{(1)}}({n}) &= \alpha \Delta \mathbf{{W}}^{{(1)}}({n}-1)" in tex   # Algorithm 1
    if n != "n":
        assert "(n-1)" not in tex and "(n+1)" not in tex


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_plain_descent_writes_the_next_value_at_the_next_step(profile):
    tex = notes(profile.name, training=None)
    n = profile.step_tex
    assert rf"w^{{(2)}}_{{11}}({n}+1) &= w^{{(2)}}_{{11}}({n}) + \Delta w^{{(2)}}_{{11}}({n}) = " in tex
    assert {sign for _, sign in STEP.findall(tex)} == {"", "+"}        # no previous step without momentum


def test_the_previous_step_symbol_prints_the_printers_profile():
    for profile in PROFILES:
        net = Network(spec_from_layer_string("2-2-1", notation=profile.name, training=MOMENTUM))
        prev = net.previous(net.W[2][0][0])
        assert NotesLatexPrinter(net).doprint(prev) == rf"\Delta w^{{(2)}}_{{11}}({profile.step_tex}-1)"
    # a printer without a profile (plain sympy.latex) keeps Haykin's n
    assert sp.latex(prev).endswith("(n-1)") and previous_step(LatexPrinter()) == "(n-1)"


@pytest.mark.parametrize("name", ["haykin", "ont", "nielsen"])
def test_the_general_learning_rule_counts_samples_and_steps_in_the_profiles_letters(name):
    """derive's LaTeX and the general rule: Delta p(n) = alpha Delta p(n-1) - ..., E = sum over the samples."""
    profile = get_profile(name)
    d = derive(Network(spec_from_layer_string("2-2-1", notation=name, training=MOMENTUM)), check=False)
    rule = learning_rule(d)
    (index, _, _), = rule.loss.atoms(sp.Sum).pop().limits
    assert index.name == profile.sample                      # ont's n is its net input, not a sample
    n = profile.step_tex
    assert NotesLatexPrinter(d.net).doprint(rule.previous) == rf"\Delta w^{{(l)}}_{{jk}}({n}-1)"
    assert rf"\Delta p({n}) = \alpha \, \Delta p({n}-1)" in derivation_latex(d)


# Delta p(n-1) put in as a number, 7/19: verify reads numbers (a previous step it does not read yet)
PREVIOUS, PREVIOUS_TEX = sp.Rational(7, 19), r"\left(\frac{7}{19}\right)"


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_displayed_momentum_updates_mean_the_derived_rule(profile):
    """Each summary row p <- ... + alpha Delta p(n-1) and each worked p(n+1) = ..., read back with that row's own
    Delta p(n-1) as a number, is the derived new value p + alpha Delta p(n-1) - eta dE/dp (decay included)."""
    net = Network(spec_from_layer_string("2-2-1", notation=profile.name, training=Training(0.9, 0.1, False, "sum")))
    d, T, rng = derive(net, check=False), _Tex(net), random.Random(5)
    rows = [row for layer in _summary(T, d)["layers"] for row in layer["updates"]]
    rows += [row for name in ("w2_1_1", "w1_1_1") for row in _worked_weight(T, d, name)["step"][1:]]
    assert len(rows) >= 8
    for row in rows:
        p = parse_latex_for(net, row.split("&")[0].strip().removesuffix(profile.at_step(1)))
        previous = rf"\Delta {T(p)}{profile.at_step(-1)}"
        assert row.count(previous) == 1, row                 # its own previous step, in the profile's letter
        rhs = row.replace(previous, PREVIOUS_TEX).split("=")[-1].split(r"\leftarrow")[-1]
        expected = d.params[p.name].new.xreplace({net.previous(p): PREVIOUS})
        assert same(parse_latex_for(net, rhs), expected, rng), row
