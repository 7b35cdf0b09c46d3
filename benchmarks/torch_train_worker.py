"""PyTorch rivals of bench_train.py, run by an interpreter that has numpy and torch (a scratch venv:
torch is an oracle of the benchmarks, never a dependency of symbp, and never imported beside it).

    python torch_train_worker.py DATA.npz CASE_JSON OUT.npz

DATA.npz holds the parameters (W1, b1, ...), X, T and the direction V_W1, V_b1, ... of the
Hessian-vector product, written by bench_train.py. The network is written here once more in
torch from its definition, with samples as rows:

    v(l) = y(l-1) @ W{l}.T + b{l},  y(l) = phi_l(v(l)),  y(0) = X
    E = sum over samples and units of -T log softmax(v(L))  (ce)  or  (T - y(L))**2 / 2  (half_sse)

Timed callables: torch64 and torch32 (E and every gradient by E.backward(), float64 and float32)
and torch_hvp (torch.autograd.functional.hvp, float64). Their first results go to OUT.npz for
bench_train.py to compare; then the worker serves _serve's line protocol.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serve import interleave, serve  # noqa: E402

ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "linear": lambda v: v}


def loss_fn(case, names, X, T):
    """E(*params) for params in the order of names."""
    acts = case["activations"].split(",")
    if case["loss"] not in ("ce", "half_sse"):
        raise SystemExit(f"torch worker: loss {case['loss']!r} is not written here (ce, half_sse)")

    def E(*ps):
        P = dict(zip(names, ps))
        y = X
        for l, a in enumerate(acts, start=1):
            v = y @ P[f"W{l}"].T + P[f"b{l}"]
            if a == "softmax":
                return -(T * torch.log_softmax(v, dim=1)).sum()
            y = ACTIVATIONS[a](v)
        return 0.5 * ((T - y) ** 2).sum()
    return E


def backward_fn(case, data, names, dtype):
    """E and the gradients by loss.backward(), as a training loop computes them."""
    P = [torch.tensor(data[k], dtype=dtype, requires_grad=True) for k in names]
    E = loss_fn(case, names, torch.tensor(data["X"], dtype=dtype), torch.tensor(data["T"], dtype=dtype))

    def run():
        for p in P:
            p.grad = None
        e = E(*P)
        e.backward()
        return e.detach(), [p.grad for p in P]
    return run


def hvp_fn(case, data, names):
    P = tuple(torch.tensor(data[k], dtype=torch.float64) for k in names)
    V = tuple(torch.tensor(data[f"V_{k}"], dtype=torch.float64) for k in names)
    E = loss_fn(case, names, torch.tensor(data["X"]), torch.tensor(data["T"]))
    return lambda: torch.autograd.functional.hvp(E, P, V)


def main(data_path: str, case_json: str, out_path: str) -> None:
    if os.environ.get("OMP_NUM_THREADS"):          # bench_train's --threads
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    case = json.loads(case_json)
    data = dict(np.load(data_path))
    names = [k for k in data if k[0] in "Wb"]
    fns = {"torch64": backward_fn(case, data, names, torch.float64),
           "torch32": backward_fn(case, data, names, torch.float32),
           "torch_hvp": hvp_fn(case, data, names)}
    out = {}
    e, grads = fns["torch64"]()
    out.update({"torch64_E": e.numpy(), **{f"torch64_{k}": g.numpy() for k, g in zip(names, grads)}})
    e, grads = fns["torch32"]()
    out.update({"torch32_E": e.numpy(), **{f"torch32_{k}": g.numpy() for k, g in zip(names, grads)}})
    _, hv = fns["torch_hvp"]()
    out.update({f"torch_hvp_{k}": h.numpy() for k, h in zip(names, hv)})
    np.savez(out_path, **out)
    warm = interleave(list(fns.values()), 3)            # warm-up; the minimum sizes the blocks
    serve(fns, {"one": {n: min(t) for n, t in zip(fns, warm)}, "notes": [
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"]})


if __name__ == "__main__":
    main(*sys.argv[1:4])
