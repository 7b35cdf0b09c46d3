"""Derivation (with its self-check) time vs the number of parameters W, and the fitted exponent."""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from symbp import Network, derive

NETS = ["2-3-1", "4-8-4", "8-16-8", "8-16-16-8", "16-32-16-8", "32-64-32-8"]


def main(out: Path = Path("output/bench.md")) -> None:
    rows = []
    for layers in NETS:
        net = Network.from_string(layers)
        t0 = time.perf_counter()
        d = derive(net, check=False)
        t1 = time.perf_counter()
        from symbp.selfcheck import self_check
        report = self_check(d)
        t2 = time.perf_counter()
        rows.append((layers, net.n_params, t1 - t0, t2 - t1, report.method))
        print(f"{layers:>12} W={net.n_params:>5} derive {t1 - t0:7.2f} s  check {t2 - t1:7.2f} s ({report.method})",
              file=sys.stderr, flush=True)
    big = rows[-3:]
    xs = [math.log(r[1]) for r in big]
    ys = [math.log(r[2] + r[3]) for r in big]
    mx, my = sum(xs) / 3, sum(ys) / 3
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    lines = ["| network | W | derive (s) | self-check (s) | total (s) | check |", "|---|---:|---:|---:|---:|---|"]
    lines += [f"| {n} | {w} | {a:.2f} | {b:.2f} | {a + b:.2f} | {m} |" for n, w, a, b, m in rows]
    lines.append(f"\nFitted exponent of total time vs W over the three largest networks: {slope:.2f}")
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
