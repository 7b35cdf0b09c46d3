"""What a page-by-page review found (issue 13), each read off the .tex: no claim the page contradicts."""
import re

from symbp import derive
from symbp.notes import render_tex


def tex_of(layers, **flags):
    return render_tex(derive(layers, **flags))


def test_the_signal_flow_gain_of_a_sum_is_bracketed():
    tex = tex_of("3-4-2", activation="tanh,linear")
    gain = re.search(r"\\node\[gain\] \(slope\)[^{]*\{\$\\times\\, (.*)\$\};", tex).group(1)
    assert gain.startswith(r"\left(1 - ") and gain.endswith(r"\right)"), gain   # x (1 - y^2), not x 1 - y^2


def test_relus_slope_is_not_said_to_be_written_in_the_output():
    tex = tex_of("3-4-2", activation="relu,linear")
    assert "So the derivative is $H" in tex
    assert not re.search(r"with the unit's output \$\w\$, the derivative is \$H", tex)
    assert "written in the unit's output; the graph" not in tex      # H(v) is in the net input
    assert "written in the unit's output; the graph" in tex_of("3-4-2", activation="sigmoid,linear")


def test_the_four_equations_say_when_a_layer_has_several_successors():
    assert "several successors adds one such sum" in tex_of("3-4-4-2", activation="tanh,tanh,linear",
                                                             skip="0:2", residual="1:2")
    assert "several successors adds one such sum" not in tex_of("3-4-2", activation="tanh,linear")


def test_overshooting_is_said_only_of_a_rate_whose_loss_grew():
    for tex in (tex_of("2-3-1", activation="sigmoid,linear"), tex_of("4-5-3", activation="relu,softmax", loss="ce")):
        table = re.search(r"loss at the end \\\\\n\\midrule\n(.*?)\\bottomrule", tex, re.S).group(1)
        rows = [re.match(r"\$(.*?)\$ & (\d+) & (.*?) \\\\", r).groups() for r in table.strip().splitlines()]
        start = float(re.search(r"falls from \$([-\d.e]+)", tex).group(1)) if "falls from $" in tex else None
        said = re.search(r"overshoots \(from \$\\eta = (.*?)\$", tex)
        if said:     # that rate's loss ended above where it started, or was not finite
            last = {eta: value for eta, _, value in rows}[said.group(1)]
            assert last == r"$\infty$" or start is None or float(last.strip("$").split()[0]) > start
        else:        # nothing overshot: the page does not say that something does
            assert r"$\infty$" not in table and "overshoots and" not in tex and "grows without bound" not in tex


def test_the_hand_rule_is_stated_with_its_own_sign_in_each_profile():
    ont = tex_of("2-2-1", activation="sigmoid", loss="sse", notation="ont")     # delta = +dE/dn
    assert r"as hand derivations write it: $\Delta w_{jk} = -\eta\, \delta_j" in ont
    haykin = tex_of("2-2-1", activation="sigmoid,linear")                        # delta = -dE/dv
    assert r"as hand derivations write it: $\Delta w_{jk} = \eta\, \delta_j" in haykin


def test_the_check_footnote_says_an_exact_agreement_in_words():
    assert "0.0e+00" not in tex_of("2-3-1", activation="sigmoid,linear")
