"""A worked example: one forward pass, the loss, every gradient and one gradient-descent step, in numbers."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .compile import CompiledNetwork, compile_network
from .derive import Derivation
from .errors import SpecError
from .losses import get_loss
from .network import Network
from .spec import MAX_VALUE, Example

DEFAULT_LEARNING_RATE = 0.5


# -- deterministic defaults (no randomness: the same network always gets the same numbers) ----

def default_weight(layer: int, j: int, k: int, fan_in: int = 1) -> float:
    """w{l}_{j}_{k} when the spec gives none: 0.1 .. 0.7 with alternating signs, so units differ.

    Above 4 inputs a unit's weights shrink by 2/sqrt(fan_in), so a 784-input unit's net
    input stays of order 1 instead of saturating its activation.
    """
    magnitude = 0.1 * (1 + (3 * layer + 2 * j + k) % 7) * min(1.0, 2.0 / fan_in ** 0.5)
    return round(magnitude if (j + k) % 2 == 0 else -magnitude, 4)


def default_bias(layer: int, j: int) -> float:
    return round(0.1 * (1 + (layer + j) % 3), 2)


def default_inputs(n: int) -> list[float]:
    """0.1, 0.2, ..., 1.0, 0.1, ...: wide inputs (784 pixels) stay in [0, 1] and do not saturate the units."""
    return [round(0.1 * (1 + (k - 1) % 10), 2) for k in range(1, n + 1)]


# by the kind of targets the loss row says it takes (symbp.losses.Loss.targets)
DEFAULT_TARGETS = {
    "distribution": lambda n: [1.0] + [0.0] * (n - 1),                  # class 1, one-hot
    "probability": lambda n: [float(j % 2) for j in range(1, n + 1)],   # 1, 0, 1, ...
    "any": lambda n: [round(0.1 * j, 2) for j in range(1, n + 1)],      # 0.1, 0.2, ...
}


def default_targets(n: int, loss: str) -> list[float]:
    """n targets of the kind ``loss`` is defined for."""
    return DEFAULT_TARGETS[get_loss(loss).targets](n)


TRAINING_SAMPLES = 8      # above 3 inputs the made-up task takes this many of the 2^n patterns


def training_data(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """A task for the notes' training run when the spec gives no samples: parity, XOR's generalisation.

    The inputs are patterns of 0s and 1s (all 2^n of them up to 3 inputs, in binary order; above that
    TRAINING_SAMPLES of them, the 3-bit patterns repeated with every other group of three flipped).
    One output learns the parity of the number of 1s (XOR for two inputs); n_out > 1 outputs learn
    that number modulo n_out, one-hot, which is a distribution, a probability and a number at once,
    so it suits every loss. No randomness: the same network always trains on the same samples.
    """
    rows = 2 ** n_in if n_in <= 3 else TRAINING_SAMPLES
    bits = min(n_in, 3)
    X = np.array([[((i >> (bits - 1 - k % 3)) & 1) ^ ((k // 3) % 2) for k in range(n_in)] for i in range(rows)],
                 dtype=float)
    ones = X.sum(axis=1).astype(int)
    if n_out == 1:
        return X, (ones % 2).astype(float)[:, None]
    return X, np.eye(n_out)[ones % n_out]


# -- assembling the numbers ---------------------------------------------------------------------

def example_params(net: Network, example: Example | None = None) -> dict[str, np.ndarray]:
    """W{l}, W{l}_{s}, b{l} (in the network's parameter order) from the example where it gives them,
    else from the default formulas."""
    given = example is not None and example.weights is not None
    weights = dict(zip(net.graph.weighted, example.weights)) if given else {}   # listed in graph.weighted order
    params = {}
    for l in net.graph.order:
        inputs, first = net.graph.inputs(l), 0
        fan_in = sum(net.layers[c.src] for c in inputs)
        for c in inputs:      # a unit's inputs as one vector: the chain's, then each skip's, numbered on
            params[c.key] = (np.array(weights[c], dtype=float) if given else
                             np.array([[default_weight(l, j, first + k, fan_in) for k in net.units(c.src)]
                                       for j in net.units(l)]))
            first += net.layers[c.src]
        if net.bias:
            if example is not None and example.biases is not None:
                params[f"b{l}"] = np.array(example.biases[l - 1], dtype=float)
            else:
                params[f"b{l}"] = np.array([default_bias(l, j) for j in net.units(l)])
    return params


def example_data(net: Network, example: Example | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(X, T, eta): rows are samples."""
    if example is not None:
        return (np.array(example.inputs, dtype=float), np.array(example.targets, dtype=float),
                float(example.learning_rate))
    X = np.array([default_inputs(net.layers[0])])
    T = np.array([default_targets(net.layers[-1], net.loss.name)])
    return X, T, DEFAULT_LEARNING_RATE


def _number(values: np.ndarray) -> Any:
    """One sample: a float; a batch: a list of floats, one per sample."""
    values = np.asarray(values, dtype=float).reshape(-1)
    return float(values[0]) if values.size == 1 else [float(x) for x in values]


def flat_params(net: Network, params: dict[str, np.ndarray]) -> dict[str, float]:
    """{w2_1_3: value, b1_2: value, ...} in the network's parameter order."""
    return {name: float(np.asarray(params[p.key])[p.index]) for name, p in net.positions.items()}


def _compiled(net_or_spec) -> CompiledNetwork:
    if isinstance(net_or_spec, CompiledNetwork):
        return net_or_spec
    if isinstance(net_or_spec, Derivation):
        return compile_network(net_or_spec)
    return compile_network(Network.load(net_or_spec))


KINK_MARGIN = 0.05      # a default net input closer to 0 than this moves off it (relu's kink)


def _off_kinks(compiled: CompiledNetwork, params: dict[str, np.ndarray], X, T) -> dict[str, np.ndarray]:
    """The default numbers with no net input within KINK_MARGIN of 0, layer by layer: there relu's
    derivative jumps, and a value like -2.8e-17 makes gradients zero by rounding. A unit that sits
    there gets 0.1 more bias (or, without biases, on its first weight)."""
    net, params = compiled.net, {k: np.array(v, dtype=float) for k, v in params.items()}
    for _ in range(5 * net.depth):       # one forward pass per try: the first layer with a unit on 0 moves
        with np.errstate(over="ignore", invalid="ignore"):
            units = compiled.unit_values(params, X, T)
        near = []
        for l in net.graph.order:
            near = [(l, j) for j, v in enumerate(net.v[l]) if np.any(np.abs(np.asarray(units[v])) < KINK_MARGIN)]
            if near:
                break
        if not near:
            break
        for l, j in near:
            if net.bias:
                params[f"b{l}"][j] = round(params[f"b{l}"][j] + 0.1, 4)
            else:
                params[f"W{l}"][j, 0] = round(params[f"W{l}"][j, 0] + 0.1, 4)
    return params


def worked_example(net_or_spec) -> dict[str, Any]:
    """Numbers for the network's example (or the defaults), computed from its derived equations.

    Keys: ``forward`` (net input and output of every unit, by canonical name in the
    profile's letters), ``deltas`` and ``errors`` (per unit), ``loss``, ``gradients``
    (dE/dp by canonical parameter name, summed over the samples), ``params`` (the values
    used), ``updated`` (p - eta dE/dp), ``learning_rate``, ``inputs`` and ``targets``. Under
    momentum also ``momentum`` and ``steps``: two steps of the learning rule, each with its
    ``params``, ``loss``, ``gradients``, ``change`` (Delta p(n)) and ``updated`` (p(n+1)).
    """
    compiled = _compiled(net_or_spec)
    net = compiled.net
    example = net.spec.example
    params = example_params(net, example)
    X, T, eta = example_data(net, example)
    if example is None:
        params = _off_kinks(compiled, params, X, T)
    with np.errstate(over="ignore", invalid="ignore"):
        units = compiled.unit_values(params, X, T)
        loss, grads = compiled.loss(params, X, T), flat_params(net, compiled.gradients(params, X, T))
    if not (math.isfinite(loss) and all(math.isfinite(g) for g in grads.values())):
        raise SpecError("example", f"numbers for which the loss and its gradients are finite (|x| <= {MAX_VALUE:g} "
                        "each can still overflow through many layers)", f"loss {loss}")
    forward = {}
    for l in range(1, net.depth + 1):
        forward.update({s.name: _number(units[s]) for s in net.v[l]})
        forward.update({s.name: _number(units[s]) for s in net.y[l]})
    before = flat_params(net, params)
    return {
        "forward": forward,
        "errors": {e.name: _number(units[e]) for e in net.e},
        "deltas": {d.name: _number(units[d]) for l in range(1, net.depth + 1) for d in net.delta[l]},
        "loss": loss,
        "gradients": grads,
        "params": before,
        "updated": {name: before[name] - eta * grads[name] for name in before},
        "learning_rate": eta,
        "inputs": X.tolist(),
        "targets": T.tolist(),
        **_learning_rule_steps(compiled, params, X, T, eta),
    }


def _learning_rule_steps(compiled: CompiledNetwork, params: dict, X, T, eta: float) -> dict[str, Any]:
    """Under momentum, two steps of the module's step(): Delta p(1) = -eta dE/dp(1) (Delta p(0) = 0), then
    Delta p(2) = alpha Delta p(1) - eta dE/dp(2) at the parameters after step 1 (``steps``, one dict each)."""
    net = compiled.net
    if not net.training.momentum:
        return {}
    steps, state, now = [], None, params
    for n in (1, 2):
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grads = compiled.loss_and_gradients(now, X, T)
            after, state = compiled.step(now, state, X, T, eta)
        steps.append({"step": n, "params": flat_params(net, now), "loss": loss, "gradients": flat_params(net, grads),
                      "change": flat_params(net, state), "updated": flat_params(net, after)})
        now = after
    return {"momentum": net.training.momentum, "steps": steps}
