"""The naive way: sympy.diff of the explicit loss net.explicit_loss() for each parameter, capped.

Each network runs in a subprocess (``python bench_naive.py worker LAYERS CAP``) that stops
itself after CAP seconds of its own clock and is killed at CAP + 30 s: a runaway diff
cannot stall the benchmark, and its memory is returned.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import NETS, ROOT, n_params, progress  # noqa: E402

CAP = 60.0


def worker(layers: str, cap: float) -> None:
    import sympy as sp

    from symbp import Network
    net = Network.from_string(layers)
    t0 = time.perf_counter()
    E = net.explicit_loss()
    params = net.params()
    for i, p in enumerate(params, start=1):
        sp.diff(E, p)
        elapsed = time.perf_counter() - t0
        if elapsed > cap:
            print(f"STOP {i} {len(params)} {elapsed}", flush=True)
            return
    print(f"DONE {len(params)} {len(params)} {time.perf_counter() - t0}", flush=True)


def measure(nets=NETS, cap: float = CAP, skip_after_cap: bool = True) -> dict:
    """{layers: {"done", "time", "text", "cap", "done_params"}}; W grows along ``nets``, so once
    one network exceeds the cap the larger ones are reported as exceeding it without running."""
    out, over = {}, None
    for layers in nets:
        W = n_params(layers)
        if over is not None and skip_after_cap:
            out[layers] = {"done": False, "time": None, "cap": cap, "done_params": 0,
                           "text": f"> {cap:.0f} s (not run: {over} already over)"}
            progress(f"naive  {layers:>11} W={W:>5}: skipped, {over} already exceeded {cap:.0f} s")
            continue
        cmd = [sys.executable, str(Path(__file__).resolve()), "worker", layers, str(cap)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=cap + 30, cwd=ROOT,
                                 env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
            words = res.stdout.split()
            if len(words) < 4:
                raise RuntimeError(f"naive worker failed: {res.stderr[-500:]}")
            kind, done, total, elapsed = words[0], int(words[1]), int(words[2]), float(words[3])
        except subprocess.TimeoutExpired:
            kind, done, total, elapsed = "KILLED", 0, W, cap + 30
        if kind == "DONE":
            out[layers] = {"done": True, "time": elapsed, "cap": cap, "done_params": done, "text": f"{elapsed:.2f}"}
            progress(f"naive  {layers:>11} W={W:>5}: {elapsed:.2f} s")
        else:
            est = f", ~{elapsed * total / done:.0f} s extrapolated" if done else ""
            out[layers] = {"done": False, "time": None, "cap": cap, "done_params": done,
                           "text": f"> {cap:.0f} s ({done}/{total} params{est})"}
            progress(f"naive  {layers:>11} W={W:>5}: over {cap:.0f} s after {done}/{total} parameters")
            over = layers
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "worker":
        worker(sys.argv[2], float(sys.argv[3]))
    else:
        for k, v in measure().items():
            print(k, v["text"])
