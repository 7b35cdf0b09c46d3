"""The hidden-layer and matrix mistakes named, and partial credit (issue 15, items 3 and 4).

Every wrong answer below is written by hand, as a student would make the mistake; the right rules
they are wrong against are worked out by hand in the comments (haykin, half_sse unless said:
delta_out = (d - y) phi'(v), delta_j = phi'(v_j) sum_m w_mj delta_m, Delta w_jk = eta delta_j y_k).
"""
import json
import re
import subprocess
import sys

import pytest

from symbp.derive import derive
from symbp.network import Network
from symbp.verify import MISTAKES, verify
from symbp.verify.answers import grade, load_answers, load_rubric
from symbp.verify.score import RUBRIC


@pytest.fixture(scope="module")
def two_out():
    """2-2-2 sigmoid/sigmoid: delta1_1 = y1_1 (1 - y1_1) (w2_1_1 delta2_1 + w2_2_1 delta2_2)."""
    return derive(Network.from_string("2-2-2", activation="sigmoid,sigmoid"))


@pytest.fixture(scope="module")
def tanh_net():
    """2-2-1 tanh/linear: delta1_1 = (1 - y1_1^2) w2_1_1 (d1 - y2_1)."""
    return derive(Network.from_string("2-2-1", activation="tanh,linear"))


@pytest.fixture(scope="module")
def sig_net():
    """2-2-1 sigmoid/sigmoid: delta2_1 = (d1 - y2_1) y2_1 (1 - y2_1), delta1_1 = y1_1 (1 - y1_1) w2_1_1 delta2_1."""
    return derive(Network.from_string("2-2-1", activation="sigmoid,sigmoid"))


WRONG = [
    # one term of the next layer's sum
    ("two_out", "w1_1_1", "update", "eta*y1_1*(1 - y1_1)*w2_1_1*delta2_1*x1", "missing_sum"),
    ("two_out", "delta1_1", "delta", "y1_1*(1 - y1_1)*w2_2_1*delta2_2", "missing_sum"),
    # tanh' = 1 - y^2 written 1 - y; sigma' y (1 - y) where the layer is tanh
    ("tanh_net", "w1_1_1", "update", "eta*(d1 - y2_1)*w2_1_1*(1 - y1_1)*x1", "wrong_activation_derivative"),
    ("tanh_net", "w1_1_1", "update", "eta*(d1 - y2_1)*w2_1_1*y1_1*(1 - y1_1)*x1", "wrong_activation_derivative"),
    # a symbol of another layer in one factor, or everywhere
    ("sig_net", "w1_1_1", "update", "eta*delta2_1*w2_1_1*y2_1*(1 - y1_1)*x1", "wrong_layer"),
    ("sig_net", "w1_1_1", "update", "eta*delta2_1*w2_1_1*y2_1*(1 - y2_1)*x1", "wrong_layer"),
    # the same index slip in both terms: w2_1_2, w2_2_2 for w2_1_1, w2_2_1
    ("two_out", "delta1_1", "delta", "y1_1*(1 - y1_1)*(w2_1_2*delta2_1 + w2_2_2*delta2_2)", "wrong_index"),
    # w_kj for w_jk in both terms of delta1_2 = y1_2 (1 - y1_2) (w2_1_2 delta2_1 + w2_2_2 delta2_2)
    ("two_out", "delta1_2", "delta", "y1_2*(1 - y1_2)*(w2_2_1*delta2_1 + w2_2_2*delta2_2)", "wrong_index"),
    # two different slips at once: x2 for x1 and w2_1_2 for w2_1_1 in Delta w1_1_1 = eta delta1_1 x1
    ("sig_net", "w1_1_1", "update", "eta*delta2_1*w2_1_2*y1_1*(1 - y1_1)*x2", "wrong_index"),
]


@pytest.mark.parametrize("net,param,quantity,expr,mistake", WRONG)
def test_hidden_layer_mistakes(request, net, param, quantity, expr, mistake):
    result = verify(request.getfixturevalue(net), param, expr, quantity)
    assert result.equivalent is False
    assert result.mistake == mistake, result.message
    assert 0 < result.score < 1


def test_one_term_left_out_of_a_longer_sum():
    # 2-2-3: delta1_1 = y1_1 (1 - y1_1) (w2_1_1 delta2_1 + w2_2_1 delta2_2 + w2_3_1 delta2_3); the third is left out
    d = derive(Network.from_string("2-2-3", activation="sigmoid,sigmoid"))
    r = verify(d, "delta1_1", "y1_1*(1 - y1_1)*(w2_1_1*delta2_1 + w2_2_1*delta2_2)")
    assert r.mistake == "missing_sum" and "delta2_3*w2_3_1 is left out" in r.message


def test_missing_sum_names_the_term_kept(two_out):
    r = verify(two_out, "delta1_1", "y1_1*(1 - y1_1)*w2_2_1*delta2_2")
    assert "keeps only delta2_2*w2_2_1" in r.message


def test_tanh_slope_without_its_square_says_so(tanh_net):
    r = verify(tanh_net, "w1_1_1", "eta*(d1 - y2_1)*w2_1_1*(1 - y1_1)*x1", "update")
    assert "the square is lost" in r.message
    r = verify(tanh_net, "w1_1_1", "eta*(d1 - y2_1)*w2_1_1*y1_1*(1 - y1_1)*x1", "update")
    assert "derivative of sigmoid" in r.message and "is tanh" in r.message


def test_extra_sigmoid_slope_with_bce():
    # sigmoid + bce: delta2_1 = d1 - y2_1 (the loss's derivative cancels sigma'); Delta w2_1_1 = eta delta2_1 y1_1
    d = derive(Network.from_string("2-2-1", activation="sigmoid,sigmoid", loss="bce"))
    r = verify(d, "w2_1_1", "eta*(d1 - y2_1)*y2_1*(1 - y2_1)*y1_1", "update")
    assert r.mistake == "wrong_activation_derivative" and "extra" in r.message


def test_softmax_treated_elementwise():
    # softmax + ce, targets summing to 1: delta2_1 = d1 - y2_1. Elementwise: dE/dy_1 = -d1/y2_1 times
    # y2_1 (1 - y2_1), and delta = -dE/dv, gives d1 (1 - y2_1)
    d = derive(Network.from_string("2-2-2", activation="sigmoid,softmax", loss="ce"))
    r = verify(d, "delta2_1", "d1*(1 - y2_1)")
    assert r.mistake == "wrong_activation_derivative" and "elementwise" in r.message


@pytest.fixture(scope="module")
def wide_out():
    """2-3-2 sigmoid/sigmoid: delta1 = y1 (1 - y1) * (W2.T @ delta2), dE/dW2 = -delta2 @ y1.T."""
    return derive(Network.from_string("2-3-2", activation="sigmoid,sigmoid"))


MATRIX = [
    ("delta1", "y1*(1 - y1) @ (W2.T @ delta2)", False, "hadamard_vs_matrix_product"),
    ("W2", "-delta2 * y1.T", False, "hadamard_vs_matrix_product"),
    ("W2", r"-\boldsymbol{\delta}^{(2)} \odot (\mathbf{y}^{(1)})^{T}", True, "hadamard_vs_matrix_product"),
    ("W2", "-y1.T @ delta2", False, "wrong_order"),
    ("delta1", "y1*(1 - y1)*(delta2 @ W2.T)", False, "wrong_order"),
    ("delta1", r"\boldsymbol{\delta}^{(2)} \left(\mathbf{W}^{(2)}\right)^{T} \odot \mathbf{y}^{(1)} "
               r"\odot (1 - \mathbf{y}^{(1)})", True, "wrong_order"),
]


@pytest.mark.parametrize("param,expr,latex,mistake", MATRIX)
def test_matrix_product_mistakes(wide_out, param, expr, latex, mistake):
    r = verify(wide_out, param, expr, latex=latex)
    assert r.equivalent is False and r.mistake == mistake, r.message
    assert r.score == 0


def test_answers_file_names_a_matrix_slip(tmp_path, wide_out):
    path = tmp_path / "a.toml"
    path.write_text('[[answer]]\nparam = "W2"\nexpr = "-y1.T @ delta2"\n\n'
                    '[[answer]]\nparam = "W2"\nexpr = "-delta2 @ W2"\n')
    slip, wrong = grade(wide_out, load_answers(path))
    assert slip.result.mistake == "wrong_order" and slip.error is None
    assert wrong.result is None and "do not multiply" in wrong.error        # no slip explains it: unreadable


def test_a_shape_error_that_no_slip_explains_is_still_refused(wide_out):
    from symbp.verify import ExpressionError
    with pytest.raises(ExpressionError, match="do not multiply"):
        verify(wide_out, "delta1", "y1*(1 - y1)*(delta2 @ W2)")       # W2 untransposed: no reading fits
    with pytest.raises(ExpressionError, match="do not"):
        verify(wide_out, "delta1", "y1 @ (W2.T @ delta2)")            # read as y1 * (...), still wrong


def test_every_new_code_is_listed():
    for code in ("missing_sum", "wrong_activation_derivative", "hadamard_vs_matrix_product", "wrong_order"):
        assert code in MISTAKES
    assert MISTAKES[-1] == "other"


# -- partial credit ---------------------------------------------------------------------------

def test_score_counts_the_factors_present(sig_net):
    # Delta w1_1_1 = eta x1 y1_1 (1 - y1_1) w2_1_1 (d1 - y2_1) y2_1 (1 - y2_1): by the default rubric
    # constant 1, eta 1, x1 1 (input), w2_1_1 1, (d1 - y2_1) 2 (error), four slope factors 2 each: 14
    right = "eta*x1*y1_1*(1 - y1_1)*w2_1_1*(d1 - y2_1)*y2_1*(1 - y2_1)"
    assert verify(sig_net, "w1_1_1", right, "update").score == 1.0
    no_hidden_slope = "eta*x1*w2_1_1*(d1 - y2_1)*y2_1*(1 - y2_1)"           # 14 - 4 = 10
    assert verify(sig_net, "w1_1_1", no_hidden_slope, "update").score == round(10 / 14, 3)
    flipped = f"-{right}"                                                  # only the sign: 13 of 14
    assert verify(sig_net, "w1_1_1", flipped, "update").score == round(13 / 14, 3)
    extra = f"x2*{right}"                                                 # every factor, one extra: 14/15
    assert verify(sig_net, "w1_1_1", extra, "update").score == round(14 / 15, 3)


def test_a_rubric_changes_the_weights(sig_net):
    no_eta = "x1*y1_1*(1 - y1_1)*w2_1_1*(d1 - y2_1)*y2_1*(1 - y2_1)"       # 13 of 14; with eta worth 6: 13 of 19
    assert verify(sig_net, "w1_1_1", no_eta, "update").score == round(13 / 14, 3)
    assert verify(sig_net, "w1_1_1", no_eta, "update", rubric={"learning_rate": 6}).score == round(13 / 19, 3)
    assert set(RUBRIC) == {"constant", "learning_rate", "error", "activation_derivative", "weight", "input"}


def test_answers_file_rubric_and_scores(tmp_path, sig_net):
    path = tmp_path / "a.toml"
    path.write_text('[rubric]\nlearning_rate = 6\n\n[[answer]]\nparam = "w1_1_1"\nquantity = "update"\n'
                    'expr = "x1*y1_1*(1 - y1_1)*w2_1_1*(d1 - y2_1)*y2_1*(1 - y2_1)"\n')
    graded = grade(sig_net, load_answers(path), rubric=load_rubric(path))
    assert graded[0].result.score == round(13 / 19, 3)
    bad = tmp_path / "bad.toml"
    bad.write_text('[rubric]\nslope = 2\n\n[[answer]]\nparam = "w1_1_1"\nexpr = "x1"\n')
    out = subprocess.run([sys.executable, "-m", "symbp", "verify", "2-2-1", "--activation", "sigmoid",
                          "--answers", str(bad)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "rubric.slope" in out.stderr


def test_cli_json_score_and_matrix_mistake():
    out = subprocess.run([sys.executable, "-m", "symbp", "verify", "2-3-2", "--activation", "sigmoid",
                          "--param", "W2", "--expr", "-y1.T @ delta2", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert data["mistake"] == "wrong_order" and data["score"] == 0 and data["equivalent"] is False


# -- feedback in the student's notation (item 5) --------------------------------------------------

MISSING_SLOPE = r"\eta (d_1 - y_4) w_{41} x_1"        # seed 003's Delta w_11 without y_1 (1 - y_1)


def test_feedback_follows_the_numbering_the_student_wrote():
    layered = Network.from_string("2-3-1", activation="sigmoid,linear")      # numbering = layer
    r = verify(layered, "w1_1_1", MISSING_SLOPE, "update", latex=True)   # written in global numbering
    assert r.mistake == "missing_activation_derivative"
    assert "w_{41} = 0.88" in r.message and "y_{4} = " in r.message and "w2_1_1 =" not in r.message
    assert r.expected_shown.endswith(r"w_{41} y_{1} \left(1 - y_{1}\right) x_{1}")
    data = r.to_dict()                                                    # JSON: canonical names
    assert "w2_1_1 = 0.88" in data["message"] and "w2_1_1" in data["counterexample"]
    layered_tex = r"\eta (d_1 - y^{(2)}_1) w^{(2)}_{11} x_1"
    r = verify(layered, "w1_1_1", layered_tex, "update", latex=True)
    assert "w^{(2)}_{11} = 0.88" in r.message and r"y^{(1)}_{1} \left(1 - y^{(1)}_{1}\right)" in r.expected_shown


CANONICAL_ID = re.compile(r"\b(?:[a-z]+|delta)\d+_\d+")      # w2_1_2, y1_2, a1_3, delta1_2, v1_2


def test_diagnosis_sentence_in_the_students_layer_superscripts():
    """w_{12}^{(2)} (superscript after the subscript): the sentence names v^{(1)}_{2} and delta^{(1)}_{2}."""
    layered = Network.from_string("2-3-1", activation="sigmoid,linear")
    r = verify(layered, "w1_2_1", r"\eta (d_1 - y_1^{(2)}) w_{12}^{(2)} x_1", "update", latex=True)
    assert r.mistake == "missing_activation_derivative"
    sentence = r.message.split(" For example")[0]
    assert r"phi'(v^{(1)}_{2}) = y^{(1)}_{2} \left(1 - y^{(1)}_{2}\right)" in sentence
    assert r"factor of \delta^{(1)}_{2}" in sentence and not CANONICAL_ID.search(r.message), r.message
    data = r.to_dict()                                   # the JSON keeps the identifiers
    assert "phi'(v1_2) = y1_2*(1 - y1_2)" in data["message"] and "delta1_2" in data["message"]


def test_diagnosis_sentence_in_nielsens_bare_superscripts():
    nielsen = Network.from_string("2-3-1", activation="sigmoid", loss="half_sse", notation="nielsen")
    # a^{1}_{2} where the rule has a^{1}_{3}: the rule of another weight
    r = verify(nielsen, "w2_1_3", r"(a^{2}_{1} - y_1) a^{2}_{1} (1 - a^{2}_{1}) a^{1}_{2}", latex=True)
    assert r.mistake == "wrong_index" and not CANONICAL_ID.search(r.message), r.message
    assert r"the rule of w^{(2)}_{12}, not of w^{(2)}_{13}" in r.message
    assert "the rule of w2_1_2, not of w2_1_3" in r.to_dict()["message"]
    r = verify(nielsen, "w1_3_1", r"(a^{2}_{1} - y_1) w^{2}_{13} a^{1}_{3} (1 - a^{1}_{3}) x_1", latex=True)
    assert r.mistake == "missing_activation_derivative" and not CANONICAL_ID.search(r.message), r.message
    assert r"sigma'(z^{(2)}_{1}) = a^{(2)}_{1} \left(1 - a^{(2)}_{1}\right)" in r.message


def test_matrix_entry_and_transpose_in_the_students_notation():
    """A layer's LaTeX answer: the first wrong entry and the missing transpose in the notes' names."""
    net = Network.from_string("2-2-2", activation="sigmoid")     # square W2: the shapes cannot tell
    r = verify(net, "delta1", r"\mathbf{W}^{(2)} \boldsymbol{\delta}^{(2)} \odot \mathbf{y}^{(1)} \odot "
                              r"(1 - \mathbf{y}^{(1)})", latex=True)
    assert r.mistake == "missing_transpose" and not CANONICAL_ID.search(r.message), r.message
    assert r"\left(\mathbf{W}^{(2)}\right)^{T}" in r.message and "entry (1, 1), \\delta^{(1)}_{1}" in r.message
    assert "W2.T" in r.to_dict()["message"]


def test_text_answers_keep_the_identifiers():
    layered = Network.from_string("2-3-1", activation="sigmoid,linear")
    r = verify(layered, "w1_1_1", "eta*(d1 - y2_1)*w2_1_1*x1", "update")
    assert "w2_1_1 = 0.88" in r.message and r.expected_shown == r.expected_text


# -- a time limit per grading run (issue 17) ----------------------------------------------------------

def test_grading_run_time_limit(tmp_path, sig_net):
    path = tmp_path / "a.toml"
    path.write_text('[[answer]]\nexpr = "Delta w2_1_1 = eta*delta2_1*y1_1"\n\n'
                    '[[answer]]\nexpr = "w2_1_1(n+1) = w2_1_1 + eta*delta2_1*y1_1 = w2_1_1 + eta*2*delta2_1*y1_1"\n')
    answers = load_answers(path)
    graded = grade(sig_net, answers)
    assert graded[0].correct and graded[1].result.steps[1].mistake == "constant_factor"   # a chain in a file
    late = grade(sig_net, answers, seconds=0)          # the limit reached before the first answer
    assert [g.result.equivalent for g in late] == [None, None]
    assert all("time limit of 0 s" in g.result.message and g.result.score == 0 for g in late)
