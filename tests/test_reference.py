"""The NumPy reference against finite differences, and the symbolic engine against the reference."""
from __future__ import annotations

import numpy as np
import pytest
from corpus import ELEMENTWISE, GAUSS, PSEUDO_HUBER
from corpus import LOSS_NAMES as LOSSES
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from symbp import reference as ref
from symbp.activations import get_activation

PROFILES = ("haykin", "ont", "mitchell", "nielsen")
# The engine test evaluates explicit gradients at 30 digits: nests of elu's Piecewise or gelu's erf take
# minutes there, so it draws from the first rows and the formula row (test_derive and test_export draw all).
ENGINE_ELEMENTWISE = ("sigmoid", "tanh", "linear", "relu", "softplus", GAUSS)


# -- random networks ---------------------------------------------------------------------

@st.composite
def architectures(draw, max_hidden: int = 3, max_width: int = 5, elementwise=ELEMENTWISE):
    """(layers, activations, loss): any loss, with the output activation it requires."""
    n_hidden = draw(st.integers(1, max_hidden))
    layers = tuple(draw(st.integers(1, max_width)) for _ in range(n_hidden + 2))
    hidden = [draw(st.sampled_from(elementwise)) for _ in range(n_hidden)]
    loss_name = draw(st.sampled_from(LOSSES))
    out = {"ce": "softmax", "bce": "sigmoid"}.get(loss_name) or draw(st.sampled_from(elementwise))
    return layers, tuple(hidden + [out]), loss_name


def random_params(rng: np.random.Generator, layers, bias: bool) -> dict[str, np.ndarray]:
    params = {}
    for l in range(1, len(layers)):
        params[f"W{l}"] = rng.normal(0.0, 0.8, (layers[l], layers[l - 1]))
        if bias:
            params[f"b{l}"] = rng.normal(0.0, 0.5, layers[l])
    return params


def random_data(rng: np.random.Generator, layers, loss_name: str, batch: int):
    X = rng.normal(0.0, 1.0, (batch, layers[0]))
    n_out = layers[-1]
    if loss_name == "ce":
        T = rng.uniform(0.05, 1.0, (batch, n_out))
        T /= T.sum(axis=1, keepdims=True)        # each row a distribution over classes
    elif loss_name == "bce":
        T = rng.uniform(0.0, 1.0, (batch, n_out))
    else:
        T = rng.normal(0.0, 1.0, (batch, n_out))
    return X, T


def away_from_kinks(params, X, activations, sign, margin: float = 1e-3) -> bool:
    """Finite differences are meaningless where a net input is about at a kink (relu's 0)."""
    fwd = ref.forward(params, X, None, activations, sign)
    kinks = [None if a == "softmax" else get_activation(a).kink for a in activations]
    return all(np.min(np.abs(v - k)) > margin for (v, _), k in zip(fwd, kinks) if k is not None)


def finite_differences(params, X, T, activations, loss_name, sign, h: float = 1e-6):
    grads = {}
    for key, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            def at(delta):
                moved = {k: v.copy() for k, v in params.items()}
                moved[key][idx] += delta
                return ref.loss(moved, X, T, activations, loss_name, sign)
            g[idx] = (at(h) - at(-h)) / (2 * h)
        grads[key] = g
    return grads


# -- reference vs finite differences -----------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(arch=architectures(), bias=st.booleans(), sign=st.sampled_from([1, -1]),
       batch=st.sampled_from([1, 7]), seed=st.integers(0, 2**32 - 1))
@example(arch=((2, 3, 2), (GAUSS, GAUSS), PSEUDO_HUBER), bias=True, sign=-1, batch=7, seed=5)
def test_reference_matches_finite_differences(arch, bias, sign, batch, seed):
    layers, activations, loss_name = arch
    rng = np.random.default_rng(seed)
    params = random_params(rng, layers, bias)
    X, T = random_data(rng, layers, loss_name, batch)
    assume(away_from_kinks(params, X, activations, sign))
    got = ref.gradients(params, X, T, activations, loss_name, sign)
    want = finite_differences(params, X, T, activations, loss_name, sign)
    assert set(got) == set(params)
    for key in params:
        assert got[key].shape == params[key].shape
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-6, err_msg=key)


def test_one_sample_gives_one_dimensional_outputs():
    rng = np.random.default_rng(0)
    params = random_params(rng, (2, 3, 1), True)
    fwd = ref.forward(params, np.array([0.1, 0.2]), (2, 3, 1), ("sigmoid", "linear"))
    assert [(v.shape, y.shape) for v, y in fwd] == [((3,), (3,)), ((1,), (1,))]
    one = ref.gradients(params, [0.1, 0.2], [0.5], ("sigmoid", "linear"), "half_sse")
    batch = ref.gradients(params, [[0.1, 0.2]], [[0.5]], ("sigmoid", "linear"), "half_sse")
    for key in params:
        np.testing.assert_array_equal(one[key], batch[key])


def test_layers_are_checked_against_weight_shapes():
    params = random_params(np.random.default_rng(0), (2, 3, 1), False)
    with pytest.raises(ValueError):
        ref.forward(params, np.zeros(2), (2, 4, 1), ("sigmoid", "linear"))


def test_bias_keys_only_when_present():
    params = random_params(np.random.default_rng(1), (2, 2, 1), False)
    assert set(ref.gradients(params, [1.0, 2.0], [0.0], ("tanh", "linear"), "sse")) == {"W1", "W2"}


def test_mse_is_the_mean_of_the_summed_squares():
    params = random_params(np.random.default_rng(2), (2, 2, 2), True)
    X, T = random_data(np.random.default_rng(3), (2, 2, 2), "mse", 7)
    assert ref.loss(params, X, T, ("tanh", "linear"), "mse") == pytest.approx(
        ref.loss(params, X, T, ("tanh", "linear"), "sse") / 7)


@pytest.mark.parametrize("acts,loss_name", [
    (("sigmoid", "sigmoid"), "bce"), (("tanh", "softmax"), "ce"), (("softplus", "linear"), "mse"),
    (("relu", "softplus"), "half_sse"), (("sigmoid", "tanh"), "sse"),
])
def test_extreme_inputs_raise_no_floating_point_errors(acts, loss_name):
    rng = np.random.default_rng(4)
    params = random_params(rng, (3, 4, 3), True)
    X = np.array([[1e3, -1e3, 5e2], [-1e3, 1e3, -7e2], [0.0, 0.0, 0.0]])
    T = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5]])
    # Underflow to zero is the right answer for e^-1000 and tiny products; it is allowed.
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        E = ref.loss(params, X, T, acts, loss_name)
        grads = ref.gradients(params, X, T, acts, loss_name)
    assert np.isfinite(E)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_saturated_softmax_and_sigmoid_losses_are_exact():
    # v = +/-1000 at the output: the stable forms give the limits, not inf or nan.
    params = {"W1": np.array([[1.0], [-1.0]])}
    with np.errstate(all="raise"):
        assert ref.loss(params, [1000.0], [0.0, 1.0], ("softmax",), "ce") == pytest.approx(2000.0)
        assert ref.loss({"W1": np.array([[1.0]])}, [-1000.0], [1.0], ("sigmoid",), "bce") == pytest.approx(1000.0)


# -- the symbolic engine vs the reference --------------------------------------------------------

def _network(layers, activations, loss_name, bias, sign, notation):
    from symbp.network import Network
    return Network.from_string("-".join(map(str, layers)), activation=",".join(activations), loss=loss_name,
                               bias=bias, bias_sign="+" if sign > 0 else "-", notation=notation)


def _sample_values(net, params, x, t, batch: int) -> dict:
    """{symbol: number} for the inputs, weights, biases and targets of one sample."""
    import sympy as sp
    values = {net.batch: sp.Integer(batch)}
    values.update({s: sp.Float(float(a), 30) for s, a in zip(net.x, x)})
    values.update({s: sp.Float(float(a), 30) for s, a in zip(net.t, t)})
    for l in range(1, net.depth + 1):
        for j, row in enumerate(net.W[l]):
            values.update({w: sp.Float(float(params[f"W{l}"][j, k]), 30) for k, w in enumerate(row)})
        for j, b in enumerate(net.b.get(l, [])):
            values[b] = sp.Float(float(params[f"b{l}"][j]), 30)
    return values


def engine_gradients(net, derivation, params, X, T) -> dict[str, np.ndarray]:
    """Sum over the batch of the derivation's per-sample dE/dp, arranged like ``params``."""
    grads = {key: np.zeros_like(value) for key, value in params.items()}
    explicit = {name: derivation.quantity(name, "gradient", form="explicit") for name in derivation.params}
    for x, t in zip(X, T):
        values = _sample_values(net, params, x, t, len(X))
        for name, expr in explicit.items():
            rule = derivation.params[name]
            value = float(expr.xreplace(values))
            if rule.kind == "weight":
                grads[f"W{rule.layer}"][rule.unit - 1, rule.source - 1] += value
            else:
                grads[f"b{rule.layer}"][rule.unit - 1] += value
    return grads


def _check_engine(layers, activations, loss_name, bias, sign, notation, batch, seed):
    from symbp.derive import derive
    net = _network(layers, activations, loss_name, bias, sign, notation)
    rng = np.random.default_rng(seed)
    params = random_params(rng, layers, bias)
    X, T = random_data(rng, layers, loss_name, batch)
    derivation = derive(net)
    got = engine_gradients(net, derivation, params, X, T)
    want = ref.gradients(params, X, T, activations, loss_name, sign)
    for key in params:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-9, atol=1e-12, err_msg=key)


def _n_params(layers, bias: bool) -> int:
    return sum(layers[l] * (layers[l - 1] + bias) for l in range(1, len(layers)))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(arch=architectures(max_hidden=2, max_width=3, elementwise=ENGINE_ELEMENTWISE), bias=st.booleans(), sign=st.sampled_from([1, -1]),
       notation=st.sampled_from(PROFILES), batch=st.sampled_from([1, 7]), seed=st.integers(0, 2**32 - 1))
@example(arch=((2, 2, 2), (GAUSS, "tanh"), PSEUDO_HUBER), bias=True, sign=1, notation="haykin", batch=7, seed=6)
@example(arch=((2, 2, 1), ("tanh", GAUSS), "half_sse"), bias=False, sign=-1, notation="ont", batch=1, seed=7)
def test_engine_gradients_match_reference(arch, bias, sign, notation, batch, seed):
    layers, activations, loss_name = arch
    assume(_n_params(layers, bias) <= 30)
    _check_engine(layers, activations, loss_name, bias, sign, notation, batch, seed)


@pytest.mark.parametrize("layers,activations,loss_name,bias,sign,notation", [
    ((2, 3, 1), ("sigmoid", "linear"), "half_sse", True, 1, "haykin"),      # seed 003
    ((2, 2, 2), ("sigmoid", "sigmoid"), "sse", True, -1, "ont"),           # seed 004
    ((2, 2, 2), ("sigmoid", "sigmoid"), "mse", True, -1, "ont"),
    ((2, 3, 3), ("tanh", "softmax"), "ce", True, 1, "nielsen"),
    ((3, 2, 2), ("relu", "sigmoid"), "bce", False, 1, "mitchell"),
    ((1, 2, 2, 1), ("softplus", "tanh", "linear"), "half_sse", True, -1, "haykin"),
    ((2, 2, 2), (GAUSS, "linear"), PSEUDO_HUBER, True, 1, "nielsen"),          # both rows of your own
])
def test_engine_gradients_match_reference_on_named_networks(layers, activations, loss_name, bias, sign, notation):
    _check_engine(layers, activations, loss_name, bias, sign, notation, 7, 12345)


def test_a_row_of_your_own_is_known_by_name_once_defined():
    """corpus.py gives the reference gauss and pseudo_huber by name, as NumPy it writes by hand."""
    v = np.array([-1.5, 0.0, 0.5])
    np.testing.assert_allclose(ref.activate(GAUSS, v), np.exp(-v * v), rtol=1e-15)
    np.testing.assert_allclose(ref.activation_derivative(GAUSS, v, None), -2 * v * np.exp(-v * v), rtol=1e-15)
    # one unit, W1 = 1: E = sqrt(1 + (x - t)^2) - 1, dE/dw = (x - t) x / sqrt(1 + (x - t)^2); x = 3, t = -1
    params = {"W1": np.array([[1.0]])}
    assert ref.loss(params, [3.0], [-1.0], ("linear",), PSEUDO_HUBER) == pytest.approx(np.sqrt(17) - 1, rel=1e-15)
    assert ref.gradients(params, [3.0], [-1.0], ("linear",), PSEUDO_HUBER)["W1"][0, 0] == pytest.approx(
        12 / np.sqrt(17), rel=1e-15)
    with pytest.raises(ValueError, match="built in"):
        ref.define("activation", "tanh", np.tanh, np.tanh)
    with pytest.raises(KeyError):
        ref.activate("never_defined", v)
