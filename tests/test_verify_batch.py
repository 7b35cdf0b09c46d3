"""verify --batch N: a layer's answer over a batch, every per-sample vector a matrix of one column per sample.

The batch's loss is the sum of its samples' losses, so dE/db2 is the deltas summed over the samples
(delta2.sum(axis=1)), dE/dW2 = delta2 @ y1.T; a bias answer that keeps one column per sample is
``bias_not_summed``. The expected values are checked against symbp/reference.py (NumPy backprop, no
symbolic code) on the batch verify draws; the verdicts by answers worked out by hand.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from symbp import reference
from symbp.derive import derive
from symbp.network import Network
from symbp.spec import Training, spec_from_layer_string
from symbp.verify import MISTAKES, VerifyError, verify
from symbp.verify import batch as vb
from symbp.verify.latex import parse_latex_for
from symbp.verify.symbols import batch_points, sample_copies
from symbp.verify.target import target

SIZE = 3


@pytest.fixture(scope="module")
def haykin():
    """2-3-2 sigmoid, half_sse, delta = -dE/dv: dE/db2 = -sum_n delta2(n)."""
    return derive(Network.from_string("2-3-2", activation="sigmoid", loss="half_sse"))


@pytest.fixture(scope="module")
def nielsen():
    """delta = +dE/dv, outputs a: dE/db2 = sum_n delta2(n)."""
    return derive(Network.from_string("2-3-2", activation="sigmoid", loss="half_sse", notation="nielsen"))


def test_the_batch_rules_are_the_reference_backprops(haykin):
    """dE/dW2, dE/db2, dE/db1 over a batch of 3: the symbolic expectation at a drawn batch = reference.gradients."""
    net = haykin.net
    point = batch_points(net, SIZE, 1, seed=5)[0]
    values = point.values
    copies = sample_copies(net, SIZE)
    X = np.array([[float(values[c[x]]) for x in net.x] for c in copies])
    T = np.array([[float(values[c[t]]) for t in net.t] for c in copies])
    params = {f"W{l}": np.array([[float(values[w]) for w in row] for row in net.W[l]]) for l in (1, 2)}
    params.update({f"b{l}": np.array([float(values[b]) for b in net.b[l]]) for l in (1, 2)})
    grads = reference.gradients(params, X, T, ["sigmoid", "sigmoid"], "half_sse", +1)
    for name, ref in [("W2", grads["W2"]), ("b2", grads["b2"].reshape(-1, 1)), ("b1", grads["b1"].reshape(-1, 1)),
                      ("W1", grads["W1"])]:
        want = vb.expected(haykin, target(net, name, "gradient"), SIZE).xreplace(values)
        np.testing.assert_allclose(np.array(want, dtype=float), ref, rtol=1e-12, atol=1e-15)
    assert np.abs(grads["b2"]).min() > 1e-4          # not a vacuous comparison


@pytest.mark.parametrize("expr", ["-delta2.sum(axis=1)", "-np.sum(delta2, axis=1)", "-sum(delta2, 1)",
                                  "sum(-delta2, axis=1)", "-numpy.sum(delta2, axis = 1)"])
def test_right_batch_bias_answers_pass(haykin, expr):
    r = verify(haykin, "b2", expr, batch=SIZE)
    assert r.equivalent is True and r.mistake is None and r.score == 1.0, r.message


def test_right_batch_answers_for_every_kind(haykin, nielsen):
    assert verify(nielsen, "b2", "delta2.sum(axis=1)", batch=SIZE).equivalent is True
    assert verify(haykin, "b2", "eta*delta2.sum(axis=1)", "update", batch=SIZE).equivalent is True
    assert verify(haykin, "b2", "b2 + eta*delta2.sum(axis=1)", "new", batch=SIZE).equivalent is True
    assert verify(haykin, "W2", "-delta2 @ y1.T", batch=SIZE).equivalent is True      # the product sums
    hidden = "-((W2.T @ delta2) * y1 * (1 - y1)).sum(axis=1)"
    assert verify(haykin, "b1", hidden, batch=SIZE).equivalent is True
    r = verify(haykin, "delta1", "(W2.T @ delta2) * y1 * (1 - y1)", batch=SIZE)        # (3, N)
    assert r.equivalent is True and r.expected.shape == (3, SIZE)


def test_the_batch_delta_alone_is_bias_not_summed(haykin, nielsen):
    assert "bias_not_summed" in MISTAKES
    r = verify(nielsen, "b2", "delta2", batch=SIZE)
    assert r.equivalent is False and r.mistake == "bias_not_summed" and r.score == 0
    assert "(2, 3), one column per sample" in r.message and "(2, 1)" in r.message
    assert "sign is wrong" not in r.message
    r = verify(haykin, "b2", "eta*delta2", "update", batch=SIZE)               # Delta b2 = eta sum_n delta2(n)
    assert r.mistake == "bias_not_summed" and "sign is wrong" not in r.message
    r = verify(haykin, "b2", "delta2", batch=SIZE)                              # dE/db2 = -sum_n delta2(n)
    assert r.mistake == "bias_not_summed" and "sign is wrong as well" in r.message
    assert r.to_dict()["mistake"] == "bias_not_summed"


def test_the_wrong_axis_never_passes(haykin, nielsen):
    r = verify(nielsen, "b2", "delta2.sum(axis=0)", batch=SIZE)       # summed over the units: (1, N)
    assert r.equivalent is False and r.mistake == "other" and "wrong axis" in r.message
    square = derive(Network.from_string("2-3-3", activation="sigmoid", loss="half_sse", notation="nielsen"))
    r = verify(square, "b2", "delta2.sum(axis=0).T", batch=SIZE)      # (3, 1) as it should be, but the units' sums
    assert r.equivalent is False and r.mistake is not None
    r = verify(square, "b2", "delta2.sum(axis=0)", batch=SIZE)        # (1, 3): a transpose would not rescue it
    assert r.equivalent is False and r.mistake == "other"


def test_matrix_mistakes_over_a_batch(haykin):
    r = verify(haykin, "b2", "delta2.sum(axis=1)", batch=SIZE)
    assert r.mistake == "sign" and "d1(1) = " in r.message and "entry (1, 1)" in r.message
    r = verify(haykin, "W2", "-y1 @ delta2.T", batch=SIZE)             # (3, 2): the transpose of dE/dW2
    assert r.mistake == "missing_transpose"
    r = verify(haykin, "W2", "-delta2 @ y1", batch=SIZE)               # N = n_1 = 3: it multiplies, wrongly
    assert r.equivalent is False and r.mistake == "other" and r.counterexample["candidate_value"] is not None


def test_latex_batch_answers(haykin, nielsen):
    assert verify(haykin, "b2", r"-\sum_{n} \boldsymbol{\delta}^{(2)}(n)", latex=True, batch=SIZE).equivalent
    assert verify(nielsen, "b2", r"\boldsymbol{\delta}^{(2)} \mathbf{1}", latex=True, batch=SIZE).equivalent
    assert verify(nielsen, "b2", r"\boldsymbol{\delta}^{(2)}", latex=True, batch=SIZE).mistake == "bias_not_summed"
    # without a batch, \mathbf{1} is still the ones that stretch: 1 - y
    one = parse_latex_for(haykin.net, r"\mathbf{1} - \boldsymbol{y}^{(1)}")
    assert one.shape == (3, 1)
    with pytest.raises(Exception, match=r"--batch N"):
        parse_latex_for(haykin.net, r"\sum_{n} \boldsymbol{\delta}^{(2)}(n)")


def test_batch_refusals(haykin):
    with pytest.raises(VerifyError, match="param: --batch checks a layer's answer"):
        verify(haykin, "b2_1", "delta2_1", batch=SIZE)
    for size in (1, 17, True, 2.5):
        with pytest.raises(VerifyError, match="batch: expected a number of samples from 2 to 16"):
            verify(haykin, "b2", "delta2", batch=size)
    with pytest.raises(VerifyError, match="batch: --batch checks one formula"):
        verify(haykin, "b2", "b2 = b2 = b2", batch=SIZE)
    decay = Network(spec_from_layer_string("2-2-1", activation="sigmoid", training=Training(weight_decay=0.1)))
    with pytest.raises(VerifyError, match="weight decay"):
        verify(decay, "b2", "delta2", batch=SIZE)


def test_cli_batch():
    base = [sys.executable, "-m", "symbp", "verify", "2-3-2", "--activation", "sigmoid", "--param", "b2"]
    out = subprocess.run(base + ["--expr", "delta2", "--batch", "3", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert data["mistake"] == "bias_not_summed" and data["expected"] == "(-delta2).sum(axis=1)"
    ok = subprocess.run(base + ["--expr", data["expected"], "--batch", "3"], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run(base + ["--expr", "delta2", "--batch", "0"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "batch: expected a number of samples" in bad.stderr
    assert "Traceback" not in bad.stderr
