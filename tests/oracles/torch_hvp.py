"""hessian_vector of symbp's compiled networks against torch.autograd.functional.hvp, float64.

An oracle, not a dependency: run it by hand with the scratch venv that has torch,

    /tmp/torchvenv/bin/python tests/oracles/torch_hvp.py

It imports symbp from this checkout (sys.path), and writes the loss of every network again in torch
by hand (torch's own activations and losses, not symbp's code), so the two sides share nothing but
the numbers. It prints one row per network and exits 1 if any H V differs by more than 1e-8
(relative to the largest entry of torch's H V, or absolute below 1).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from symbp import compile_network, derive  # noqa: E402
from symbp.export import param_shapes  # noqa: E402

TOLERANCE = 1e-8

# (layers, flags): every activation and loss the issue names, chains and graphs, both bias signs
CASES = [
    ("4-6-3", dict(activation="sigmoid,softmax", loss="ce")),
    ("3-5-2", dict(activation="tanh,linear", loss="half_sse")),
    ("3-5-2", dict(activation="relu,sigmoid", loss="bce")),
    ("3-5-4-2", dict(activation="softplus,tanh,linear", loss="mse", bias_sign="-")),
    ("2-4-2", dict(activation="tanh,tanh", loss="sse", notation="nielsen")),
    ("3-4-4-4-3", dict(activation="tanh,sigmoid,softplus,softmax", loss="ce", skip="0:2,1:4", residual="1:3")),
    ("3-4-4-2", dict(activation="relu,tanh,sigmoid", loss="bce", skip="0:3", residual="1:2", bias=False)),
    ("8-16-16-4", dict(activation="tanh,relu,softmax", loss="ce")),
]

ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "linear": lambda v: v, "relu": torch.relu,
               "softplus": torch.nn.functional.softplus}


def torch_loss(net, keys, X, T):
    """E(params) in torch, from the network's description alone (layers, connections, activations, loss)."""
    sign = float(net.bias_sign)
    acts = [a.name for a in net.activations]
    inputs = {l: [(c.key, c.src) for c in net.graph.inputs(l)] for l in net.graph.order}
    shortcuts = {l: [c.src for c in net.graph.shortcuts(l)] for l in net.graph.order}

    def E(*values):
        p = dict(zip(keys, values))
        ys = {0: X}
        for l in net.graph.order:
            v = sum(ys[src] @ p[key].T for key, src in inputs[l])
            if f"b{l}" in p:
                v = v + sign * p[f"b{l}"]
            if acts[l - 1] == "softmax":
                ys[l] = torch.softmax(v, dim=1)
                log_y = torch.log_softmax(v, dim=1)
            else:
                ys[l] = ACTIVATIONS[acts[l - 1]](v) + sum((ys[s] for s in shortcuts[l]), torch.zeros_like(v))
        y, name = ys[net.depth], net.loss.name
        if name == "ce":
            return -(T * log_y).sum()
        if name == "bce":      # on the net input: torch's binary_cross_entropy clamps its slope near 0 and 1
            return torch.nn.functional.binary_cross_entropy_with_logits(v, T, reduction="sum")
        sq = ((T - y) ** 2).sum()
        return {"half_sse": sq / 2, "sse": sq, "mse": sq / X.shape[0]}[name]
    return E


def compare(layers: str, flags: dict, seed: int) -> tuple[str, float]:
    compiled = compile_network(derive(layers, check=False, **flags))   # the rules are what is compared
    net = compiled.net
    rng = np.random.default_rng(seed)
    shapes = param_shapes(net)
    params = {k: rng.normal(0.0, 0.6, s) for k, s in shapes.items()}
    V = {k: rng.normal(0.0, 1.0, s) for k, s in shapes.items()}
    X = rng.normal(0.0, 1.0, (7, net.layers[0]))
    T = rng.uniform(0.05, 0.95, (7, net.layers[-1]))       # ce: rows that do not sum to 1, on purpose
    ours = compiled.hessian_vector(params, X, T, V)
    keys = list(shapes)
    as_t = lambda a: torch.tensor(a, dtype=torch.float64)
    _, theirs = torch.autograd.functional.hvp(torch_loss(net, keys, as_t(X), as_t(T)),
                                              tuple(as_t(params[k]) for k in keys), tuple(as_t(V[k]) for k in keys))
    scale = max(1.0, max(float(t.abs().max()) for t in theirs))
    err = max(float(np.abs(ours[k] - t.numpy()).max()) for k, t in zip(keys, theirs)) / scale
    name = f"{layers} {flags['activation']} {flags['loss']}" + "".join(
        f" {f}={flags[f]}" for f in ("skip", "residual") if f in flags)
    return name, err


def main() -> int:
    torch.set_default_dtype(torch.float64)
    rows = [compare(layers, flags, seed) for seed, (layers, flags) in enumerate(CASES)]
    width = max(len(name) for name, _ in rows)
    print(f"{'network':<{width}}  max |H V - torch hvp| / max(1, |torch hvp|)")
    for name, err in rows:
        print(f"{name:<{width}}  {err:.2e}  {'ok' if err <= TOLERANCE else 'FAIL'}")
    return 0 if all(err <= TOLERANCE for _, err in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
