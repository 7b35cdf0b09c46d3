"""The printers write terms and factors in a person's order (issue 13), and every reordered form means what it
printed: each is checked as a string and read back with verify's LaTeX reader, then compared with the derivation
or with a loss written out here by hand."""
from __future__ import annotations

import random
import re

import pytest
import sympy as sp

from symbp import Network, derive
from symbp import forms as fm
from symbp import indexform as ix
from symbp.printing import to_latex
from symbp.verify.latex import parse_latex_for


def same(a, b, seed: int = 13) -> bool:
    """Equal at random rational points (scalars, or the entries of two columns)."""
    a, b = (x if isinstance(x, sp.MatrixBase) else sp.Matrix([x]) for x in (a, b))
    if a.shape != b.shape:
        return False
    rng = random.Random(seed)
    free = sorted(a.free_symbols | b.free_symbols, key=str)
    for _ in range(3):
        point = {s: sp.Rational(rng.randint(1, 90), 97) for s in free}      # in (0, 1): logs of y and 1 - y exist
        if any(abs(sp.N((p - q).xreplace(point), 30)) > 1e-20 for p, q in zip(a, b)):
            return False
    return True


def instance(general: str, **indices: str) -> str:
    """A general rule's LaTeX at one layer and unit: the letters l, j, m, i replaced by numbers (test-side only)."""
    text = general
    for letter, value in indices.items():
        if letter == "l":       # (l), (l-1), (l,l-2): each layer offset from l, as a number
            text = re.sub(r"\((l[-+]?\d*(?:,l[-+]?\d*)?)\)", lambda m: "(" + ",".join(
                str(int(value) + int(p[1:] or 0)) for p in m.group(1).split(",")) + ")", text)
        else:
            text = re.sub(r"_\{([a-z0-9,]*)\}", lambda m: "_{" + m.group(1).replace(letter, value) + "}", text)
    return text


NETS = {
    "haykin": dict(layers="2-3-1", activation="sigmoid,sigmoid"),
    "ont_minus": dict(layers="2-2-1", activation="sigmoid", loss="sse", notation="ont", bias_sign="-"),
    "mitchell": dict(layers="3-4-4-2", activation="tanh", notation="mitchell"),
    "nielsen_ce": dict(layers="4-5-3", activation="relu,softmax", loss="ce", notation="nielsen"),
    "global": dict(layers="2-3-2", activation="tanh,sigmoid", numbering="global"),
    "skip": dict(layers="2-3-3-1", activation="tanh,tanh,linear", skip="1:3"),
}


def network(case: str) -> Network:
    args = dict(NETS[case])
    return Network.from_string(args.pop("layers"), **args)


_DERIVED: dict = {}


def derived(case: str):
    if case not in _DERIVED:
        _DERIVED[case] = derive(network(case), check=False)
    return _DERIVED[case]


@pytest.mark.parametrize("case", sorted(NETS))
def test_every_forward_sum_ends_with_its_bias(case):
    """v_j = sum_k w_jk y_k + b_j (or - b_j), in every layer, as Haykin and Nielsen write it."""
    net = network(case)
    sign = "+" if net.bias_sign > 0 else "-"
    for l in range(1, net.depth + 1):
        for j in net.units(l):
            v = net.net_input(l, j)
            tex = to_latex(v, net)
            bias = to_latex(net.b[l][j - 1], net)
            assert tex.endswith(f" {sign} {bias}") and tex.count(bias) == 1, tex
            assert sp.expand(parse_latex_for(net, tex) - v) == 0, tex


@pytest.mark.parametrize("case", ["haykin", "ont_minus", "mitchell"])
def test_the_general_net_input_ends_with_its_bias(case):
    net = network(case)
    tex = to_latex(ix.net_input(net.bias_sign, net.bias), net)
    sign = "+" if net.bias_sign > 0 else "-"
    assert re.fullmatch(r"\\sum_\{i=1\}\^\{K\} (.*) " + re.escape(f"{sign} b^{{(l)}}_{{j}}"), tex), tex
    body = re.fullmatch(r"\\sum_\{i=1\}\^\{K\} (.*) [+-] b\^\{\(l\)\}_\{j\}", tex).group(1)
    for l in range(2, net.depth + 1):       # the rule at l and j = 1, its sum written out over i = 1..K
        terms = [instance(body, l=str(l), j="1", i=str(i)) for i in range(1, net.layers[l - 1] + 1)]
        text = " + ".join(terms) + f" {sign} b^{{({l})}}_{{1}}"
        assert same(parse_latex_for(net, text), net.net_input(l, 1)), text


# Each matrix delta in the scalar rule's order: the error first, then y before 1 - y, the weighted sum last
# (a matrix product among Hadamard factors in brackets).
MATRIX = {
    "haykin": {2: r"\boldsymbol{e} \odot \boldsymbol{y}^{(2)} \odot \left(\boldsymbol{1} - \boldsymbol{y}^{(2)}\right)",
               1: r"\boldsymbol{y}^{(1)} \odot \left(\boldsymbol{1} - \boldsymbol{y}^{(1)}\right) \odot "
                  r"\left(\left(\mathbf{W}^{(2)}\right)^{T} \boldsymbol{\delta}^{(2)}\right)"},
    "ont_minus": {2: r"2 \left(\boldsymbol{o}^{(2)} - \boldsymbol{t}\right) \odot \boldsymbol{o}^{(2)} \odot "
                     r"\left(\boldsymbol{1} - \boldsymbol{o}^{(2)}\right)",
                  1: r"\boldsymbol{o}^{(1)} \odot \left(\boldsymbol{1} - \boldsymbol{o}^{(1)}\right) \odot "
                     r"\left(\left(\mathbf{W}^{(2)}\right)^{T} \boldsymbol{\delta}^{(2)}\right)"},
    "mitchell": {3: r"\left(\boldsymbol{t} - \boldsymbol{a}^{(3)}\right) \odot "
                    r"\left(\boldsymbol{1} - \boldsymbol{a}^{(3)} \odot \boldsymbol{a}^{(3)}\right)",
                 2: r"\left(\boldsymbol{1} - \boldsymbol{a}^{(2)} \odot \boldsymbol{a}^{(2)}\right) \odot "
                    r"\left(\left(\mathbf{W}^{(3)}\right)^{T} \boldsymbol{\delta}^{(3)}\right)"},
    "skip": {1: r"\left(\boldsymbol{1} - \boldsymbol{y}^{(1)} \odot \boldsymbol{y}^{(1)}\right) \odot "
                r"\left(\left(\mathbf{W}^{(2)}\right)^{T} \boldsymbol{\delta}^{(2)} + "
                r"\left(\mathbf{W}^{(3,1)}\right)^{T} \boldsymbol{\delta}^{(3)}\right)"},
}


@pytest.mark.parametrize("case", sorted(MATRIX))
def test_matrix_deltas_read_in_the_scalar_order_and_mean_the_scalar_rules(case):
    """Hadamard factors reordered (they commute), matrix products never: each row, read back, is the
    column of the unit rules that derive found."""
    net, d = network(case), derived(case)
    layers = {m.layer: m for m in fm.matrix_form(d)}
    for l, expected in MATRIX[case].items():
        tex = to_latex(layers[l].delta, net)
        assert tex == expected
        column = sp.Matrix([d.deltas[s].value for s in net.delta[l]])
        assert same(parse_latex_for(net, tex), column), tex


def test_every_matrix_delta_means_the_scalar_rules():
    for case in sorted(NETS):
        net, d = network(case), derived(case)
        for m in fm.matrix_form(d):
            tex = to_latex(m.delta, net)
            assert r"\left(\left(" not in tex.replace(r"\left(\left(\mathbf{W}", "")      # no doubled bracket
            assert same(parse_latex_for(net, tex), sp.Matrix([d.deltas[s].value for s in net.delta[m.layer]])), tex


@pytest.mark.parametrize("layers, expected", [
    ("2-3-1", r"\eta \left(d_{1} - y^{(2)}_{1}\right) y^{(2)}_{1} \left(1 - y^{(2)}_{1}\right) w^{(2)}_{11} "
              r"y^{(1)}_{1} \left(1 - y^{(1)}_{1}\right) x_{1}"),
    ("2-1-1-1", r"\eta \left(d_{1} - y^{(3)}_{1}\right) y^{(3)}_{1} \left(1 - y^{(3)}_{1}\right) w^{(3)}_{11} "
                r"y^{(2)}_{1} \left(1 - y^{(2)}_{1}\right) w^{(2)}_{11} y^{(1)}_{1} \left(1 - y^{(1)}_{1}\right) x_{1}"),
])
def test_a_written_out_hidden_update_follows_the_backward_pass(layers, expected):
    """eta e phi'_out w phi'_hidden x: each slope y (1 - y) kept together, in the order the deltas are computed."""
    net = Network.from_string(layers, activation="sigmoid")
    d = derive(net, check=False)
    update = d.unrolled(d.params["w1_1_1"].update)
    tex = to_latex(update, net)
    assert tex == expected
    assert sp.expand(parse_latex_for(net, tex) - update) == 0


def test_the_ont_update_and_chain_factor_bring_the_common_number_forward():
    net, d = network("ont_minus"), derived("ont_minus")
    (loss, slope), = d.deltas[net.delta[2][0]].chain
    assert loss.reason == "loss"
    tex = to_latex(loss.result, net)
    assert tex == r"2 \left(o^{(2)}_{1} - t_{1}\right)"
    assert sp.expand(parse_latex_for(net, tex) - 2 * (net.y[2][0] - net.t[0])) == 0      # d/do (o - t)^2
    tex = to_latex(loss.result * slope.result, net)
    assert tex == r"2 \left(o^{(2)}_{1} - t_{1}\right) o^{(2)}_{1} \left(1 - o^{(2)}_{1}\right)"
    general = to_latex(d.index.output.delta, net)
    assert general == r"2 \left(o^{(l)}_{j} - t_{j}\right) o^{(l)}_{j} \left(1 - o^{(l)}_{j}\right)"
    assert same(parse_latex_for(net, instance(general, l="2", j="1")), d.deltas[net.delta[2][0]].value)
    update = d.unrolled(d.params["w1_1_1"].update)
    tex = to_latex(update, net)
    # the minus of Delta w = -eta delta x goes into the difference, as the notes' w + 2 eta (t - o) ... reads
    assert tex == (r"2 \eta \left(t_{1} - o^{(2)}_{1}\right) o^{(2)}_{1} \left(1 - o^{(2)}_{1}\right) w^{(2)}_{11} "
                   r"o^{(1)}_{1} \left(1 - o^{(1)}_{1}\right) x_{1}")
    assert sp.expand(parse_latex_for(net, tex) - update) == 0


def test_a_whole_number_common_to_a_sum_comes_out_and_nothing_else_does():
    net = network("haykin")
    x1, x2 = net.x
    y = net.y[2][0]
    cases = {2 * x1 - 4 * x2: r"2 \left(x_{1} - 2 x_{2}\right)",
             -2 * x1 - 2 * x2: r"- 2 \left(x_{1} + x_{2}\right)",
             (6 * y - 6) * x1: r"6 \left(y^{(2)}_{1} - 1\right) x_{1}",
             x1 / 2 + x2 / 2: r"\frac{x_{1}}{2} + \frac{x_{2}}{2}",              # not a whole number
             sp.Float(2.0) * x1 + sp.Float(4.0): r"2.0 x_{1} + 4.0",             # numbers substituted: left as they are
             x1 - 3 * x2: r"x_{1} - 3 x_{2}"}
    for expr, expected in cases.items():
        tex = to_latex(expr, net)
        assert tex == expected, (expr, tex)
        assert same(parse_latex_for(net, tex), expr), tex


def test_a_minus_sign_goes_into_a_difference_that_then_leads_with_a_target_or_a_number():
    net = network("haykin")
    w, eta, x, d1, y = net.W[1][0][0], net.eta, net.x[0], net.t[0], net.y[2][0]
    cases = {w - eta * (y - d1) * x: r"w^{(1)}_{11} + \eta \left(d_{1} - y^{(2)}_{1}\right) x_{1}",
             -(d1 - 1) * sp.log(1 - y): r"\left(1 - d_{1}\right) \log{\left(1 - y^{(2)}_{1} \right)}",
             -((1 - d1) * sp.log(1 - y)): r"- \left(1 - d_{1}\right) \log{\left(1 - y^{(2)}_{1} \right)}",
             -(y - 1) * x: r"\left(1 - y^{(2)}_{1}\right) x_{1}",
             -((y - x) * w): r"- w^{(1)}_{11} \left(y^{(2)}_{1} - x_{1}\right)"}      # neither leads: the sign stays
    for expr, expected in cases.items():
        tex = to_latex(expr, net)
        assert tex == expected, (expr, tex)
        assert same(parse_latex_for(net, tex), expr), tex


def test_cross_entropy_losses_put_the_minus_before_the_sum():
    """C = -sum_m y_m log a_m; E = -sum_m [d_m log y_m + (1 - d_m) log(1 - y_m)]: read back at every output
    unit and summed, the same as the losses written out here."""
    ce, d = network("nielsen_ce"), derived("nielsen_ce")
    tex = to_latex(d.index.output.loss, ce)
    assert tex == r"- \sum_{m=1}^{M} y_{m} \log{\left(a^{(l)}_{m} \right)}"
    L = ce.depth
    body = tex.removeprefix(r"- \sum_{m=1}^{M} ")
    read = -sp.Add(*[parse_latex_for(ce, instance(body, l=str(L), m=str(m))) for m in ce.units(L)])
    assert same(read, -sp.Add(*[t * sp.log(a) for t, a in zip(ce.t, ce.y[L])]))

    bce = Network.from_string("2-2-2", activation="sigmoid", loss="bce")
    tex = to_latex(derive(bce, check=False).index.output.loss, bce)
    assert tex == (r"- \sum_{m=1}^{M} \left(d_{m} \log{\left(y^{(l)}_{m} \right)} + \left(1 - d_{m}\right) "
                   r"\log{\left(1 - y^{(l)}_{m} \right)}\right)")
    body = tex.removeprefix(r"- \sum_{m=1}^{M} ")
    read = -sp.Add(*[parse_latex_for(bce, instance(body, l="2", m=str(m))) for m in bce.units(2)])
    assert same(read, -sp.Add(*[t * sp.log(y) + (1 - t) * sp.log(1 - y) for t, y in zip(bce.t, bce.y[2])]))


def test_a_sum_in_a_product_keeps_its_minus_as_a_product_sign():
    """-Sum(f) is a sign of the product it stands in, never a subtraction: (1/N) Sum(-f) prints as -(1/N) sum."""
    net = network("haykin")
    m, M = sp.Symbol("m", integer=True, positive=True), sp.Symbol("M", integer=True, positive=True)
    t = ix.B["t"]
    tex = to_latex(sp.Sum(-t[m], (m, 1, M)) / net.batch, net)
    assert tex.startswith("- ") and tex.count("-") == 1, tex


def test_printing_is_deterministic_and_leaves_text_output_alone():
    """The same LaTeX every time; the identifier printer (verify, JSON) keeps its own order."""
    from symbp.printing import to_text
    net, d = network("ont_minus"), derived("ont_minus")
    rules = [m.delta for m in fm.matrix_form(d)] + [d.unrolled(d.params["w1_1_1"].update), d.index.output.loss]
    assert [to_latex(r, net) for r in rules] == [to_latex(r, net) for r in rules]
    assert to_text(net.net_input(1, 1), net) == "-b1_1 + w1_1_1*x1 + w1_1_2*x2"


def test_a_wrapped_written_out_update_takes_the_minus_into_its_difference_as_inline():
    """The wrapped hand-derivation row of a hidden weight reads + (t_2 - a_2) ..., as the one-line printer does;
    its pieces joined and read back are the update the derivation unrolls."""
    from symbp.notes import render_tex
    net = network("mitchell")
    d = derived("mitchell")
    tex = render_tex(d)
    block = re.search(r"as in a hand derivation:\n\\begin\{align\*\}\n(.*?)\n\\end\{align\*\}", tex, re.S).group(1)
    lhs, rhs = block.split(" &= ", 1)
    assert lhs == r"w^{(2)}_{11}(n+1)"
    # inside the bracket, under its first term (the line before opened it)
    assert re.search(r"\\\\\*\n&\\qquad \\phantom\{[^\n]*\} \+ \\left\(t_\{2\} - a\^\{\(3\)\}_\{2\}\\right\)", rhs) and r"- \left(a^{(3)}_{2} - t_{2}\right)" not in rhs
    joined = " ".join(re.sub(r"^&\\qquad( \\phantom\{.*?\\biggl\(\})?", "", line).removesuffix("*").removesuffix(r"\\")
                      .strip() for line in rhs.splitlines())
    rule = d.params["w2_1_1"]
    assert same(parse_latex_for(net, joined), rule.symbol + d.unrolled(rule.update))


def test_a_skip_layers_general_net_input_ends_with_its_bias():
    """v_j = sum_k w_jk y_k + sum_k w^(l,l-2)_jk y^(l-2)_k + b_j: the bias after every sum, summed over k as every
    rule is, read back at l = 3."""
    from symbp.notes import render_tex
    net = network("skip")
    tex = render_tex(derived("skip"))
    row = re.search(r"v\^\{\(l\)\}_\{j\} &= (\\sum.*?\+ b\^\{\(l\)\}_\{j\})\n", tex).group(1)
    chain, skip, bias = row.split(" + ")
    assert chain.startswith(r"\sum_{k=1}^{K} ") and skip.startswith(r"\sum_{k=1}^{K_{2}} ")
    terms = [instance(body.split("} ", 1)[1], l="3", j="1", k=str(i))
             for body in (chain, skip) for i in range(1, 4)]       # K = K_2 = 3 units in layers 2 and 1
    text = " + ".join(terms) + " + " + instance(bias, l="3", j="1")
    assert same(parse_latex_for(net, text), net.net_input(3, 1)), text


def test_a_scalar_before_a_hadamard_product_keeps_its_brackets_and_sign():
    net = network("haykin")
    y = sp.MatrixSymbol("y2", 1, 1)
    body = sp.HadamardProduct(y, sp.OneMatrix(1, 1) - y)
    column = sp.Matrix([net.y[2][0] * (1 - net.y[2][0])])
    for coeff in (1 + net.eta, -3 * net.eta, -(1 + net.eta), sp.Integer(-1)):
        tex = to_latex(sp.MatMul(coeff, body), net)
        assert r"\left(3" not in tex and tex.startswith("- ") == coeff.could_extract_minus_sign(), tex
        assert tex.endswith(r"\boldsymbol{y}^{(2)} \odot \left(\boldsymbol{1} - \boldsymbol{y}^{(2)}\right)"), tex
        assert same(parse_latex_for(net, tex), coeff * column), tex


@pytest.mark.parametrize("loss, general", [
    ("half_sse", r"\frac{1}{2} \sum_{m=1}^{M} e_{m}^{2}"),
    ("mse", r"\frac{1}{N} \sum_{m=1}^{M} e_{m}^{2}"),
])
def test_a_number_of_the_summand_stands_before_the_sum(loss, general):
    """E = 1/2 sum_j e_j^2 as Haykin writes it (eq. 4.2), not sum e^2/2; mse's 1/N before the sum."""
    net = Network.from_string("2-3-2", activation="sigmoid", loss=loss)
    d = derive(net, check=False)
    tex = to_latex(d.index.output.loss, net)
    assert tex == general
    body = tex.split(r"\sum_{m=1}^{M} ", 1)[1]
    read = sp.Add(*[parse_latex_for(net, instance(body, m=str(m))) for m in net.units(2)])
    assert same(read, sp.Add(*[e ** 2 for e in net.e]))        # the sum written out; its number is in the string


def test_a_product_over_a_number_or_n_puts_the_number_in_front_and_the_rest_in_order():
    """mse's delta is (2/N) e y (1 - y), in the order of every other delta; a short quotient stays a quotient."""
    net = Network.from_string("2-3-2", activation="sigmoid", loss="mse")
    d = derive(net, check=False)
    delta = d.deltas[net.delta[2][0]].value
    tex = to_latex(delta, net)
    assert tex == r"\frac{2}{N} e_{1} y^{(2)}_{1} \left(1 - y^{(2)}_{1}\right)"
    assert sp.simplify(parse_latex_for(net, tex) - delta) == 0
    v = net.v[1][0]
    for expr, expected in {sp.sqrt(2) * v / 2: r"\frac{\sqrt{2} v^{(1)}_{1}}{2}",
                           v / net.batch: r"\frac{v^{(1)}_{1}}{N}"}.items():
        tex = to_latex(expr, net)
        assert tex == expected
        assert sp.simplify(parse_latex_for(net, tex) - expr) == 0
