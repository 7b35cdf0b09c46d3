"""What a training loop pays (issue 16): the exported modules' loss_and_gradients and hessian_vector
against what an engineer would otherwise write or call.

    python benchmarks/bench_train.py [--rounds R] [--block S] [--threads T|default] [--case 2-3-1 ...]

One table, a row per benchmark network, the ratios side by side:
- the exported NumPy `loss_and_gradients` (and `loss()` + `gradients()`, the two passes it replaces)
  over the hand-written one-pass NumPy backprop below (`loss_and_gradients`; for a large batch also
  `blocked_loss_and_gradients`, the same in blocks of rows), interleaved call by call (A B C, B C A, ...);
- `jax.jit(exported JAX loss_and_gradients)` over hand-written `jax.jit(jax.value_and_grad(E))`,
  interleaved (skipped when jax does not import);
- PyTorch autograd (`E.backward()`, float64 and float32) over the hand-written NumPy, and the exported
  `hessian_vector` over `torch.autograd.functional.hvp` (float64) with their largest difference, from
  a worker run by a scratch venv's interpreter ($SYMBP_TORCH_PYTHON, /tmp/torchvenv/bin/python; skipped
  when it is missing): torch is an oracle and never enters symbp's venv.
Each library runs in a worker process of its own, and every library gets --threads threads (1 by
default: NumPy's OpenBLAS, torch's OpenMP and XLA's pools, spinning beside each other on a small
machine, made NumPy 3-15x slower in one measurement). A round asks every worker in turn for a block
of about --block seconds of interleaved calls; a cell is the ratio of the medians over all rounds.
Repeat counts: --rounds/--block, or $SYMBP_BENCH_ROUNDS/$SYMBP_BENCH_BLOCK (make bench passes the
environment through), so a busy machine can check the code with a few and a quiet one measure.

The hand-written backprop shares no code with symbp (nor with symbp.reference): samples as rows,
forward once storing every output, the loss from the stored output, backward once; the dtype of its
arguments is kept. tests/test_bench_smoke.py checks it against symbp.reference and finite differences.
`python benchmarks/profile_export.py` times the exported module statement by statement.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUTPUT, ROOT, progress, table  # noqa: E402
from _serve import interleave, serve  # noqa: E402

CASES = [
    {"layers": "784-256-10", "activations": "sigmoid,softmax", "loss": "ce", "N": 256},
    # The 784-128-64-10 "tanh": tanh hidden layers, a linear output and half_sse, as bench_runtime.
    {"layers": "784-128-64-10", "activations": "tanh,tanh,linear", "loss": "half_sse", "N": 256},
    {"layers": "2-3-1", "activations": "sigmoid,linear", "loss": "half_sse", "N": 100_000},
]
ROUNDS = int(os.environ.get("SYMBP_BENCH_ROUNDS", "30"))
BLOCK = float(os.environ.get("SYMBP_BENCH_BLOCK", "0.2"))     # seconds of calls per worker and round
PAUSE = 0.05          # between workers, so the last one's spinning threads go idle
# Threads of every library (BLAS, OpenMP, XLA): 1 by default, so that NumPy, torch and XLA compare
# like for like and idle workers' spinning pools cannot steal the cores; "default" leaves each its own.
_threads = os.environ.get("SYMBP_BENCH_THREADS", "1")
THREADS = None if _threads == "default" else int(_threads)
TORCH_PYTHON = os.environ.get("SYMBP_TORCH_PYTHON", "/tmp/torchvenv/bin/python")
HERE = Path(__file__).resolve().parent


# -- the hand-written baseline ----------------------------------------------------------------

def _sigmoid(v):
    e = np.exp(-np.abs(v))            # one exp, never overflows
    return np.where(v >= 0, 1.0, e) / (1.0 + e)


def loss_and_gradients(params, X, T, activations, loss):
    """(E, {W1: dE/dW1, b1: dE/db1, ...}) of the network v(l) = y(l-1) W{l}^T + b{l}, y(l) = phi(v(l)),
    y(0) = X (N, n0), for E = sum -T log softmax(v(L)) (loss "ce") or sum (T - y(L))^2 / 2 ("half_sse"),
    summed over the samples (rows). Hidden activations sigmoid, tanh, linear; the output linear,
    sigmoid or tanh for half_sse and softmax for ce. Forward once, backward once."""
    acts = activations.split(",") if isinstance(activations, str) else list(activations)
    L = len(acts)
    ys = [X]
    for l, a in enumerate(acts, start=1):
        v = ys[-1] @ params[f"W{l}"].T + params[f"b{l}"]
        if a == "softmax":
            if l != L or loss != "ce":
                raise ValueError("softmax only as the output of a ce network")
            z = v - v.max(axis=1, keepdims=True)
            ez = np.exp(z)
            s = ez.sum(axis=1, keepdims=True)
            ys.append(ez / s)
            log_y = z - np.log(s)
        elif a == "sigmoid":
            ys.append(_sigmoid(v))
        elif a == "tanh":
            ys.append(np.tanh(v))
        elif a == "linear":
            ys.append(v)
        else:
            raise ValueError(f"activation {a!r}: the baseline knows sigmoid, tanh, linear, softmax")
    y = ys[-1]
    if loss == "ce":
        if acts[-1] != "softmax":
            raise ValueError("ce needs a softmax output")
        E = -np.sum(T * log_y)
        G = y * T.sum(axis=1, keepdims=True) - T       # dE/dv(L) for any targets (y - T when rows sum to 1)
    elif loss == "half_sse":
        R = y - T
        E = 0.5 * np.sum(R * R)
        G = _slope(acts[-1], y, R)
    else:
        raise ValueError(f"loss {loss!r}: the baseline knows ce and half_sse")
    grads = {}
    for l in range(L, 0, -1):                          # G = dE/dv(l), (N, n_l)
        grads[f"W{l}"] = G.T @ ys[l - 1]
        grads[f"b{l}"] = G.sum(axis=0)
        if l > 1:
            G = _slope(acts[l - 2], ys[l - 1], G @ params[f"W{l}"])
    return E, grads


HAND_BLOCK = 8192      # samples per block of blocked_loss_and_gradients (the export's BLOCK for small layers)


def blocked_loss_and_gradients(params, X, T, activations, loss, block=HAND_BLOCK):
    """loss_and_gradients over blocks of rows, summed: what an engineer does once a large batch's
    temporaries outgrow the cache (and each call faults fresh mmap-ed pages in)."""
    E, grads = loss_and_gradients(params, X[:block], T[:block], activations, loss)
    for s in range(block, len(X), block):
        more_E, more = loss_and_gradients(params, X[s:s + block], T[s:s + block], activations, loss)
        E += more_E
        for k in grads:
            grads[k] += more[k]
    return E, grads


def _slope(act, y, g):
    """g * phi'(v), phi' written in the output y."""
    if act == "sigmoid":
        return g * (y * (1.0 - y))
    if act == "tanh":
        return g * (1.0 - y * y)
    if act == "linear":
        return g
    raise ValueError(f"activation {act!r} has no slope here")


# -- data and the exported modules ----------------------------------------------------------

def problem(case):
    """params, X, T (bench_runtime's, the same as the runtime benchmark's) and V, a random direction."""
    import bench_runtime
    params, X, T = bench_runtime._data(case, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    V = {k: rng.standard_normal(p.shape) for k, p in params.items()}
    return params, X, T, V


def _max_diff(got, ref) -> tuple[float, float]:
    """(largest |got - ref| over every key, largest |ref| entry)."""
    diff = max(float(np.max(np.abs(np.asarray(got[k], dtype=np.float64) - ref[k]))) for k in ref)
    return diff, max(float(np.max(np.abs(ref[k]))) for k in ref)


def _fd_hvp(params, X, T, V, case, h=1e-4):
    """H V from central differences of the hand-written gradients along V, Richardson-extrapolated
    (4 D(h/2) - D(h)) / 3, error O(h^4): an oracle for H V that shares nothing with the others."""
    def central(h):
        plus = {k: p + h * V[k] for k, p in params.items()}
        minus = {k: p - h * V[k] for k, p in params.items()}
        gp = loss_and_gradients(plus, X, T, case["activations"], case["loss"])[1]
        gm = loss_and_gradients(minus, X, T, case["activations"], case["loss"])[1]
        return {k: (gp[k] - gm[k]) / (2 * h) for k in params}
    coarse, fine = central(h), central(h / 2)
    return {k: (4 * fine[k] - coarse[k]) / 3 for k in params}


# -- workers ------------------------------------------------------------------------------------

class Worker:
    """A process serving _serve's protocol; hello has "one" (seconds of one call per name) and "notes"."""

    def __init__(self, cmd: list[str], label: str, env: dict):
        self.label = label
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                     env={**os.environ, "PYTHONPATH": str(ROOT), **env})
        line = self.proc.stdout.readline()
        self.hello = json.loads(line) if line else {"missing": f"{label} worker died (exit {self.proc.wait()})"}

    def time(self, names: list[str], k: int) -> dict[str, list[float]]:
        self.proc.stdin.write(" ".join(names) + f" {k}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.label} worker died (exit status {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def numpy_worker(data_path: str, case_json: str, module: str, out_path: str) -> None:
    """The hand-written backprop (also walking the batch in blocks, as the export does, when N is large),
    the exported module's loss_and_gradients, loss() + gradients() and hessian_vector when it has one."""
    case = json.loads(case_json)
    data = dict(np.load(data_path))
    names = [k for k in data if k[0] in "Wb"]
    params, V, X, T = {k: data[k] for k in names}, {k: data[f"V_{k}"] for k in names}, data["X"], data["T"]
    acts, loss = case["activations"], case["loss"]
    fns = {"hand": lambda: loss_and_gradients(params, X, T, acts, loss)}
    if case["N"] > HAND_BLOCK:
        fns["hand_blocked"] = lambda: blocked_loss_and_gradients(params, X, T, acts, loss)
    out = {}
    if module:
        import bench_runtime
        mod = bench_runtime._load(Path(module))
        fns["exported"] = lambda: mod.loss_and_gradients(params, X, T)
        fns["two_pass"] = lambda: (mod.loss(params, X, T), mod.gradients(params, X, T))
        if hasattr(mod, "hessian_vector"):
            fns["hvp"] = lambda: mod.hessian_vector(params, X, T, V)
            out.update({f"hvp_{k}": np.asarray(h) for k, h in fns["hvp"]().items()})
        E, g = fns["exported"]()
        out.update({"exported_E": np.asarray(E), **{f"exported_{k}": np.asarray(g[k]) for k in names}})
        p32, X32, T32 = {k: v.astype(np.float32) for k, v in params.items()}, X.astype(np.float32), T.astype(np.float32)
        E32, g32 = mod.loss_and_gradients(p32, X32, T32)
        kept = f"loss {np.asarray(E32).dtype}, gradients {sorted({str(a.dtype) for a in g32.values()})}"
        if hasattr(mod, "hessian_vector"):
            h32 = mod.hessian_vector(p32, X32, T32, {k: v.astype(np.float32) for k, v in V.items()})
            kept += f", hessian_vector {sorted({str(a.dtype) for a in h32.values()})}"
        out["float32_dtypes"] = np.asarray(kept)
    np.savez(out_path, **out)
    warm = interleave(list(fns.values()), 3)
    serve(fns, {"one": {n: min(t) for n, t in zip(fns, warm)}, "notes": []})


def jax_worker(data_path: str, case_json: str, module: str, out_path: str) -> None:
    """Hand-written jax.jit(jax.value_and_grad(E)) and the exported JAX module's loss_and_gradients,
    jax.jit-ed as an engineer would; hessian_vector beside jax.jvp of jax.grad when exported."""
    try:
        import jax
    except ImportError as exc:
        print(json.dumps({"missing": f"jax not importable ({exc.name}): skipped"}), flush=True)
        return
    jax.config.update("jax_enable_x64", True)          # float64 like the others
    import jax.numpy as jnp
    case = json.loads(case_json)
    data = dict(np.load(data_path))
    names = [k for k in data if k[0] in "Wb"]
    P = {k: jnp.asarray(data[k]) for k in names}
    V = {k: jnp.asarray(data[f"V_{k}"]) for k in names}
    X, T = jnp.asarray(data["X"]), jnp.asarray(data["T"])
    acts = case["activations"].split(",")
    phi = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "linear": lambda v: v}

    def E(P, X, T):
        y = X
        for l, a in enumerate(acts, start=1):
            v = y @ P[f"W{l}"].T + P[f"b{l}"]
            if a == "softmax":
                return -(T * jax.nn.log_softmax(v, axis=1)).sum()
            y = phi[a](v)
        return 0.5 * ((T - y) ** 2).sum()
    vg = jax.jit(jax.value_and_grad(E))
    fns = {"jax_vg": lambda: jax.block_until_ready(vg(P, X, T))}
    out, notes = {}, [f"jax {jax.__version__}"]
    if module:
        import bench_runtime
        jmod = bench_runtime._load(Path(module))
        lg = jax.jit(jmod.loss_and_gradients)
        fns["exported_jax"] = lambda: jax.block_until_ready(lg(P, X, T))
        if hasattr(jmod, "hessian_vector"):
            hv = jax.jit(jmod.hessian_vector)
            fns["exported_jax_hvp"] = lambda: jax.block_until_ready(hv(P, X, T, V))
            jhv = jax.jit(lambda P, X, T, V: jax.jvp(lambda p: jax.grad(E)(p, X, T), (P,), (V,))[1])
            fns["jax_hvp"] = lambda: jax.block_until_ready(jhv(P, X, T, V))
    for name, f in fns.items():
        r = f()
        if name.endswith("hvp"):
            out.update({f"{name}_{k}": np.asarray(r[k]) for k in names})
        else:
            out.update({f"{name}_E": np.asarray(r[0]), **{f"{name}_{k}": np.asarray(r[1][k]) for k in names}})
    np.savez(out_path, **out)
    warm = interleave(list(fns.values()), 3)
    serve(fns, {"one": {n: min(t) for n, t in zip(fns, warm)}, "notes": notes})


# -- the measurement ------------------------------------------------------------------------------

LABELS = {"exported": "exported NumPy", "exported_jax": "jax.jit(exported JAX)", "jax_vg": "jax.jit(value_and_grad)",
          "torch64": "torch float64", "torch32": "torch float32", "hvp": "exported NumPy hessian_vector",
          "torch_hvp": "torch hvp", "exported_jax_hvp": "exported JAX hessian_vector", "jax_hvp": "jax.jvp of jax.grad"}


def _accuracy(results: dict, prefix: str, E_ref, g_ref) -> str | None:
    if f"{prefix}_E" not in results:
        return None
    got = {k: results[f"{prefix}_{k}"] for k in g_ref}
    d, scale = _max_diff(got, g_ref)
    dE = abs(float(results[f"{prefix}_E"]) - float(E_ref))
    return (f"max |{LABELS[prefix]} - hand-written| gradient {d:.1e} (largest entry {scale:.1e}), "
            f"loss {dE:.1e} (E = {float(E_ref):.6g})")


def thread_env(threads: int | None) -> dict:
    """The environment that gives every library `threads` threads (None: each library's default)."""
    if threads is None:
        return {}
    n = str(threads)
    return {"OPENBLAS_NUM_THREADS": n, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n,
            "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
                         f"intra_op_parallelism_threads={n}"}


def measure_case(case, rounds: int = ROUNDS, block: float = BLOCK, torch_python: str = TORCH_PYTHON,
                 threads: int | None = THREADS) -> dict:
    import bench_runtime
    b = bench_runtime.build(case)
    params, X, T, V = problem(case)
    acts, loss = case["activations"], case["loss"]
    notes = []
    E_ref, g_ref = loss_and_gradients(params, X, T, acts, loss)
    if "gap" in b:
        notes.append(f"exported module: GAP, {b['gap']}")
    tmp = Path(tempfile.mkdtemp(prefix="symbp_bench_train_"))
    data_path = tmp / "data.npz"
    np.savez(data_path, **params, X=X, T=T, **{f"V_{k}": v for k, v in V.items()})
    module = "" if "gap" in b else str(b["path"])
    cmds = {"numpy": [sys.executable, str(HERE / "bench_train.py"), "numpy-worker", str(data_path), json.dumps(case),
                      module, str(tmp / "numpy.npz")],
            "jax": [sys.executable, str(HERE / "bench_train.py"), "jax-worker", str(data_path), json.dumps(case),
                    str(bench_runtime.jax_path(Path(module))) if module else "", str(tmp / "jax.npz")],
            "torch": [torch_python, str(HERE / "torch_train_worker.py"), str(data_path), json.dumps(case),
                      str(tmp / "torch.npz")]}
    workers, results = {}, {}
    try:
        for label, cmd in cmds.items():
            if label == "torch" and not Path(torch_python).exists():
                notes.append(f"torch columns skipped: {torch_python} does not exist (a scratch venv with numpy and "
                             "torch; set SYMBP_TORCH_PYTHON)")
                continue
            progress(f"train {case['layers']}: starting the {label} worker ...")
            w = Worker(cmd, label, thread_env(threads))
            if "one" not in w.hello:
                notes.append(w.hello.get("missing", f"{label} worker failed"))
                w.close()
                continue
            workers[label] = w
            notes += [f"{label}: {n}" for n in w.hello["notes"]]
            results.update(dict(np.load(tmp / f"{label}.npz")))
        notes += _accuracy_notes(results, params, X, T, V, case, E_ref, g_ref, module)
        # Groups timed together, interleaved call by call; a group's callables live in one worker.
        groups = [("numpy", ["hand", "exported", "two_pass", "hand_blocked"]), ("numpy", ["hvp"]),
                  ("jax", ["jax_vg", "exported_jax"]), ("jax", ["jax_hvp", "exported_jax_hvp"]),
                  ("torch", ["torch64", "torch32"]), ("torch", ["torch_hvp"] if "hvp_W1" in results else [])]
        groups = [(lib, [n for n in names if lib in workers and n in workers[lib].hello["one"]])
                  for lib, names in groups]
        groups = [(lib, names) for lib, names in groups if names]
        samples = {n: [] for _, names in groups for n in names}
        pairs = {n: [] for n in samples}       # per-call ratio to its group's first callable
        t0 = time.perf_counter()
        for r in range(rounds):
            for lib, names in groups:
                one = sum(workers[lib].hello["one"][n] for n in names)
                k = max(2, int(block / max(one, 1e-6)))
                times = workers[lib].time(names, k)
                for n in names:
                    samples[n] += times[n]
                    pairs[n] += [a / b for a, b in zip(times[n], times[names[0]])]
                time.sleep(PAUSE)
            if r == 0:
                progress(f"train {case['layers']}: one round {time.perf_counter() - t0:.1f} s, {rounds} rounds")
    finally:
        for w in workers.values():
            w.close()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {n: statistics.median(s) for n, s in samples.items()}
    per_call = {n: statistics.median(p) for n, p in pairs.items()}
    torch_diff = None
    if "hvp_W1" in results and "torch_hvp_W1" in results:
        torch_diff = _max_diff({k: results[f"hvp_{k}"] for k in params}, {k: results[f"torch_hvp_{k}"] for k in params})[0]
    return {"case": case, "build": {k: v for k, v in b.items() if k != "path"}, "median": med,
            "per_call": per_call, "calls": {n: len(s) for n, s in samples.items()}, "rounds": rounds,
            "block": block, "threads": threads, "notes": notes, "hvp_torch_diff": torch_diff}


def _accuracy_notes(results, params, X, T, V, case, E_ref, g_ref, module) -> list[str]:
    notes = []
    for prefix in ("exported", "exported_jax", "jax_vg", "torch64", "torch32"):
        line = _accuracy(results, prefix, E_ref, g_ref)
        if line:
            notes.append(line)
    if "float32_dtypes" in results:
        notes.append(f"float32 arguments to the exported NumPy module give: {results['float32_dtypes']}")
    fd = _fd_hvp(params, X, T, V, case)
    hv = {name: {k: results[f"{name}_{k}"] for k in params} for name in ("hvp", "torch_hvp", "exported_jax_hvp",
                                                                          "jax_hvp") if f"{name}_W1" in results}
    if module and "hvp" not in hv:
        notes.append("the exported NumPy module has no hessian_vector: its columns are gaps")
    for name, h in hv.items():
        d, scale = _max_diff(h, fd)
        notes.append(f"max |{LABELS[name]} - extrapolated central difference of the hand-written gradients| = "
                     f"{d:.1e} (largest H V entry {scale:.1e})")
    for name in ("torch_hvp", "exported_jax_hvp"):
        if "hvp" in hv and name in hv:
            d, scale = _max_diff(hv["hvp"], hv[name])
            notes.append(f"max |{LABELS['hvp']} - {LABELS[name]}| = {d:.1e} (relative to the largest entry "
                         f"{d / scale:.1e})")
    return notes


def measure(cases=CASES, rounds: int = ROUNDS, block: float = BLOCK, torch_python: str = TORCH_PYTHON,
            threads: int | None = THREADS) -> list[dict]:
    rows = []
    for case in cases:
        progress(f"train {case['layers']} N={case['N']}: {rounds} rounds of ~{block:.2f} s per worker, "
                 f"{threads or 'default'} thread(s)")
        rows.append(measure_case(case, rounds, block, torch_python, threads))
    return rows


# -- the table -------------------------------------------------------------------------------------

def _cell(m, name, base, per_call=None):
    if name not in m or base not in m:
        return "—"
    txt = f"{m[name] / m[base]:.3f}"
    if per_call is not None:
        txt += f" ({per_call[name]:.3f})"
    return txt + f", {m[name] * 1e3:.2f} ms"


def render(rows: list[dict]) -> str:
    body, notes = [], []
    for r in rows:
        c, m, pc = r["case"], r["median"], r["per_call"]
        diff = r.get("hvp_torch_diff")
        body.append([f"{c['layers']} {c['activations'].replace(',', '/')} {c['loss']}", c["N"],
                     f"{m['hand'] * 1e3:.2f} ms", _cell(m, "exported", "hand", pc), _cell(m, "two_pass", "hand", pc),
                     _cell(m, "exported", "hand_blocked"),
                     _cell(m, "exported_jax", "jax_vg", pc), _cell(m, "torch64", "hand"), _cell(m, "torch32", "hand"),
                     _cell(m, "hvp", "torch_hvp"), "—" if diff is None else f"{diff:.1e}",
                     _cell(m, "exported_jax_hvp", "jax_hvp", pc),
                     f"{r['rounds']} x {r['block']:.2f} s, {r['threads'] or 'default'} thread(s)"])
        notes += [f"- {c['layers']}: {n}" for n in r["notes"]]
    head = ["network", "N", "hand-written NumPy", "exported NumPy loss_and_gradients / hand-written",
            "loss() + gradients() / hand-written", f"exported / hand-written in blocks of {HAND_BLOCK}", "jax.jit(exported JAX) / jax.jit(value_and_grad)",
            "torch float64 backward / hand-written", "torch float32 backward / hand-written",
            "hessian_vector / torch hvp", "max |Hv - torch hvp|", "jax.jit(exported JAX hessian_vector) / jax.jit(jvp of grad)",
            "rounds x block, threads"]
    return (table(head, body, "lr" + "r" * (len(head) - 2)) + "\n\n"
            "Cells: ratio of the medians (in brackets, the median of the per-call ratios within interleaved "
            "groups), then the median time of the numerator. Interleaved call by call in one process: the NumPy "
            "columns, the two JAX pairs; torch's float64/float32 share a worker, and their ratio to the hand-written "
            "NumPy is of medians taken in alternating blocks.\n\n" + "\n".join(notes) + "\n")


def bars(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        c, m = r["case"], r["median"]
        net = f"{c['layers']} N={c['N']}"
        for name, base, limit, what in (("exported", "hand", 1.05, "exported NumPy loss_and_gradients within 5% of hand-written"),
                                        ("exported_jax", "jax_vg", 1.10, "jax.jit(exported JAX) within 10% of jax.jit(value_and_grad)")):
            if name in m and base in m:
                ratio = m[name] / m[base]
                out.append(f"- {what}, {net}: {ratio:.3f} — {'met' if ratio <= limit else 'MISSED'}")
            else:
                out.append(f"- {what}, {net}: not measured")
        d = r.get("hvp_torch_diff")
        out.append(f"- hessian_vector agrees with torch hvp to 1e-8, {net}: "
                   + ("not measured" if d is None else f"{d:.1e} — {'met' if d <= 1e-8 else 'MISSED'}"))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds of timed blocks ({ROUNDS}; $SYMBP_BENCH_ROUNDS)")
    ap.add_argument("--block", type=float, default=BLOCK, help=f"seconds per worker and round ({BLOCK}; $SYMBP_BENCH_BLOCK)")
    ap.add_argument("--case", action="append", choices=[c["layers"] for c in CASES], help="only these networks")
    ap.add_argument("--torch-python", default=TORCH_PYTHON, help="interpreter with numpy and torch ($SYMBP_TORCH_PYTHON)")
    ap.add_argument("--threads", default=_threads,
                    help=f"threads of every library, or 'default' ({_threads}; $SYMBP_BENCH_THREADS)")
    ap.add_argument("--out", type=Path, default=OUTPUT, help="writes bench_train.md and bench_train.json there")
    args = ap.parse_args(argv)
    cases = [c for c in CASES if not args.case or c["layers"] in args.case]
    threads = None if args.threads == "default" else int(args.threads)
    rows = measure(cases, args.rounds, args.block, args.torch_python, threads)
    text = render(rows) + "\n" + "\n".join(bars(rows)) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_train.md").write_text(f"# Training-loop costs ({time.strftime('%Y-%m-%d %H:%M:%S')})\n\n{text}")
    (args.out / "bench_train.json").write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "jax-worker":
        jax_worker(*sys.argv[2:6])
    elif len(sys.argv) >= 2 and sys.argv[1] == "numpy-worker":
        numpy_worker(*sys.argv[2:6])
    else:
        sys.exit(main())
