"""Hand-written NumPy backpropagation from the textbook equations: the oracle the derivations are tested against.

A network is a graph of layers. Layer 0 is the input x; layers 1..L compute

    v(l) = W{l} y(l-1) + sum_s W{l}_{s} y(s) +/- b{l}        (chain, weighted skips, bias)
    y(l) = phi_l(v(l)) + sum over residual shortcuts (s, l) of y(s)

A chain is the graph without skips or residuals, and computes exactly what it always did.
"""
# This module deliberately imports nothing from symbp: it must stay independent of the
# symbolic engine so that agreement between the two means something.
from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Params = Mapping[str, np.ndarray]
Sign = int | str
Pairs = Sequence[Sequence[int]]
# An activation of your own: (phi(v), phi'(v)) as NumPy callables; a loss: (term(y, t), d term/dy (y, t)),
# summed over the output units and the samples.
Activation = str | tuple[Callable, Callable]
Loss = str | tuple[Callable, Callable]

# Rows defined by a formula, known here by name once their NumPy forms are given (define): whoever
# defines one writes them, so the oracle still shares nothing with the symbolic side.
_DEFINED_ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {}
_DEFINED_LOSSES: dict[str, tuple[Callable, Callable]] = {}

ELEMENTWISE = ("sigmoid", "tanh", "linear", "relu", "softplus", "elu", "leaky_relu", "silu", "swish", "gelu",
               "softsign")
LEAKY_SLOPE = 0.01
LOSSES = ("half_sse", "sse", "mse", "bce", "ce")


def define(kind: str, name: str, value: Callable, derivative: Callable) -> None:
    """Know an activation (``kind`` "activation": phi(v), phi'(v)) or a loss ("loss": term(y, t) of one
    output unit, d term/dy) by ``name``, so that name can stand where a (value, derivative) pair can."""
    table = {"activation": _DEFINED_ACTIVATIONS, "loss": _DEFINED_LOSSES}[kind]
    if name in ELEMENTWISE + LOSSES + ("softmax",):
        raise ValueError(f"{name!r} is built in")
    table[name] = (value, derivative)


# -- activations -----------------------------------------------------------------------

def _sigmoid(v: np.ndarray) -> np.ndarray:
    # Two-sided: e = exp(-|v|) <= 1 never overflows (1 / (1 + exp(-v)) does for v << 0), and
    # e / (1 + e) keeps sigma's relative precision for v << 0, where 0.5 + 0.5 tanh(v/2) rounds to 0.
    # Capping |v| at 700 keeps e a normal number (no underflow), at an absolute error below 1e-304.
    e = np.exp(-np.minimum(np.abs(v), 700.0))
    return np.where(v >= 0, 1.0, e) / (1.0 + e)


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


_erf = np.vectorize(math.erf, otypes=[float])


def _leaky_slope(name: str) -> float | None:
    """a of leaky_relu (0.01) or leaky_relu(a); None for any other name."""
    if name == "leaky_relu":
        return LEAKY_SLOPE
    match = re.fullmatch(r"leaky_relu\((.+)\)", name)
    return float(match[1]) if match else None


def _gaussian_cdf(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf(v / math.sqrt(2.0)))


def activate(name: Activation, v: np.ndarray) -> np.ndarray:
    """y = phi(v) for the activation called ``name``, or given as a (phi, phi') pair (rows of v are samples)."""
    name = _DEFINED_ACTIVATIONS.get(name, name)
    if not isinstance(name, str):
        return np.asarray(name[0](v), dtype=float)
    slope = _leaky_slope(name)
    if slope is not None:
        return np.where(v > 0, v, slope * v)
    if name == "elu":
        return np.where(v > 0, v, np.expm1(np.minimum(v, 0.0)))       # e^v - 1 below 0, never overflowing
    if name in ("silu", "swish"):
        return v * _sigmoid(v)
    if name == "gelu":
        return v * _gaussian_cdf(v)                                     # v Phi(v), the exact (erf) form
    if name == "softsign":
        return v / (1.0 + np.abs(v))
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


def activation_derivative(name: Activation, v: np.ndarray, y: np.ndarray) -> np.ndarray:
    """phi'(v) of an elementwise activation, elementwise (softmax is handled by the loss)."""
    name = _DEFINED_ACTIVATIONS.get(name, name)
    if not isinstance(name, str):
        return np.asarray(name[1](v), dtype=float) * np.ones_like(v)
    slope = _leaky_slope(name)
    if slope is not None:
        return np.where(v > 0, 1.0, slope)                              # the left slope at 0, as relu's H(0) = 0
    if name == "elu":
        return np.where(v > 0, 1.0, np.exp(np.minimum(v, 0.0)))
    if name in ("silu", "swish"):
        s = _sigmoid(v)
        return s + v * s * (1.0 - s)                                    # product rule on v sigma(v)
    if name == "gelu":
        return _gaussian_cdf(v) + v * np.exp(-0.5 * v * v) / math.sqrt(2.0 * math.pi)   # Phi(v) + v phi(v)
    if name == "softsign":
        return 1.0 / (1.0 + np.abs(v)) ** 2
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


def _weight(params: Params, key: str) -> np.ndarray:
    return np.asarray(params[key], dtype=float)


def _depth(params: Params) -> int:
    depth = 0
    while f"W{depth + 1}" in params:
        depth += 1
    if depth == 0:
        raise KeyError("params needs W1, W2, ...")
    return depth


# -- the graph: which layers feed which ------------------------------------------------------

@dataclass(frozen=True)
class _Graph:
    """The connections beyond the chain, keyed by the layer they feed (sources ascending)."""
    depth: int
    skips: Mapping[int, tuple[int, ...]]      # l -> every s with a weight matrix W{l}_{s}
    residual: Mapping[int, tuple[int, ...]]   # l -> every s with an identity shortcut s -> l

    def skips_out_of(self, s: int) -> list[int]:
        """The layers l that read y(s) through a skip matrix W{l}_{s}, ascending."""
        return [l for l in range(s + 2, self.depth + 1) if s in self.skips[l]]

    def residuals_out_of(self, s: int) -> list[int]:
        """The layers l that add y(s) to their output through a shortcut, ascending."""
        return [l for l in range(s + 1, self.depth + 1) if s in self.residual[l]]


# W{l} (the chain) or W{l}_{s} (a skip), in canonical decimal: "W01" or "W3_01" would
# otherwise read as layer 1 or source 1 while never being looked up under that name.
_WEIGHT_KEY = re.compile(r"W([1-9][0-9]*)(?:_(0|[1-9][0-9]*))?")


def _skips(params: Params, depth: int) -> dict[int, tuple[int, ...]]:
    """The skip sources of every layer, read off the W{l}_{s} keys of ``params``."""
    found: dict[int, list[int]] = {l: [] for l in range(1, depth + 1)}
    for key in params:
        if not key.startswith("W"):
            continue                      # biases (and anything else) are not weights
        match = _WEIGHT_KEY.fullmatch(key)
        if match is None:
            raise ValueError(f"malformed weight key {key!r}: expected W{{l}} or W{{l}}_{{s}}")
        l = int(match[1])
        if l > depth:
            # A weight past the chain (W5 without W4) would silently drop out of the network.
            raise ValueError(f"weight {key!r} feeds layer {l}, but the chain W1..W{depth} has {depth} layers")
        if match[2] is None:
            continue                      # the chain weight W{l}
        s = int(match[2])
        if s >= l - 1:
            # s = l - 1 is the chain (W{l}), s = l the layer itself, s > l a backward connection.
            raise ValueError(f"skip {key!r}: a skip into layer {l} must come from a layer s < {l - 1}")
        found[l].append(s)
    return {l: tuple(sorted(sources)) for l, sources in found.items()}


def _pair(pair) -> tuple[int, int]:
    try:
        s, l = pair
        return operator.index(s), operator.index(l)
    except (TypeError, ValueError):
        raise ValueError(f"a residual is an (s, l) pair of layer numbers, not {pair!r}") from None


def _residuals(residual: Pairs, depth: int, widths: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """The identity shortcuts into every layer, checked: hidden to hidden, forward, equal widths."""
    into: dict[int, list[int]] = {l: [] for l in range(1, depth + 1)}
    for pair in residual:
        s, l = _pair(pair)
        if s < 1:
            raise ValueError(f"residual {(s, l)}: a shortcut starts at a hidden layer (s >= 1), not the input")
        if l <= s:
            raise ValueError(f"residual {(s, l)}: a shortcut goes forward (s < l)")
        if l >= depth:
            # The output layer's dE/dv comes straight from the loss (y - t for bce and ce),
            # which an added y(s) would invalidate; and l > depth names no layer at all.
            raise ValueError(f"residual {(s, l)}: a shortcut ends at a hidden layer (l < {depth})")
        if s in into[l]:
            raise ValueError(f"residual {(s, l)} given twice")
        if widths[s] != widths[l]:
            raise ValueError(f"residual {(s, l)}: layer {s} has {widths[s]} units, layer {l} has {widths[l]}")
        into[l].append(s)
    return {l: tuple(sorted(sources)) for l, sources in into.items()}


def _widths(params: Params, depth: int) -> list[int]:
    """n_0..n_L as the chain weights imply them (n_0 from W1's columns)."""
    shapes = [np.shape(params[f"W{l}"]) for l in range(1, depth + 1)]
    if any(len(shape) != 2 for shape in shapes):
        raise ValueError(f"weight matrices are 2-D, not of shapes {shapes}")
    return [shapes[0][1]] + [shape[0] for shape in shapes]


def _check_skip_shapes(params: Params, skips: Mapping[int, tuple[int, ...]], widths: Sequence[int]) -> None:
    # Checked even without ``layers``: a wrong row count could broadcast silently
    # ((N, 1) + (N, 3)) instead of failing in the matrix product.
    for l, sources in skips.items():
        for s in sources:
            shape, expected = np.shape(params[f"W{l}_{s}"]), (widths[l], widths[s])
            if shape != expected:
                raise ValueError(f"skip W{l}_{s} has shape {shape}, but layers {l} and {s} need {expected}")


def _check(params: Params, layers: Sequence[int] | None, activations: Sequence[str],
           residual: Pairs = ()) -> _Graph:
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
    skips = _skips(params, depth)
    if not any(skips.values()) and not residual:
        return _Graph(depth, skips, {l: () for l in range(1, depth + 1)})     # a chain
    widths = list(layers) if layers is not None else _widths(params, depth)
    _check_skip_shapes(params, skips, widths)
    return _Graph(depth, skips, _residuals(residual, depth, widths))


# -- forward pass ------------------------------------------------------------------------

def _net_input(params: Params, l: int, ys: Sequence[np.ndarray], graph: _Graph, s: float) -> np.ndarray:
    """v(l) = W{l} y(l-1) + sum_s W{l}_{s} y(s) + s b{l}, one row per sample."""
    v = ys[l - 1] @ _weight(params, f"W{l}").T                    # v_j = sum_k w_jk y_k
    for src in graph.skips[l]:
        v = v + ys[src] @ _weight(params, f"W{l}_{src}").T        # + sum_k w^(l,s)_jk y(s)_k
    if f"b{l}" in params:
        v = v + s * _weight(params, f"b{l}")                      # (+/-) b_j
    return v


def _forward_rows(params: Params, X: np.ndarray, activations: Sequence[str], s: float,
                  graph: _Graph) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(v, phi(v), y) of every computing layer. phi(v) is kept apart from y because the
    derivatives of sigmoid and tanh are written in phi(v), which a residual's y(s) is not part of."""
    ys, out = [X], []                                             # ys[l] = y(l); y(0) = x
    for l, name in enumerate(activations, start=1):
        v = _net_input(params, l, ys, graph, s)
        a = activate(name, v)
        y = a
        for src in graph.residual[l]:
            y = y + ys[src]                                       # identity shortcut s -> l
        ys.append(y)
        out.append((v, a, y))
    return out


def forward(params: Params, X, layers: Sequence[int] | None, activations: Sequence[str],
            bias_sign: Sign = +1, *, residual: Pairs = ()) -> list[tuple[np.ndarray, np.ndarray]]:
    """(v, y) of every computing layer 1..L; one sample in gives 1-D arrays back.

    ``layers`` (widths n_0..n_L) is only checked against the weight shapes, skip matrices
    included; None skips it. ``residual`` lists the identity shortcuts (s, l).
    """
    graph = _check(params, layers, activations, residual)
    single = np.ndim(X) == 1
    layers_out = [(v, y) for v, _, y in _forward_rows(params, _rows(X), activations, _sign(bias_sign), graph)]
    if single:
        return [(v[0], y[0]) for v, y in layers_out]
    return layers_out


# -- losses ------------------------------------------------------------------------------

def _check_loss(loss_name: Loss, activations: Sequence[Activation]) -> None:
    if not isinstance(loss_name, str):
        return                                   # a (term, d term/dy) pair of your own
    if loss_name not in LOSSES:
        raise KeyError(f"unknown loss {loss_name!r}")
    if loss_name == "bce" and activations[-1] != "sigmoid":
        raise ValueError("bce needs a sigmoid output layer")
    if (loss_name == "ce") != (activations[-1] == "softmax"):
        raise ValueError("ce goes with a softmax output layer, and only with it")


def _loss_value(loss_name: str, v: np.ndarray, y: np.ndarray, T: np.ndarray) -> float:
    N = T.shape[0]
    if not isinstance(loss_name, str):
        return float(np.sum(loss_name[0](y, T)))
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
    if not isinstance(loss_name, str):
        return loss_name[1](y, T) * activation_derivative(act, v, y)
    if loss_name == "bce":
        return y - T          # sigma + bce cancels to y - t for any targets
    if loss_name == "ce":
        # E = -sum_m t_m log y_m with d log y_m / dv_j = [m == j] - y_j, so dE/dv_j = y_j sum_m t_m - t_j:
        # y - t only where a row of T sums to 1.
        return y * T.sum(axis=1, keepdims=True) - T
    dE_dy = {"half_sse": y - T, "sse": 2.0 * (y - T), "mse": 2.0 * (y - T) / N}[loss_name]
    return dE_dy * activation_derivative(act, v, y)


def loss(params: Params, X, T, activations: Sequence[str], loss_name: str, bias_sign: Sign = +1,
         *, residual: Pairs = ()) -> float:
    """E, the total over the batch (the mean for mse)."""
    graph = _check(params, None, activations, residual)
    loss_name = _DEFINED_LOSSES.get(loss_name, loss_name)
    _check_loss(loss_name, activations)
    X, T = _rows(X), _rows(T)
    v, _, y = _forward_rows(params, X, activations, _sign(bias_sign), graph)[-1]
    return _loss_value(loss_name, v, y, T)


# -- backward pass -----------------------------------------------------------------------

def _hidden_dE_dy(params: Params, l: int, graph: _Graph, dv: Mapping[int, np.ndarray],
                  dy: Mapping[int, np.ndarray]) -> np.ndarray:
    """dE/dy(l), summed over every consumer of y(l); all of them are later layers, whose
    dE/dv and dE/dy the reverse walk has already finished."""
    g = dv[l + 1] @ _weight(params, f"W{l + 1}")                  # chain: sum_m dE/dv_m w_mj
    for m in graph.skips_out_of(l):
        g = g + dv[m] @ _weight(params, f"W{m}_{l}")              # skip l -> m: sum_i dE/dv(m)_i w^(m,l)_ij
    for m in graph.residuals_out_of(l):
        g = g + dy[m]                                             # shortcut l -> m: dy(m)/dy(l) = I
    return g


def _param_gradients(params: Params, graph: _Graph, dv: Mapping[int, np.ndarray],
                     ys: Sequence[np.ndarray], s: float) -> dict[str, np.ndarray]:
    """dE/dW = dE/dv^T y(source), dE/db = s sum dE/dv; per layer: W{l}, W{l}_{s} ascending, b{l}."""
    grads: dict[str, np.ndarray] = {}
    for l in range(1, graph.depth + 1):
        grads[f"W{l}"] = dv[l].T @ ys[l - 1]                      # sum_n dE/dv_j y_k
        for src in graph.skips[l]:
            grads[f"W{l}_{src}"] = dv[l].T @ ys[src]
        if f"b{l}" in params:
            grads[f"b{l}"] = s * dv[l].sum(axis=0)                # dv_j/db_j = s
    return grads


def gradients(params: Params, X, T, activations: Sequence[str], loss_name: str,
              bias_sign: Sign = +1, *, residual: Pairs = ()) -> dict[str, np.ndarray]:
    """dE/dp (shape of p) for every weight W{l}, skip W{l}_{s} and bias b{l} in ``params``."""
    graph = _check(params, None, activations, residual)
    loss_name = _DEFINED_LOSSES.get(loss_name, loss_name)
    _check_loss(loss_name, activations)
    s = _sign(bias_sign)
    X, T = _rows(X), _rows(T)
    fwd = _forward_rows(params, X, activations, s, graph)
    ys = [X] + [y for _, _, y in fwd]
    L = graph.depth
    v, _, y = fwd[-1]
    dv = {L: _output_dE_dv(loss_name, activations[-1], v, y, T)}  # dE/dv_L, (N, n_L)
    dy: dict[int, np.ndarray] = {}
    for l in range(L - 1, 0, -1):
        dy[l] = _hidden_dE_dy(params, l, graph, dv, dy)
        v, a, _ = fwd[l - 1]
        dv[l] = dy[l] * activation_derivative(activations[l - 1], v, a)
    return _param_gradients(params, graph, dv, ys, s)


# -- learning rules: weight decay, the mean over the batch, momentum ------------------------

def _decayed(key: str, decay_biases: bool) -> bool:
    return key.startswith("W") or decay_biases


def _mean_factor(loss_name: str, reduction: str, N: int) -> float:
    # mse divides by N already; "mean" never divides a second time
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', not {reduction!r}")
    return 1.0 / N if reduction == "mean" and loss_name != "mse" else 1.0


def regularised_loss(params: Params, X, T, activations: Sequence[str], loss_name: str, bias_sign: Sign = +1,
                     *, residual: Pairs = (), weight_decay: float = 0.0, decay_biases: bool = False,
                     reduction: str = "sum") -> float:
    """E (times 1/N under reduction "mean") + weight_decay/2 * the sum of squares of every W (and b)."""
    N = _rows(X).shape[0]
    E = _mean_factor(loss_name, reduction, N) * loss(params, X, T, activations, loss_name, bias_sign,
                                                     residual=residual)
    penalty = sum(float(np.sum(np.asarray(p, dtype=float) ** 2)) for k, p in params.items()
                  if _decayed(k, decay_biases))
    return E + 0.5 * weight_decay * penalty


def regularised_gradients(params: Params, X, T, activations: Sequence[str], loss_name: str,
                          bias_sign: Sign = +1, *, residual: Pairs = (), weight_decay: float = 0.0,
                          decay_biases: bool = False, reduction: str = "sum") -> dict[str, np.ndarray]:
    """The gradients of regularised_loss: the data gradients (scaled) plus weight_decay * p."""
    N = _rows(X).shape[0]
    c = _mean_factor(loss_name, reduction, N)
    grads = gradients(params, X, T, activations, loss_name, bias_sign, residual=residual)
    return {k: c * g + (weight_decay * np.asarray(params[k], dtype=float) if _decayed(k, decay_biases) else 0.0)
            for k, g in grads.items()}


def momentum_step(params: Params, state: Params | None, X, T, eta: float, activations: Sequence[str],
                  loss_name: str, bias_sign: Sign = +1, *, residual: Pairs = (), momentum: float = 0.0,
                  weight_decay: float = 0.0, decay_biases: bool = False,
                  reduction: str = "sum") -> tuple[dict, dict]:
    """Haykin's generalized delta rule: Delta p(n) = momentum Delta p(n-1) - eta dE/dp(n), p(n+1) = p(n) + Delta p(n).

    ``state`` holds Delta p(n-1) (None on the first step, as Delta p(0) = 0); returns (new params, Delta p(n)).
    """
    g = regularised_gradients(params, X, T, activations, loss_name, bias_sign, residual=residual,
                              weight_decay=weight_decay, decay_biases=decay_biases, reduction=reduction)
    step = {k: -eta * g[k] + (momentum * np.asarray(state[k], dtype=float) if state is not None else 0.0)
            for k in g}
    return {k: np.asarray(params[k], dtype=float) + step[k] for k in g}, step
