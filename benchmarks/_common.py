"""Shared helpers of the benchmarks: progress on stderr, the log-log fit, tables, the machine."""
from __future__ import annotations

import math
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:          # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

OUTPUT = ROOT / "output"

# The networks of the derivation and operation-count tables (sigmoid everywhere, half_sse).
NETS = ["2-3-1", "4-8-4", "8-16-8", "8-16-16-8", "16-32-16-8", "32-64-32-8"]

_T0 = time.perf_counter()


def progress(msg: str) -> None:
    print(f"[bench {time.perf_counter() - _T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def n_params(layers: str, bias: bool = True) -> int:
    n = [int(a) for a in layers.split("-")]
    return sum(n[l] * (n[l - 1] + bias) for l in range(1, len(n)))


def fit_exponent(ws, ts) -> float:
    """Least-squares slope of log t against log W."""
    xs, ys = [math.log(w) for w in ws], [math.log(t) for t in ts]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def table(header: list[str], rows: list[list], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def blas_info() -> list[str]:
    """BLAS library, its thread count and the environment that steers it."""
    import numpy as np
    out = [f"Python {platform.python_version()}, NumPy {np.__version__}, "
           f"{platform.machine()}, os.cpu_count() = {os.cpu_count()}, "
           f"usable CPUs = {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"]
    try:
        import sympy
        out[0] += f", SymPy {sympy.__version__}"
    except ImportError:
        pass
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        out.append(f"NumPy BLAS: {blas.get('name')} {blas.get('version')} "
                   f"({' '.join(str(blas.get('openblas configuration', '')).split())})")
    except Exception as exc:  # older NumPy: no mode="dicts"
        out.append(f"NumPy BLAS: unknown ({exc.__class__.__name__})")
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            out.append(f"threadpoolctl: {info.get('internal_api')} {info.get('version')} "
                       f"num_threads={info.get('num_threads')} ({info.get('threading_layer', '')}, "
                       f"{info.get('architecture', '')})")
    except ImportError:
        threads = _openblas_threads()
        out.append("threadpoolctl not installed; "
                   + (f"OpenBLAS reports {threads} threads (ctypes)" if threads else
                      "BLAS thread count not queried"))
    out.append(_cpu())
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS",
                                          "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out.append("Environment: " + ", ".join(f"{k}={v if v is not None else '(unset)'}" for k, v in env.items()))
    return out


def _cpu() -> str:
    """The CPU model and the vector extensions that decide NumPy's elementwise speed."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "CPU: unknown"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    simd = [f for f in ("avx2", "fma", "avx512f") if f in flags]
    return f"CPU: {model}; {', '.join(simd) or 'no AVX2'}{'' if 'avx512f' in flags else ' (no AVX-512)'}"


def _openblas_threads():
    """Ask the OpenBLAS NumPy loaded for its thread count (best effort, None if not found)."""
    import ctypes
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    libs = sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()
                   and line.split()[-1].startswith("/")})
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                     "openblas_get_num_threads"):
            fn = getattr(handle, name, None)
            if fn is not None:
                fn.restype = ctypes.c_int
                return fn()
    return None
