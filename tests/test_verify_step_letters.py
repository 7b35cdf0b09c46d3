r"""verify reads the step counter of every notation: w(n+1), \Delta w(n-1) in the profile's letter.

The notes count steps with n (haykin, mitchell), \tau (ont, whose n is the net input) and t
(nielsen); a student copies that letter, or writes n as the seeds do. The oracle is written by hand:
for 2-2-1 sigmoid/sigmoid half_sse under momentum alpha, the output weight's update is
Delta w(n) = alpha Delta w(n-1) - eta dE/dw with dE/dw2_1_1 = (a2 - t) a2 (1 - a2) a1_1, and the new
value is w + Delta w. Numbers are substituted by the test, not read from the program.
"""
import pytest
import sympy as sp

from symbp.network import Network
from symbp.spec import Training, spec_from_layer_string
from symbp.verify import ExpressionError, verify
from symbp.verify.latex import parse_latex_for

LETTERS = {"haykin": "n", "mitchell": "n", "ont": r"\tau", "nielsen": "t"}
OUT = {"haykin": "y", "mitchell": "a", "ont": "o", "nielsen": "a"}
TARGET = {"haykin": "d", "mitchell": "t", "ont": "t", "nielsen": "y"}


def net_of(profile: str) -> Network:
    return Network(spec_from_layer_string("2-2-1", activation="sigmoid", loss="half_sse", notation=profile,
                                          numbering="layer", training=Training(momentum=0.9)))


def gradient_tex(profile: str) -> str:
    """dE/dw^{(2)}_{11} by hand, in the profile's letters."""
    o, t = OUT[profile], TARGET[profile]
    return (rf"\left({o}^{{(2)}}_{{1}} - {t}_{{1}}\right) {o}^{{(2)}}_{{1}} \left(1 - {o}^{{(2)}}_{{1}}\right) "
            rf"{o}^{{(1)}}_{{1}}")


@pytest.mark.parametrize("profile", sorted(LETTERS))
def test_the_previous_step_reads_as_the_networks_symbol(profile):
    net = net_of(profile)
    w = net.weights[net.graph.inputs(2)[0]][0][0]
    for letter in {LETTERS[profile], "n"}:
        value = parse_latex_for(net, rf"\Delta w^{{(2)}}_{{11}}({letter} - 1)")
        assert value == net.previous(w)


@pytest.mark.parametrize("profile", sorted(LETTERS))
def test_a_momentum_update_in_the_profiles_letter(profile):
    s = LETTERS[profile]
    answer = rf"\Delta w^{{(2)}}_{{11}}({s}) = \alpha \Delta w^{{(2)}}_{{11}}({s}-1) - \eta {gradient_tex(profile)}"
    assert verify(net_of(profile), expr=answer, latex=True).equivalent is True


@pytest.mark.parametrize("profile", sorted(LETTERS))
def test_a_new_value_in_the_profiles_letter(profile):
    s = LETTERS[profile]
    answer = (rf"w^{{(2)}}_{{11}}({s}+1) = w^{{(2)}}_{{11}}({s}) + \alpha \Delta w^{{(2)}}_{{11}}({s}-1) "
              rf"- \eta {gradient_tex(profile)}")
    result = verify(net_of(profile), expr=answer, latex=True)
    assert result.equivalent is True
    assert (result.param, result.quantity) == ("w2_1_1", "new")


@pytest.mark.parametrize("profile", sorted(LETTERS))
def test_a_forgotten_momentum_factor_is_not_equivalent_and_speaks_latex(profile):
    s = LETTERS[profile]
    answer = rf"\Delta w^{{(2)}}_{{11}}({s}) = \Delta w^{{(2)}}_{{11}}({s}-1) - \eta {gradient_tex(profile)}"
    result = verify(net_of(profile), expr=answer, latex=True)
    assert result.equivalent is False
    # the counterexample names the previous step and alpha as the student wrote them
    assert rf"\Delta w^{{(2)}}_{{11}}({s}-1) = " in result.message and r"\alpha = " in result.message
    assert "dw2_1_1_prev" not in result.message


def test_the_momentum_numbers_by_hand():
    """One point worked by hand: the reading of (n-1) is the previous step, not a product with n."""
    net = net_of("haykin")
    value = parse_latex_for(net, r"\alpha \Delta w^{(2)}_{11}(n-1) - \eta w^{(2)}_{11}(n)")
    w = net.weights[net.graph.inputs(2)[0]][0][0]
    at = {net.alpha: sp.Rational(9, 10), net.previous(w): sp.Rational(1, 2), net.eta: sp.Rational(1, 10),
          w: sp.Integer(3)}
    assert value.xreplace(at) == sp.Rational(9, 20) - sp.Rational(3, 10)


@pytest.mark.parametrize("text, words", [
    (r"w^{(2)}_{11}(q+1) = w^{(2)}_{11}", "counts steps with q"),
    (r"\alpha (n-1)", "the step before"),
    (r"\eta w^{(2)}_{11}(n+1)", "the next step"),
    (r"\Delta \eta(n-1)", "takes a weight or bias"),
])
def test_misplaced_step_indices_are_refused_clearly(text, words):
    with pytest.raises(ExpressionError, match=words):
        verify(net_of("haykin"), param="w2_1_1", quantity="update", expr=text, latex=True)


def test_ont_counts_with_tau_and_keeps_n():
    net = net_of("ont")
    for s in (r"\tau", "n"):
        answer = rf"w^{{(2)}}_{{11}}({s} + 1) = w^{{(2)}}_{{11}} + \alpha \Delta w^{{(2)}}_{{11}}({s} - 1) - \eta {gradient_tex('ont')}"
        assert verify(net, expr=answer, latex=True).equivalent is True
