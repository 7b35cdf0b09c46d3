"""Hand-written NumPy backpropagation from the textbook equations: the oracle the derivations are tested against."""
# This module deliberately imports nothing from symbp: it must stay independent of the
# symbolic engine so that agreement between the two means something.
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

import numpy as np

Params = Mapping[str, np.ndarray]
Sign = Union[int, str]

ELEMENTWISE = ("sigmoid", "tanh", "linear", "relu", "softplus")
LOSSES = ("half_sse", "sse", "mse", "bce", "ce")


# -- activations -----------------------------------------------------------------------

def _sigmoid(v: np.ndarray) -> np.ndarray:
    # The tanh form never overflows, unlike 1 / (1 + exp(-v)) for v << 0.
    return 0.5 + 0.5 * np.tanh(0.5 * v)


def _softplus(v: np.ndarray) -> np.ndarray:
    # log(1 + e^v) = max(v, 0) + log1p(e^-|v|); capping |v| at 700 keeps e^-|v| a normal
    # number (no underflow), at an absolute error below 1e-304.
    return np.maximum(v, 0.0) + np.log1p(np.exp(-np.minimum(np.abs(v), 700.0)))


def _softmax(v: np.ndarray) -> np.ndarray:
    # Shift by the row maximum so exp never overflows; clip the shifted values so the
    # smallest terms stay normal numbers (exp(-700) ~ 1e-304) instead of underflowing.
    z = np.maximum(v - v.max(axis=-1, keepdims=True), -700.0)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(v: np.ndarray) -> np.ndarray:
    z = v - v.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(np.maximum(z, -700.0)).sum(axis=-1, keepdims=True))


def activate(name: str, v: np.ndarray) -> np.ndarray:
    """y = phi(v) for the activation called ``name`` (rows of v are samples)."""
    if name == "sigmoid":
        return _sigmoid(v)
    if name == "tanh":
        return np.tanh(v)
    if name == "linear":
        return v.copy()
    if name == "relu":
        return np.maximum(v, 0.0)
    if name == "softplus":
        return _softplus(v)
    if name == "softmax":
        return _softmax(v)
    raise KeyError(f"unknown activation {name!r}")


def activation_derivative(name: str, v: np.ndarray, y: np.ndarray) -> np.ndarray:
    """phi'(v) of an elementwise activation, elementwise (softmax is handled by the loss)."""
    if name == "sigmoid":
        return y * (1.0 - y)
    if name == "tanh":
        return 1.0 - y * y
    if name == "linear":
        return np.ones_like(v)
    if name == "relu":
        return (v > 0).astype(v.dtype)          # H(0) = 0
    if name == "softplus":
        return _sigmoid(v)
    raise KeyError(f"no elementwise derivative for activation {name!r}")


# -- shapes and conventions ----------------------------------------------------------------

def _sign(bias_sign: Sign) -> float:
    if bias_sign in (1, "+", +1.0):
        return 1.0
    if bias_sign in (-1, "-", -1.0):
        return -1.0
    raise ValueError(f"bias_sign must be +1 or -1, not {bias_sign!r}")


def _rows(a) -> np.ndarray:
    """One sample (n,) or a batch (N, n) -> a float (N, n) array."""
    a = np.asarray(a, dtype=float)
    return a[None, :] if a.ndim == 1 else a


def _depth(params: Params) -> int:
    depth = 0
    while f"W{depth + 1}" in params:
        depth += 1
    if depth == 0:
        raise KeyError("params needs W1, W2, ...")
    return depth


def _check(params: Params, layers: Optional[Sequence[int]], activations: Sequence[str]) -> int:
    depth = _depth(params)
    if len(activations) != depth:
        raise ValueError(f"{depth} computing layers but {len(activations)} activations")
    if layers is not None:
        shapes = [np.shape(params[f"W{l}"]) for l in range(1, depth + 1)]
        expected = [(layers[l], layers[l - 1]) for l in range(1, len(layers))]
        if shapes != expected:
            raise ValueError(f"weight shapes {shapes} do not match layers {tuple(layers)}")
    if "softmax" in activations[:-1]:
        raise ValueError("softmax only on the output layer")
    return depth


# -- forward pass ------------------------------------------------------------------------

def _forward_rows(params: Params, X: np.ndarray, activations: Sequence[str], s: float) -> list:
    out, y = [], X
    for l, name in enumerate(activations, start=1):
        v = y @ np.asarray(params[f"W{l}"], dtype=float).T          # v_j = sum_k w_jk y_k
        if f"b{l}" in params:
            v = v + s * np.asarray(params[f"b{l}"], dtype=float)  # (+/-) b_j
        y = activate(name, v)
        out.append((v, y))
    return out


def forward(params: Params, X, layers: Optional[Sequence[int]], activations: Sequence[str],
            bias_sign: Sign = +1) -> list[tuple[np.ndarray, np.ndarray]]:
    """(v, y) of every computing layer 1..L; one sample in gives 1-D arrays back.

    ``layers`` (widths n_0..n_L) is only checked against the weight shapes; None skips it.
    """
    _check(params, layers, activations)
    single = np.ndim(X) == 1
    layers_out = _forward_rows(params, _rows(X), activations, _sign(bias_sign))
    if single:
        return [(v[0], y[0]) for v, y in layers_out]
    return layers_out


# -- losses ------------------------------------------------------------------------------

def _check_loss(loss_name: str, activations: Sequence[str]) -> None:
    if loss_name not in LOSSES:
        raise KeyError(f"unknown loss {loss_name!r}")
    if loss_name == "bce" and activations[-1] != "sigmoid":
        raise ValueError("bce needs a sigmoid output layer")
    if (loss_name == "ce") != (activations[-1] == "softmax"):
        raise ValueError("ce goes with a softmax output layer, and only with it")


def _loss_value(loss_name: str, v: np.ndarray, y: np.ndarray, T: np.ndarray) -> float:
    N = T.shape[0]
    if loss_name == "half_sse":
        return 0.5 * float(np.sum((T - y) ** 2))
    if loss_name == "sse":
        return float(np.sum((T - y) ** 2))
    if loss_name == "mse":
        return float(np.sum((y - T) ** 2)) / N
    if loss_name == "bce":
        # -log sigma(v) = softplus(-v) and -log(1 - sigma(v)) = softplus(v): no log(0).
        return float(np.sum(T * _softplus(-v) + (1.0 - T) * _softplus(v)))
    return float(-np.sum(T * _log_softmax(v)))   # ce


def _output_dE_dv(loss_name: str, act: str, v: np.ndarray, y: np.ndarray, T: np.ndarray) -> np.ndarray:
    """dE/dv of the output layer, one row per sample."""
    N = T.shape[0]
    if loss_name in ("bce", "ce"):
        return y - T          # sigma + bce and softmax + ce (rows of T sum to 1) cancel to y - t
    dE_dy = {"half_sse": y - T, "sse": 2.0 * (y - T), "mse": 2.0 * (y - T) / N}[loss_name]
    return dE_dy * activation_derivative(act, v, y)


def loss(params: Params, X, T, activations: Sequence[str], loss_name: str, bias_sign: Sign = +1) -> float:
    """E, the total over the batch (the mean for mse)."""
    _check(params, None, activations)
    _check_loss(loss_name, activations)
    X, T = _rows(X), _rows(T)
    v, y = _forward_rows(params, X, activations, _sign(bias_sign))[-1]
    return _loss_value(loss_name, v, y, T)


def gradients(params: Params, X, T, activations: Sequence[str], loss_name: str,
              bias_sign: Sign = +1) -> dict[str, np.ndarray]:
    """dE/dW{l} (shape of W{l}) and dE/db{l} for every parameter in ``params``."""
    depth = _check(params, None, activations)
    _check_loss(loss_name, activations)
    s = _sign(bias_sign)
    X, T = _rows(X), _rows(T)
    fwd = _forward_rows(params, X, activations, s)
    v, y = fwd[-1]
    g = _output_dE_dv(loss_name, activations[-1], v, y, T)        # dE/dv_L, (N, n_L)
    grads: dict[str, np.ndarray] = {}
    for l in range(depth, 0, -1):
        y_prev = X if l == 1 else fwd[l - 2][1]
        grads[f"W{l}"] = g.T @ y_prev                               # sum_n dE/dv_j y_k
        if f"b{l}" in params:
            grads[f"b{l}"] = s * g.sum(axis=0)                      # dv_j/db_j = s
        if l > 1:
            v_prev, y_prev_out = fwd[l - 2]
            back = g @ np.asarray(params[f"W{l}"], dtype=float)     # sum_m dE/dv_m w_mj
            g = back * activation_derivative(activations[l - 2], v_prev, y_prev_out)
    return {key: grads[key] for key in sorted(grads, key=_param_order)}


def _param_order(key: str) -> tuple[int, int]:
    return int(key[1:]), 0 if key[0] == "W" else 1
