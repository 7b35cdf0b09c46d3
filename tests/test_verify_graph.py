r"""verify on graphs of layers: skip weights w3_1_1_2 / W3_1, residual shortcuts, layer-level answers, missing_path.

Every expected answer below is written by hand from the network's definition, not taken
from symbp's output. Network A, 2-3-3-1 tanh/tanh/linear half_sse with a skip 1:3:

    v3 = W3 y2 + W3_1 y1 + b3,  y3 = v3,  delta3 = d - y3 (haykin: delta = -dE/dv)
    delta2_j = (1 - y2_j^2) w3_1j delta3_1
    delta1_j = (1 - y1_j^2) (sum_m w2_mj delta2_m + w3_1_1j delta3_1)      (two paths)
    dE/dw3_1_1k = -delta3_1 y1_k;   dE/dW3_1 = -delta3 y1^T

Network B, 3-4-4-4-4-2 tanh/sigmoid/relu/softplus/softmax ce, skips 0:2 and 1:4, residual 1:3:

    v2 = W2 y1 + W2_0 x + b2;  y3 = relu(v3) + y1;  v4 = W4 y3 + W4_1 y1 + b4
    delta5 = d - y5;  delta4_j = sigmoid(v4_j) sum_m w5_mj delta5_m   (softplus' = sigmoid)
    delta3_j = H(v3_j) sum_m w4_mj delta4_m         (phi' stays in v: y3 is not relu(v3))
    delta1_j = (1 - y1_j^2) (sum_m w2_mj delta2_m + sum_m w4_1_mj delta4_m + sum_m w4_mj delta4_m)
               (three paths: the chain, the skip into 4, and y1 carried by the shortcut into y3, read by W4)
"""
import subprocess
import sys

import pytest
import sympy as sp

from symbp.cli import main
from symbp.derive import derive
from symbp.network import Network
from symbp.printing import to_latex, to_text
from symbp.verify import ExpressionError, VerifyError, parse_for, verify
from symbp.verify.answers import Answer, grade
from symbp.verify.diagnose import MISTAKES
from symbp.verify.latex import parse_latex_for
from symbp.verify.paths import path_terms
from symbp.verify.symbols import symbol_listing
from symbp.verify.target import matrix_rule, target

A_FLAGS = ["2-3-3-1", "--activation", "tanh,tanh,linear", "--skip", "1:3"]
B_FLAGS = ["3-4-4-4-4-2", "--activation", "tanh,sigmoid,relu,softplus,softmax", "--loss", "ce",
           "--skip", "0:2,1:4", "--residual", "1:3"]


@pytest.fixture(scope="module")
def a():
    return derive(Network.from_string("2-3-3-1", activation="tanh,tanh,linear", skip="1:3"))


@pytest.fixture(scope="module")
def b():
    return derive(Network.from_string("3-4-4-4-4-2", activation="tanh,sigmoid,relu,softplus,softmax",
                                      loss="ce", skip="0:2,1:4", residual="1:3"))


def S(name):
    return sp.Symbol(name, real=True)


# -- network A: text, unit and layer level ---------------------------------------------------

CHAIN_1_2 = "w2_1_2*delta2_1 + w2_2_2*delta2_2 + w2_3_2*delta2_3"        # y1_2 read by W2
SKIP_1_2 = "w3_1_1_2*delta3_1"                                           # y1_2 read by W3_1

A_RIGHT = [
    ("w3_1_1_2", "gradient", "-delta3_1*y1_2"),
    ("w3_1_1_2", "gradient", "-(d1 - y3_1)*y1_2"),
    ("w3_1_1_2", "gradient", "-e1*tanh(v1_2)"),
    ("w3_1_1_2", "update", "eta*(d1 - y3_1)*y1_2"),
    ("w3_1_1_2", "new", "w3_1_1_2 + eta*delta3_1*y1_2"),
    ("w3_1_1_3", "update", "eta*e1*phi(v1_3)"),
    ("w3_1_1", "gradient", "-delta3_1*y2_1"),                # the chain's weight: 3 parts, reads layer 2
    ("delta2_2", "delta", "(1 - y2_2**2)*w3_1_2*delta3_1"),
    ("delta1_2", "delta", f"(1 - y1_2**2)*({CHAIN_1_2} + {SKIP_1_2})"),
    ("delta1_2", "delta", f"tanh'(v1_2)*({CHAIN_1_2} + {SKIP_1_2})"),
    ("delta1_2", "delta", f"phi'(v1_2)*({CHAIN_1_2} + {SKIP_1_2})"),
    ("delta1_1", "delta", "(1 - y1_1**2)*(d1 - y3_1)*(w2_1_1*(1 - y2_1**2)*w3_1_1 + w2_2_1*(1 - y2_2**2)*w3_1_2"
                          " + w2_3_1*(1 - y2_3**2)*w3_1_3 + w3_1_1_1)"),
    ("w1_2_1", "update", f"eta*(1 - y1_2**2)*({CHAIN_1_2} + {SKIP_1_2})*x1"),
    ("b1_2", "gradient", f"-(1 - y1_2**2)*({CHAIN_1_2} + {SKIP_1_2})"),
    # layer level
    ("delta1", "delta", "(1 - y1**2)*(W2.T @ delta2 + W3_1.T @ delta3)"),
    ("delta1", "delta", "(W2.T @ delta2 + W3_1.T @ delta3)*(1 - y1*y1)"),
    ("delta1", "delta", "tanh'(v1)*(W2.T @ delta2 + W3_1.T @ (d - y3))"),
    ("delta1", "delta", "(1 - y1**2)*(W2.T @ ((1 - y2**2)*(W3.T @ delta3)) + W3_1.T @ e)"),
    ("delta1", "gradient", "(1 - y1**2)*(W2.T @ delta2 + W3_1.T @ delta3)"),     # a delta's name implies delta
    ("delta3", "delta", "d - y3"),
    ("delta3", "delta", "e1"),                                # a number is a 1 x 1 layer
    ("W3_1", "gradient", "-delta3 @ y1.T"),
    ("W3_1", "gradient", "-(d - y3) @ y1.T"),
    ("W3_1", "update", "eta*delta3 @ y1.T"),
    ("W3_1", "new", "W3_1 + eta*delta3 @ y1.T"),
    ("W3", "gradient", "-delta3 @ y2.T"),
    ("W1", "update", "eta*delta1 @ x.T"),
    ("W1", "update", "eta*delta1 @ y0.T"),
    ("b1", "update", "eta*delta1"),
]


@pytest.mark.parametrize("param,quantity,expr", A_RIGHT)
def test_a_right_answers_accepted(a, param, quantity, expr):
    result = verify(a, param, expr, quantity)
    assert result.equivalent is True, result.message
    assert result.mistake is None and result.counterexample is None


A_WRONG = [
    # the skip's term left out of delta1_2, alone or inside a gradient and an update that write delta1_2 out
    ("delta1_2", "delta", f"(1 - y1_2**2)*({CHAIN_1_2})", "missing_path", "W3_1"),
    ("delta1_1", "delta", "(1 - y1_1**2)*(d1 - y3_1)*(w2_1_1*(1 - y2_1**2)*w3_1_1 + w2_2_1*(1 - y2_2**2)*w3_1_2"
                          " + w2_3_1*(1 - y2_3**2)*w3_1_3)", "missing_path", "skip connection W3_1"),
    ("w1_2_1", "gradient", f"-(1 - y1_2**2)*({CHAIN_1_2})*x1", "missing_path", "W3_1"),
    ("b1_2", "update", f"eta*(1 - y1_2**2)*({CHAIN_1_2})", "missing_path", "W3_1"),
    # the chain's terms left out instead
    ("delta1_2", "delta", f"(1 - y1_2**2)*{SKIP_1_2}", "missing_path", "connection W2 from layer 1 into layer 2"),
    ("delta1_2", "delta", f"{CHAIN_1_2} + {SKIP_1_2}", "missing_activation_derivative", "v1_2"),
    ("delta1_2", "delta", f"(1 - y1_2**2)*({CHAIN_1_2} + w3_1_1_1*delta3_1)", "wrong_index", "w3_1_1_1"),
    ("w3_1_1_2", "gradient", "-delta3_1*y2_2", "wrong_layer", "w3_1_2"),       # the chain weight's rule
    ("w3_1_1_2", "gradient", "-delta3_1*y1_3", "wrong_index", "y1_3"),
    ("w3_1_1_2", "update", "-eta*delta3_1*y1_2", "sign", ""),
    ("w3_1_1_2", "update", "-delta3_1*y1_2", "gradient_vs_update", ""),
    ("w3_1_1_2", "update", "delta3_1*y1_2", "missing_learning_rate", ""),
    ("w3_1_1_2", "new", "w3_1_1_2 + 2*eta*delta3_1*y1_2", "constant_factor", "2 times"),
    # layer level
    ("delta1", "delta", "(1 - y1**2)*(W2.T @ delta2)", "missing_path", "W3_1.T @ delta3"),
    ("delta1", "delta", "(1 - y1**2)*(W3_1.T @ delta3)", "missing_path", "W2.T @ delta2"),
    ("delta1", "delta", "W2.T @ delta2 + W3_1.T @ delta3", "missing_activation_derivative", "layer 1"),
    ("delta1", "delta", "(1 - y1**2)*(W2 @ delta2 + W3_1.T @ delta3)", "missing_transpose", "W2.T"),
    ("delta1", "delta", "-(1 - y1**2)*(W2.T @ delta2 + W3_1.T @ delta3)", "sign", ""),
    ("delta2", "delta", "(1 - y1**2)*(W2.T @ delta2 + W3_1.T @ delta3)", "wrong_layer", "delta1"),
    ("W3_1", "gradient", "-y1 @ delta3.T", "missing_transpose", "(3, 1)"),
    ("W3_1", "gradient", "-delta3 @ y2.T", "wrong_layer", "W3"),
    ("W3_1", "gradient", "delta3 @ y1.T", "sign", ""),
    ("W3_1", "update", "-delta3 @ y1.T", "gradient_vs_update", ""),
    ("W3_1", "new", "W3_1 - eta*delta3 @ y1.T", "sign", ""),
    ("b1", "gradient", "-2*delta1", "constant_factor", "2 times"),
]


@pytest.mark.parametrize("param,quantity,expr,mistake,named", A_WRONG)
def test_a_wrong_answers_diagnosed(a, param, quantity, expr, mistake, named):
    result = verify(a, param, expr, quantity)
    assert result.equivalent is False
    assert result.mistake == mistake, result.message
    assert named in result.message


def test_missing_path_names_the_path_and_shows_the_point(a):
    result = verify(a, "delta1_2", f"(1 - y1_2**2)*({CHAIN_1_2})", "delta")
    assert "skip connection W3_1 from layer 1 into layer 3" in result.message
    assert "delta3_1*w3_1_1_2" in result.message                # the term that is missing
    cx = result.counterexample
    # the missing term is exactly the difference at the point shown
    missing = (1 - cx["y1_2"] ** 2) * cx["w3_1_1_2"] * (cx["d1"] - cx["y3_1"])
    assert cx["expected_value"] - cx["candidate_value"] == pytest.approx(missing)


def test_layer_level_counterexample_names_the_entry(a):
    result = verify(a, "delta1", "(1 - y1**2)*(W2.T @ delta2)", "delta")
    assert "entry (1, 1), delta1_1" in result.message
    assert result.expected_text == "(1 - y1**2)*(W2.T @ delta2 + W3_1.T @ delta3)"
    assert result.expected.shape == (3, 1)


def test_expected_matrix_rules_read_back(a, b):
    """The expected text of a layer-level target is the matrix rule, and verify accepts it back."""
    for d in (a, b):
        skips = [(c.key, "new") for c in d.net.graph.weighted if c.kind == "skip"]
        for name, quantity in [("delta1", "delta"), ("W1", "gradient"), ("b1", "update"), *skips]:
            text = to_text(matrix_rule(d, target(d, name, quantity)))
            result = verify(d, name, text, quantity)
            assert result.equivalent is True and result.expected_text == text, (name, quantity, text)


# -- network B: skips from the input and past two layers, a residual shortcut -------------------

B_CHAIN = "w2_1_1*delta2_1 + w2_2_1*delta2_2 + w2_3_1*delta2_3 + w2_4_1*delta2_4"
B_SKIP = "w4_1_1_1*delta4_1 + w4_1_2_1*delta4_2 + w4_1_3_1*delta4_3 + w4_1_4_1*delta4_4"
B_RESIDUAL = "w4_1_1*delta4_1 + w4_2_1*delta4_2 + w4_3_1*delta4_3 + w4_4_1*delta4_4"

B_RIGHT = [
    ("delta1_1", "delta", f"(1 - y1_1**2)*({B_CHAIN} + {B_SKIP} + {B_RESIDUAL})"),
    ("delta3_1", "delta", f"step(v3_1)*({B_RESIDUAL})"),
    ("delta3_1", "delta", f"relu'(v3_1)*({B_RESIDUAL})"),
    ("delta4_2", "delta", "sigmoid(v4_2)*(w5_1_2*delta5_1 + w5_2_2*delta5_2)"),
    ("delta4_2", "delta", "softplus'(v4_2)*(w5_1_2*(d1 - y5_1) + w5_2_2*(d2 - y5_2))"),
    ("delta2_3", "delta", "y2_3*(1 - y2_3)*(w3_1_3*delta3_1 + w3_2_3*delta3_2 + w3_3_3*delta3_3 + w3_4_3*delta3_4)"),
    ("delta5_2", "delta", "d2 - y5_2"),
    ("w2_0_3_1", "gradient", "-delta2_3*x1"),
    ("w4_1_2_3", "gradient", "-delta4_2*y1_3"),
    ("w4_2_3", "gradient", "-delta4_2*y3_3"),
    ("w4_2_3", "gradient", "-delta4_2*(relu(v3_3) + y1_3)"),
    ("w1_1_2", "update", f"eta*(1 - y1_1**2)*({B_CHAIN} + {B_SKIP} + {B_RESIDUAL})*x2"),
    ("delta1", "delta", "(1 - y1**2)*(W2.T @ delta2 + W4_1.T @ delta4 + W4.T @ delta4)"),
    ("delta1", "delta", "(1 - y1**2)*(W2.T @ delta2 + (W4_1 + W4).T @ delta4)"),
    ("delta3", "delta", "step(v3)*(W4.T @ delta4)"),
    ("delta5", "delta", "d - y5"),
    ("W4_1", "gradient", "-delta4 @ y1.T"),
    ("W2_0", "update", "eta*delta2 @ x.T"),
    ("W4", "gradient", "-delta4 @ y3.T"),
]


@pytest.mark.parametrize("param,quantity,expr", B_RIGHT)
def test_b_right_answers_accepted(b, param, quantity, expr):
    result = verify(b, param, expr, quantity)
    assert result.equivalent is True, result.message


B_WRONG = [
    ("delta1_1", "delta", f"(1 - y1_1**2)*({B_CHAIN} + {B_SKIP})", "missing_path",
     "residual shortcut from layer 1 into layer 3, then the connection W4 from layer 3 into layer 4"),
    ("delta1_1", "delta", f"(1 - y1_1**2)*({B_CHAIN} + {B_RESIDUAL})", "missing_path",
     "skip connection W4_1 from layer 1 into layer 4"),
    ("w1_1_2", "update", f"eta*(1 - y1_1**2)*({B_CHAIN} + {B_SKIP})*x2", "missing_path", "residual shortcut"),
    ("delta3_1", "delta", B_RESIDUAL, "missing_activation_derivative", "step(v3_1)"),
    ("w4_1_2_3", "gradient", "-delta4_2*y3_3", "wrong_layer", "w4_2_3"),
    ("w2_0_3_1", "gradient", "-delta2_3*y1_1", "wrong_layer", "w2_3_1"),
    ("delta1", "delta", "(1 - y1**2)*(W2.T @ delta2 + W4_1.T @ delta4)", "missing_path", "residual shortcut"),
    ("delta1", "delta", "(1 - y1**2)*(W2.T @ delta2 + W4.T @ delta4)", "missing_path", "W4_1.T @ delta4"),
    ("W4_1", "gradient", "-delta4 @ y3.T", "wrong_layer", "W4"),
]


@pytest.mark.parametrize("param,quantity,expr,mistake,named", B_WRONG)
def test_b_wrong_answers_diagnosed(b, param, quantity, expr, mistake, named):
    result = verify(b, param, expr, quantity)
    assert result.equivalent is False
    assert result.mistake == mistake, result.message
    assert named in result.message


# -- LaTeX ---------------------------------------------------------------------------------

A_LATEX_RIGHT = [
    ("w3_1_1_2", "gradient", r"-\delta^{(3)}_{1} y^{(1)}_{2}"),
    ("w3_1_1_2", "new", r"w^{(3,1)}_{12} + \eta \left(d_1 - y^{(3)}_1\right) y^{(1)}_2"),
    ("w3_1_1_2", "new", r"w_{12}^{(3,1)} + \eta\, e_1\, y_2^{(1)}"),
    ("w3_1_1_2", "new", r"w^{(3,1)}_{1,2} + \eta \delta^{(3)}_1 \tanh(v^{(1)}_2)"),
    ("delta1_2", "delta", r"\left(1 - \left(y^{(1)}_2\right)^2\right)\left(w^{(2)}_{12}\delta^{(2)}_1 + "
                          r"w^{(2)}_{22}\delta^{(2)}_2 + w^{(2)}_{32}\delta^{(2)}_3 + w^{(3,1)}_{12}\delta^{(3)}_1\right)"),
    ("delta1", "delta", r"\left(\mathbf{1} - \mathbf{y}^{(1)} \odot \mathbf{y}^{(1)}\right) \odot "
                        r"\left(\mathbf{W}^{(2)T} \boldsymbol{\delta}^{(2)} + \mathbf{W}^{(3,1)T} \boldsymbol{\delta}^{(3)}\right)"),
    ("delta1", "delta", r"\varphi'(\mathbf{v}^{(1)}) \odot \left( (\mathbf{W}^{(2)})^{\top} \boldsymbol\delta^{(2)}"
                        r" + (\mathbf{W}^{(3,1)})^\top \boldsymbol\delta^{(3)} \right)"),
    ("delta1", "delta", r"(1 - {\mathbf{y}^{(1)}}^{\circ 2}) \odot (W^{(2)T} \delta^{(2)} + W^{(3,1)T} \delta^{(3)})"),
    ("W3_1", "gradient", r"-\boldsymbol{\delta}^{(3)} \left(\mathbf{y}^{(1)}\right)^{T}"),
    ("W3_1", "update", r"\eta \, \boldsymbol{\delta}^{(3)} \mathbf{y}^{(1)\top}"),
    ("W3_1", "new", r"\mathbf{W}^{(3,1)} + \eta \bm{\delta}^{(3)} \mathbf{y}^{(1)T}"),
]


@pytest.mark.parametrize("param,quantity,text", A_LATEX_RIGHT)
def test_a_latex_right(a, param, quantity, text):
    result = verify(a, param, parse_latex_for(a.net, text), quantity)
    assert result.equivalent is True, (text, result.message)


LATEX_WRONG = [
    ("a", "delta1_2", "delta", r"(1 - (y^{(1)}_2)^2)(w^{(2)}_{12}\delta^{(2)}_1 + w^{(2)}_{22}\delta^{(2)}_2"
                               r" + w^{(2)}_{32}\delta^{(2)}_3)", "missing_path"),
    ("a", "w3_1_1_2", "gradient", r"-\delta^{(3)}_{1} y^{(2)}_{2}", "wrong_layer"),
    ("a", "delta1", "delta", r"(1 - \mathbf{y}^{(1)} \odot \mathbf{y}^{(1)}) \odot \mathbf{W}^{(2)T} \boldsymbol{\delta}^{(2)}",
     "missing_path"),
    ("a", "W3_1", "gradient", r"-\mathbf{y}^{(1)} \boldsymbol{\delta}^{(3)T}", "missing_transpose"),
    ("b", "delta1", "delta", r"\left(\mathbf{1} - \mathbf{y}^{(1)}\odot\mathbf{y}^{(1)}\right) \odot "
                             r"\left(\mathbf{W}^{(2)T}\boldsymbol{\delta}^{(2)} + \mathbf{W}^{(4,1)T}\boldsymbol{\delta}^{(4)}\right)",
     "missing_path"),
    ("b", "w4_1_2_3", "gradient", r"-\delta^{(4)}_2 y^{(3)}_3", "wrong_layer"),
]


@pytest.mark.parametrize("which,param,quantity,text,mistake", LATEX_WRONG)
def test_latex_wrong(a, b, which, param, quantity, text, mistake):
    d = {"a": a, "b": b}[which]
    result = verify(d, param, parse_latex_for(d.net, text), quantity)
    assert result.equivalent is False and result.mistake == mistake, result.message


def test_b_latex_right(b):
    right = {
        ("w4_1_2_3", "gradient"): r"-\delta^{(4)}_2 y^{(1)}_3",
        ("w2_0_3_1", "gradient"): r"-\delta_{3}^{(2)} x_1",
        ("delta1", "delta"): r"\left(\mathbf{1} - \mathbf{y}^{(1)}\odot\mathbf{y}^{(1)}\right) \odot \left("
                             r"\mathbf{W}^{(2)T}\boldsymbol{\delta}^{(2)} + \mathbf{W}^{(4,1)T}\boldsymbol{\delta}^{(4)}"
                             r" + \mathbf{W}^{(4)T}\boldsymbol{\delta}^{(4)}\right)",
        ("W2_0", "gradient"): r"-\boldsymbol{\delta}^{(2)} \boldsymbol{x}^{T}",
    }
    for (param, quantity), text in right.items():
        result = verify(b, param, parse_latex_for(b.net, text), quantity)
        assert result.equivalent is True, (text, result.message)


def test_printed_matrix_rules_read_back(a, b):
    """The notes' LaTeX of each layer's matrix rules parses back to the same rule.

    Rules with phi'(v) left in v print as SymPy's (z -> phi(z))_o(v), which is not read (yet).
    """
    for d in (a, b):
        for m in d.matrix:
            targets = [(f"delta{m.layer}", "delta", m.delta)] + [(key, "gradient", g) for key, g in m.weight_grads]
            for name, quantity, rule in targets:
                tex = to_latex(rule, d.net)
                if r"\mapsto" in tex:
                    continue
                result = verify(d, name, parse_latex_for(d.net, tex), quantity)
                assert result.equivalent is True, (name, tex, result.message)


def test_printed_skip_weight_rules_read_back(a):
    net = a.net
    for name in ("w3_1_1_1", "w3_1_1_3"):
        for form in ("rule", "unrolled"):
            tex = to_latex(a.quantity(name, "update", form=form), net)
            assert verify(a, name, parse_latex_for(net, tex), "update").equivalent is True, tex


# -- names are never misread ---------------------------------------------------------------------

def test_text_names_of_skip_weights(a):
    net = a.net
    assert parse_for(net, "w3_1_1_2") == S("w3_1_1_2")
    assert parse_for(net, "w3_1_1") == S("w3_1_1") != S("w3_1_1_1")
    assert parse_for(net, "w3_1_2") == S("w3_1_2")
    assert parse_for(net, "W3_1") == sp.ImmutableMatrix([[S("w3_1_1_1"), S("w3_1_1_2"), S("w3_1_1_3")]])
    assert parse_for(net, "W3") == sp.ImmutableMatrix([[S("w3_1_1"), S("w3_1_2"), S("w3_1_3")]])
    assert parse_for(net, "W3_1.T @ delta3").shape == (3, 1)
    for unknown in ("w3_2_1_1", "W3_2", "w3_1_1_4", "w3_1_1_2_1"):
        with pytest.raises(ExpressionError, match="unknown identifier"):
            parse_for(net, unknown)


@pytest.mark.parametrize("text,name", [
    (r"w^{(3,1)}_{12}", "w3_1_1_2"), (r"w_{12}^{(3,1)}", "w3_1_1_2"), (r"w^{(3,1)}_{1,2}", "w3_1_1_2"),
    (r"w^{[3,1]}_{12}", "w3_1_1_2"), (r"w^{(3, 1)}_{1 2}", "w3_1_1_2"), (r"w^{(3,1)}_{11}", "w3_1_1_1"),
    (r"w^{(3)}_{12}", "w3_1_2"), (r"w_{12}^{(3)}", "w3_1_2"), (r"w^{(3)}_{11}", "w3_1_1"),
])
def test_latex_names_of_skip_weights(a, text, name):
    assert parse_latex_for(a.net, text) == S(name)


def test_latex_matrices(a, b):
    W31 = parse_latex_for(a.net, r"\mathbf{W}^{(3,1)}")
    assert W31 == sp.ImmutableMatrix([[S("w3_1_1_1"), S("w3_1_1_2"), S("w3_1_1_3")]])
    assert parse_latex_for(a.net, r"\mathbf{W}^{(3,1)T}") == W31.T == parse_latex_for(a.net, r"W^{(3,1)\top}")
    assert parse_latex_for(b.net, r"\mathbf{W}^{(2,0)}").shape == (4, 3)
    assert parse_latex_for(b.net, r"w_{31}^{(2,0)}") == S("w2_0_3_1")
    assert parse_latex_for(b.net, r"w^{(4,1)}_{23}") == S("w4_1_2_3")
    with pytest.raises(ExpressionError, match="unknown"):
        parse_latex_for(a.net, r"w^{(3,2)}_{11}")
    with pytest.raises(ExpressionError, match="unknown vector or matrix"):
        parse_latex_for(a.net, r"\mathbf{W}^{(3,2)}")


def test_shapes_are_checked(a):
    with pytest.raises(ExpressionError, match=r"\(1, 3\) and \(1, 1\).*transpose"):
        parse_for(a.net, "W3_1 @ delta3")
    with pytest.raises(ExpressionError, match="do not combine"):
        parse_for(a.net, "W2 + W3_1")
    with pytest.raises(ExpressionError, match="multiplies matrices"):
        parse_for(a.net, "x1 @ x2")
    with pytest.raises(ExpressionError, match="transposes a matrix"):
        parse_for(a.net, "x1.T")
    with pytest.raises(ExpressionError, match="do not multiply"):
        parse_latex_for(a.net, r"\mathbf{W}^{(3,1)} \boldsymbol{\delta}^{(3)}")
    with pytest.raises(VerifyError, match="--param W3_1"):
        verify(a, "w3_1_1_2", "y1")                        # a vector for one weight
    result = verify(a, "delta1", "delta1_1", "delta")      # one number for a layer of three
    assert result.equivalent is False and "Wrong shape" in result.message


def test_products_too_large_to_write_out_are_refused_quickly(a):
    import time
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match="too large"):
        parse_for(a.net, "@".join(["W2"] * 40))
    assert time.perf_counter() - start < 2.0


def test_list_symbols_shows_skip_weights_shortcuts_and_matrices(a, b):
    text = symbol_listing(a.net)
    assert "w3_1_1_2  weight into unit 1 of layer 3 from unit 2 of layer 1 (skip connection W3_1)" in text
    assert "W3_1" in text and "1 x 3 matrix" in text
    listing = symbol_listing(b.net)
    assert "w2_0_3_1" in listing and "W2_0" in listing and "W4_1" in listing
    assert "y3_1      output of unit 1, layer 3 (hidden) = phi(v3_1) + y1_1 (residual shortcut)" in listing


# -- missing_path comes from the derivation's chain, per graph path ---------------------------------

def test_path_terms_split_each_hidden_delta_by_graph_path(a, b):
    for d in (a, b):
        for s, rule in d.deltas.items():
            terms = path_terms(d, s)
            if rule.output or len(d.net.graph.paths(rule.layer)) < 2:
                assert terms == []
                continue
            assert [t.path for t in terms] == list(d.net.graph.paths(rule.layer))
            phi = next(f.result for f in rule.chain[0] if f.reason == "activation")
            assert sp.expand(phi * sp.Add(*[t.term for t in terms]) - rule.value) == 0
            for t in terms:
                assert sp.expand(t.without + phi * t.term - rule.value) == 0


def test_missing_path_is_a_mistake_code():
    assert "missing_path" in MISTAKES and "missing_transpose" in MISTAKES


# -- grading and the command line -------------------------------------------------------------

def test_answers_file_with_layer_level_entries(a):
    graded = grade(a, [Answer("delta1", "delta", "(1 - y1**2)*(W2.T @ delta2 + W3_1.T @ delta3)"),
                       Answer("W3_1", "gradient", "-delta3 @ y1.T"),
                       Answer("delta1", "delta", "(1 - y1**2)*(W2.T @ delta2)"),
                       Answer("W3_1", "gradient", "W3_1 @ delta3")])
    assert [g.correct for g in graded] == [True, True, False, False]
    assert graded[2].result.mistake == "missing_path"
    assert graded[3].result is None and "(1, 3) and (1, 1)" in graded[3].error


def _cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_exit_codes_on_a_graph(capsys):
    code, out, _ = _cli(capsys, "verify", *A_FLAGS, "--param", "w3_1_1_2", "--expr", "-delta3_1*y1_2")
    assert code == 0 and out.startswith("Equivalent")
    code, out, _ = _cli(capsys, "verify", *A_FLAGS, "--param", "delta1",
                        "--expr", "(1 - y1**2)*(W2.T @ delta2)")
    assert code == 1 and "A path is missing from delta1" in out
    assert "expected: (1 - y1**2)*(W2.T @ delta2 + W3_1.T @ delta3)" in out
    code, out, _ = _cli(capsys, "verify", *A_FLAGS, "--latex", "--quantity", "update", "--param", "W3_1",
                        "--expr", r"\eta \boldsymbol{\delta}^{(3)} \mathbf{y}^{(1)T}")
    assert code == 0
    for bad in (["--param", "w3_2_1_1", "--expr", "x1"], ["--param", "w3_1_1_2", "--expr", "w3_2_1_1"],
                ["--param", "W3_1", "--expr", "W3_1 @ delta3"], ["--param", "w3_1_1_2", "--expr", "y1"],
                ["--latex", "--param", "w3_1_1_2", "--expr", r"w^{(3,2)}_{11}"]):
        code, out, err = _cli(capsys, "verify", *A_FLAGS, *bad)
        assert code == 2 and out == "", bad
        assert err.count("\n") == 1 and err.startswith("symbp: error:") and "Traceback" not in err, err


def test_cli_json_of_a_missing_path_on_the_residual_net(capsys):
    import json
    code, out, _ = _cli(capsys, "verify", *B_FLAGS, "--json", "--param", "delta1_1",
                        "--expr", f"(1 - y1_1**2)*({B_CHAIN} + {B_SKIP})")
    data = json.loads(out)
    assert code == 1 and data["equivalent"] is False and data["mistake"] == "missing_path"
    assert "residual shortcut" in data["message"] and data["counterexample"]["candidate_value"] is not None


def test_cli_in_a_real_process_exit_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "symbp", "verify", *A_FLAGS, "--param", "W3_1",
                           "--expr", "W3_1 @ delta3"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr and "(1, 3)" in proc.stderr
