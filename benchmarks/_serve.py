"""Interleaved timing and the line protocol of the benchmark workers; standard library only, so the
torch worker can use it from a scratch venv that holds nothing of symbp."""
from __future__ import annotations

import gc
import json
import sys
import time


def clock(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def interleave(fns: list, k: int) -> list[list[float]]:
    """k rounds of one call of each callable, the starting one rotating (A B, B A, ...), so drift and
    cache warmth from the previous call hit every callable alike. The garbage collector stays off
    while the calls are timed, as in timeit."""
    times = [[] for _ in fns]
    n = len(fns)
    gc.collect()
    gc.disable()
    try:
        for i in range(k):
            for j in range(n):
                m = (i + j) % n
                times[m].append(clock(fns[m]))
    finally:
        gc.enable()
    return times


def serve(fns: dict, hello: dict) -> None:
    """Print hello as one JSON line, then answer 'time NAME [NAME ...] K' lines on stdin with
    {NAME: [K call times in seconds]} as one JSON line, until stdin closes."""
    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        *names, k = line.split()
        times = interleave([fns[name] for name in names], int(k))
        print(json.dumps(dict(zip(names, times))), flush=True)
