"""Activations and losses of your own, from a formula in the spec: a row like any other, and refused
with the field named where the formula is unsafe, unknown or not differentiable on the real line."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp

from symbp import Network, derive, reference
from symbp.activations import get_activation, proves_derivative
from symbp.check import check_table
from symbp.compile import compile_network
from symbp.errors import SpecError
from symbp.notes import render_tex
from symbp.spec import spec_from_dict


def spec(acts, loss="half_sse", activation=None, losses=None, layers=(2, 3, 1)):
    raw = {"network": {"layers": list(layers), "activations": acts, "loss": loss}}
    if activation is not None:
        raw["activation"] = activation
    if losses is not None:
        raw["loss"] = losses
    return spec_from_dict(raw)


SOFTSIGN = {"ss_own": {"formula": "z/(1 + abs(z))", "latex": r"\operatorname{ss}"}}
QUARTIC = {"quartic": {"formula": "(y - t)**4/4"}}


@pytest.fixture(scope="module")
def own():
    return Network(spec(["ss_own", "ss_own"], "quartic", SOFTSIGN, QUARTIC))


def test_formula_rows_are_registry_rows(own):
    act, loss = own.activation(1), own.loss
    assert act.name == "ss_own" and act.derivative_in_output is None and act.kink is None
    assert get_activation("ss_own") is act
    y, t, e = sp.symbols("y t e", real=True)
    assert sp.expand(loss.term(y, t) - (y - t) ** 4 / 4) == 0
    assert sp.expand(loss.error_term(e) - e ** 4 / 4) == 0          # a function of the error alone: Haykin's e
    assert get_activation("ss_own") is Network(spec(["ss_own", "linear"], activation=SOFTSIGN)).activation(1)
    assert proves_derivative(act)          # its fdiff is SymPy's derivative of the formula, as for every row
    z = sp.Symbol("z", real=True)
    assert sp.simplify(sp.diff(act.function(z), z) - sp.diff(z / (1 + sp.Abs(z)), z)) == 0


def test_formula_network_against_hand_written_oracles(own):
    """The exported gradients equal the reference given the same formulas as NumPy written here by hand,
    and the built-in softsign, which shares no code with the formula row."""
    act = (lambda v: v / (1 + np.abs(v)), lambda v: 1 / (1 + np.abs(v)) ** 2)
    loss = (lambda y, t: (y - t) ** 4 / 4, lambda y, t: (y - t) ** 3)
    compiled = compile_network(own)
    rng = np.random.default_rng(4)
    params = {k: rng.normal(0, 0.9, s) for k, s in compiled.shapes.items()}
    X, T = rng.normal(0, 1.5, (7, 2)), rng.normal(0, 1, (7, 1))
    got = compiled.gradients(params, X, T)
    want = reference.gradients(params, X, T, [act, act], loss)
    builtin = compile_network(Network.from_string("2-3-1", activation="softsign")).gradients(params, X, T)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-13, err_msg=k)
    assert compiled.loss(params, X, T) == pytest.approx(float(np.sum((compiled.output(params, X) - T) ** 4 / 4)))
    assert not np.allclose(builtin["W1"], got["W1"])     # (half_sse there: the loss is part of the rule)


def test_check_agrees_four_ways(own):
    assert check_table(own).ok


def test_abs_has_its_kink_and_check_sees_it():
    net = Network(spec(["vee", "linear"], activation={"vee": {"formula": "abs(z - 1/2) + z/4"}}))
    assert net.activation(1).kink == 0.5
    assert check_table(net).ok


def test_notes_derive_the_derivative_on_the_page(own):
    tex = render_tex(derive(own))
    assert r"\frac{d}{dz} \operatorname{ss}\left(z\right) &=" in tex
    assert r"\operatorname{ss}\left(z\right) = \frac{z}{\left|{z}\right| + 1}" in tex
    assert "has no form in its own output" in tex


def test_notes_typeset_a_loss_of_your_own(own):
    """The prose names a formula loss in LaTeX, in the profile's letters (haykin: output y, target d), and the
    typeset loss reads back as the formula written in the spec; no program text like '**' reaches the page."""
    from symbp.verify.latex import parse_latex_for
    tex = render_tex(derive(own))
    intro = tex[tex.index("trained to minimise"):].split("\n\n")[0]
    assert "**" not in intro and "quartic(y, t)" not in tex
    shown = re.search(r"\\emph\{quartic\}: \$(.+?)\$ for each output unit", intro).group(1)
    # one output unit: y_j, d_j read as unit 1 of the output layer
    net = own
    read = parse_latex_for(net, shown.replace("_{j}", "^{(2)}_{1}").replace("d^{(2)}_{1}", "d_{1}"))
    y, d = net.y[2][0], net.t[0]
    assert sp.expand(read - (y - d) ** 4 / 4) == 0


def test_one_samples_numbers_have_no_division_by_one():
    """Under the mean a single sample's N is 1: the numbers put in read (0.1 - 0.21)^3, not (...)^3 / 1."""
    net = Network(spec(["sigmoid", "linear"], "quartic", losses=QUARTIC))
    from dataclasses import replace

    from symbp.spec import Training
    tex = render_tex(derive(Network(replace(net.spec, training=Training(reduction="mean")))))
    worked = tex[tex.index("Local gradients and one update, with numbers"):]
    worked = worked[:worked.index("\\subsection", 10)]
    assert "{N}" in worked                      # the rule keeps its 1/N
    assert not re.search(r"\\frac\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}\{1\}", worked)


@pytest.mark.parametrize("formula,reason", [
    ("__import__('os')", "'__import__' is not accepted"),
    ("foo(z)", "unknown function 'foo'"),
    ("x + z", "unknown identifier 'x'"),
    ("z.real", "attribute access"),
    ("z**2**3", "nested powers"),
    ("log(z)", "not a real number"),
    ("sqrt(z)", "not a real number"),
    ("1/z", "at z = 0 it is zoo"),
    ("sqrt(abs(z))", "at z = 0 its derivative"),
    ("abs(z) + abs(z - 1)", "jumps at one point at most"),
    ("7", "depends on z"),
    ("'z'", "a string"),
])
def test_bad_activation_formula_names_the_field(formula, reason):
    with pytest.raises(SpecError, match=r"activation\.bad_one\.formula") as err:
        spec(["bad_one", "linear"], activation={"bad_one": {"formula": formula}})
    assert reason in str(err.value)


@pytest.mark.parametrize("table,field,reason", [
    ({"tanh": {"formula": "z"}}, "activation.tanh", "not that of a built-in"),
    ({"exp": {"formula": "z"}}, "activation.exp", "no function of a formula"),
    ({"Big": {"formula": "z"}}, "activation.Big", "lower-case"),
    ({"unused_one": {"formula": "z"}}, "activation.unused_one", "network.activations uses"),
    ({"ltx": {"formula": "z", "latex": r"\input{notes}"}}, "activation.ltx.latex", "only the commands"),
    ({"ltx2": {"formula": "z", "latex": r"\x{/etc/passwd}"}}, "activation.ltx2.latex", "LaTeX of at most"),
    ({"key_one": {"formula": "z", "colour": "red"}}, "activation.key_one.colour", "a known key"),
    ({"nof": {"latex": "f"}}, "activation.nof.formula", "missing"),
])
def test_bad_activation_table_names_the_field(table, field, reason):
    name = next(iter(table))
    acts = ["tanh", "linear"] if name == "unused_one" else [name, "linear"]
    with pytest.raises(SpecError, match=field.replace(".", r"\.")) as err:
        spec(acts, activation=table)
    assert reason in str(err.value)


@pytest.mark.parametrize("loss,table,reason", [
    ("only_t", {"only_t": {"formula": "t**2"}}, "a loss of the output y"),
    ("half_sse", {"half_sse": {"formula": "y**2"}}, "built-in loss"),
    ("logy", {"logy": {"formula": "log(y - 2)"}}, "not a real number"),
    ("ly", {"ly": {"formula": "y*q"}}, "unknown identifier 'q'"),
])
def test_bad_loss_names_the_field(loss, table, reason):
    with pytest.raises(SpecError, match=rf"loss\.{loss}") as err:
        spec(["tanh", "linear"], loss, losses=table)
    assert reason in str(err.value)


def test_one_definition_per_name():
    spec(["twice", "linear"], activation={"twice": {"formula": "z/2"}})
    spec(["twice", "linear"], activation={"twice": {"formula": "z/2"}})            # the same: fine
    with pytest.raises(SpecError, match="activation.twice.*one definition per name"):
        spec(["twice", "linear"], activation={"twice": {"formula": "z/3"}})


def test_command_line_refuses_with_one_line_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent("""
        [network]
        layers = [2, 3, 1]
        activations = ["evil", "linear"]
        [activation.evil]
        formula = "__import__('os').system('touch pwned')"
    """))
    out = subprocess.run([sys.executable, "-m", "symbp", "export", str(path), "-o", str(tmp_path / "m.py")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 2 and "activation.evil.formula" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]
