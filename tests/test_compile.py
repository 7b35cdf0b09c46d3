"""Compiled networks (NumPy from the derivation) agree with the hand-written reference."""
from __future__ import annotations

import numpy as np
import pytest
from corpus import ELEMENTWISE, GAUSS, LOSS_ROWS, PSEUDO_HUBER
from corpus import LOSS_NAMES as LOSSES
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from symbp import reference as ref
from symbp.compile import compile_network
from symbp.network import Network
from symbp.notation import profile_names

PROFILES = tuple(profile_names())
NEEDS = {loss.name: loss.needs for loss in LOSS_ROWS if loss.needs}     # the output a loss needs: bce sigmoid, ce softmax


@st.composite
def networks(draw):
    """A small random network (at most 30 parameters) with any loss and the output it needs."""
    n_hidden = draw(st.integers(1, 2))
    layers = tuple(draw(st.integers(1, 3)) for _ in range(n_hidden + 2))
    bias = draw(st.booleans())
    assume(sum(layers[l] * (layers[l - 1] + bias) for l in range(1, len(layers))) <= 30)
    loss_name = draw(st.sampled_from(LOSSES))
    out = NEEDS.get(loss_name) or draw(st.sampled_from(ELEMENTWISE))
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
    if net.loss.targets == "distribution":
        T /= T.sum(axis=1, keepdims=True)
    elif net.loss.targets == "any":
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
@example(net=Network.from_string("2-2-2", activation=f"{GAUSS},{GAUSS}", loss=PSEUDO_HUBER, bias_sign="-"),
         batch=7, seed=1)
def test_compiled_matches_reference(net, batch, seed):
    params, X, T = random_problem(net, batch, seed)
    assert_matches_reference(net, params, X, T)


@st.composite
def wide_networks(draw):
    """The issue's corpus: 1-4 hidden layers of widths 1-9, every activation, loss, bias and sign."""
    n_hidden = draw(st.integers(1, 4))
    layers = [draw(st.integers(1, 9)) for _ in range(n_hidden + 2)]
    loss_name = draw(st.sampled_from(LOSSES))
    out = NEEDS.get(loss_name) or draw(st.sampled_from(ELEMENTWISE))
    if out not in ELEMENTWISE:
        layers[-1] = max(layers[-1], 2)
    acts = [draw(st.sampled_from(ELEMENTWISE)) for _ in range(n_hidden)] + [out]
    return Network.from_string("-".join(map(str, layers)), activation=",".join(acts), loss=loss_name,
                               bias=draw(st.booleans()), bias_sign=draw(st.sampled_from(["+", "-"])),
                               notation=draw(st.sampled_from(PROFILES)))


def central_differences(net: Network, params, X, T, step: float = 1e-6) -> dict:
    """dE/dp of the reference loss by central differences, one entry at a time."""
    acts, loss_name, sign = reference_args(net)
    out = {}
    for key, value in params.items():
        grad = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            p = {k: v.copy() for k, v in params.items()}
            p[key][idx] = value[idx] + step
            plus = ref.loss(p, X, T, acts, loss_name, sign)
            p[key][idx] = value[idx] - step
            grad[idx] = (plus - ref.loss(p, X, T, acts, loss_name, sign)) / (2 * step)
        out[key] = grad
    return out


@settings(deadline=None)
@given(net=wide_networks(), batch=st.sampled_from([1, 7]), seed=st.integers(0, 2**32 - 1))
@example(net=Network.from_string("3-5-4-2", activation=f"tanh,{GAUSS},linear", loss=PSEUDO_HUBER, notation="ont"),
         batch=7, seed=2)
def test_compiled_matches_reference_and_finite_differences(net, batch, seed):
    from symbp.derive import derive
    params, X, T = random_problem(net, batch, seed)
    compiled = compile_network(derive(net, check=False))
    acts, loss_name, sign = reference_args(net)
    got, want = compiled.gradients(params, X, T), ref.gradients(params, X, T, acts, loss_name, sign)
    fd = central_differences(net, params, X, T)
    for key in params:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-10, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(got[key], fd[key], rtol=1e-6, atol=1e-6, err_msg=key)


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
    ("relu,softmax", "ce"), ("softplus,softplus", "sse"),
])
def test_saturating_inputs_stay_finite(acts, loss_name):
    net = Network.from_string("2-3-2", activation=acts, loss=loss_name)
    params, _, _ = random_problem(net, 1, 3)
    X = np.array([[1e3, -1e3], [-1e3, 1e3]])
    T = np.array([[1.0, 0.0], [0.0, 1.0]])
    compiled = compile_network(net)
    # Underflow to zero is correct for e^-1000 or (1e-200)**2; overflow, nan and log(0) are not.
    with np.errstate(all="raise", under="ignore"):
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


# -- worked examples ------------------------------------------------------------------------

DATA = __import__("pathlib").Path(__file__).parent / "data"


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _example_from_cli(path):
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "symbp", "example", str(path), "--json"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _example_from_api(path):
    from symbp.example import worked_example
    return worked_example(path)


@pytest.mark.parametrize("source", [_example_from_api, _example_from_cli], ids=["api", "cli"])
def test_worked_example_matches_one_step_by_hand(source):
    ex = source(DATA / "two_two_one.toml")
    # By hand, Haykin's equations for one sample (eta = 1):
    x, d = np.array([0.35, 0.9]), 0.5
    W1, b1 = np.array([[0.1, 0.8], [0.4, 0.6]]), np.array([0.2, -0.1])
    W2, b2 = np.array([0.3, 0.9]), 0.05
    v1 = W1 @ x + b1
    y1 = _sigmoid(v1)
    v2 = W2 @ y1 + b2
    y2 = _sigmoid(v2)
    e = d - y2
    delta2 = e * y2 * (1 - y2)                       # delta = -dE/dv
    delta1 = y1 * (1 - y1) * W2 * delta2
    assert ex["forward"] == pytest.approx({"v1_1": v1[0], "v1_2": v1[1], "y1_1": y1[0], "y1_2": y1[1],
                                           "v2_1": v2, "y2_1": y2}, rel=1e-12)
    assert ex["loss"] == pytest.approx(0.5 * e ** 2, rel=1e-12)
    assert ex["errors"] == pytest.approx({"e1": e}, rel=1e-12)
    assert ex["deltas"] == pytest.approx({"delta2_1": delta2, "delta1_1": delta1[0], "delta1_2": delta1[1]},
                                         rel=1e-12)
    grads = {"w1_1_1": -delta1[0] * x[0], "w1_1_2": -delta1[0] * x[1], "b1_1": -delta1[0],
             "w1_2_1": -delta1[1] * x[0], "w1_2_2": -delta1[1] * x[1], "b1_2": -delta1[1],
             "w2_1_1": -delta2 * y1[0], "w2_1_2": -delta2 * y1[1], "b2_1": -delta2}
    assert ex["gradients"] == pytest.approx(grads, rel=1e-12)
    before = {"w1_1_1": 0.1, "w1_1_2": 0.8, "b1_1": 0.2, "w1_2_1": 0.4, "w1_2_2": 0.6, "b1_2": -0.1,
              "w2_1_1": 0.3, "w2_1_2": 0.9, "b2_1": 0.05}
    assert ex["updated"] == pytest.approx({k: before[k] - 1.0 * grads[k] for k in before}, rel=1e-12)
    assert ex["learning_rate"] == 1.0


def test_worked_example_uses_profile_letters_and_batches():
    from symbp.example import example_params, worked_example
    ex = worked_example(DATA / "two_two_one_ont_batch.toml")
    net = Network.from_file(DATA / "two_two_one_ont_batch.toml")
    assert set(ex["forward"]) == {"n1_1", "n1_2", "o1_1", "o1_2", "n2_1", "o2_1"}
    assert ex["errors"] == {}
    assert len(ex["forward"]["o2_1"]) == 2                      # one value per sample
    params = example_params(net, net.spec.example)
    X, T = np.array(ex["inputs"]), np.array(ex["targets"])
    want = ref.gradients(params, X, T, ("tanh", "linear"), "mse", -1)
    assert ex["gradients"]["w1_2_1"] == pytest.approx(want["W1"][1, 0], rel=1e-12)
    assert ex["gradients"]["b2_1"] == pytest.approx(want["b2"][0], rel=1e-12)
    assert ex["updated"]["b2_1"] == pytest.approx(0.3 - 0.1 * want["b2"][0], rel=1e-12)


def test_worked_example_defaults_are_deterministic():
    from symbp.example import worked_example
    net = Network.from_string("2-3-2", activation="tanh,softmax", loss="ce")
    first, second = worked_example(net), worked_example(net)
    assert first == second
    assert first["targets"] == [[1.0, 0.0]]
    assert len(set(first["params"].values())) > 3               # not all the same number
    assert all(np.isfinite(v) for v in first["gradients"].values())


def test_worked_example_of_the_builtin_network():
    from symbp.example import worked_example
    from symbp.spec import builtin_spec
    ex = worked_example(builtin_spec())
    assert ex["forward"]["y1_1"] == pytest.approx(_sigmoid(0.15 * 0.05 + 0.20 * 0.10 + 0.35), rel=1e-12)
    assert set(ex["gradients"]) == set(ex["updated"]) == set(ex["params"])
    assert len(ex["gradients"]) == 13
