"""The registries: each activation's derivative identity is proved with SymPy, losses match PRODUCT.md.

The corpus is every registry row and a formula-defined activation and loss (tests/corpus.py)."""
import pytest
import sympy as sp
from corpus import ACTIVATION_ROWS, GAUSS, LOSS_ROWS, PLAIN_ACTIVATIONS, PLAIN_LOSSES, PSEUDO_HUBER

from symbp.activations import get_activation, proves_derivative, relu, sigmoid, softplus
from symbp.losses import get_loss
from symbp.notation import PROFILES

x = sp.Symbol("x", real=True)


@pytest.mark.parametrize("act", ACTIVATION_ROWS, ids=lambda a: a.name)
def test_derivative_in_terms_of_output_is_proved(act):
    assert proves_derivative(act)


def test_the_formula_rows_are_their_textbook_definitions():
    assert sp.simplify(get_activation(GAUSS).function(x).rewrite(sp.exp) - PLAIN_ACTIVATIONS[GAUSS](x)) == 0
    assert sp.diff(get_activation(GAUSS).function(x), x).equals(-2 * x * sp.exp(-x ** 2))
    y, t = sp.symbols("y t", real=True)
    assert sp.simplify(get_loss(PSEUDO_HUBER).term(y, t) - PLAIN_LOSSES[PSEUDO_HUBER](y, t)) == 0


def test_sigmoid_identity_from_first_principles():
    # seed 003's derivation: d/dz 1/(1+e^-z) = s(z)(1 - s(z)), done here without symbp's classes
    s = 1 / (1 + sp.exp(-x))
    assert sp.simplify(sp.diff(s, x) - s * (1 - s)) == 0
    assert sp.simplify(sp.diff(sigmoid(x), x).rewrite(sp.exp) - sp.diff(s, x)) == 0


def test_tanh_identity_from_first_principles():
    t = (sp.exp(x) - sp.exp(-x)) / (sp.exp(x) + sp.exp(-x))
    assert sp.simplify(sp.diff(t, x) - (1 - t**2)) == 0
    assert get_activation("tansig").derivative_in_output(sp.tanh(x), x) == 1 - sp.tanh(x) ** 2


@pytest.mark.parametrize("cls,form", [(sigmoid, 1 / (1 + sp.exp(-x))), (softplus, sp.log(1 + sp.exp(x)))])
def test_fdiff_matches_exp_form(cls, form):
    assert sp.simplify((sp.diff(cls(x), x) - sp.diff(form, x)).rewrite(sp.exp)) == 0


def test_relu_derivative_is_step():
    assert sp.diff(relu(x), x) == sp.Heaviside(x, 0)


@pytest.mark.parametrize("alias,name", [("logsig", "sigmoid"), ("logistic", "sigmoid"), ("tansig", "tanh"),
                                        ("purelin", "linear"), ("identity", "linear")])
def test_aliases(alias, name):
    assert get_activation(alias).name == name


def test_losses_match_product_table():
    y, t, e, N = sp.symbols("y t e N", positive=True)
    assert get_loss("half_sse").term(y, t) == (t - y) ** 2 / 2
    assert get_loss("sse").term(y, t) == (t - y) ** 2
    assert get_loss("mse").term(y, t) == (y - t) ** 2 and get_loss("mse").mean
    assert sp.expand(get_loss("bce").term(y, t) + t * sp.log(y) + (1 - t) * sp.log(1 - y)) == 0
    assert get_loss("ce").term(y, t) == -t * sp.log(y)
    for loss in LOSS_ROWS:
        if loss.error_term is not None:   # the error form is the same loss with e = t - y
            assert sp.expand(loss.error_term(t - y) - loss.term(y, t)) == 0


def test_profiles_are_data():
    names = {p.name: p for p in PROFILES}
    assert names["haykin"].delta_sign == -1 and names["ont"].delta_sign == 1
    assert (names["nielsen"].net, names["nielsen"].out, names["nielsen"].target) == ("z", "a", "y")
    assert names["mitchell"].net == "net"
