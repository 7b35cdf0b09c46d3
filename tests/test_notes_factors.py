r"""A chain's factors as a person writes them: a number is set off by a dot, never a bare (1).

"(1)" beside a formula is how LaTeX refers to equation (1) (the notes' loss), so a factor 1 in brackets
misleads; the check reads the .tex of networks whose chains have number factors (a linear output's slope 1,
de/dy = -1).
"""
import re

import pytest

from symbp import Network, derive
from symbp.notes import render_tex

NETS = [("2-3-1", dict(activation="sigmoid,linear", loss="half_sse")),
        ("2-2-2", dict(activation="sigmoid,linear", loss="mse")),
        ("3-2-2", dict(activation="tanh,linear", loss="sse", notation="nielsen"))]


@pytest.mark.parametrize("layers, flags", NETS)
def test_no_bracketed_number_factor(layers, flags):
    tex = render_tex(derive(Network.from_string(layers, **flags), check=False))
    assert not re.search(r"\\left\(\d+\\right\)", tex)
    assert r"\cdot 1" in tex            # the linear output's slope is still shown, after a dot


@pytest.mark.parametrize("notation, written", [("haykin", r"\sum_{n=1}^{N}"), ("ont", r"\sum_{x}"),
                                               ("nielsen", r"\sum_{x}")])
def test_a_batch_sums_over_its_samples_in_the_profiles_words(notation, written):
    """Haykin counts samples n = 1..N; ont (seed 004) and Nielsen sum over the samples x of the batch, and
    x, the inputs' letter too, is never counted from 1 to N."""
    tex = render_tex(derive(Network.from_string("2-2-1", activation="sigmoid", notation=notation), check=False))
    assert written in tex
    assert r"\sum_{x=1}" not in tex


def test_a_bce_loss_is_written_unit_by_unit():
    """E = -d_1 log y_1 - (1 - d_1) log(1 - y_1) - d_2 log y_2 - ...: each unit's two terms together, and the
    displayed loss reads back as the binary cross-entropy written here by hand."""
    import sympy as sp

    from symbp.verify.latex import parse_latex_for
    net = Network.from_string("2-2-3", activation="sigmoid", loss="bce")
    tex = render_tex(derive(net, check=False))
    body = tex[tex.index(r"\label{eq:loss}"):tex.index(r"\end{equation}", tex.index(r"\label{eq:loss}"))]
    rhs = re.sub(r"\\begin\{aligned\}|\\end\{aligned\}|\\label\{eq:loss\}|&=|&\\qquad|\\\\\*?", " ", body)
    rhs = rhs.split(r"\mathcal{E}", 1)[1]
    order = [m.group(0) for m in re.finditer(r"d_\{\d\}", rhs)]
    assert order == ["d_{1}", "d_{1}", "d_{2}", "d_{2}", "d_{3}", "d_{3}"]
    y, d = net.y[2], net.t
    want = -sum(d[j] * sp.log(y[j]) + (1 - d[j]) * sp.log(1 - y[j]) for j in range(3))
    assert sp.expand(parse_latex_for(net, rhs) - want) == 0


def test_mitchells_net_is_a_word_in_the_matrix_forms_too():
    """net is upright, \\mathrm{net} for a unit and \\mathbf{net} for a layer's vector, never bold italic n e t; and a
    student's vector answer in either bold reads as that vector."""
    import sympy as sp

    from symbp.verify.latex import parse_latex_for
    net = Network.from_string("3-4-2", activation="tanh,linear", notation="mitchell")
    tex = render_tex(derive(net, check=False))
    assert r"\mathbf{net}^{(1)}" in tex and r"\boldsymbol{net}" not in tex
    for bold in (r"\mathbf{net}^{(1)}", r"\boldsymbol{net}^{(1)}"):
        assert parse_latex_for(net, bold) == sp.ImmutableMatrix(net.v[1])


def test_a_layer_offset_is_not_the_sample_letter():
    """Haykin's n is the sample and the step: a later layer l + h feeds M_h units, never l + n."""
    net = Network.from_string("3-4-4-4-2", activation="tanh,sigmoid,tanh,linear", skip="0:2", residual="1:3")
    tex = render_tex(derive(net, check=False))
    assert "l+h" in tex and "M_{h}" in tex
    assert "l+n" not in tex and "M_{n}" not in tex and "l-n" not in tex
