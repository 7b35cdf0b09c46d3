"""Where the notes may break a page, and what the worked numbers and the sections beside them show."""
from __future__ import annotations

import re

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


def test_a_wide_samples_inputs_are_named_where_some_are_left_out():
    """20 inputs 0.1, ..., 1, 0.1, ..., 1: shown as x_1 = 0.1, x_2 = 0.2, ..., x_20 = 1, not (0.1, 0.2, ..., 1), which
    reads as the ten numbers 0.1 to 1; a short sample stays a plain tuple."""
    lead = re.compile(r"Numbers chosen for the example:\n.*?\ninputs (.*?), targets (.*?)\.\n", re.S)
    wide = lead.search(render_tex(derive(Network.from_string("20-30-5"), check=False)))
    assert wide.group(1) == r"$x_{1} = 0.1,\allowbreak\ x_{2} = 0.2,\allowbreak\ \dots,\allowbreak\ x_{20} = 1$"
    short = lead.search(render_tex(derive(Network.from_string("2-3-1"), check=False)))
    assert short.group(1) == r"$(0.1,\allowbreak\ 0.2)$"
