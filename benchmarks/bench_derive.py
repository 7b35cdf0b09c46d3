"""Derivation time (check=False) and self-check time vs the number of parameters W, and the fitted exponent.

Run alone (python benchmarks/bench_derive.py) it prints its table; benchmarks/run.py uses measure().
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import NETS, fit_exponent, progress, table  # noqa: E402


def measure(nets=NETS) -> list[dict]:
    from symbp import Network, derive
    from symbp.selfcheck import self_check
    rows = []
    for layers in nets:
        net = Network.from_string(layers)
        t0 = time.perf_counter()
        d = derive(net, check=False)
        t1 = time.perf_counter()
        report = self_check(d)
        t2 = time.perf_counter()
        rows.append({"net": layers, "W": net.n_params, "derive": t1 - t0, "check": t2 - t1,
                     "method": report.method})
        progress(f"derive {layers:>11} W={net.n_params:>5}: derive {t1 - t0:6.2f} s, "
                 f"self-check {t2 - t1:6.2f} s ({report.method})")
    return rows


def exponents(rows: list[dict]) -> dict:
    big = rows[-3:]
    ws = [r["W"] for r in big]
    return {"derive": fit_exponent(ws, [r["derive"] for r in big]),
            "check": fit_exponent(ws, [r["check"] for r in big]),
            "total": fit_exponent(ws, [r["derive"] + r["check"] for r in big])}


def render(rows: list[dict], naive: dict | None = None) -> str:
    header = ["network", "W", "derive (s)", "self-check (s)", "total (s)", "check"]
    if naive is not None:
        header += ["naive sympy.diff (s)", "naive / total"]
    body = []
    for r in rows:
        total = r["derive"] + r["check"]
        row = [r["net"], r["W"], f"{r['derive']:.2f}", f"{r['check']:.2f}", f"{total:.2f}", r["method"]]
        if naive is not None:
            n = naive.get(r["net"])
            if n is None:
                row += ["not run", ""]
            elif n["done"]:
                row += [f"{n['time']:.2f}", f"{n['time'] / total:.1f}x"]
            else:
                row += [n["text"], f"> {n['cap'] / total:.1f}x"]
        body.append(row)
    e = exponents(rows)
    big = ", ".join(r["net"] for r in rows[-3:])
    return (table(header, body, "lr" + "r" * 3 + "l" + ("rr" if naive is not None else "")) +
            f"\n\nFitted log-log exponent over the three largest ({big}): derive {e['derive']:.2f}, "
            f"self-check {e['check']:.2f}, derive + self-check {e['total']:.2f}.\n")


def main(out: Path = Path("output/bench_derive.md")) -> None:
    text = render(measure())
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
