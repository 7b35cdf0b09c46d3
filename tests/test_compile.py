"""Compiled networks (NumPy from the derivation) agree with the hand-written reference."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from symbp import reference as ref
from symbp.compile import compile_network
from symbp.network import Network

ELEMENTWISE = ("sigmoid", "tanh", "linear", "relu", "softplus")
LOSSES = ("half_sse", "sse", "mse", "bce", "ce")
PROFILES = ("haykin", "ont", "mitchell", "nielsen")


@st.composite
def networks(draw):
    """A small random network (at most 30 parameters) with any loss and the output it needs."""
    n_hidden = draw(st.integers(1, 2))
    layers = tuple(draw(st.integers(1, 3)) for _ in range(n_hidden + 2))
    bias = draw(st.booleans())
    assume(sum(layers[l] * (layers[l - 1] + bias) for l in range(1, len(layers))) <= 30)
    loss_name = draw(st.sampled_from(LOSSES))
    out = {"ce": "softmax", "bce": "sigmoid"}.get(loss_name) or draw(st.sampled_from(ELEMENTWISE))
    acts = tuple(draw(st.sampled_from(ELEMENTWISE)) for _ in range(n_hidden)) + (out,)
    sign = draw(st.sampled_from(["+", "-"]))
    net = Network.from_string("-".join(map(str, layers)), activation=",".join(acts), loss=loss_name,
                              bias=bias, bias_sign=sign, notation=draw(st.sampled_from(PROFILES)))
    return net


def random_problem(net: Network, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    params = {}
    for l in range(1, net.depth + 1):
        params[f"W{l}"] = rng.normal(0.0, 0.8, (net.layers[l], net.layers[l - 1]))
        if net.bias:
            params[f"b{l}"] = rng.normal(0.0, 0.5, net.layers[l])
    X = rng.normal(0.0, 1.0, (batch, net.layers[0]))
    T = rng.uniform(0.05, 1.0, (batch, net.layers[-1]))
    if net.loss.name == "ce":
        T /= T.sum(axis=1, keepdims=True)
    elif net.loss.name not in ("bce",):
        T = rng.normal(0.0, 1.0, T.shape)
    return params, X, T


def reference_args(net: Network) -> tuple:
    return tuple(a.name for a in net.activations), net.loss.name, net.bias_sign


def assert_matches_reference(net: Network, params, X, T, rtol: float = 1e-10):
    acts, loss_name, sign = reference_args(net)
    compiled = compile_network(net)
    for (v, y), (rv, ry) in zip(compiled.forward(params, X), ref.forward(params, X, net.layers, acts, sign)):
        np.testing.assert_allclose(v, rv, rtol=rtol, atol=1e-12)
        np.testing.assert_allclose(y, ry, rtol=rtol, atol=1e-12)
    assert compiled.loss(params, X, T) == pytest.approx(ref.loss(params, X, T, acts, loss_name, sign),
                                                        rel=rtol, abs=1e-12)
    got, want = compiled.gradients(params, X, T), ref.gradients(params, X, T, acts, loss_name, sign)
    assert set(got) == set(want) == set(params)
    for key in params:
        assert got[key].shape == params[key].shape
        np.testing.assert_allclose(got[key], want[key], rtol=rtol, atol=1e-12, err_msg=key)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(net=networks(), batch=st.sampled_from([1, 7]), seed=st.integers(0, 2**32 - 1))
def test_compiled_matches_reference(net, batch, seed):
    params, X, T = random_problem(net, batch, seed)
    assert_matches_reference(net, params, X, T)


@pytest.mark.parametrize("layers,acts,loss_name,sign", [
    ("2-3-1", "sigmoid,linear", "half_sse", "+"),
    ("2-2-2", "sigmoid,sigmoid", "mse", "-"),
    ("2-3-3", "relu,softmax", "ce", "+"),
    ("3-2-1", "softplus,sigmoid", "bce", "-"),
])
def test_compiled_matches_reference_on_named_networks(layers, acts, loss_name, sign):
    net = Network.from_string(layers, activation=acts, loss=loss_name, bias_sign=sign)
    params, X, T = random_problem(net, 7, 2024)
    assert_matches_reference(net, params, X, T)


def test_one_sample_round_trips_shapes():
    net = Network.from_string("2-3-1", activation="sigmoid,linear")
    params, X, T = random_problem(net, 1, 7)
    compiled = compile_network(net)
    assert [(v.shape, y.shape) for v, y in compiled.forward(params, X[0])] == [((3,), (3,)), ((1,), (1,))]
    one, batch = compiled.gradients(params, X[0], T[0]), compiled.gradients(params, X, T)
    for key in params:
        np.testing.assert_array_equal(one[key], batch[key])


@pytest.mark.parametrize("acts,loss_name", [
    ("sigmoid,softmax", "ce"), ("tanh,sigmoid", "bce"), ("softplus,linear", "half_sse"),
])
def test_saturating_inputs_stay_finite(acts, loss_name):
    net = Network.from_string("2-3-2", activation=acts, loss=loss_name)
    params, _, _ = random_problem(net, 1, 3)
    X = np.array([[1e3, -1e3], [-1e3, 1e3]])
    T = np.array([[1.0, 0.0], [0.0, 1.0]])
    compiled = compile_network(net)
    # Underflow to zero is correct for e^-1000; overflow, nan and log(0) are not.
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        E = compiled.loss(params, X, T)
        grads = compiled.gradients(params, X, T)
    assert np.isfinite(E)
    assert all(np.all(np.isfinite(g)) for g in grads.values())
    assert E == pytest.approx(ref.loss(params, X, T, tuple(acts.split(",")), loss_name), rel=1e-10)


def test_wrong_weight_shape_is_reported():
    net = Network.from_string("2-3-1", activation="sigmoid,linear")
    params, X, _ = random_problem(net, 1, 0)
    params["W1"] = params["W1"].T
    with pytest.raises(ValueError, match="W1"):
        compile_network(net).forward(params, X)
