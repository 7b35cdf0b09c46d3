"""The NumPy reference on graphs of layers (skips W{l}_{s}, residual shortcuts), against oracles
that share nothing with its backward pass: central finite differences of its loss, a forward pass
written out unit by unit here, and small networks worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from symbp import reference as ref

ELEMENTWISE = ("sigmoid", "tanh", "linear", "relu", "softplus")
LOSSES = ("half_sse", "sse", "mse", "bce", "ce")
OUTPUT_FOR = {"ce": "softmax", "bce": "sigmoid"}


# -- random graph networks ---------------------------------------------------------------------

@st.composite
def graphs(draw, max_depth: int = 4, max_width: int = 3):
    """(layers, skips, residual): widths n_0..n_L, skip pairs (s, l) with s < l - 1, and identity
    shortcuts (s, l) between hidden layers of equal width. Small widths make equal widths common."""
    depth = draw(st.integers(2, max_depth))
    layers = tuple(draw(st.integers(1, max_width)) for _ in range(depth + 1))
    skips = [(s, l) for l in range(2, depth + 1) for s in range(0, l - 1) if draw(st.booleans())]
    candidates = [(s, l) for l in range(2, depth) for s in range(1, l) if layers[s] == layers[l]]
    residual = [pair for pair in candidates if draw(st.booleans())]
    return layers, skips, residual


def activations_for(draw_hidden, depth: int, loss_name: str, draw_output) -> tuple[str, ...]:
    out = OUTPUT_FOR.get(loss_name) or draw_output()
    return tuple(draw_hidden() for _ in range(depth - 1)) + (out,)


def random_params(rng, layers, skips, bias: bool) -> dict[str, np.ndarray]:
    params = {}
    for l in range(1, len(layers)):
        params[f"W{l}"] = rng.normal(0.0, 0.7, (layers[l], layers[l - 1]))
        for s, into in skips:
            if into == l:
                params[f"W{l}_{s}"] = rng.normal(0.0, 0.7, (layers[l], layers[s]))
        if bias:
            params[f"b{l}"] = rng.normal(0.0, 0.5, layers[l])
    return params


def random_data(rng, layers, loss_name: str, batch: int):
    X = rng.normal(0.0, 1.0, (batch, layers[0]))
    if loss_name == "ce":
        T = rng.uniform(0.05, 1.0, (batch, layers[-1]))
        T /= T.sum(axis=1, keepdims=True)        # each row a distribution over classes
    elif loss_name == "bce":
        T = rng.uniform(0.0, 1.0, (batch, layers[-1]))
    else:
        T = rng.normal(0.0, 1.0, (batch, layers[-1]))
    return X, T


# -- independent oracles -----------------------------------------------------------------------

def _phi(name: str, v: float) -> float:
    return {"sigmoid": lambda: 1.0 / (1.0 + math.exp(-v)), "tanh": lambda: math.tanh(v),
            "linear": lambda: v, "relu": lambda: max(v, 0.0),
            "softplus": lambda: math.log1p(math.exp(v))}[name]()


def plain_forward(params, x, activations, residual, sign=1.0):
    """y(1..L) of one sample, unit by unit from the definition, in plain Python floats."""
    ys = [list(map(float, x))]
    for l, name in enumerate(activations, start=1):
        W = params[f"W{l}"]
        v = []
        for j in range(W.shape[0]):
            total = sum(W[j, k] * ys[l - 1][k] for k in range(W.shape[1]))
            for key, M in params.items():
                if key.startswith(f"W{l}_"):
                    s = int(key.split("_")[1])
                    total += sum(M[j, k] * ys[s][k] for k in range(M.shape[1]))
            if f"b{l}" in params:
                total += sign * params[f"b{l}"][j]
            v.append(total)
        if name == "softmax":
            z = [math.exp(a - max(v)) for a in v]
            y = [a / sum(z) for a in z]
        else:
            y = [_phi(name, a) for a in v]
        for s, into in residual:
            if into == l:
                y = [a + b for a, b in zip(y, ys[s])]
        ys.append(y)
    return ys[1:]


def finite_differences(params, X, T, activations, loss_name, sign, residual, h: float = 1e-6):
    grads = {}
    for key, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            def at(delta):
                moved = {k: v.copy() for k, v in params.items()}
                moved[key][idx] += delta
                return ref.loss(moved, X, T, activations, loss_name, sign, residual=residual)
            g[idx] = (at(h) - at(-h)) / (2 * h)
        grads[key] = g
    return grads


def away_from_kinks(params, X, activations, sign, residual, margin: float = 1e-3) -> bool:
    """Finite differences are meaningless where a relu's net input is about 0."""
    fwd = ref.forward(params, X, None, activations, sign, residual=residual)
    return all(np.min(np.abs(v)) > margin for (v, _), a in zip(fwd, activations) if a == "relu")


def expected_order(params) -> list[str]:
    """W{l}, then W{l}_{s} for s ascending, then b{l}, layer by layer."""
    def rank(key):
        head, _, src = key[1:].partition("_")
        return (int(head), 0, 0) if key[0] == "W" and not src else \
               (int(head), 1, int(src)) if key[0] == "W" else (int(head), 2, 0)
    return sorted(params, key=rank)


def assert_matches_finite_differences(params, X, T, activations, loss_name, sign, residual):
    got = ref.gradients(params, X, T, activations, loss_name, sign, residual=residual)
    want = finite_differences(params, X, T, activations, loss_name, sign, residual)
    assert list(got) == expected_order(params)
    for key in params:
        assert got[key].shape == params[key].shape, key
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-6, err_msg=key)


# -- reference vs finite differences on graphs ------------------------------------------------

@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(graph=graphs(), loss_name=st.sampled_from(LOSSES), data=st.data(), bias=st.booleans(),
       sign=st.sampled_from([1, -1]), batch=st.sampled_from([1, 5]), seed=st.integers(0, 2**32 - 1))
def test_graph_gradients_match_finite_differences(graph, loss_name, data, bias, sign, batch, seed):
    layers, skips, residual = graph
    pick = lambda: data.draw(st.sampled_from(ELEMENTWISE))
    activations = activations_for(pick, len(layers) - 1, loss_name, pick)
    rng = np.random.default_rng(seed)
    params = random_params(rng, layers, skips, bias)
    X, T = random_data(rng, layers, loss_name, batch)
    assume(away_from_kinks(params, X, activations, sign, residual))
    assert_matches_finite_differences(params, X, T, activations, loss_name, sign, residual)


# One fixed graph with every kind of connection: skips from the input into a hidden layer and
# into the output, a skip between hidden layers, and two residual shortcuts (one of them
# adjacent, one spanning a layer) -- run with every hidden activation and every loss.
LAYERS = (2, 3, 3, 3, 2)
SKIPS = [(0, 2), (0, 4), (1, 3), (1, 4)]
RESIDUAL = [(1, 2), (1, 3)]


@pytest.mark.parametrize("loss_name", LOSSES)
@pytest.mark.parametrize("hidden", ELEMENTWISE)
def test_every_activation_and_loss_on_a_full_graph(hidden, loss_name):
    out = OUTPUT_FOR.get(loss_name, "tanh")
    activations = (hidden,) * (len(LAYERS) - 2) + (out,)
    for seed in range(20):                       # the first draw away from relu kinks
        rng = np.random.default_rng(seed)
        params = random_params(rng, LAYERS, SKIPS, bias=True)
        X, T = random_data(rng, LAYERS, loss_name, 4)
        if away_from_kinks(params, X, activations, -1, RESIDUAL):
            break
    assert_matches_finite_differences(params, X, T, activations, loss_name, -1, RESIDUAL)


@settings(max_examples=30, deadline=None)
@given(graph=graphs(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_forward_matches_a_unit_by_unit_forward(graph, seed, data):
    layers, skips, residual = graph
    pick = lambda: data.draw(st.sampled_from(ELEMENTWISE))
    activations = activations_for(pick, len(layers) - 1, data.draw(st.sampled_from(LOSSES)), pick)
    rng = np.random.default_rng(seed)
    params = random_params(rng, layers, skips, bias=True)
    x = rng.normal(0.0, 1.0, layers[0])
    got = [y for _, y in ref.forward(params, x, layers, activations, -1, residual=residual)]
    want = plain_forward(params, x, activations, residual, sign=-1.0)
    for l, (g, w) in enumerate(zip(got, want), start=1):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=f"y({l})")


# -- worked by hand ----------------------------------------------------------------------------

def test_linear_1_1_1_1_with_a_skip_from_the_input_by_hand():
    # x = 2, t = 1, half_sse, every layer linear, bias only on layer 2 (sign +):
    #   v1 = 3*2 = 6                          y1 = 6
    #   v2 = -1*6 + 0.5*2 + 1 = -4            y2 = -4      (W2 y1 + W2_0 x + b2)
    #   v3 = 2*(-4) = -8                      y3 = -8
    #   E  = 0.5 (1 - (-8))^2 = 40.5
    # Backward:
    #   dE/dv3 = y3 - t = -9                  dE/dW3 = -9 * y2 = 36
    #   dE/dy2 = -9 * W3 = -18 = dE/dv2       dE/dW2 = -18 * y1 = -108
    #                                         dE/dW2_0 = -18 * x = -36,  dE/db2 = -18
    #   dE/dy1 = -18 * W2 = 18 = dE/dv1       dE/dW1 = 18 * x = 36
    params = {"W1": np.array([[3.0]]), "W2": np.array([[-1.0]]), "W2_0": np.array([[0.5]]),
              "b2": np.array([1.0]), "W3": np.array([[2.0]])}
    acts = ("linear", "linear", "linear")
    fwd = ref.forward(params, [2.0], (1, 1, 1, 1), acts)
    assert [(float(v[0]), float(y[0])) for v, y in fwd] == [(6.0, 6.0), (-4.0, -4.0), (-8.0, -8.0)]
    assert ref.loss(params, [2.0], [1.0], acts, "half_sse") == 40.5
    grads = ref.gradients(params, [2.0], [1.0], acts, "half_sse")
    assert list(grads) == ["W1", "W2", "W2_0", "b2", "W3"]
    assert {k: g.tolist() for k, g in grads.items()} == {
        "W1": [[36.0]], "W2": [[-108.0]], "W2_0": [[-36.0]], "b2": [-18.0], "W3": [[36.0]]}


def test_residual_shortcut_by_hand():
    # 1-1-1-1, x = 1, t = 1, half_sse; layer 1 linear, layer 2 sigmoid with a shortcut 1 -> 2,
    # output linear; b2 = -2 (sign +) puts the sigmoid at v2 = 0, where sigma = 1/2, sigma' = 1/4:
    #   v1 = 2*1 = 2                          y1 = 2
    #   v2 = 1*2 - 2 = 0                      y2 = sigma(0) + y1 = 2.5
    #   v3 = 2*2.5 = 5                        y3 = 5,   E = 0.5 (5 - 1)^2 = 8
    # Backward:
    #   dE/dv3 = 4                            dE/dW3 = 4 * y2 = 10
    #   dE/dy2 = 4 * W3 = 8
    #   dE/dv2 = 8 * sigma'(0) = 2            dE/dW2 = 2 * y1 = 4,  dE/db2 = 2
    #     (sigma' from sigma(v2) = 1/2, not from y2 = 2.5, which would give 2.5 (1 - 2.5) < 0)
    #   dE/dy1 = 2 * W2 + dE/dy2 = 2 + 8 = 10  (the chain, plus the shortcut's identity)
    #   dE/dv1 = 10                           dE/dW1 = 10 * x = 10
    params = {"W1": np.array([[2.0]]), "W2": np.array([[1.0]]), "b2": np.array([-2.0]),
              "W3": np.array([[2.0]])}
    acts = ("linear", "sigmoid", "linear")
    fwd = ref.forward(params, [1.0], (1, 1, 1, 1), acts, residual=[(1, 2)])
    assert [(float(v[0]), float(y[0])) for v, y in fwd] == [(2.0, 2.0), (0.0, 2.5), (5.0, 5.0)]
    assert ref.loss(params, [1.0], [1.0], acts, "half_sse", residual=[(1, 2)]) == 8.0
    grads = ref.gradients(params, [1.0], [1.0], acts, "half_sse", residual=[(1, 2)])
    assert {k: g.tolist() for k, g in grads.items()} == {
        "W1": [[10.0]], "W2": [[4.0]], "b2": [2.0], "W3": [[10.0]]}


def test_skip_between_hidden_layers_into_a_relu_output_by_hand():
    # 1-1-1-1, x = 1, t = 0, sse, relu output, no biases; a skip 1 -> 3:
    #   y1 = tanh(0) = 0 would hide the skip, so layer 1 is linear: v1 = y1 = 1*1 = 1
    #   v2 = 2*1 = 2 (linear)                 y2 = 2
    #   v3 = 3*2 + 4*1 = 10 (W3 y2 + W3_1 y1)  y3 = relu(10) = 10,  E = (10 - 0)^2 = 100
    # Backward:
    #   dE/dv3 = 2*(10 - 0) * H(10) = 20      dE/dW3 = 20 * 2 = 40,  dE/dW3_1 = 20 * 1 = 20
    #   dE/dy2 = 20 * 3 = 60 = dE/dv2         dE/dW2 = 60 * 1 = 60
    #   dE/dy1 = 60 * W2 + 20 * W3_1 = 120 + 80 = 200 = dE/dv1;  dE/dW1 = 200 * 1 = 200
    params = {"W1": np.array([[1.0]]), "W2": np.array([[2.0]]), "W3": np.array([[3.0]]),
              "W3_1": np.array([[4.0]])}
    acts = ("linear", "linear", "relu")
    assert ref.loss(params, [1.0], [0.0], acts, "sse") == 100.0
    grads = ref.gradients(params, [1.0], [0.0], acts, "sse")
    assert {k: g.tolist() for k, g in grads.items()} == {
        "W1": [[200.0]], "W2": [[60.0]], "W3": [[40.0]], "W3_1": [[20.0]]}


# -- the chain is untouched ---------------------------------------------------------------------

def test_zero_skips_and_no_residuals_leave_the_chain_numbers_exactly():
    rng = np.random.default_rng(7)
    chain = random_params(rng, (3, 4, 4, 2), [], bias=True)
    X, T = random_data(rng, (3, 4, 4, 2), "bce", 6)
    acts = ("tanh", "softplus", "sigmoid")
    graph = dict(chain, W2_0=np.zeros((4, 3)), W3_0=np.zeros((2, 3)), W3_1=np.zeros((2, 4)))
    want = ref.gradients(chain, X, T, acts, "bce", -1)
    got = ref.gradients(graph, X, T, acts, "bce", -1, residual=())
    for key in chain:                         # adding exact zeros changes no float
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    assert ref.loss(graph, X, T, acts, "bce", -1) == ref.loss(chain, X, T, acts, "bce", -1)


def test_one_sample_on_a_graph_gives_one_dimensional_outputs():
    rng = np.random.default_rng(3)
    params = random_params(rng, (2, 3, 3, 1), [(0, 2), (0, 3)], bias=True)
    acts = ("sigmoid", "tanh", "linear")
    fwd = ref.forward(params, [0.1, 0.2], (2, 3, 3, 1), acts, residual=[(1, 2)])
    assert [(v.shape, y.shape) for v, y in fwd] == [((3,), (3,)), ((3,), (3,)), ((1,), (1,))]
    one = ref.gradients(params, [0.1, 0.2], [0.5], acts, "half_sse", residual=[(1, 2)])
    batch = ref.gradients(params, [[0.1, 0.2]], [[0.5]], acts, "half_sse", residual=[(1, 2)])
    for key in params:
        np.testing.assert_array_equal(one[key], batch[key])


# -- refused inputs -------------------------------------------------------------------------------

def _net(**extra):
    """A 2-3-3-3-1 chain (W1..W4) plus ``extra`` entries."""
    rng = np.random.default_rng(0)
    return dict(random_params(rng, (2, 3, 3, 3, 1), [], bias=False), **extra)


ACTS = ("tanh", "tanh", "tanh", "linear")


@pytest.mark.parametrize("key,shape", [
    ("W3_2", (3, 3)),      # s = l - 1 is the chain's own W3
    ("W3_3", (3, 3)),      # onto itself
    ("W2_3", (3, 3)),      # backwards
    ("W5_1", (1, 3)),      # into a layer that does not exist
    ("W3_", (3, 3)), ("W3_1_0", (3, 2)), ("Wx", (3, 3)), ("W01", (3, 2)), ("W3_01", (3, 3)),
    ("W0", (2, 2)), ("W3_-1", (3, 3)),
])
def test_bad_skip_keys_are_refused(key, shape):
    params = _net(**{key: np.ones(shape)})
    for call in (lambda: ref.forward(params, np.zeros(2), None, ACTS),
                 lambda: ref.loss(params, np.zeros(2), [0.0], ACTS, "sse"),
                 lambda: ref.gradients(params, np.zeros(2), [0.0], ACTS, "sse")):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize("layers", [None, (2, 3, 3, 3, 1)])
@pytest.mark.parametrize("key,shape", [("W3_0", (3, 3)), ("W3_1", (2, 3)), ("W4_0", (3, 2)), ("W4_1", (1, 2))])
def test_skip_matrices_of_the_wrong_shape_are_refused(key, shape, layers):
    params = _net(**{key: np.ones(shape)})
    with pytest.raises(ValueError):
        ref.forward(params, np.zeros(2), layers, ACTS)


def test_layers_check_the_skip_matrices_too():
    params = _net(W4_0=np.ones((1, 2)))
    ref.forward(params, np.zeros(2), (2, 3, 3, 3, 1), ACTS)          # right shape: accepted
    with pytest.raises(ValueError):
        ref.forward(params, np.zeros(2), (2, 3, 3, 3, 2), ACTS)


@pytest.mark.parametrize("residual", [
    [(3, 4)],              # into the output layer
    [(1, 4)],
    [(0, 2)],              # out of the input
    [(2, 2)],              # onto itself
    [(3, 2)],              # backwards
    [(1, 3), (1, 3)],      # duplicated
    [(1, 5)],              # no such layer
    [(1, 2, 3)], ["1:3"], [(1.5, 3)], [1],
])
def test_bad_residuals_are_refused(residual):
    params = _net()
    for call in (lambda: ref.forward(params, np.zeros(2), None, ACTS, residual=residual),
                 lambda: ref.loss(params, np.zeros(2), [0.0], ACTS, "sse", residual=residual),
                 lambda: ref.gradients(params, np.zeros(2), [0.0], ACTS, "sse", residual=residual)):
        with pytest.raises(ValueError):
            call()


def test_residual_into_an_output_of_the_same_width_is_refused():
    # Equal widths, so only the rule itself refuses it: the output's dE/dv comes straight
    # from the loss (y - t for bce and ce), which an added y(s) would break.
    params = random_params(np.random.default_rng(0), (2, 3, 3), [], bias=False)
    for acts, loss_name in ((("tanh", "linear"), "sse"), (("tanh", "softmax"), "ce")):
        with pytest.raises(ValueError):
            ref.gradients(params, np.zeros(2), [0.2, 0.3, 0.5], acts, loss_name, residual=[(1, 2)])


def test_residual_between_layers_of_different_width_is_refused():
    params = random_params(np.random.default_rng(0), (2, 3, 4, 3, 1), [], bias=False)
    with pytest.raises(ValueError):
        ref.gradients(params, np.zeros(2), [0.0], ACTS, "sse", residual=[(1, 2)])
    ref.gradients(params, np.zeros(2), [0.0], ACTS, "sse", residual=[(1, 3)])   # equal widths: fine
