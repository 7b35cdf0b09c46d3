"""Where the notes may break a page, and what the worked numbers and the sections beside them show."""
from __future__ import annotations

import re
import shutil

import pytest

from symbp import Network, derive
from symbp.notes import join_rows, notes_context, render_tex

NOBREAK, BREAK = " \\\\*\n", " \\\\\n"


def test_a_wrapped_line_and_a_short_derivation_stay_with_their_equation():
    """Hand-written rows: a page may end between two equations, never before a wrapped line (&\\qquad), never
    inside a derivation of three rows or fewer, and never so that the block's first or last row stands alone."""
    rows = ["a &= x + y", r"&\qquad + z", "b &= 1", "&= 2", "c &= 3", "d &= 4"]
    assert join_rows(rows) == ("a &= x + y" + NOBREAK + r"&\qquad + z" + BREAK + "b &= 1" + NOBREAK + "&= 2"
                               + BREAK + "c &= 3" + NOBREAK + "d &= 4")
    assert join_rows(["a &= 1", "b &= 2", "c &= 3"]) == "a &= 1" + NOBREAK + "b &= 2" + NOBREAK + "c &= 3"
    # four steps: between the second and third, two each side (a float above left no room for four unbroken)
    assert join_rows(["a &= 1", "&= 2", "&= 3", "&= 4"]) == "a &= 1" + NOBREAK + "&= 2" + BREAK + "&= 3" + NOBREAK + "&= 4"


def test_a_long_derivation_breaks_only_between_steps_with_two_rows_each_side():
    rows = ["d &= 1", "&= 2", "&= 3", r"&\qquad + 4", "&= 5", "&= 6"]
    joined = join_rows(rows)
    # before row 2 ("&= 3") and row 4 ("&= 5"): two rows or more either side; row 3 is a wrapped line
    assert joined == ("d &= 1" + NOBREAK + "&= 2" + BREAK + "&= 3" + NOBREAK + r"&\qquad + 4" + BREAK + "&= 5"
                      + NOBREAK + "&= 6")


@pytest.mark.parametrize("layers, flags", [
    ("4-6-5-3", {"activation": "tanh"}),
    ("3-4-4-4-2", {"activation": "tanh,sigmoid,tanh,linear", "skip": "0:2", "residual": "1:3"}),
    ("20-30-5", {})])
def test_no_page_can_end_before_a_wrapped_line(layers, flags):
    tex = render_tex(derive(Network.from_string(layers, **flags), check=False))
    assert "\\qquad" in tex
    assert not re.search(r"\\\\\n&\\qquad", tex)        # every wrapped line is joined to its row by \\*


def _worked(layers, **flags):
    net = Network.from_string(layers, **flags)
    d = derive(net, check=False)
    return net, notes_context(d)["example"]["worked"]["rows"]


def _numbers(line: str) -> list[float]:
    """The numbers of one row, signs read from '(-x)' and a leading '-'."""
    body = line.split("=", 1)[1].replace(r"\\*", "").replace(r"\\", "")
    return [float(m) for m in re.findall(r"-?\d+(?:\.\d+)?(?:\\times 10\^\{-?\d+\})?", body)]


def test_a_tanh_layers_slope_is_worked_out_before_it_multiplies():
    """delta = (1 - y^2)(sum): the row after the numbers gives 1 - y^2 from the y printed above it, and the
    product of the two factors is the value on the last row (to the six digits printed)."""
    net, rows = _worked("4-6-5-3", activation="tanh")
    hidden = rows[1]["rows"]
    filled = next(r for r in hidden if re.search(r"1 - \d", r))
    y = float(re.search(r"1 - (\d+\.\d+)\^\{2\}", filled).group(1))
    factors = next(r for r in hidden[hidden.index(filled) + 1:] if r.startswith("&="))    # past the wrapped lines
    slope, total = _numbers(factors)
    assert slope == pytest.approx(1 - y * y, rel=1e-5)
    assert slope * total == pytest.approx(_numbers(hidden[-1])[0], rel=1e-4)


def test_a_relu_units_step_is_worked_out_as_one_or_zero():
    """H(z) with the number put in becomes 1 for a positive net input (the example's z is away from the kink)."""
    net, rows = _worked("4-5-3", activation="relu,softmax", loss="ce", notation="nielsen")
    hidden = rows[1]["rows"]
    filled = next(r for r in hidden if r"H\left(" in r and re.search(r"H\\left\(-?\d", r))
    z = float(re.search(r"H\\left\((-?\d+(?:\.\d+)?)\\right\)", filled).group(1))
    step = _numbers(next(r for r in hidden[hidden.index(filled) + 1:] if r.startswith("&=")))[0]
    assert step == (1.0 if z > 0 else 0.0)


def test_the_biases_worked_are_those_of_the_layers_whose_weights_were_worked():
    """4-6-5-3: the hidden weight worked is w^(2)_11, so the hidden bias worked is b^(2)_1, not b^(1)_1."""
    tex = render_tex(derive(Network.from_string("4-6-5-3", activation="tanh"), check=False))
    hidden = re.search(r"subsection\{A weight of a hidden layer: \\texorpdfstring\{\$w\^\{\((\d)\)\}_\{11\}", tex)
    biases = tex[tex.index(r"\subsection{The biases}"):tex.index(r"\subsection{The local gradients")]
    layers = sorted(set(re.findall(r"\\partial b\^\{\((\d)\)\}_\{1\}", biases)))
    assert hidden.group(1) == "2" and layers == ["2", "3"]


def test_a_leaky_slope_reads_number_then_step_and_means_its_derivative():
    """(4/5) H(z) + 1/5, the number before the function as a slope a + (1 - a) H(z) is written; read back it is
    the derivative of leaky_relu(0.2) at points either side of the kink."""
    from symbp.verify.latex import parse_latex_for
    net = Network.from_string("2-3-1", activation="leaky_relu(0.2),sigmoid")
    tex = render_tex(derive(net, check=False))
    slope = re.search(r"So the derivative is \$(.*?)\$", tex).group(1)
    assert slope.startswith(r"\frac{4}{5} H")
    read = parse_latex_for(net, slope.replace("z", "v^{(1)}_{1}"))     # the generic z as one unit's net input
    for point, want in ((1.5, 1.0), (-0.7, 0.2)):
        assert float(read.subs({s: point for s in read.free_symbols})) == pytest.approx(want)


def test_a_wide_samples_numbers_say_how_many_and_how_they_repeat():
    """20 inputs 0.1, ..., 1, 0.1, ..., 1: the first ten and the rule that repeats them, not (0.1, 0.2, ..., 1), which
    reads as ten numbers, nor x_1 = 0.1, ..., x_20 = 1, which reads as x_k = k/10; ten targets 0.1, ..., 1 that do not
    repeat are each named; a short sample stays a plain tuple."""
    lead = re.compile(r"Numbers chosen for the example:\n.*?\ninputs (.*?), targets? (.*?)\.\n", re.S)
    wide = lead.search(render_tex(derive(Network.from_string("20-30-10"), check=False)))
    assert wide.group(1) == (r"$x_{1}, \dots, x_{10} = 0.1,\allowbreak\ 0.2,\allowbreak\ \dots,\allowbreak\ 1"
                             r" \text{ and } x_{k+10} = x_{k}$")
    assert wide.group(2) == r"$d_{1} = 0.1,\allowbreak\ d_{2} = 0.2,\allowbreak\ \dots,\allowbreak\ d_{10} = 1$"
    short = lead.search(render_tex(derive(Network.from_string("2-3-1"), check=False)))
    assert short.group(1) == r"$(0.1,\allowbreak\ 0.2)$"


def test_a_written_out_update_wraps_inside_its_bracket_with_the_input_last():
    """3-4-4-2 tanh (mitchell): w(n+1) = w + eta (1 - a^2) ( (t1 - a1) ... + (t2 - a2) ... ) a_k, as the unwrapped
    product prints; the line inside the bracket starts under its first term (a phantom of the line up to the bracket),
    so its + is not read as one of w's terms."""
    tex = render_tex(derive(Network.from_string("3-4-4-2", activation="tanh", notation="mitchell"), check=False))
    block = re.search(r"as in a hand derivation:\n\\begin\{align\*\}\n(.*?)\n\\end\{align\*\}", tex, re.S).group(1)
    rows = block.split("\n")
    head, opened = rows[1].split(r"\biggl(", 1)       # a bracket taller than the (1 - (a)^2) inside it
    assert rows[2].startswith(r"&\qquad \phantom{" + head.removeprefix(r"&\qquad ") + r"\biggl(} + \left(t_{2}")
    assert rows[-1].endswith(r"\biggr)a^{(1)}_{1}")


def test_the_four_equations_name_gradients_as_gradients():
    """Haykin's "delta rule" and "correction" are the update eta delta y; the four equations show dE/dw and dE/db."""
    tex = render_tex(derive(Network.from_string("2-3-1"), check=False))
    assert "(bias gradient; every layer)" in tex and "(weight gradient; every layer)" in tex
    assert "bias correction" not in tex and "delta rule;" not in tex


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                    reason="TeX Live (pdflatex, pdftotext) not installed")
def test_lead_ins_share_a_page_with_what_they_lead_into(tmp_path):
    """2-2-2 bce with two samples (the review's nbce): 'Sample 2:' with its table, the signal-flow lead-in with its
    graph, the learning rates' lead-in with its table, each on one page; a centred paragraph, not a center list,
    whose start LaTeX may break before."""
    import subprocess

    from symbp.notes import render_notes
    from symbp.spec import spec_from_dict
    spec = spec_from_dict({"network": {"layers": [2, 2, 2], "activations": ["sigmoid", "sigmoid"], "loss": "bce"},
                           "example": {"inputs": [[0.5, -0.3], [0.1, 0.8]], "targets": [[1, 0], [0, 1]],
                                       "learning_rate": 0.5}})
    pdf = render_notes(Network(spec), tmp_path)
    pages = [" ".join(p.split()) for p in subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True,
                                                          text=True, check=True).stdout.split("\f")]
    for lead, body in (("Sample 2 :", "v1 = "), ("of unit 1 in layer 1:", "Σ"),
                       ("by a factor of 1012 ):", "η steps loss at the end")):
        page = next(n for n, p in enumerate(pages) if lead in p)
        assert body in pages[page].split(lead, 1)[1], lead


def _tex(layers: str, training=None, **flags) -> str:
    import dataclasses

    from symbp.spec import spec_from_layer_string
    spec = spec_from_layer_string(layers, **flags)
    if training is not None:
        spec = dataclasses.replace(spec, training=training)
    return render_tex(derive(Network(spec), check=False))


def test_momentum_and_decay_are_defined_and_in_the_general_rules():
    """With [training] the notation table names alpha and lambda, the introduction says how the network trains, and
    the general rules carry the learning rule: Delta w(n) = alpha Delta w(n-1) + eta delta y - eta lambda w, as the
    summary and Algorithm 1 do (the general rules had dropped both)."""
    from symbp.spec import Training
    tex = _tex("2-3-1", Training(momentum=0.9, weight_decay=0.01))
    assert r"momentum constant & $\alpha$" in tex and r"& $\lambda$ \\" in tex
    assert r"with momentum $\alpha = 0.9$" in " ".join(tex.split()) and r"weight decay $\lambda = 0.01$" in " ".join(tex.split())
    general = tex[tex.index(r"\subsection{The general rules}"):tex.index(r"\subsection{Matrix form}")]
    assert (r"\Delta w^{(l)}_{jk}(n) &= \alpha \Delta w^{(l)}_{jk}(n-1) + \eta \delta^{(l)}_{j} y^{(l-1)}_{k} "
            r"- \eta \lambda w^{(l)}_{jk}") in general
    assert r"&= - \delta^{(l)}_{j} y^{(l-1)}_{k} + \lambda w^{(l)}_{jk}" in general      # dE/dw with the decay's part
    plain = _tex("2-3-1")
    assert r"\alpha" not in plain and "momentum constant" not in plain


def test_the_momentum_update_is_written_in_the_order_it_is_stated():
    """Delta w(n) = alpha Delta w(n-1) - eta dE/dw = alpha Delta w(n-1) + eta delta y: one order on both sides."""
    from symbp.spec import Training
    tex = _tex("2-2-1", Training(momentum=0.5))
    line = re.search(r"\\Delta w\^\{\(2\)\}_\{11\}\(n\) &= \\alpha .*? = (.*?)(?: \\\\|\n)", tex).group(1)
    assert line.startswith(r"\alpha \Delta w^{(2)}_{11}(n-1) + \eta")


def test_softmax_is_defined_over_its_own_layer():
    """A two-unit softmax layer is defined with two exponentials, not three."""
    tex = _tex("3-5-2", activation="relu,softmax", loss="ce")
    definition = re.search(r"\\emph\{softmax\}: \$(.*?)\$", tex).group(1)
    assert "v_{2}" in definition and "v_{3}" not in definition


def test_the_four_equations_do_not_say_output_twice():
    tex = _tex("2-3-1")
    assert "(output local gradient)" in tex and "(output local gradient; output layer)" not in tex
    assert "(BP1; output layer)" in _tex("2-3-1", notation="nielsen")


def test_one_target_is_a_number_and_global_numbering_says_what_d_j_counts():
    """2-3-1 with global numbering: 'target 0.1', not '(0.1)'; d_j is the j-th output unit's target, and e_1 is the
    first output unit's, unit 4 (the table had said 'output unit j' for d_j while unit 4's target is d_1)."""
    tex = _tex("2-3-1", numbering="global", activation="sigmoid,linear")
    assert re.search(r"\ninputs \$\(0\.1,\\allowbreak\\ 0\.2\)\$, target \$0\.1\$", tex)
    assert r"target of the $j$-th unit of the output layer & $d_{j}$" in tex
    assert r"error signal of the first unit of the output layer (unit~4) & $e_{1} = d_{1} - y_{4}$" in tex


def test_a_parametrised_activation_reads_as_words_and_cases():
    """leaky_relu(0.2) is an identifier: the prose says leaky ReLU (its slope is in LReLU_0.2), and it is defined
    in cases, z for z > 0 and z/5 otherwise, not z/5 + (4/5) max(0, z)."""
    tex = _tex("3-5-2", activation="leaky_relu(0.2),softmax", loss="ce")
    assert r"\emph{leaky ReLU}: $\operatorname{LReLU}_{0.2}\left(z\right) = \begin{cases} z & \text{for}\: z > 0" in tex
    assert r"leaky\_relu" not in tex and r"\max" not in tex


def test_a_hidden_rule_keeps_one_order_with_one_successor_or_many():
    """delta_1 = y_1 (1 - y_1) delta_4 w_41, the slope first as in the general y_j (1 - y_j) sum_m delta_m w_mj (it was
    delta_4 w_41 y_1 (1 - y_1) beside it); the update written out keeps seed 003's chain order, eta (d - y) w y (1 - y) x."""
    tex = _tex("2-3-1", numbering="global", activation="sigmoid,linear")
    assert r"\delta_{1} &= y_{1} \left(1 - y_{1}\right) \delta_{4} w_{41}" in tex
    assert r"\delta_{4} w_{41} y_{1}" not in tex
    assert r"y^{(l)}_{j} \left(1 - y^{(l)}_{j}\right) \sum_{m=1}^{M} \delta^{(l+1)}_{m} w^{(l+1)}_{mj}" in tex
    assert r"\eta \left(d_{1} - y_{4}\right) w_{41} y_{1} \left(1 - y_{1}\right) x_{1}" in tex


def test_a_slope_too_wide_for_its_row_is_bracketed_and_then_multiplies_the_sum():
    """gelu's slope beside the general rule's tag: (slope) on one row, x sum_m delta_m w_mj on the next, the slope
    in brackets so that the product is of the whole slope (unbracketed, its last term alone would be multiplied)."""
    tex = _tex("3-4-2", activation="gelu,softmax", loss="ce")
    general = tex[tex.index(r"\subsection{The general rules}"):tex.index(r"\subsection{Matrix form}")]
    rows = re.search(r"\\delta\^\{\(l\)\}_\{j\} &= (\\left\(.*?\\right\)) \\\\\*\n&\\qquad \\times (\\sum.*?) &&", general)
    assert rows and r"\operatorname{erf}" in rows.group(1) and rows.group(2).startswith(r"\sum_{m=1}^{M} \delta^{(l+1)}_{m}")
    four = tex[tex.index(r"\subsection{The four equations}"):]
    assert r"\right) \\ &\qquad \times \sum_{m=1}^{M}" in four
