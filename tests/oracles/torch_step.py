"""torch.optim.SGD as the oracle of exported step(): run with a Python that has torch (a scratch venv).

    /tmp/torchvenv/bin/python tests/oracles/torch_step.py DIR [STEPS]

DIR holds modules written by `symbp export` (numpy target). Each module's constants say what to
build in torch: LAYERS, ACTIVATIONS, LOSS, BIAS_SIGN, MOMENTUM, WEIGHT_DECAY, DECAYED, REDUCTION.
The same float64 parameters go into the module's step() and into torch.optim.SGD(lr=eta,
momentum=MOMENTUM) with the decayed parameters in a group of weight_decay=WEIGHT_DECAY and the
others in one of weight_decay=0; each step takes a new batch. Where the C export of the same
network lies next to a module (NAME.c and NAME.h beside NAME.py), it is compiled with cc and its
step() runs on the same batches, its flat arrays read through the module's ravel/unravel (the C
layout). Prints a table of the largest absolute difference of the parameters over the steps;
exit 1 if one exceeds TOLERANCE. Torch is an oracle here, not a dependency: this file imports
nothing of symbp.
"""
from __future__ import annotations

import ctypes
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

TOLERANCE = 1e-12
ETA = 0.1

F = torch.nn.functional
ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "linear": lambda v: v, "relu": torch.relu,
               "softplus": F.softplus, "softmax": lambda v: torch.softmax(v, dim=1),
               "elu": F.elu, "leaky_relu": lambda v: F.leaky_relu(v, 0.01), "silu": F.silu, "swish": F.silu,
               "gelu": F.gelu, "softsign": F.softsign}     # torch's gelu is the erf form by default


def activation(name: str):
    """torch's function of an activation row's name; leaky_relu(0.2) carries its slope."""
    if name.startswith("leaky_relu(") and name.endswith(")"):
        slope = float(name[len("leaky_relu("):-1])
        return lambda v: F.leaky_relu(v, slope)
    return ACTIVATIONS[name]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_loss(m, params: dict, X: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """The loss of the module's network, written in torch from its constants (chain networks)."""
    y = X
    for l, act in enumerate(m.ACTIVATIONS, start=1):
        v = y @ params[f"W{l}"].T
        if m.BIAS_SIGN:
            v = v + m.BIAS_SIGN * params[f"b{l}"]
        y = activation(act)(v)
    N = X.shape[0]
    data = {"half_sse": lambda: 0.5 * ((T - y) ** 2).sum(), "sse": lambda: ((T - y) ** 2).sum(),
            "mse": lambda: ((y - T) ** 2).sum() / N,
            "bce": lambda: torch.nn.functional.binary_cross_entropy(y, T, reduction="sum"),
            "ce": lambda: -(T * torch.log_softmax(v, dim=1)).sum()}[m.LOSS]()
    # mse is a mean already: reduction "mean" does not divide it twice
    return data / N if m.REDUCTION == "mean" and m.LOSS != "mse" else data


def c_step(m, c_path: Path):
    """step(params, state, X, T, eta) -> (params, state) of the C module at c_path, built as a shared library."""
    lib_path = c_path.with_suffix(".so")
    subprocess.run(["cc", "-std=c99", "-O2", "-shared", "-fPIC", "-o", str(lib_path), str(c_path), "-lm"], check=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.step.restype = ctypes.c_double
    ptr = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

    def step(params, state, X, T, eta):
        flat = np.ascontiguousarray(m.ravel(params), dtype=np.float64)
        delta = np.zeros_like(flat) if state is None else np.ascontiguousarray(m.ravel(state), dtype=np.float64)
        grad = np.empty_like(flat)
        X, T = np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(T, dtype=np.float64)
        lib.step(ptr(flat), ptr(delta), ptr(X), ptr(T), ctypes.c_size_t(len(X)), ctypes.c_double(eta), ptr(grad))
        return m.unravel(flat), m.unravel(delta)
    return step


def compare(m, steps: int, seed: int = 0, step=None) -> float:
    """The largest |params - torch's| over the steps of ``step`` (the module's own by default)."""
    step = step or m.step
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(0, 0.5, m.SHAPES[k]) for k in m.PARAMETERS}
    tparams = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    groups = [{"params": [tparams[k] for k in m.PARAMETERS if k in m.DECAYED], "weight_decay": m.WEIGHT_DECAY},
              {"params": [tparams[k] for k in m.PARAMETERS if k not in m.DECAYED], "weight_decay": 0.0}]
    opt = torch.optim.SGD([g for g in groups if g["params"]], lr=ETA, momentum=m.MOMENTUM)
    state, worst = None, 0.0
    for _ in range(steps):
        X = rng.normal(size=(4, m.LAYERS[0]))
        T = rng.random((4, m.LAYERS[-1]))
        if m.LOSS == "ce":
            T = T / T.sum(axis=1, keepdims=True)
        params, state = step(params, state, X, T, ETA)
        opt.zero_grad()
        torch_loss(m, tparams, torch.tensor(X), torch.tensor(T)).backward()
        opt.step()
        worst = max(worst, max(float(np.max(np.abs(params[k] - tparams[k].detach().numpy()))) for k in params))
    return worst


def main(argv: list[str]) -> int:
    folder, steps = Path(argv[1]), int(argv[2]) if len(argv) > 2 else 5
    rows = []
    for path in sorted(folder.glob("*.py")):
        m = _load(path)
        net = f"{'-'.join(map(str, m.LAYERS))} {'/'.join(m.ACTIVATIONS)} {m.LOSS}"
        c_path = path.with_suffix(".c")
        c = compare(m, steps, step=c_step(m, c_path)) if c_path.exists() else None
        rows.append((net, m.MOMENTUM, m.WEIGHT_DECAY, ",".join(m.DECAYED), m.REDUCTION, compare(m, steps), c))
    head = ("network", "momentum", "weight_decay", "decayed", "reduction", f"numpy max |diff| ({steps} steps)",
            "C max |diff|")
    if all(r[6] is None for r in rows):     # no C module: the table of the numpy modules alone
        rows, head = [r[:6] for r in rows], head[:6]
    cell = lambda x: x if isinstance(x, str) else "-" if x is None else f"{x:.2e}"
    widths = [max(len(cell(r[i])) if i >= 5 else len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "  ".join(f"{r[i] if i < 5 else cell(r[i]):<{widths[i]}}" for i in range(len(r)))
    ok = lambda r: all(x is None or x <= TOLERANCE for x in r[5:])
    print(line(head))
    for r in rows:
        print(line(r).rstrip() + ("" if ok(r) else "  FAIL"))
    print(f"torch {torch.__version__}, float64, eta = {ETA}; tolerance {TOLERANCE:g}")
    return 0 if rows and all(ok(r) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
