"""Where the notes may break a page, and what the worked numbers and the sections beside them show."""
from __future__ import annotations

import re
import shutil

import pytest

from symbp import Network, derive
from symbp.notes import join_rows, notes_context, render_tex

NOBREAK, BREAK = " \\\\*\n", " \\\\\n"


def test_a_wrapped_line_and_a_short_derivation_stay_with_their_equation():
    """Hand-written rows: a page may end between two equations, never before a wrapped line (&\\qquad) and never
    inside a derivation of four rows or fewer."""
    rows = ["a &= x + y", r"&\qquad + z", "b &= 1", "&= 2", "c &= 3"]
    assert join_rows(rows) == ("a &= x + y" + NOBREAK + r"&\qquad + z" + BREAK + "b &= 1" + NOBREAK + "&= 2"
                               + BREAK + "c &= 3")


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
    lead = re.compile(r"Numbers chosen for the example:\n.*?\ninputs (.*?), targets (.*?)\.\n", re.S)
    wide = lead.search(render_tex(derive(Network.from_string("20-30-10"), check=False)))
    assert wide.group(1) == (r"$x_{1}, \dots, x_{10} = 0.1,\allowbreak\ 0.2,\allowbreak\ \dots,\allowbreak\ 1"
                             r" \text{ and } x_{k+10} = x_{k}$")
    assert wide.group(2) == r"$d_{1} = 0.1,\allowbreak\ d_{2} = 0.2,\allowbreak\ \dots,\allowbreak\ d_{10} = 1$"
    short = lead.search(render_tex(derive(Network.from_string("2-3-1"), check=False)))
    assert short.group(1) == r"$(0.1,\allowbreak\ 0.2)$"


def test_a_written_out_update_wraps_inside_its_bracket_with_the_input_last():
    """3-4-4-2 tanh (mitchell): w(n+1) = w + eta (1 - a^2) ( (t1 - a1) ... + (t2 - a2) ... ) a_k, as the unwrapped
    product prints; the line inside the bracket is indented past it, so its + is not read as one of w's terms."""
    tex = render_tex(derive(Network.from_string("3-4-4-2", activation="tanh", notation="mitchell"), check=False))
    block = re.search(r"as in a hand derivation:\n\\begin\{align\*\}\n(.*?)\n\\end\{align\*\}", tex, re.S).group(1)
    rows = block.split("\n")
    assert r"\Bigl(" in rows[1] and rows[2].startswith(r"&\qquad \quad + ") and rows[-1].endswith(r"\Bigr)a^{(1)}_{1}")


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
