"""One gradient evaluation (forward + loss + all gradients, float64): exported NumPy module vs
symbp.reference.gradients (hand-written backprop), and vs PyTorch / JAX when importable.

Exported modules are cached under output/bench_cache/, keyed by the network and stamped
with a hash of symbp's sources (a changed symbp rebuilds them). A build (derive with
check=False, then export) runs in a subprocess and is abandoned after BUILD_TIMEOUT s.

Timing: all implementations of a case are called in turn, A B A B ..., in one process,
after a warm-up; the table gives the median of each and the ratio to the reference
(ratio of medians; the median of the per-round ratios is given too).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUTPUT, ROOT, progress, table  # noqa: E402

CACHE = OUTPUT / "bench_cache"
BUILD_TIMEOUT = 180.0
TIME_BUDGET = 6.0       # seconds of timed calls per case

CASES = [
    {"layers": "784-128-64-10", "activations": "tanh,tanh,linear", "loss": "half_sse", "N": 256},
    {"layers": "2-3-1", "activations": "sigmoid,linear", "loss": "half_sse", "N": 100_000},
    {"layers": "784-256-10", "activations": "sigmoid,softmax", "loss": "ce", "N": 256},
]


def key(case) -> str:
    return f"{case['layers']}_{case['activations'].replace(',', '-')}_{case['loss']}".replace("-", "_")


def symbp_hash() -> str:
    h = hashlib.sha256()
    for p in sorted((ROOT / "symbp").rglob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def build_worker(layers: str, activations: str, loss: str, path: str) -> None:
    from symbp import Network, derive
    from symbp.export import export
    net = Network.from_string(layers, activation=activations, loss=loss)
    t0 = time.perf_counter()
    d = derive(net, check=False)
    t1 = time.perf_counter()
    export(d, path)
    t2 = time.perf_counter()
    print(json.dumps({"derive_s": t1 - t0, "export_s": t2 - t1, "W": net.n_params}), flush=True)


def build(case, timeout: float = BUILD_TIMEOUT) -> dict:
    """{"path", "derive_s", "export_s", "cached"} or {"gap": reason}."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path, meta_path = CACHE / f"{key(case)}.py", CACHE / f"{key(case)}.json"
    stamp = symbp_hash()
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("symbp_hash") == stamp:
            progress(f"runtime {case['layers']}: cached module {path.relative_to(ROOT)}")
            return {**meta, "path": path, "cached": True}
    progress(f"runtime {case['layers']}: deriving (check=False) and exporting, up to {timeout:.0f} s ...")
    cmd = [sys.executable, str(Path(__file__).resolve()), "build", case["layers"], case["activations"],
           case["loss"], str(path)]
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        progress(f"runtime {case['layers']}: derive + export over {timeout:.0f} s, abandoned")
        return {"gap": f"derive + export exceeded {timeout:.0f} s"}
    if res.returncode != 0:
        return {"gap": f"build failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}"}
    meta = {**json.loads(res.stdout.strip().splitlines()[-1]), "symbp_hash": stamp}
    meta_path.write_text(json.dumps(meta))
    progress(f"runtime {case['layers']}: derive {meta['derive_s']:.1f} s, export {meta['export_s']:.1f} s "
             f"({time.perf_counter() - t0:.0f} s with start-up)")
    return {**meta, "path": path, "cached": False}


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _data(case, rng):
    import numpy as np
    n = [int(a) for a in case["layers"].split("-")]
    params = {}
    for l in range(1, len(n)):
        params[f"W{l}"] = rng.standard_normal((n[l], n[l - 1])) / np.sqrt(n[l - 1])
        params[f"b{l}"] = 0.1 * rng.standard_normal(n[l])
    X = rng.standard_normal((case["N"], n[0]))
    if case["loss"] == "ce":
        T = np.eye(n[-1])[rng.integers(0, n[-1], case["N"])]
    else:
        T = rng.uniform(-1, 1, (case["N"], n[-1]))
    return params, X, T


def _torch_fn(case, params, X, T):
    import torch
    acts = case["activations"].split(",")
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    Xt, Tt = torch.tensor(X), torch.tensor(T)
    fns = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda v: v}

    def run():
        y = Xt
        for l, a in enumerate(acts, start=1):
            v = y @ P[f"W{l}"].T + P[f"b{l}"]
            if a == "softmax":
                E = -(Tt * torch.log_softmax(v, dim=1)).sum()
                break
            y = fns[a](v)
        else:
            E = 0.5 * ((Tt - y) ** 2).sum()
        return torch.autograd.grad(E, list(P.values()))
    return run


def _jax_fn(case, params, X, T):
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    acts = case["activations"].split(",")
    fns = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "linear": lambda v: v}

    def E(P, X, T):
        y = X
        for l, a in enumerate(acts, start=1):
            v = y @ P[f"W{l}"].T + P[f"b{l}"]
            if a == "softmax":
                return -(T * jax.nn.log_softmax(v, axis=1)).sum()
            y = fns[a](v)
        return 0.5 * ((T - y) ** 2).sum()
    g = jax.jit(jax.grad(E))
    P, Xj, Tj = {k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(X), jnp.asarray(T)
    return lambda: jax.block_until_ready(g(P, Xj, Tj))


def time_case(case, mod, budget: float = TIME_BUDGET) -> dict:
    import numpy as np
    from symbp import reference
    rng = np.random.default_rng(0)
    params, X, T = _data(case, rng)
    acts = case["activations"].split(",")
    fns = {"reference": lambda: reference.gradients(params, X, T, acts, case["loss"], +1)}
    notes = []
    if mod is not None:
        fns["exported"] = lambda: mod.gradients(params, X, T)
        g_ref, g_exp = fns["reference"](), fns["exported"]()
        scale = max(float(np.max(np.abs(g))) for g in g_ref.values())
        diff = max(float(np.max(np.abs(g_ref[k] - g_exp[k]))) for k in g_ref)
        notes.append(f"max |exported - reference| = {diff:.1e} (largest gradient entry {scale:.1e})")
    for name, make in (("torch", _torch_fn), ("jax", _jax_fn)):
        try:
            fns[name] = make(case, params, X, T)
        except ImportError:
            notes.append(f"{name} not importable: skipped")
    for f in fns.values():          # warm-up (JIT, caches, page faults)
        for _ in range(3):
            f()
    one = {n: min(_clock(f) for _ in range(3)) for n, f in fns.items()}
    rounds = int(min(400, max(15, budget / sum(one.values()))))
    samples = {n: [] for n in fns}
    order = list(fns)
    for _ in range(rounds):
        for n in order:                 # A B A B ...: drift hits every implementation alike
            samples[n].append(_clock(fns[n]))
    med = {n: statistics.median(s) for n, s in samples.items()}
    per_round = {n: statistics.median(a / b for a, b in zip(samples[n], samples["reference"])) for n in fns}
    return {"median": med, "per_round": per_round, "rounds": rounds, "notes": notes}


def _clock(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def measure(cases=CASES, timeout: float = BUILD_TIMEOUT, budget: float = TIME_BUDGET) -> list[dict]:
    rows = []
    for case in cases:
        b = build(case, timeout)
        mod = _load(b["path"]) if "path" in b else None
        progress(f"runtime {case['layers']}: timing N={case['N']} ...")
        r = time_case(case, mod, budget)
        if "gap" in b:
            r["notes"].insert(0, f"exported module: GAP, {b['gap']}")
        rows.append({"case": case, "build": b, **r})
        ratio = r["median"].get("exported", float("nan")) / r["median"]["reference"]
        progress(f"runtime {case['layers']}: reference {r['median']['reference'] * 1e3:.2f} ms, "
                 f"exported/reference {ratio:.3f} ({r['rounds']} rounds)")
    return rows


def render(rows: list[dict]) -> str:
    body, notes = [], []
    for r in rows:
        c, m, pr = r["case"], r["median"], r["per_round"]
        ref = m["reference"]

        def cell(name):
            if name not in m:
                return "—"
            return f"{m[name] / ref:.3f} (per-round {pr[name]:.3f}), {m[name] * 1e3:.2f} ms"
        b = r["build"]
        build_txt = ("GAP: " + b["gap"]) if "gap" in b else (
            f"derive {b['derive_s']:.1f} s + export {b['export_s']:.1f} s" + (" (cached)" if b.get("cached") else ""))
        body.append([f"{c['layers']} {c['activations'].replace(',', '/')} {c['loss']}", c["N"],
                     f"{ref * 1e3:.2f} ms", cell("exported"), cell("torch"), cell("jax"), r["rounds"], build_txt])
        notes += [f"- {c['layers']}: {n}" for n in r["notes"]]
    return (table(["case", "N", "reference (hand-written)", "exported NumPy / reference",
                   "PyTorch autograd / reference", "jax.jit(grad) / reference", "rounds", "build"], body,
                  "lrrrrrrl") + "\n\n" + "\n".join(notes) + "\n")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "build":
        build_worker(*sys.argv[2:6])
    else:
        print(render(measure()))
