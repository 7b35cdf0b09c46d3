"""symbp.reference.gradients and the exported NumPy module on random graphs of layers vs PyTorch autograd, in float64.

    python benchmarks/torch_graph_oracle.py [--networks 20] [--seed 0] [--no-export]

torch is no dependency of the project: run this with an interpreter that has numpy and torch
(e.g. a scratch venv with `pip install numpy torch`); the exported column also needs symbp's own
dependencies there (sympy, jinja2, lark, mpmath). The network equations are written here once
more, in torch, from the definition -- nothing of symbp but the function under test is used:

    v(l) = W{l} y(l-1) + sum_s W{l}_{s} y(s) + sign * b{l}
    y(l) = phi_l(v(l)) + sum over residual shortcuts (s, l) of y(s),     y(0) = x

The comparison is `compare(net, grads_fn)`: ``net`` describes a network (see random_network)
and ``grads_fn(params, X, T) -> {name: array}`` is any implementation of its gradients. The
reference is plugged in by reference_grads_fn(net); the module `symbp export` writes for the
same network by exported_grads_fn(net, directory): written to a temporary directory, imported
from there as a file, and called as an engineer would call it.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))      # the repo root
from symbp import reference  # noqa: E402

GradsFn = Callable[[Mapping[str, np.ndarray], np.ndarray, np.ndarray], Mapping[str, np.ndarray]]

HIDDEN = ("sigmoid", "tanh", "linear", "relu", "softplus")
LOSSES = ("half_sse", "sse", "mse", "bce", "ce")
OUTPUT_FOR = {"bce": "sigmoid", "ce": "softmax"}


# -- random networks ----------------------------------------------------------------------------

def random_network(rng: np.random.Generator) -> dict:
    """A net description: layers (n_0..n_L), activations, loss, skip and residual (s, l) pairs,
    bias (bool), bias_sign (+1/-1), batch, and a seed for its parameters and data."""
    depth = int(rng.integers(2, 6))                              # 2..5 computing layers
    layers = [int(rng.integers(1, 5)) for _ in range(depth + 1)]
    if depth >= 3 and rng.random() < 0.7:                        # make residuals possible
        width = layers[1]
        layers[1:depth] = [width if rng.random() < 0.7 else n for n in layers[1:depth]]
    skip = [(s, l) for l in range(2, depth + 1) for s in range(0, l - 1) if rng.random() < 0.4]
    residual = [(s, l) for l in range(2, depth) for s in range(1, l)
                if layers[s] == layers[l] and rng.random() < 0.5]
    loss = str(rng.choice(LOSSES))
    out = OUTPUT_FOR.get(loss) or str(rng.choice(HIDDEN))
    activations = [str(rng.choice(HIDDEN)) for _ in range(depth - 1)] + [out]
    return {"layers": layers, "activations": activations, "loss": loss, "skip": skip,
            "residual": residual, "bias": bool(rng.random() < 0.7), "bias_sign": int(rng.choice([1, -1])),
            "batch": int(rng.integers(1, 9)), "seed": int(rng.integers(0, 2**31))}


def random_problem(net: dict) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """float64 params (W{l}, W{l}_{s}, b{l}) and a batch (X, T) that suits the loss."""
    rng = np.random.default_rng(net["seed"])
    n = net["layers"]
    params = {}
    for l in range(1, len(n)):
        params[f"W{l}"] = rng.normal(0.0, 0.8, (n[l], n[l - 1]))
        for s, into in net["skip"]:
            if into == l:
                params[f"W{l}_{s}"] = rng.normal(0.0, 0.8, (n[l], n[s]))
        if net["bias"]:
            params[f"b{l}"] = rng.normal(0.0, 0.5, n[l])
    X = rng.normal(0.0, 1.0, (net["batch"], n[0]))
    if net["loss"] == "ce":
        T = rng.uniform(0.05, 1.0, (net["batch"], n[-1]))
        T /= T.sum(axis=1, keepdims=True)                        # rows are distributions
    elif net["loss"] == "bce":
        T = rng.uniform(0.0, 1.0, (net["batch"], n[-1]))
    else:
        T = rng.normal(0.0, 1.0, (net["batch"], n[-1]))
    return params, X, T


# -- the same network in torch -------------------------------------------------------------------

def _phi(name: str, v: torch.Tensor) -> torch.Tensor:
    return {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "linear": lambda a: a, "relu": torch.relu,
            "softplus": lambda a: torch.logaddexp(a, torch.zeros_like(a)),   # F.softplus is linear past 20
            "softmax": lambda a: torch.softmax(a, dim=1)}[name](v)


def _torch_loss(name: str, v: torch.Tensor, y: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    if name == "half_sse":
        return 0.5 * ((y - T) ** 2).sum()
    if name == "sse":
        return ((y - T) ** 2).sum()
    if name == "mse":
        return ((y - T) ** 2).sum() / T.shape[0]
    if name == "bce":
        return torch.nn.functional.binary_cross_entropy_with_logits(v, T, reduction="sum")
    return -(T * torch.log_softmax(v, dim=1)).sum()              # ce


def torch_gradients(net: dict, params: Mapping[str, np.ndarray], X: np.ndarray, T: np.ndarray) -> dict[str, np.ndarray]:
    leaves = {k: torch.tensor(p, dtype=torch.float64, requires_grad=True) for k, p in params.items()}
    ys = [torch.tensor(X, dtype=torch.float64)]
    for l, name in enumerate(net["activations"], start=1):
        v = ys[l - 1] @ leaves[f"W{l}"].T
        for s, into in net["skip"]:
            if into == l:
                v = v + ys[s] @ leaves[f"W{l}_{s}"].T
        if f"b{l}" in leaves:
            v = v + net["bias_sign"] * leaves[f"b{l}"]
        y = _phi(name, v)
        for s, into in net["residual"]:
            if into == l:
                y = y + ys[s]
        ys.append(y)
    E = _torch_loss(net["loss"], v, ys[-1], torch.tensor(T, dtype=torch.float64))
    E.backward()
    return {k: t.grad.numpy() for k, t in leaves.items()}


# -- the comparison ------------------------------------------------------------------------------

def symbp_network(net: dict):
    """The symbp Network of a net description."""
    from symbp import Network
    return Network.build(layers=net["layers"], activations=net["activations"], loss=net["loss"],
                         skip=tuple(map(tuple, net["skip"])), residual=tuple(map(tuple, net["residual"])),
                         bias=net["bias"], bias_sign="+" if net["bias_sign"] > 0 else "-")


def exported_grads_fn(net: dict, directory: Path) -> GradsFn:
    """``gradients`` of the NumPy module that symbp.export writes for the network, imported from its file."""
    from symbp import derive
    from symbp.export import export
    path = export(derive(symbp_network(net), check=False), Path(directory) / f"grad_{net['seed']}.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.gradients


def reference_grads_fn(net: dict) -> GradsFn:
    return lambda params, X, T: reference.gradients(params, X, T, net["activations"], net["loss"],
                                                    net["bias_sign"], residual=net["residual"])


def compare(net: dict, grads_fn: GradsFn) -> float:
    """max over parameters p of max|grads_fn - torch| / max|torch| (p's own scale; 1 if that is 0)."""
    params, X, T = random_problem(net)
    want = torch_gradients(net, params, X, T)
    got = grads_fn(params, X, T)
    if set(got) != set(want):
        raise AssertionError(f"parameters {sorted(got)} vs {sorted(want)}")
    worst = 0.0
    for key, w in want.items():
        g = np.asarray(got[key], dtype=float)
        if g.shape != w.shape:
            raise AssertionError(f"{key}: shape {g.shape} vs {w.shape}")
        scale = float(np.max(np.abs(w))) or 1.0
        worst = max(worst, float(np.max(np.abs(g - w))) / scale)
    return worst


def describe(net: dict) -> str:
    edges = lambda pairs: ",".join(f"{s}:{l}" for s, l in pairs) or "-"
    return (f"{'-'.join(map(str, net['layers']))} {','.join(net['activations'])} {net['loss']}"
            f" skip {edges(net['skip'])} residual {edges(net['residual'])}"
            f" bias {'+-'[net['bias_sign'] < 0] if net['bias'] else 'none'} N={net['batch']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-export", action="store_true", help="compare the reference only")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    columns = {"reference": lambda net, _: reference_grads_fn(net)}
    if not args.no_export:
        columns["exported"] = exported_grads_fn
    overall = dict.fromkeys(columns, 0.0)
    with tempfile.TemporaryDirectory() as directory:
        for i in range(args.networks):
            net = random_network(rng)
            rel = {name: compare(net, make(net, directory)) for name, make in columns.items()}
            overall = {name: max(overall[name], rel[name]) for name in columns}
            print(f"{i + 1:2d}  " + "  ".join(f"{name} {r:.2e}" for name, r in rel.items()) + f"  {describe(net)}")
    for name, worst in overall.items():
        print(f"{name}: overall max rel diff {worst:.2e} over {args.networks} networks (torch {torch.__version__})")
    return 0 if max(overall.values()) < 1e-10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
