"""What a person reads, at scale: the commands' time and size on 784-256-10, and derive --json vs W.

Each command runs as a user runs it (`python -m symbp ...` in a subprocess, wall time), so
start-up, the derivation and its self-check are included. Run alone it prints its tables.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fit_exponent, progress, table  # noqa: E402

WIDE = ["784-256-10", "--activation", "sigmoid,softmax", "--loss", "ce"]
JSON_NETS = ["8-16-8", "8-16-16-8", "16-32-16-8", "32-64-32-8"]


def _run(args: list[str], cwd: Path) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "symbp", *args, "--quiet"], cwd=cwd, capture_output=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"symbp {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return elapsed, done.stdout


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def _jupyter() -> tuple[float, int]:
    """derive(net) then _repr_latex_(), as a notebook cell shows it; the display alone is timed."""
    code = ("import time, symbp; d = symbp.derive(symbp.Network.from_string('784-256-10', "
            "activation='sigmoid,softmax', loss='ce')); t = time.perf_counter(); s = d._repr_latex_(); "
            "print(time.perf_counter() - t, len(s))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def measure() -> dict:
    rows = {}
    with tempfile.TemporaryDirectory(prefix="symbp-bench-present-") as tmp:
        tmp = Path(tmp)
        t, out = _run(["derive", *WIDE], tmp)
        rows["derive"] = {"time": t, "lines": out.count(b"\n"), "bytes": len(out)}
        progress(f"present: derive 784-256-10 {t:.1f} s, {rows['derive']['lines']} lines")
        t, _ = _run(["export", *WIDE, "-o", str(tmp / "g.py")], tmp)
        rows["export"] = {"time": t}
        progress(f"present: export 784-256-10 {t:.1f} s")
        try:
            t, _ = _run(["notes", *WIDE, "-o", str(tmp / "notes")], tmp)
            rows["notes"] = {"time": t, "pages": _pages(tmp / "notes" / "notes.pdf"),
                             "tex_bytes": (tmp / "notes" / "notes.tex").stat().st_size}
            progress(f"present: notes 784-256-10 {t:.1f} s, {rows['notes']['pages']} pages")
        except RuntimeError as exc:
            rows["notes"] = {"error": str(exc)}
        t, n = _jupyter()
        rows["jupyter"] = {"time": t, "chars": n}
        progress(f"present: _repr_latex_ 784-256-10 {t:.2f} s, {n} characters")
        rows["json"] = []
        for layers in JSON_NETS:
            t, out = _run(["derive", layers, "--json"], tmp)
            W = _n_params(layers)
            rows["json"].append({"net": layers, "W": W, "time": t, "bytes": len(out)})
            progress(f"present: derive --json {layers} (W={W}) {t:.1f} s")
    return rows


def _n_params(layers: str) -> int:
    n = [int(a) for a in layers.split("-")]
    return sum(n[l] * (n[l - 1] + 1) for l in range(1, len(n)))


def render(r: dict) -> str:
    notes = r["notes"]
    notes_cells = ([f"{notes['pages']} pages, {notes['tex_bytes'] / 1e3:.0f} kB of .tex", f"{notes['time']:.1f}",
                    "<= 30 pages, < 90 s", "met" if notes["pages"] <= 30 and notes["time"] < 90 else "MISSED"]
                   if "pages" in notes else ["failed: " + notes["error"][:200], "", "<= 30 pages, < 90 s", "MISSED"])
    d, e, j = r["derive"], r["export"], r["jupyter"]
    body = [["`symbp notes`", *notes_cells],
            ["`symbp derive`", f"{d['lines']} lines, {d['bytes'] / 1e3:.0f} kB", f"{d['time']:.1f}",
             "<= 400 lines, < 20 s", "met" if d["lines"] <= 400 and d["time"] < 20 else "MISSED"],
            ["`symbp export`", "", f"{e['time']:.1f}", "< 10 s", "met" if e["time"] < 10 else "MISSED"],
            ["`_repr_latex_()` (after derive)", f"{j['chars']} characters", f"{j['time']:.2f}",
             "< 3 s, <= 50,000 characters", "met" if j["time"] < 3 and j["chars"] <= 50000 else "MISSED"]]
    wide = table(["784-256-10 sigmoid/softmax ce (203,530 parameters)", "size", "time (s)", "bar", ""], body,
                 "llrll")
    rows = r["json"]
    slope = fit_exponent([x["W"] for x in rows], [x["time"] for x in rows])
    big = rows[-1]
    json_table = table(["network", "W", "`derive --json` (s)", "JSON (MB)"],
                       [[x["net"], x["W"], f"{x['time']:.2f}", f"{x['bytes'] / 1e6:.2f}"] for x in rows])
    verdict = "met" if slope <= 1.2 and big["time"] < 30 else "MISSED"
    return (wide + "\n\n" + json_table + f"\n\nFitted exponent of `derive --json` time over W: {slope:.2f} "
            f"(bar <= 1.2); {big['net']} in {big['time']:.1f} s (bar < 30 s) — {verdict}.\n")


if __name__ == "__main__":
    print(render(measure()))
