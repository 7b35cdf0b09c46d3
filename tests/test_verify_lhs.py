r"""verify reads answers as students write them: lhs = rhs, group powers, \mathrm{e}, slips (issue 15).

Every expected rule below is written by hand. Seed 003 is 2-3-1, sigmoid hidden, linear output,
half_sse, haykin: delta2_1 = d1 - y2_1 (= e1), delta1_j = y1_j (1 - y1_j) w2_1_j delta2_1,
dE/dw2_1_j = -delta2_1 y1_j, Delta w = -eta dE/dw, w(n+1) = w + Delta w. With global numbering
the hidden units are 1..3 and the output unit 4, so w_{41} is w2_1_1 and delta_4 is delta2_1.
"""
import importlib
import subprocess
import sys
import time

import pytest

from symbp.network import Network
from symbp.verify import ExpressionError, VerifyError, verify
from symbp.verify.answers import grade, load_answers

SEED003 = ["2-3-1", "--activation", "sigmoid,linear", "--loss", "half_sse"]


@pytest.fixture(scope="module")
def seed003():
    return Network.from_string("2-3-1", activation="sigmoid,linear", loss="half_sse")


@pytest.fixture(scope="module")
def seed003_global():
    return Network.from_string("2-3-1", activation="sigmoid,linear", loss="half_sse", numbering="global")


def cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "symbp", "verify", *args], capture_output=True, text=True,
                          input=stdin, timeout=120)


# -- a. the left side names the parameter and the quantity --------------------------------------

LATEX_LHS = [
    (r"\Delta w^{(2)}_{11} = \eta (d_1 - y^{(2)}_1) y^{(1)}_1", "w2_1_1", "update"),
    (r"\Delta w_{11}^{(2)} = \eta \delta^{(2)}_1 y^{(1)}_1", "w2_1_1", "update"),
    (r"\frac{\partial \mathcal{E}}{\partial w^{(2)}_{12}} = -(d_1 - y^{(2)}_1) y^{(1)}_2", "w2_1_2", "gradient"),
    (r"\frac{\partial E}{\partial w^{(2)}_{12}} = -e_1 y^{(1)}_2", "w2_1_2", "gradient"),
    (r"\partial E/\partial w^{(2)}_{13} = -\delta^{(2)}_1 y^{(1)}_3", "w2_1_3", "gradient"),
    (r"\partial \mathcal{E} / \partial b^{(2)}_{1} = -(d_1 - y^{(2)}_1)", "b2_1", "gradient"),
    (r"\dfrac{\partial \mathcal E}{\partial b^{(2)}_{1}} = -(d_1 - y^{(2)}_1)", "b2_1", "gradient"),
    (r"w^{(2)}_{11}(n+1) = w^{(2)}_{11} + \eta (d_1 - y^{(2)}_1) y^{(1)}_1", "w2_1_1", "new"),
    (r"\delta^{(2)}_1 = d_1 - y^{(2)}_1", "delta2_1", "delta"),
    (r"\delta^{(1)}_2 = y^{(1)}_2 (1 - y^{(1)}_2) w^{(2)}_{12} \delta^{(2)}_1", "delta1_2", "delta"),
    (r"$\Delta w^{(1)}_{12} = \eta \delta^{(1)}_1 x_2$", "w1_1_2", "update"),
]


@pytest.mark.parametrize("text,param,quantity", LATEX_LHS)
def test_latex_lhs_names_param_and_quantity(seed003, text, param, quantity):
    result = verify(seed003, expr=text, latex=True)
    assert result.equivalent is True, result.message
    # given as well, agreeing flags change nothing
    assert verify(seed003, param, text, quantity=quantity, latex=True).equivalent is True


def test_global_numbering_lhs(seed003_global):
    net = seed003_global
    assert verify(net, expr=r"\Delta w_{41} = \eta (d_1 - y_4) y_1", latex=True).equivalent is True
    assert verify(net, expr=r"\delta_4 = d_1 - y_4", latex=True).equivalent is True
    assert verify(net, expr=r"w_{41}(n+1) = w_{41} + \eta \delta_4 y_1", latex=True).equivalent is True
    wrong = verify(net, expr=r"\Delta w_{41} = \eta (d_1 - y_4) y_2", latex=True)
    assert wrong.equivalent is False


def test_nielsen_loss_letter():
    # nielsen: C, delta = dC/dz; output sigmoid with half_sse: delta2_1 = (a2_1 - y1) a2_1 (1 - a2_1)
    net = Network.from_string("2-2-1", activation="sigmoid", loss="half_sse", notation="nielsen")
    rhs = r"(a^{(2)}_{1} - y_1) a^{(2)}_{1} (1 - a^{(2)}_{1}) a^{(1)}_{1}"
    for lhs in (r"\frac{\partial C}{\partial w^{(2)}_{11}}", r"\partial E/\partial w^{(2)}_{11}"):
        assert verify(net, expr=f"{lhs} = {rhs}", latex=True).equivalent is True
    with pytest.raises(ExpressionError, match="the loss is"):
        verify(net, expr=rf"\partial L/\partial w^{{(2)}}_{{11}} = {rhs}", latex=True)


TEXT_LHS = [
    ("Delta w2_1_1 = eta*(d1 - y2_1)*y1_1", "w2_1_1", "update"),
    ("Delta_w2_1_1 = eta*e1*y1_1", "w2_1_1", "update"),
    ("dE/dw2_1_1 = -(d1 - y2_1)*y1_1", "w2_1_1", "gradient"),
    ("dE/db2_1 = -(d1 - y2_1)", "b2_1", "gradient"),
    ("w2_1_1(n+1) = w2_1_1 + eta*delta2_1*y1_1", "w2_1_1", "new"),
    ("delta2_1 = d1 - y2_1", "delta2_1", "delta"),
    ("delta1_3 = y1_3*(1 - y1_3)*w2_1_3*delta2_1", "delta1_3", "delta"),
    ("Delta W2 = eta*delta2 @ y1.T", "W2", "update"),
    ("delta1 = y1*(1 - y1)*(W2.T @ delta2)", "delta1", "delta"),
]


@pytest.mark.parametrize("text,param,quantity", TEXT_LHS)
def test_text_lhs_names_param_and_quantity(seed003, text, param, quantity):
    assert verify(seed003, expr=text).equivalent is True
    assert verify(seed003, param, text, quantity=quantity).equivalent is True


def test_cli_json_says_what_was_checked():
    import json
    proc = cli(*SEED003, "--json", "--latex", "--expr", r"\delta^{(1)}_2 = y^{(1)}_2 (1 - y^{(1)}_2) w^{(2)}_{12} e_1")
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and (data["param"], data["quantity"]) == ("delta1_2", "delta")


def test_text_lhs_wrong_rhs_is_judged(seed003):
    result = verify(seed003, expr="Delta w2_1_1 = -eta*(d1 - y2_1)*y1_1")
    assert result.equivalent is False and result.mistake == "sign"


@pytest.mark.parametrize("kwargs,fragment", [
    ({"param": "w2_1_2"}, "names w2_1_1, but --param is w2_1_2"),
    ({"quantity": "gradient"}, "is the update of w2_1_1, but --quantity is gradient"),
    ({"quantity": "new"}, "but --quantity is new"),
])
def test_lhs_disagrees_with_flags(seed003, kwargs, fragment):
    with pytest.raises(VerifyError, match=fragment):
        verify(seed003, expr="Delta w2_1_1 = eta*(d1 - y2_1)*y1_1", **kwargs)


@pytest.mark.parametrize("text,fragment", [
    ("w2_1_1 = eta*delta2_1*y1_1", "say which quantity"),
    ("Delta delta2_1 = 1", "is a local gradient"),
    ("dq/dw2_1_1 = 1", "the loss is"),
    ("Delta w9_1_1 = eta", "names no parameter"),
    ("x1 + y1_1 = 1", "names no parameter"),
])
def test_bad_lhs(seed003, text, fragment):
    with pytest.raises(ExpressionError, match=fragment):
        verify(seed003, expr=text)


def test_cli_lhs_supplies_param():
    proc = cli(*SEED003, "--latex", "--expr", r"\Delta w^{(2)}_{11} = \eta (d_1 - y^{(2)}_1) y^{(1)}_1")
    assert proc.returncode == 0, proc.stderr
    proc = cli(*SEED003, "--expr", "dE/dw2_1_1 = -(d1 - y2_1)*y1_1", "--quantity", "gradient")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("extra,fragment", [
    (["--param", "w2_1_2"], "--param is w2_1_2"),
    (["--quantity", "gradient"], "--quantity is gradient"),
])
def test_cli_disagreement_is_one_line(extra, fragment):
    proc = cli(*SEED003, *extra, "--expr", "Delta w2_1_1 = eta*(d1 - y2_1)*y1_1")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and fragment in proc.stderr and "Traceback" not in proc.stderr


def test_cli_no_param_no_lhs():
    proc = cli(*SEED003, "--expr", "eta*y1_1")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "lhs = rhs" in proc.stderr


# -- b. powers of groups, sech^2, \exp, \mathrm{e}, \cdot, \times, \, --------------------------

SIGMOID_PRIME = [   # phi'(v) of a sigmoid, three ways: e^{-v}/(1+e^{-v})^2
    r"\frac{\mathrm{e}^{-v^{(1)}_1}}{\left(1+\mathrm{e}^{-v^{(1)}_1}\right)^{2}}",
    r"\frac{\exp(-v^{(1)}_1)}{(1+\exp(-v^{(1)}_1))^2}",
    r"\frac{e^{-v^{(1)}_1}}{\left(1 + e^{-v^{(1)}_1}\right)^2}",
]


@pytest.mark.parametrize("prime", SIGMOID_PRIME)
def test_power_of_a_group(seed003, prime):
    text = rf"\delta^{{(1)}}_1 = {prime} \cdot w^{{(2)}}_{{11}} \times \delta^{{(2)}}_1"
    assert verify(seed003, expr=text, latex=True).equivalent is True


def test_group_powers(seed003):
    # (y^2)^3 is y^6 once a bracket says what is raised; a brace does not
    assert verify(seed003, "w2_1_1", r"-\delta^{(2)}_1 ((y^{(1)}_1)^{2})^{3} / (y^{(1)}_1)^{5}",
                  latex=True).equivalent is True
    with pytest.raises(ExpressionError, match="nested powers"):
        verify(seed003, "w2_1_1", r"{y^{(1)}_1^2}^3", latex=True)


def test_group_powers_text(seed003):
    # sigmoid' = e^{-v}/(1 + e^{-v})**2; a power of a bracketed power is fine, a tower in an exponent is not
    text = "delta1_1 = exp(-v1_1)/(1 + exp(-v1_1))**2 * w2_1_1*delta2_1"
    assert verify(seed003, expr=text).equivalent is True
    assert verify(seed003, "w2_1_1", "-delta2_1*((y1_1)**2)**3/y1_1**5").equivalent is True
    with pytest.raises(ExpressionError, match="too large"):
        verify(seed003, "w2_1_1", "((9**99)**99)**99")
    with pytest.raises(ExpressionError, match="in an exponent"):
        verify(seed003, "w2_1_1", "y1_1**2**3")


@pytest.mark.parametrize("sech", [r"\operatorname{sech}^2(v^{(1)}_1)", r"\operatorname{sech}^{2}(v^{(1)}_1)",
                                  r"\operatorname{sech}^{2} v^{(1)}_1", r"(1 - \tanh^2(v^{(1)}_1))"])
def test_tanh_prime_as_sech_squared(sech):
    # tanh' = sech^2 = 1 - tanh^2; output linear, half_sse: delta1_1 = sech^2(v1_1) w2_1_1 (d1 - y2_1)
    net = Network.from_string("2-2-1", activation="tanh,linear", loss="half_sse")
    text = rf"\delta^{{(1)}}_1 = {sech} \, w^{{(2)}}_{{11}} \, (d_1 - y^{{(2)}}_1)"
    assert verify(net, expr=text, latex=True).equivalent is True


# -- c. hints for common slips ------------------------------------------------------------------

def test_number_before_bracket(seed003):
    with pytest.raises(ExpressionError) as info:
        verify(seed003, "w2_1_1", "2(d1 - y2_1)*y1_1")
    assert "write 2*(...)" in str(info.value) and "int" not in str(info.value)


@pytest.mark.parametrize("text,fragment", [
    ("Delta w2_1_1 = eta*y1_1 = = 3", "empty step"),     # a second '=' makes a chain (test_verify_steps)
    ("eta*(y1_1 = 3)", "inside brackets"),
    ("eta == y1_1", "comparison"),
    ("eta <= y1_1", "comparison"),
    ("= eta*y1_1", "nothing before '='"),
    ("Delta w2_1_1 =", "nothing after '='"),
])
def test_misplaced_equals(seed003, text, fragment):
    with pytest.raises(ExpressionError, match=fragment):
        verify(seed003, expr=text)


def test_misplaced_equals_latex(seed003):
    with pytest.raises(ExpressionError, match="empty step"):
        verify(seed003, expr=r"\Delta w^{(2)}_{11} = \eta = = 1", latex=True)


def test_cli_slip_is_one_line():
    proc = cli(*SEED003, "--param", "w2_1_1", "--expr", "2(d1 - y2_1)")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "write 2*(...)" in proc.stderr


def test_rhs_error_column_is_the_users(seed003):
    # the column counts from the start of what was typed, left side included
    with pytest.raises(ExpressionError, match="at column 16"):
        verify(seed003, expr="Delta w2_1_1 = 2(d1 - y2_1)")


# -- d. answers files take LaTeX -----------------------------------------------------------------

ANSWERS = r'''
[[answer]]
param = "w2_1_1"
quantity = "update"
expr = "eta*(d1 - y2_1)*y1_1"
latex = false

[[answer]]
expr = '\Delta w^{(2)}_{12} = \eta (d_1 - y^{(2)}_1) y^{(1)}_2'
latex = true

[[answer]]
expr = '\delta^{(2)}_1 = y^{(2)}_1 - d_1'
latex = true
'''


def test_answers_latex_per_answer(tmp_path, seed003):
    path = tmp_path / "answers.toml"
    path.write_text(ANSWERS)
    graded = grade(seed003, load_answers(path))
    assert [g.correct for g in graded] == [True, True, False]
    assert graded[2].result.mistake == "sign"
    assert (graded[1].answer.param, graded[1].answer.quantity) == ("w2_1_2", "update")


def test_cli_answers_latex_flag(tmp_path):
    path = tmp_path / "answers.toml"
    path.write_text("[[answer]]\nparam = \"b2_1\"\nquantity = \"update\"\nexpr = '\\eta (d_1 - y^{(2)}_1)'\n"
                    "[[answer]]\nexpr = '\\frac{\\partial E}{\\partial b^{(2)}_1} = y^{(2)}_1 - d_1'\n")
    proc = cli(*SEED003, "--latex", "--answers", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "score: 2/2" in proc.stdout
    proc = cli(*SEED003, "--answers", str(path))        # read as text, the LaTeX is graded an error
    assert proc.returncode == 1 and "score: 0/2" in proc.stdout


# -- e. parse before deriving ------------------------------------------------------------------

@pytest.fixture
def no_derivation(monkeypatch):
    def refuse(net):
        raise AssertionError("derived before the answer was read")
    monkeypatch.setattr(importlib.import_module("symbp.verify"), "_derivation", refuse)
    monkeypatch.setattr(importlib.import_module("symbp.verify.answers"), "_derivation", refuse)


@pytest.mark.parametrize("param,text,latex,error", [
    ("w1_1_1", "eta*(x1", False, ExpressionError),
    ("w1_1_1", "2(x1)", False, ExpressionError),
    ("w1_1_1", r"\eta \frac{x_1", True, ExpressionError),
    ("w9_1_1", "eta*x1", False, VerifyError),
    (None, "Delta w1_1_1 = eta*(x1 = 2)", False, ExpressionError),
    ("w1_1_2", "Delta w1_1_1 = eta*x1", False, VerifyError),
])
def test_refused_before_deriving(no_derivation, param, text, latex, error):
    net = Network.from_string("3-4-4-2", activation="sigmoid")
    with pytest.raises(error):
        verify(net, param, text, quantity="update", latex=latex)


def test_answers_all_refused_never_derive(no_derivation, tmp_path):
    path = tmp_path / "answers.toml"
    path.write_text('[[answer]]\nparam = "w1_1_1"\nexpr = "eta*(x1"\n')
    graded = grade(Network.from_string("3-4-4-2", activation="sigmoid"), load_answers(path))
    assert graded[0].result is None and "never closed" in graded[0].error


def test_cli_refusal_is_quick():
    start = time.perf_counter()
    proc = cli("3-4-4-2", "--activation", "sigmoid", "--param", "w1_1_1", "--expr", "eta*(x1")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert time.perf_counter() - start < 4      # deriving 3-4-4-2 alone takes longer


def test_huge_lhs_refused_at_once(seed003):
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match="characters long"):
        verify(seed003, expr="w" * 50_000 + "(n+1 = 1", latex=True)
    assert time.perf_counter() - start < 1
