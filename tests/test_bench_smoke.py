"""The benchmarks' hand-written baseline (benchmarks/bench_train.py) is itself right: its loss and
gradients agree with symbp.reference (hand-written separately, from the textbook equations) and with
central finite differences of its own loss. A fast baseline that computed something else would make
every ratio of `make bench` meaningless. The benchmarks themselves are not tests and do not run here."""
import sys
from pathlib import Path

import numpy as np
import pytest

from symbp import reference

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import bench_train  # noqa: E402

NETS = [
    ([3, 4, 2], "sigmoid,softmax", "ce"),
    ([3, 5, 4, 2], "tanh,tanh,linear", "half_sse"),
    ([2, 3, 1], "sigmoid,linear", "half_sse"),
    ([3, 4, 3], "tanh,sigmoid", "half_sse"),
    ([4, 3, 3], "linear,tanh", "half_sse"),
]


def problem(layers, loss, rng, N=7, normalised=True):
    params = {}
    for l in range(1, len(layers)):
        params[f"W{l}"] = rng.normal(0.0, 0.9, (layers[l], layers[l - 1]))
        params[f"b{l}"] = rng.normal(0.0, 0.5, layers[l])
    X = rng.normal(0.0, 1.5, (N, layers[0]))
    if loss == "ce":
        T = rng.uniform(0.0, 2.0, (N, layers[-1]))       # rows that do not sum to 1
        if normalised:
            T /= T.sum(axis=1, keepdims=True)
    else:
        T = rng.uniform(-1.0, 1.0, (N, layers[-1]))
    return params, X, T


# Only ce's gradient depends on whether the targets sum to 1: its net once more with targets that do not.
@pytest.mark.parametrize("layers,acts,loss,normalised", [(*net, True) for net in NETS] + [(*NETS[0], False)])
def test_baseline_agrees_with_reference(layers, acts, loss, normalised):
    params, X, T = problem(layers, loss, np.random.default_rng(len(layers) * 10 + normalised), normalised=normalised)
    E, grads = bench_train.loss_and_gradients(params, X, T, acts, loss)
    ref = reference.gradients(params, X, T, acts.split(","), loss, +1)
    assert E == pytest.approx(reference.loss(params, X, T, acts.split(","), loss, +1), rel=1e-12)
    assert set(grads) == set(ref)
    for k in ref:
        assert grads[k].shape == ref[k].shape
        np.testing.assert_allclose(grads[k], ref[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("layers,acts,loss", [NETS[0], NETS[1]])
def test_baseline_gradients_are_those_of_its_loss(layers, acts, loss):
    # Central differences of the baseline's own E, every parameter entry; ce with targets that do not sum to 1.
    params, X, T = problem(layers, loss, np.random.default_rng(5), normalised=False)
    _, grads = bench_train.loss_and_gradients(params, X, T, acts, loss)
    h = 1e-6
    for k, p in params.items():
        fd = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + h
            up = bench_train.loss_and_gradients(params, X, T, acts, loss)[0]
            p[i] = old - h
            down = bench_train.loss_and_gradients(params, X, T, acts, loss)[0]
            p[i] = old
            fd[i] = (up - down) / (2 * h)
        np.testing.assert_allclose(grads[k], fd, rtol=1e-6, atol=1e-7, err_msg=k)


def test_blocked_baseline_sums_the_blocks_and_keeps_float32():
    params, X, T = problem([3, 5, 4, 2], "half_sse", np.random.default_rng(9), N=10)
    E, grads = bench_train.loss_and_gradients(params, X, T, "tanh,tanh,linear", "half_sse")
    Eb, gb = bench_train.blocked_loss_and_gradients(params, X, T, "tanh,tanh,linear", "half_sse", block=3)
    assert Eb == pytest.approx(E, rel=1e-13)
    for k in grads:
        np.testing.assert_allclose(gb[k], grads[k], rtol=1e-12, atol=1e-14, err_msg=k)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    E32, g32 = bench_train.loss_and_gradients(p32, X.astype(np.float32), T.astype(np.float32), "tanh,tanh,linear",
                                              "half_sse")
    assert np.asarray(E32).dtype == np.float32 and all(g.dtype == np.float32 for g in g32.values())


def test_baseline_refuses_what_it_does_not_know():
    params, X, T = problem([2, 3, 1], "half_sse", np.random.default_rng(1))
    with pytest.raises(ValueError, match="relu"):
        bench_train.loss_and_gradients(params, X, T, "relu,linear", "half_sse")
    with pytest.raises(ValueError, match="mse"):
        bench_train.loss_and_gradients(params, X, T, "sigmoid,linear", "mse")
