"""One gradient evaluation (forward + loss + all gradients, float64): exported NumPy module vs
symbp.reference.gradients (hand-written backprop), and vs PyTorch / JAX when importable; the
exported JAX module vs a hand-written jax.jit(jax.value_and_grad(E)).

Exported modules (NumPy and JAX, from one derivation) are cached under output/bench_cache/,
keyed by the network and stamped with a hash of symbp's sources (a changed symbp rebuilds
them). A build (derive with check=False, then export) runs in a subprocess and is abandoned
after BUILD_TIMEOUT s.

Timing: each library (NumPy: reference and exported; PyTorch; JAX: hand-written and
exported) runs in a worker process of its own, warmed up, and the main process asks
them in turn for blocks of ~BLOCK s of calls, A B A B ..., with a short pause between
blocks; the table gives the median call of each and the ratio to the reference (ratio of
medians; the median of the per-block ratios is given too).
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


def jax_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}_jax.py")


def build_worker(layers: str, activations: str, loss: str, path: str) -> None:
    from symbp import Network, derive
    from symbp.export import export
    net = Network.from_string(layers, activation=activations, loss=loss)
    t0 = time.perf_counter()
    d = derive(net, check=False)
    t1 = time.perf_counter()
    export(d, path)
    t2 = time.perf_counter()
    export(d, jax_path(Path(path)), target="jax")
    print(json.dumps({"derive_s": t1 - t0, "export_s": t2 - t1, "export_jax_s": time.perf_counter() - t2,
                      "W": net.n_params}), flush=True)


def build(case, timeout: float = BUILD_TIMEOUT) -> dict:
    """{"path", "derive_s", "export_s", "cached"} or {"gap": reason}."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path, meta_path = CACHE / f"{key(case)}.py", CACHE / f"{key(case)}.json"
    stamp = symbp_hash()
    if path.exists() and jax_path(path).exists() and meta_path.exists():
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


def _jax():
    import jax
    jax.config.update("jax_enable_x64", True)     # float64, like the other implementations
    return jax


def _jax_fn(case, params, X, T, transform="grad"):
    """Hand-written JAX: jax.jit(jax.grad(E)) or, transform="value_and_grad", jax.jit(jax.value_and_grad(E))."""
    jax = _jax()
    import jax.numpy as jnp
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
    g = jax.jit(getattr(jax, transform)(E))
    P, Xj, Tj = {k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(X), jnp.asarray(T)
    return lambda: jax.block_until_ready(g(P, Xj, Tj))


def _jax_vg_fn(case, params, X, T):
    return _jax_fn(case, params, X, T, transform="value_and_grad")


def _exported_jax_fn(jmod, params, X, T):
    """The exported JAX module's gradients on device arrays, like the hand-written baseline's."""
    jax = _jax()
    P, Xj, Tj = ({k: jax.numpy.asarray(v) for k, v in params.items()}, jax.numpy.asarray(X), jax.numpy.asarray(T))
    return lambda: jax.block_until_ready(jmod.gradients(P, Xj, Tj))


def _max_error(got: dict, ref: dict) -> str:
    import numpy as np
    scale = max(float(np.max(np.abs(g))) for g in ref.values())
    diff = max(float(np.max(np.abs(ref[k] - np.asarray(got[k])))) for k in ref)
    return f"{diff:.1e} (largest gradient entry {scale:.1e})"


# Each library is timed in a worker process of its own that imports nothing else: PyTorch's
# OpenMP pool and XLA's threads, loaded beside NumPy, competed with OpenBLAS for the 2 cores
# and made both NumPy implementations 10-20x slower (53 ms instead of 4 ms on 784-128-64-10).
LIBRARIES = {"numpy": ("reference", "exported"), "torch": ("torch",), "jax": ("jax", "jax_vg", "exported_jax")}
BLOCK = 0.15        # seconds of calls per block; blocks of all implementations alternate
PAUSE = 0.05        # between blocks, so the last library's spinning threads go idle


def _implementations(library: str, case, path: Path, params, X, T) -> tuple[dict, list[str]]:
    """{name: zero-argument callable} of one library, and notes (accuracy, what is missing)."""
    from symbp import reference
    acts = case["activations"].split(",")
    if library == "torch":
        return {"torch": _torch_fn(case, params, X, T)}, []
    g_ref = reference.gradients(params, X, T, acts, case["loss"], +1)     # for the accuracy notes
    if library == "numpy":
        fns = {"reference": lambda: reference.gradients(params, X, T, acts, case["loss"], +1)}
        notes = []
        if path is not None:
            mod = _load(path)
            fns["exported"] = lambda: mod.gradients(params, X, T)
            notes.append(f"max |exported - reference| = {_max_error(fns['exported'](), g_ref)}")
        return fns, notes
    fns = {"jax": _jax_fn(case, params, X, T), "jax_vg": _jax_vg_fn(case, params, X, T)}
    notes = []
    if path is not None:
        jmod = _load(jax_path(path))
        fns["exported_jax"] = _exported_jax_fn(jmod, params, X, T)
        notes.append(f"max |exported JAX - reference| = {_max_error(jmod.gradients(params, X, T), g_ref)}")
    return fns, notes


def timing_worker(library: str, case_json: str, path: str) -> None:
    """Serve 'time NAME K' requests on stdin with K call times as one JSON line on stdout."""
    import numpy as np
    case = json.loads(case_json)
    params, X, T = _data(case, np.random.default_rng(0))
    try:
        fns, notes = _implementations(library, case, Path(path) if path else None, params, X, T)
    except ImportError as exc:
        print(json.dumps({"missing": f"{library} not importable ({exc.name}): skipped"}), flush=True)
        return
    for f in fns.values():          # warm-up (JIT, caches, page faults)
        for _ in range(3):
            f()
    one = {n: min(_clock(f) for _ in range(3)) for n, f in fns.items()}
    print(json.dumps({"one": one, "notes": notes, "micro": _micro(library)}), flush=True)
    for line in sys.stdin:
        name, k = line.split()
        print(json.dumps([_clock(fns[name]) for _ in range(int(k))]), flush=True)


def _micro(library: str) -> dict:
    """Median ms of one elementwise transcendental pass and one matrix product on 256 x 256 / 256 x 784."""
    import numpy as np
    rng = np.random.default_rng(1)
    V, A, B = rng.standard_normal((256, 256)), rng.standard_normal((256, 256)), rng.standard_normal((256, 784))
    if library == "numpy":
        ops = {"tanh": lambda: np.tanh(V), "sigmoid": lambda: 0.5 + 0.5 * np.tanh(0.5 * V), "exp": lambda: np.exp(V),
               "matmul": lambda: A @ B}
    elif library == "torch":
        import torch
        Vt, At, Bt = torch.tensor(V), torch.tensor(A), torch.tensor(B)
        ops = {"tanh": lambda: torch.tanh(Vt), "sigmoid": lambda: torch.sigmoid(Vt), "exp": lambda: torch.exp(Vt),
               "matmul": lambda: At @ Bt}
    else:
        jax = _jax()
        jnp = jax.numpy
        Vj, Aj, Bj = jnp.asarray(V), jnp.asarray(A), jnp.asarray(B)
        fns = {"tanh": jax.jit(jnp.tanh), "sigmoid": jax.jit(jax.nn.sigmoid), "exp": jax.jit(jnp.exp),
               "matmul": jax.jit(jnp.matmul)}
        ops = {"tanh": lambda: fns["tanh"](Vj).block_until_ready(),
               "sigmoid": lambda: fns["sigmoid"](Vj).block_until_ready(),
               "exp": lambda: fns["exp"](Vj).block_until_ready(),
               "matmul": lambda: fns["matmul"](Aj, Bj).block_until_ready()}
    out = {}
    for name, f in ops.items():
        for _ in range(5):
            f()
        out[name] = 1e3 * statistics.median(_clock(f) for _ in range(60))
    return out


class _Worker:
    def __init__(self, library: str, case, path):
        cmd = [sys.executable, str(Path(__file__).resolve()), "time", library, json.dumps(case),
               str(path) if path else ""]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.hello = json.loads(self.proc.stdout.readline() or '{"missing": "worker died"}')

    def time(self, name: str, k: int) -> list[float]:
        self.proc.stdin.write(f"{name} {k}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the timing worker for {name} died (exit status {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def time_case(case, path, budget: float = TIME_BUDGET) -> dict:
    workers, notes = {}, []
    for library in LIBRARIES:
        w = _Worker(library, case, path)
        if "missing" in w.hello:
            notes.append(w.hello["missing"])
            w.close()
            continue
        workers[library] = w
        notes += w.hello["notes"]
    try:
        owner = {n: w for w in workers.values() for n in w.hello["one"]}
        block = {n: max(1, int(BLOCK / max(w.hello["one"][n], 1e-6))) for n, w in owner.items()}
        samples = {n: [] for n in owner}
        blocks = {n: [] for n in owner}
        t0, rounds = time.perf_counter(), 0
        while rounds < 5 or (time.perf_counter() - t0 < budget and rounds < 200):
            for n, w in owner.items():        # A B A B ...: drift hits every implementation alike
                times = w.time(n, block[n])
                samples[n] += times
                blocks[n].append(statistics.median(times))
                time.sleep(PAUSE)
            rounds += 1
    finally:
        for w in workers.values():
            w.close()
    micro = {library: w.hello.get("micro", {}) for library, w in workers.items()}
    med = {n: statistics.median(s) for n, s in samples.items()}
    per_round = {n: statistics.median(a / b for a, b in zip(blocks[n], blocks["reference"])) for n in owner}
    if "exported_jax" in owner:      # exported JAX against its own baseline, the hand-written jax.jit(value_and_grad)
        per_round["exported_jax"] = statistics.median(a / b for a, b in zip(blocks["exported_jax"], blocks["jax_vg"]))
    return {"median": med, "per_round": per_round, "rounds": rounds, "notes": notes, "micro": micro}


def _clock(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def measure(cases=CASES, timeout: float = BUILD_TIMEOUT, budget: float = TIME_BUDGET) -> list[dict]:
    rows = []
    for case in cases:
        b = build(case, timeout)
        progress(f"runtime {case['layers']}: timing N={case['N']} ...")
        r = time_case(case, b.get("path"), budget)
        if "gap" in b:
            r["notes"].insert(0, f"exported module: GAP, {b['gap']}")
        rows.append({"case": case, "build": b, **r})
        ratio = r["median"].get("exported", float("nan")) / r["median"]["reference"]
        jratio = r["median"].get("exported_jax", float("nan")) / r["median"].get("jax_vg", float("nan"))
        progress(f"runtime {case['layers']}: reference {r['median']['reference'] * 1e3:.2f} ms, "
                 f"exported/reference {ratio:.3f}, exported JAX/jax.jit(value_and_grad) {jratio:.3f} "
                 f"({r['rounds']} rounds)")
    return rows


def render_micro(rows: list[dict]) -> str:
    """The elementwise/matmul table, from the first case's workers (the same in every case)."""
    micro = next((r["micro"] for r in rows if r.get("micro")), {})
    names = {"numpy": "NumPy", "torch": "PyTorch", "jax": "jax.jit"}
    body = [[names[lib], *(f"{m[k]:.3f} ms" for k in ("tanh", "sigmoid", "exp", "matmul"))]
            for lib, m in micro.items() if m]
    return table(["library", "tanh (256 x 256)", "sigmoid (256 x 256)", "exp (256 x 256)",
                  "matmul (256 x 256) @ (256 x 784)"], body)


def render(rows: list[dict]) -> str:
    body, notes = [], []
    for r in rows:
        c, m, pr = r["case"], r["median"], r["per_round"]
        ref = m["reference"]

        def cell(name, base="reference"):
            if name not in m:
                return "—"
            return f"{m[name] / m[base]:.3f} (per-round {pr[name]:.3f}), {m[name] * 1e3:.2f} ms"
        b = r["build"]
        build_txt = ("GAP: " + b["gap"]) if "gap" in b else (
            f"derive {b['derive_s']:.1f} s + export {b['export_s']:.1f} s" + (" (cached)" if b.get("cached") else ""))
        body.append([f"{c['layers']} {c['activations'].replace(',', '/')} {c['loss']}", c["N"],
                     f"{ref * 1e3:.2f} ms", cell("exported"), cell("torch"), cell("jax"), cell("jax_vg"),
                     cell("exported_jax", base="jax_vg"), r["rounds"], build_txt])
        notes += [f"- {c['layers']}: {n}" for n in r["notes"]]
    return (table(["case", "N", "reference (hand-written)", "exported NumPy / reference",
                   "PyTorch autograd / reference", "jax.jit(grad) / reference",
                   "jax.jit(value_and_grad) / reference", "exported JAX / jax.jit(value_and_grad)",
                   "rounds", "build"], body, "lrrrrrrrrl") + "\n\n" + "\n".join(notes) + "\n")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "build":
        build_worker(*sys.argv[2:6])
    elif len(sys.argv) >= 2 and sys.argv[1] == "time":
        timing_worker(*sys.argv[2:5])
    else:
        print(render(measure()))
