r"""verify --latex: formulas in the notation of the notes (\eta, w^{(1)}_{21}, w_{41}), parsed safely."""
import os
import re
import time
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from symbp.derive import derive
from symbp.network import Network
from symbp.printing import latex_names, to_latex
from symbp.verify import ExpressionError, verify
from symbp.verify import latex as latex_module
from symbp.verify.latex import parse_latex_for
from symbp.verify.parse import MAX_LENGTH
from symbp.verify.symbols import function_table


@pytest.fixture(scope="module")
def seed003_global():
    """Seed 003 as printed there: 2-3-1 sigmoid/linear, units numbered 1..4 across layers."""
    return Network.from_string("2-3-1", activation="sigmoid,linear", numbering="global")


@pytest.fixture(scope="module")
def layered():
    return Network.from_string("2-3-1", activation="sigmoid,linear")


@pytest.fixture(scope="module")
def layered_d(layered):
    return derive(layered)


def S(name):
    return sp.Symbol(name, real=True)


# -- seed 003 ---------------------------------------------------------------------------------

def test_seed003_hidden_weight_update_global_numbering(seed003_global):
    # latex_names of the global net: outputs y_1..y_4, target d_1, w_{41} into unit 4 from unit 1
    names = {s.name: tex for s, tex in latex_names(seed003_global).items()}
    assert names["y2_1"] == "y_{4}" and names["w2_1_1"] == "w_{41}" and names["d1"] == "d_{1}"
    text = r"\eta (d_1 - y_4) w_{41} y_1 (1 - y_1) x_1"
    expr = parse_latex_for(seed003_global, text)
    result = verify(seed003_global, "w1_1_1", expr, quantity="update")
    assert result.equivalent is True, result.message


def test_seed003_wrong_rule_is_not_equivalent(seed003_global):
    wrong = parse_latex_for(seed003_global, r"\eta (d_1 - y_4) w_{41} x_1")   # no y_1(1-y_1)
    result = verify(seed003_global, "w1_1_1", wrong, quantity="update")
    assert result.equivalent is False
    assert result.mistake == "missing_activation_derivative"
    wrong_index = parse_latex_for(seed003_global, r"\eta (d_1 - y_4) w_{42} y_1 (1 - y_1) x_1")
    assert verify(seed003_global, "w1_1_1", wrong_index, quantity="update").equivalent is False


# -- layer numbering --------------------------------------------------------------------------

LAYERED_RIGHT = [
    ("w2_1_1", "update", r"\eta \left(d_1 - y^{(2)}_1\right) y^{(1)}_{1}"),
    ("w2_1_1", "update", r"\eta\,\delta^{(2)}_{1}\, y^{(1)}_1"),
    ("w2_1_1", "update", r"\eta e_1 \cdot \varphi(v^{(1)}_1)"),
    ("w2_1_1", "gradient", r"-\frac{1}{2} \cdot 2 \left(d_{1} - y^{(2)}_{1}\right) y^{(1)}_{1}"),
    ("w2_1_1", "new", r"w^{(2)}_{11} + \eta (d_1 - y^{(2)}_1) y^{(1)}_1"),
    ("w1_2_1", "update", r"\eta (d_1 - y^{(2)}_1) w^{(2)}_{12} y^{(1)}_2 \left(1-y^{(1)}_2\right) x_1"),
    ("w1_2_1", "update", r"\eta\, \delta^{(2)}_{1} w^{(2)}_{12}\, \varphi'(v^{(1)}_{2})\, x_{1}"),
    ("w1_2_1", "update", r"\eta \delta^{(2)}_1 w^{(2)}_{12} \sigma(v^{(1)}_2)\bigl(1 - \sigma(v^{(1)}_2)\bigr) x_1"),
    ("w1_2_1", "update", r"\eta \delta^{(1)}_{2} x_{1}"),
    ("w1_2_1", "update", r"\eta \delta^{(1)}_{2} y^{(0)}_{1}"),
    ("w1_2_1", "update", r"\frac{\eta e_1 w^{(2)}_{12} e^{-v^{(1)}_2}}{\left(1 + e^{-v^{(1)}_2}\right)^{2}} x_1"),
    ("w1_2_1", "update", r"$\eta \times e_{1} \times w^{(2)}_{1,2} \times y^{(1)}_{2} \times [1 - y^{(1)}_{2}] \times x_{1}$"),
    ("b1_3", "update", r"\eta\left[d_1-y^{(2)}_1\right]w^{(2)}_{13}\,y^{(1)}_3\left(1-y^{(1)}_3\right)"),
    ("delta1_2", "delta", r"\delta^{(2)}_{1} w^{(2)}_{12} y^{(1)}_{2} (1 - y^{(1)}_{2})"),
    ("delta2_1", "delta", r"d_1 - y^{(2)}_1"),
]


@pytest.mark.parametrize("param,quantity,text", LAYERED_RIGHT)
def test_layered_right(layered_d, param, quantity, text):
    result = verify(layered_d, param, parse_latex_for(layered_d.net, text), quantity=quantity)
    assert result.equivalent is True, (text, result.message)


LAYERED_WRONG = [
    ("w1_2_1", "update", r"\eta (d_1 - y^{(2)}_1) w^{(2)}_{12} x_1", "missing_activation_derivative"),
    ("w1_2_1", "update", r"2 \eta (d_1 - y^{(2)}_1) w^{(2)}_{12} y^{(1)}_2 (1-y^{(1)}_2) x_1", "constant_factor"),
    ("w1_2_1", "update", r"-\eta \delta^{(1)}_{2} x_{1}", "sign"),
    ("w2_1_1", "update", r"\frac{1}{2} \eta (d_1 - y^{(2)}_1) y^{(1)}_1", "constant_factor"),
]


@pytest.mark.parametrize("param,quantity,text,mistake", LAYERED_WRONG)
def test_layered_wrong(layered_d, param, quantity, text, mistake):
    result = verify(layered_d, param, parse_latex_for(layered_d.net, text), quantity=quantity)
    assert result.equivalent is False
    assert result.mistake == mistake


def test_symbols_of_the_notes(layered):
    p = lambda t: parse_latex_for(layered, t)      # noqa: E731
    assert p(r"w^{(2)}_{11}") == S("w2_1_1")
    assert p(r"\delta^{(2)}_{1}") == p(r"\delta^{(2)}_1") == S("delta2_1")
    assert p(r"\frac{1}{2}") == sp.Rational(1, 2)
    assert p(r"\left(1-y^{(1)}_2\right)") == 1 - S("y1_2")
    v12 = S("v1_2")
    sig = 1 / (1 + sp.exp(-v12))
    derivative = p(r"\varphi'(v^{(1)}_{2})")
    for value in (-0.7, 0.1, 2.3):
        assert abs(float((derivative - sig * (1 - sig)).subs(v12, value).evalf())) < 1e-12
    assert p(r"\eta") == sp.Symbol("eta", positive=True)
    assert p(r"x_1") == p(r"x_{1}") == p(r"y^{(0)}_{1}") == S("x1")
    assert p(r"b^{(1)}_{3}") == S("b1_3")


@pytest.mark.parametrize("text", [r"w^{(1)}_{21}", r"w^{(1)}_{2 1}", r"w^{(1)}_{2,1}", r"w_{21}^{(1)}",
                                  r"w^{(1)}_{ 2, 1 }", r"{w^{(1)}_{21}}", r"w^{[1]}_{21}"])
def test_index_spellings(layered, text):
    assert parse_latex_for(layered, text) == S("w1_2_1")


def test_superscript_after_subscript_is_the_layer_on_a_chain():
    """w_{12}^{(2)} is w^{(2)}_{12}: it used to be read as w_{12} of the global numbering, squared."""
    net = Network.from_string("2-3-1", activation="sigmoid,linear")
    assert parse_latex_for(net, r"w_{12}^{(2)}") == S("w2_1_2")
    assert parse_latex_for(net, r"\delta_1^{(2)}") == S("delta2_1")
    assert parse_latex_for(net, r"y_{1}^{(1)}") == S("y1_1")


def test_other_numbering_when_unambiguous(layered, seed003_global):
    assert parse_latex_for(seed003_global, r"w^{(2)}_{11}") == S("w2_1_1")
    assert parse_latex_for(seed003_global, r"y^{(1)}_{3} + \delta^{(2)}_1") == S("y1_3") + S("delta2_1")
    assert parse_latex_for(layered, r"w_{41}") == S("w2_1_1")
    assert parse_latex_for(layered, r"y_{4}") == S("y2_1")


def test_every_printed_name_reads_back():
    for kw in [{}, {"numbering": "global"}, {"notation": "ont"}, {"notation": "mitchell"},
               {"notation": "nielsen"}, {"notation": "mitchell", "numbering": "global"}]:
        net = Network.from_string("3-4-2", activation="tanh,sigmoid", **kw)
        for sym, tex in latex_names(net).items():
            if sym in (net.loss_symbol,):
                continue
            assert parse_latex_for(net, tex) == sym, (kw, tex)


def test_two_digit_units_in_global_numbering():
    net = Network.from_string("2-11-1", activation="sigmoid,linear", numbering="global")
    names = {s.name: tex for s, tex in latex_names(net).items()}
    assert names["w2_1_11"] == "w_{12,11}"
    assert parse_latex_for(net, r"w_{12,11}") == S("w2_1_11")
    assert parse_latex_for(net, r"y_{12}") == S("y2_1")
    assert parse_latex_for(net, r"w_{11}") == S("w1_1_1")
    assert parse_latex_for(net, r"w_{1,1}") == S("w1_1_1")


def test_profiles_letters():
    ont = Network.from_string("2-2-1", activation="sigmoid", loss="sse", bias_sign="-", notation="ont")
    d = derive(ont)
    text = r"2\eta\left(t_1 - o^{(2)}_1\right)\sigma'(n^{(2)}_{1})\, o^{(1)}_2"
    assert verify(d, "w2_1_2", parse_latex_for(ont, text), quantity="update").equivalent is True
    mitchell = Network.from_string("2-2-1", activation="sigmoid", notation="mitchell")
    expr = parse_latex_for(mitchell, r"f'(\mathit{net}^{(1)}_{1}) + f(net^{(2)}_1) + \mathrm{net}^{(1)}_2")
    assert S("net1_1") in expr.free_symbols and S("net2_1") in expr.free_symbols
    assert S("net1_2") in expr.free_symbols


def test_functions(layered):
    p = lambda t: parse_latex_for(layered, t)      # noqa: E731
    x1, x2 = S("x1"), S("x2")
    assert p(r"\exp(x_1) + \log x_2 + \ln(x_1)") == sp.exp(x1) + sp.log(x2) + sp.log(x1)
    assert p(r"\tanh^2(x_1)") == sp.tanh(x1) ** 2
    assert p(r"\sqrt{x_1}") == sp.sqrt(x1)
    assert p(r"e^{-x_1}") == sp.exp(-x1)
    assert p(r"\operatorname{ReLU}(x_1)") == p(r"\operatorname{relu}(x_1)")
    assert p(r"\operatorname{softplus}(x_1)") == function_table(layered)["softplus"](x1)
    assert p(r"H(x_1)") == sp.Heaviside(x1)
    assert p(r"\log\sigma(x_1)") == sp.log(p(r"\sigma(x_1)"))
    # juxtaposition with a unit is a product, not a call
    assert p(r"y^{(1)}_1 (1 - y^{(1)}_1)") == S("y1_1") * (1 - S("y1_1"))
    assert p(r"\sigma(x_1)^2") == p(r"\sigma(x_1)") ** 2


def test_arithmetic(layered):
    p = lambda t: parse_latex_for(layered, t)      # noqa: E731
    x1, x2 = S("x1"), S("x2")
    assert p(r"-x_1 - -x_2") == -x1 + x2
    assert p(r"x_1 / 2 \cdot 4") == 2 * x1
    assert p(r"2x_1x_2") == 2 * x1 * x2
    assert p(r"\frac{x_1}{x_2}^{2}") == (x1 / x2) ** 2        # as TeX sets it: the power is on the fraction
    assert p(r"(x_1)^{-2}") == x1 ** -2
    assert p(r"0.25 x_1") == x1 / 4
    assert p(r"x_1^2") == x1 ** 2


def test_round_trip_of_the_printed_rules(layered_d):
    """The notes' LaTeX of every rule, unrolled and explicit, reads back as the same rule."""
    net = layered_d.net
    for param in layered_d.params:
        for form in ("rule", "unrolled", "explicit"):
            tex = to_latex(layered_d.quantity(param, "update", form=form), net)
            if len(tex) > MAX_LENGTH:
                continue
            result = verify(layered_d, param, parse_latex_for(net, tex), quantity="update")
            assert result.equivalent is True, (param, form, tex)


# -- refused ---------------------------------------------------------------------------------

BAD = [
    (r"\input{/etc/passwd}", r"\input", 1),
    (r"\def\x{}", r"\def", 1),
    (r"\csname foo\endcsname", r"\csname", 1),
    (r"\immediate\write18{ls}", r"\immediate", 1),
    (r"x_1 + \write18{rm -rf /}", r"\write", 7),
    (r"x_1 \catcode`\^=7", r"\catcode", 5),
    (r"\usepackage{shellesc}", r"\usepackage", 1),
    (r"\openout1=x.tex", r"\openout", 1),
    (r"x_1 + \partial w", r"\partial", 7),
]


@pytest.mark.parametrize("text,command,column", BAD)
def test_unknown_commands_named_with_column(layered, text, command, column):
    with pytest.raises(ExpressionError) as info:
        parse_latex_for(layered, text)
    assert command in str(info.value)
    assert f"column {column}" in str(info.value)


HOSTILE = [
    r"\input{/etc/passwd}",
    r"\def\x{}",
    r"\csname foo\endcsname",
    r"\immediate\write18{ls}",
    "{" * 10_000 + "x_1" + "}" * 10_000,
    "(" * 10_000 + "x_1" + ")" * 10_000,
    "{" * 51 + "x_1" + "}" * 51,
    "x_1+" * 250_000 + "x_1",               # about 1 MB
    "\\eta" * 300_000,
    "\u0435ta",                               # Cyrillic e
    r"\eta x_1 + \u0445_1".replace(r"\u0445", "\u0445"),   # Cyrillic x
    "\u03b7 x_1",                             # a Greek eta typed directly
    "x\u2081",                                # subscript one
    "x_1\u200b",                              # zero-width space
    "x_1 \uff0b x_2",                         # fullwidth plus
    "x_1\x00",
    r"x_1 % \input{/etc/passwd}",
    r"\\input{/etc/passwd}",
    r"x_1^{9^{9^{9}}}",
    r"9^{99999}",
    r"x_1^{1000}",
    r"\frac{1}{0}",
    r"\log(0)",
    r"\sigma(\cdot)",
    "x_1 &",
    "#1",
    r"x_1 \ x_2 \\",
    "",
    "   ",
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:30]))
def test_hostile_refused_quickly_and_writes_nothing(layered, text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(tmp_path))
    start = time.perf_counter()
    with pytest.raises(ExpressionError) as info:
        parse_latex_for(layered, text)
    assert time.perf_counter() - start < 1.0
    assert set(os.listdir(tmp_path)) == before
    assert "root:" not in str(info.value)          # nothing of /etc/passwd leaks into the message
    assert len(str(info.value)) < 300


def test_hostile_input_is_never_read_or_run(layered, monkeypatch):
    """No file is opened and no subprocess started while parsing, whatever the text says."""
    import builtins
    import subprocess

    parse_latex_for(layered, "x_1")                 # grammar built before the trap is set
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("subprocess started"))
    monkeypatch.setattr(os, "system", lambda *a, **k: pytest.fail("os.system called"))
    for text in [r"\input{/etc/passwd}", r"\immediate\write18{touch pwned}", r"x_1 + w^{(1)}_{11}"]:
        try:
            parse_latex_for(layered, text)
        except ExpressionError:
            pass
    assert opened == []
    assert not Path("pwned").exists()


def test_source_has_no_evaluator():
    source = Path(latex_module.__file__).read_text()
    for word in ("eval(", "exec(", "sympify", "parse_expr", "sympy.parsing", "subprocess", "os.system",
                 "open(", "__import__"):
        assert word not in source, word
    assert not re.search(r"(?<!re\.)compile\(", source)


@pytest.mark.parametrize("text,fragment", [
    (r"w_41", "_{41}"),
    (r"x^23", "^{23}"),
    (r"y_j", "concrete unit number"),
    (r"w^{(3)}_{11}", "unknown symbol"),
    (r"\sigma", "needs an argument"),
    (r"\varphi''(v^{(1)}_1)", "first derivatives"),
    (r"y'", "prime"),
    (r"x_1 +", "ends too early"),
    (r"x_1 )", "unbalanced"),
    (r"(x_1", "unbalanced"),
    (r"\frac12", r"\frac{...}{...}"),
    (r"\sqrt[3]{x_1}", r"\sqrt{...}"),
    (r"{x_1^2}^3", "nested powers"),       # a bracket (x_1^2)^3 is fine: see test_group_powers
    (r"x_1^{x_2}", "whole number"),
    (r"q", "unknown symbol"),
    (r"\alpha", "unknown symbol"),
    (r"\sigma(\cdot)", "placeholder"),
    (r"\operatorname{foo}(x_1)", "unknown symbol"),
])
def test_clear_messages(layered, text, fragment):
    with pytest.raises(ExpressionError) as info:
        parse_latex_for(layered, text)
    assert fragment in str(info.value)


TOKENS = list("xywvdeb_^{}()[]+-*/'12 ,.\\") + [r"\eta", r"\delta", r"\frac", r"\cdot", r"\left(",
                                                r"\right)", r"\varphi", r"\sigma", r"\input", r"\def",
                                                "^{(1)}", "^{(2)}", "_{11}", "_1", "^2"]


@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_fuzz_only_expression_errors(text):
    net = Network.from_string("2-3-1", activation="sigmoid,linear")
    start = time.perf_counter()
    try:
        expr = parse_latex_for(net, text)
    except ExpressionError:
        pass
    else:
        assert isinstance(expr, sp.Basic)
    assert time.perf_counter() - start < 1.0


def test_longest_accepted_formula_is_fast(layered):
    term = r"w^{(1)}_{11} x_1 + "
    text = term * ((MAX_LENGTH - 10) // len(term)) + "x_2"
    start = time.perf_counter()
    expr = parse_latex_for(layered, text)
    assert time.perf_counter() - start < 1.0
    assert expr.has(S("x2"))
    long_product = r"\left(1-y^{(1)}_1\right)" * (MAX_LENGTH // 25)
    start = time.perf_counter()
    parse_latex_for(layered, long_product)
    assert time.perf_counter() - start < 1.0


# -- differential: LaTeX and the canonical text parser agree -----------------------------------

LEAVES = [(r"w^{(1)}_{21}", "w1_2_1"), (r"x_1", "x1"), (r"\eta", "eta"), (r"y^{(2)}_1", "y2_1"),
          (r"d_{1}", "d1"), (r"\delta^{(1)}_{3}", "delta1_3"), (r"3", "3"), (r"0.5", "0.5"),
          (r"\varphi(v^{(1)}_{2})", "phi(v1_2)"), (r"\varphi'(v^{(1)}_{2})", "phi'(v1_2)"),
          (r"e_1", "e1"), (r"b^{(2)}_{1}", "b2_1")]


def _combine(pair):
    (la, ta), (lb, tb) = pair
    return st.sampled_from([
        (f"{la} + {lb}", f"{ta} + {tb}"),
        (f"{la} - \\left({lb}\\right)", f"{ta} - ({tb})"),
        (f"\\left({la}\\right) \\cdot \\left({lb}\\right)", f"({ta}) * ({tb})"),
        (f"\\left({la}\\right)\\left({lb}\\right)", f"({ta}) * ({tb})"),
        (f"\\frac{{{la}}}{{{lb}}}", f"({ta}) / ({tb})"),
        (f"\\left[{la}\\right]^{{2}}", f"({ta})**2"),
        (f"\\exp\\left({la}\\right)", f"exp({ta})"),
        (f"-{{{la}}}", f"-({ta})"),
    ])


FORMULAS = st.recursive(st.sampled_from(LEAVES), lambda inner: st.tuples(inner, inner).flatmap(_combine),
                        max_leaves=8)


@given(FORMULAS)
def test_latex_agrees_with_the_text_parser(pair):
    from symbp.verify import parse_for
    net = Network.from_string("2-3-1", activation="sigmoid,linear")
    tex, text = pair
    try:
        want = parse_for(net, text)
    except ExpressionError:
        want = None
    try:
        got = parse_latex_for(net, tex)
    except ExpressionError:
        got = None
    if want is None or got is None:
        assert want is None and got is None, (tex, text, want, got)
        return
    assert got == want or sp.expand(got - want) == 0, (tex, text)


# -- bare layer superscripts: nielsen's a^{2}_{1}, refused as a power where it could be a layer -------

@pytest.fixture(scope="module")
def nielsen():
    return Network.from_string("2-2-1", activation="sigmoid", loss="half_sse", notation="nielsen")


@pytest.mark.parametrize("tex,name", [(r"a^{2}_{1}", "a2_1"), (r"a^2_1", "a2_1"), (r"a_{1}^{2}", "a2_1"),
                                      (r"\delta^{2}_{1}", "delta2_1"), (r"\delta_1^2", "delta2_1"),
                                      (r"z^{1}_{2}", "z1_2"), (r"w^{2}_{12}", "w2_1_2"), (r"b^{1}_{2}", "b1_2")])
def test_nielsen_bare_superscript_is_the_layer(nielsen, tex, name):
    assert parse_latex_for(nielsen, tex) == S(name)


def test_nielsen_power_needs_brackets(nielsen):
    a11 = S("a1_1")
    assert parse_latex_for(nielsen, r"(a^{1}_{1})^{2}") == a11 ** 2
    assert parse_latex_for(nielsen, r"{a^{1}_{1}}^{2}") == a11 ** 2
    assert parse_latex_for(nielsen, r"x_1^2 + y_1^2") == S("x1") ** 2 + S("y1") ** 2   # no layer on x, y
    with pytest.raises(ExpressionError, match="no a\\^\\{3\\}_\\{1\\}"):
        parse_latex_for(nielsen, r"a^{3}_{1}")            # no layer 3: never a cube of a^{1}_{1}
    with pytest.raises(ExpressionError, match="nested powers"):
        parse_latex_for(nielsen, r"{a^{1}_{1}^{2}}^{3}")


def test_nielsen_answer_in_bare_layers_is_right(nielsen):
    # by hand: C = (a2_1 - y1)^2/2, delta = dC/dz, so delta2_1 = (a2_1 - y1) a2_1 (1 - a2_1)
    text = r"\delta^{2}_{1} = (a^{2}_{1} - y_1) a^{2}_{1} (1 - a^{2}_{1})"
    assert verify(nielsen, expr=text, latex=True).equivalent is True
    wrong = r"\delta^{2}_{1} = (a^{2}_{1} - y_1) a^{1}_{1} (1 - a^{1}_{1})"    # hidden unit's slope
    assert verify(nielsen, expr=wrong, latex=True).equivalent is False


@pytest.mark.parametrize("tex", [r"y^{2}_{1}", r"y_1^2", r"y_{1}^{2}", r"w_{11}^{2}", r"\delta_1^2"])
def test_bare_power_that_could_be_a_layer_is_refused(layered, tex):
    # haykin, layer numbering: y^{(2)}_{1} exists, so y_1^2 is a layer or a square: refused, not guessed
    with pytest.raises(ExpressionError, match="the layer or a power"):
        parse_latex_for(layered, tex)


def test_bare_power_without_a_layer_reading_is_a_power(layered, seed003_global):
    assert parse_latex_for(layered, r"{y^{(1)}_{1}}^{2}") == S("y1_1") ** 2
    assert parse_latex_for(layered, r"d_1^2") == S("d1") ** 2
    assert parse_latex_for(seed003_global, r"y_{1}^{2}") == S("y1_1") ** 2     # global: no layers at all


def test_a_phantom_is_space_not_formula():
    r"""The notes indent a line inside a wrapped bracket with \phantom{the line up to the bracket}: read back (or
    pasted by a student) it is space, however its braces nest; anything outside it still counts."""
    from symbp.verify.latex import parse_latex_for
    net = Network.from_string("2-3-1", activation="sigmoid,linear")
    x1, x2 = net.x
    assert parse_latex_for(net, r"x_{1} \phantom{+ \eta \left(1 - y^{(1)}_{1}\right)\Bigl(} + x_{2}") == x1 + x2
    assert parse_latex_for(net, r"\hphantom{{a}{b}} x_{1}") == x1
    with pytest.raises(ExpressionError):            # never closed: refused, not read as nothing
        parse_latex_for(net, r"x_{1} \phantom{+ x_{2}")
