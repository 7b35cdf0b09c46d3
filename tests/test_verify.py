"""verify: the safe parser, equivalence of hand derivations, counterexamples and mistake diagnoses."""
import importlib
import os
import time

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from symbp.activations import ACTIVATIONS, Activation
from symbp.derive import derive
from symbp.errors import SymbpError
from symbp.network import Network
from symbp.verify import MISTAKES, ExpressionError, VerifyError, parse_for, verify
from symbp.verify.latex import parse_latex_for
from symbp.verify.parse import MAX_LENGTH, parse_expression
from symbp.verify.symbols import ELEMENTARY, function_table


@pytest.fixture(scope="module")
def seed003():
    """Seed 003: 2-3-1, sigmoid hidden, linear output, half_sse, haykin (d1 target, e1 error)."""
    return derive(Network.from_string("2-3-1", activation="sigmoid,linear", loss="half_sse"))


@pytest.fixture(scope="module")
def seed004():
    """Seed 004: 2-2-1 sigmoid, sse, n = sum w o - b, notation ont (delta = dE/dn)."""
    net = Network.from_string("2-2-1", activation="sigmoid", loss="sse", bias_sign="-", notation="ont")
    return derive(net)


@pytest.fixture(scope="module")
def softmax_net():
    """4-5-3 relu/softmax with cross-entropy, nielsen letters (z, a, y targets); ~5 s to derive."""
    return derive(Network.from_string("4-5-3", activation="relu,softmax", loss="ce", notation="nielsen"))


# -- accepted: seed 003's rules in several equivalent forms -----------------------------------

SEED003_RIGHT = [
    ("w2_1_1", "update", "eta*(d1-y2_1)*y1_1"),
    ("w2_1_1", "update", "eta*delta2_1*y1_1"),
    ("w2_1_1", "update", "eta*e1*y1_1"),
    ("w2_1_1", "update", "eta*d1*y1_1 - eta*y2_1*y1_1"),
    ("w2_1_1", "gradient", "-(d1 - y2_1)*y1_1"),
    ("w2_1_1", "new", "w2_1_1 + eta*(d1-y2_1)*y1_1"),
    ("w2_1_1", "update", "eta*(d1-y2_1)*sigma(v1_1)"),
    ("w2_1_1", "update", "eta*(d1-y2_1)*f(v1_1)"),
    ("b2_1", "update", "eta*(d1-y2_1)"),
    ("w1_1_1", "update", "eta*(d1-y2_1)*w2_1_1*y1_1*(1-y1_1)*x1"),
    ("w1_1_1", "update", "eta*(d1-y2_1)*w2_1_1*y1_1*(1-y1_1)*y0_1"),
    ("w1_1_1", "update", "eta*(d1*w2_1_1*x1*y1_1 - d1*w2_1_1*x1*y1_1**2 - w2_1_1*x1*y1_1*y2_1"
                         " + w2_1_1*x1*y1_1**2*y2_1)"),
    ("w1_1_1", "update", "eta*(d1-y2_1)*w2_1_1*sigma(v1_1)*(1-sigma(v1_1))*x1"),
    ("w1_1_1", "update", "eta*e1*w2_1_1*phi'(v1_1)*x1"),
    ("w1_1_1", "update", "eta*delta1_1*x1"),
    ("w1_1_1", "update", "eta*delta2_1*w2_1_1*y1_1*(1-y1_1)*x1"),
    ("w1_1_1", "update", "eta*(d1-y2_1)*w2_1_1*exp(-v1_1)/(1+exp(-v1_1))**2*x1"),
    ("w1_2_1", "new", "w1_2_1 + eta*(d1 - y2_1)*w2_1_2*y1_2*(1 - y1_2)*x1"),
    ("b1_3", "update", "eta*(d1-y2_1)*w2_1_3*y1_3*(1-y1_3)"),
    ("delta1_2", "delta", "delta2_1*w2_1_2*y1_2*(1-y1_2)"),
    ("delta2_1", "delta", "e1"),
]


@pytest.mark.parametrize("param,quantity,expr", SEED003_RIGHT)
def test_seed003_rules_accepted(seed003, param, quantity, expr):
    result = verify(seed003, param, expr, quantity)
    assert result.equivalent is True, result.message
    assert result.mistake is None and result.counterexample is None


def test_expected_is_the_derived_rule(seed003):
    result = verify(seed003, "w1_1_1", "eta*x1", "update")
    assert result.expected == seed003.quantity("w1_1_1", "update", form="unrolled")
    assert "w2_1_1" in result.expected_text and "x1" in result.expected_text


def test_delta_name_implies_the_delta_quantity(seed003):
    assert verify(seed003, "delta2_1", "d1 - y2_1").equivalent is True


def test_network_given_as_a_layer_string():
    assert verify("2-2-1", "b2_1", "2*(y2_1-d1)*y2_1*(1-y2_1)").equivalent is False
    assert verify("2-2-1", "b2_1", "-(d1-y2_1)*y2_1*(1-y2_1)").equivalent is True


# -- seed 004 and the softmax net ------------------------------------------------------------

def test_seed004_hidden_delta_without_sigma_prime(seed004):
    result = verify(seed004, "delta1_1", "delta2_1*w2_1_1", "delta")
    assert result.equivalent is False
    assert result.mistake == "missing_activation_derivative"
    assert "sigma'(n1_1)" in result.message


def test_seed004_right_rules(seed004):
    assert verify(seed004, "delta1_1", "delta2_1*w2_1_1*o1_1*(1-o1_1)", "delta").equivalent is True
    assert verify(seed004, "delta2_1", "2*(o2_1-t1)*o2_1*(1-o2_1)", "delta").equivalent is True
    # n = sum w o - b: the bias moves with +eta delta.
    assert verify(seed004, "b1_1", "eta*delta1_1", "update").equivalent is True
    assert verify(seed004, "w1_1_1", "-eta*delta1_1*o0_1", "update").equivalent is True


def test_seed004_output_delta_factor_two(seed004):
    result = verify(seed004, "delta2_1", "(o2_1-t1)*o2_1*(1-o2_1)", "delta")
    assert result.mistake == "constant_factor"
    assert "1/2" in result.message


def test_softmax_ce_rules(softmax_net):
    assert verify(softmax_net, "delta2_1", "a2_1 - y1").equivalent is True
    assert verify(softmax_net, "w2_1_1", "(a2_1-y1)*a1_1").equivalent is True
    hidden = "x1*relu'(z1_1)*(w2_1_1*(a2_1-y1)+w2_2_1*(a2_2-y2)+w2_3_1*(a2_3-y3))"
    assert verify(softmax_net, "w1_1_1", hidden).equivalent is True
    generic = "-eta*a0_1*sigma'(z1_1)*(w2_1_1*delta2_1+w2_2_1*delta2_2+w2_3_1*delta2_3)"
    assert verify(softmax_net, "w1_1_1", generic, "update").equivalent is True


def test_softmax_missing_relu_step(softmax_net):
    result = verify(softmax_net, "w1_1_1", "x1*(w2_1_1*(a2_1-y1)+w2_2_1*(a2_2-y2)+w2_3_1*(a2_3-y3))")
    assert result.equivalent is False
    assert result.mistake == "missing_activation_derivative"


def test_softmax_wrong_delta_index(softmax_net):
    assert verify(softmax_net, "w1_2_1", "a0_1*delta1_1").mistake == "wrong_index"


# -- every mistake code from a rule built to make it -----------------------------------------

HIDDEN = "(d1-y2_1)*w2_1_1*y1_1*(1-y1_1)*x1"
WRONG = [
    ("w1_1_1", "update", f"2*eta*{HIDDEN}", "constant_factor"),
    ("w1_1_1", "update", f"eta*{HIDDEN}/2", "constant_factor"),
    ("w1_1_1", "update", f"-eta*{HIDDEN}", "sign"),
    ("w1_1_1", "gradient", f"{HIDDEN}", "sign"),
    ("delta1_1", "delta", "-delta2_1*w2_1_1*y1_1*(1-y1_1)", "sign"),
    ("w1_1_1", "update", "eta*(d1-y2_1)*w2_1_1*x1", "missing_activation_derivative"),
    ("delta1_1", "delta", "delta2_1*w2_1_1", "missing_activation_derivative"),
    ("w1_1_1", "update", "eta*(d1-y2_1)*w2_1_2*y1_1*(1-y1_1)*x1", "wrong_index"),
    ("w1_1_1", "update", "eta*(d1-y2_1)*w2_1_1*y1_1*(1-y1_1)*x2", "wrong_index"),
    ("w1_1_1", "update", "eta*(d1-y2_1)*w2_1_1*y1_2*(1-y1_2)*x1", "wrong_index"),
    ("delta1_1", "delta", "delta2_1*w2_1_2*y1_2*(1-y1_2)", "wrong_index"),
    ("w1_1_1", "update", "eta*(d1-y2_1)*y1_1", "wrong_layer"),
    ("b1_1", "update", "eta*(d1-y2_1)", "wrong_layer"),
    ("w1_1_1", "gradient", f"eta*{HIDDEN}", "gradient_vs_update"),
    ("w1_1_1", "update", f"-{HIDDEN}", "gradient_vs_update"),
    ("w1_1_1", "new", f"eta*{HIDDEN}", "gradient_vs_update"),
    ("w1_1_1", "update", f"{HIDDEN}", "missing_learning_rate"),
    ("w1_1_1", "new", f"w1_1_1 + {HIDDEN}", "missing_learning_rate"),
    ("w1_1_1", "update", "eta*(d1-y2_1)*w2_1_1*(1-y1_1**2)*x1", "wrong_activation_derivative"),   # tanh's
    ("w1_1_1", "update", "eta*(d1-y2_1)*w2_1_1*y2_1*(1-y2_1)*x1", "wrong_layer"),     # in one factor
    ("w1_1_1", "update", "eta*x1*x2", "other"),
    ("w1_1_1", "update", "exp(w1_1_1)", "other"),
]


@pytest.mark.parametrize("param,quantity,expr,mistake", WRONG)
def test_mistake_diagnosed(seed003, param, quantity, expr, mistake):
    result = verify(seed003, param, expr, quantity)
    assert result.equivalent is False
    assert result.mistake == mistake, result.message
    assert result.message and result.mistake in MISTAKES


@pytest.fixture(scope="module")
def mse_net():
    """2-2-2 tanh/sigmoid with mse: the loss carries the batch size N."""
    return derive(Network.from_string("2-2-2", activation="tanh,sigmoid", loss="mse"))


def test_batch_size_factor(mse_net):
    right = "-2*y1_1*y2_1*(1 - y2_1)*(d1 - y2_1)/N"
    assert verify(mse_net, "w2_1_1", right).equivalent is True
    result = verify(mse_net, "w2_1_1", "-2*y1_1*y2_1*(1 - y2_1)*(d1 - y2_1)")
    assert result.mistake == "constant_factor" and "N times" in result.message


def test_new_value_compares_the_step(mse_net):
    step = "eta*2*y1_1*y2_1*(1 - y2_1)*(d1 - y2_1)/N"
    assert verify(mse_net, "w2_1_1", f"w2_1_1 + {step}", "new").equivalent is True
    assert verify(mse_net, "w2_1_1", f"w2_1_1 - {step}", "new").mistake == "sign"
    assert verify(mse_net, "w2_1_1", f"w2_1_1 + 2*{step}", "new").mistake == "constant_factor"


def test_delta_of_the_wrong_layer(mse_net):
    result = verify(mse_net, "delta1_1", "2*y2_1*(1 - y2_1)*(d1 - y2_1)/N", "delta")
    assert result.mistake == "wrong_layer" and "delta2_1" in result.message


GRAPH_AND_MATRIX_MISTAKES = {"missing_path", "missing_transpose"}   # tests/test_verify_graph.py
# need two output units or a matrix answer: tests/test_verify_diagnose.py
GRAPH_AND_MATRIX_MISTAKES |= {"missing_sum", "hadamard_vs_matrix_product", "wrong_order"}
GRAPH_AND_MATRIX_MISTAKES |= {"decay_sign_or_factor"}   # needs [training] weight decay: tests/test_training.py
GRAPH_AND_MATRIX_MISTAKES |= {"bias_not_summed"}     # a batch answer (--batch N): tests/test_verify_batch.py


def test_every_mistake_code_is_covered():
    assert {m for *_, m in WRONG} == set(MISTAKES) - GRAPH_AND_MATRIX_MISTAKES


def test_counterexample_shows_the_point_and_both_values(seed003):
    result = verify(seed003, "w2_1_1", "2*eta*(d1-y2_1)*y1_1", "update")
    cx = result.counterexample
    assert {"eta", "d1", "y1_1", "y2_1", "x1", "w1_1_1", "expected_value", "candidate_value"} <= set(cx)
    assert cx["candidate_value"] == pytest.approx(2 * cx["expected_value"])
    assert cx["expected_value"] == pytest.approx(cx["eta"] * (cx["d1"] - cx["y2_1"]) * cx["y1_1"])
    assert "2 times" in result.message


def test_to_dict_has_the_json_fields(seed003):
    data = verify(seed003, "w2_1_1", "eta*y1_1", "update").to_dict()
    assert {"equivalent", "expected", "counterexample", "mistake"} <= set(data)
    assert isinstance(data["expected"], str)


def test_results_are_reproducible(seed003):
    a = verify(seed003, "w1_1_1", "eta*x1", "update")
    b = verify(seed003, "w1_1_1", "eta*x1", "update")
    assert a == b


def test_unknown_param_and_quantity(seed003):
    with pytest.raises(VerifyError, match="w9_9_9"):
        verify(seed003, "w9_9_9", "x1")
    with pytest.raises(VerifyError, match="quantity"):
        verify(seed003, "w1_1_1", "x1", "hessian")
    with pytest.raises(VerifyError, match="delta"):
        verify(seed003, "w1_1_1", "x1", "delta")


# -- functions from the activation registry ----------------------------------------------------

def test_every_elementwise_activation_row_is_callable_by_name_and_alias(seed003):
    x = sp.Symbol("x1", real=True)
    table = function_table(seed003.net)
    assert {name.rstrip("'") for name in ELEMENTARY} <= set(table)      # exp log sqrt abs erf ...
    for act in ACTIVATIONS:
        if not act.elementwise:
            continue
        for name in (act.name, *act.aliases):
            assert table[name](x) == act.function(x), name
            assert sp.simplify(table[f"{name}'"](x) - sp.diff(act.function(x), x)) == 0, name


def test_a_new_activation_row_is_accepted_without_touching_verify(seed003, monkeypatch):
    symbols = importlib.import_module("symbp.verify.symbols")

    def softsign(z):
        return z / (1 + sp.Abs(z))

    row = Activation("softsign", ("ssign",), softsign, None, r"\operatorname{softsign}", "softsign z/(1+|z|)")
    monkeypatch.setattr(symbols, "ACTIVATIONS", (*ACTIVATIONS, row))
    v = sp.Symbol("v1_1", real=True)
    assert parse_for(seed003.net, "softsign(v1_1) + ssign(v1_1)") == 2 * softsign(v)
    assert parse_latex_for(seed003.net, r"\operatorname{softsign}(v^{(1)}_1)") == softsign(v)
    assert parse_for(seed003.net, "softsign'(v1_1)").subs(v, 2) == sp.Rational(1, 9)


# -- the parser --------------------------------------------------------------------------------

def test_parser_builds_sympy_objects(seed003):
    net = seed003.net
    x1, w = net.x[0], net.W[2][0][0]
    assert parse_for(net, "2.5*x1**2 - w2_1_1/4") == sp.Rational(5, 2) * x1**2 - w / 4
    assert parse_for(net, "+x1 - -x1") == 2 * x1
    assert parse_for(net, "0.1") == sp.Rational(1, 10)


def test_prime_maps_to_the_layer_derivative(seed003):
    net = seed003.net
    y = parse_for(net, "phi'(v1_2)").xreplace({parse_for(net, "phi(v1_2)"): net.y[1][1]})
    assert sp.expand(y - net.y[1][1] * (1 - net.y[1][1])) == 0
    assert parse_for(net, "phi'(v2_1)") == 1          # the linear output layer
    assert parse_for(net, "phi(v2_1)") == net.v[2][0]


def test_generic_activation_needs_a_net_input(seed003):
    with pytest.raises(ExpressionError, match="net input"):
        parse_for(seed003.net, "phi(x1)")


HOSTILE = [
    "__import__('os').system('touch /tmp/symbp_pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: 0",
    "9**9**9**9",
    "x1" + "+x1" * 600000,
    "(" * 10000 + "x1" + ")" * 10000,
    "\u0435ta*x1",                       # Cyrillic 'е'
    "eta*x\uff11",                        # fullwidth digit one
    "x1.real",
    "x1[0]",
    "'x1'",
    "x1 < 2",
    "x1 if eta else x2",
    "[x1]",
    "open('/etc/passwd')",
    "exec('1')",
    "eval('1')",
    "getattr(x1, 'real')",
    "x1 ^ 2",
    "x1 @ x2",
    "1j*x1",
    "True",
    "x1 and x2",
    "f'{x1}'",
    "(x:=1)",
    "*x1",
    "exp(x1, x2)",
    "exp(x=x1)",
    "x1**w1_1_1",
    "x1**101",
    "((9**99)**99)**99",       # (x1**2)**3 is fine now: a bracket says what is raised
    "1e999",
    "-" * 1900 + "x1",
    "x1 +",
    "",
    "unknown_name",
    "phi'(x1)'",
    "x1\nx2",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_is_refused_quickly(seed003, text):
    start = time.perf_counter()
    with pytest.raises(ExpressionError):
        verify(seed003, "w1_1_1", text, "update")
    assert time.perf_counter() - start < 1.0
    assert not os.path.exists("/tmp/symbp_pwned")


def test_expression_error_is_a_symbp_error_naming_token_and_column(seed003):
    with pytest.raises(SymbpError, match=r"unknown identifier 'zeta' at column 6"):
        parse_for(seed003.net, "eta*(zeta)")
    with pytest.raises(ExpressionError, match=r"attribute access.*column"):
        parse_for(seed003.net, "x1.real")
    with pytest.raises(ExpressionError, match=r"U\+0435.*column 1"):
        parse_for(seed003.net, "\u0435ta")


def test_column_after_a_prime_is_in_the_users_text(seed003):
    with pytest.raises(ExpressionError, match="column 14"):
        parse_for(seed003.net, "phi'(v1_1) * zz")


def test_length_limit(seed003):
    with pytest.raises(ExpressionError, match=str(MAX_LENGTH)):
        parse_for(seed003.net, "x1+" * MAX_LENGTH + "x1")


def test_parser_never_calls_sympify(monkeypatch, seed003):
    def refuse(*args, **kwargs):
        raise AssertionError("sympify called on user text")
    monkeypatch.setattr(sp, "sympify", refuse)
    monkeypatch.setattr(sp, "parse_expr", refuse, raising=False)
    assert parse_for(seed003.net, "eta*(d1-y2_1)*y1_1 + 0.5") is not None


def _parses_or_raises_expression_error(text: str) -> None:
    symbols = {"x1": sp.Symbol("x1"), "eta": sp.Symbol("eta")}
    try:
        result = parse_expression(text, symbols, {"exp": sp.exp})
    except ExpressionError:
        return
    assert isinstance(result, sp.Basic)


@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_raises_expression_error(text):
    _parses_or_raises_expression_error(text)


@given(st.text(alphabet="x1eta+-*/() .0123456789'", max_size=80))
def test_formula_like_text_parses_or_raises_expression_error(text):
    _parses_or_raises_expression_error(text)
