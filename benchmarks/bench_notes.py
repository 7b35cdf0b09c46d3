"""`symbp notes` time for the built-in example: derive (with check), notes.tex only, and with the PDF."""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import progress, table  # noqa: E402


def measure() -> dict:
    from symbp import Network, derive
    from symbp.notes import render_notes
    from symbp.spec import builtin_spec
    net = Network(builtin_spec())
    out = {"net": net.name}
    tmp = Path(tempfile.mkdtemp(prefix="symbp-bench-notes-"))
    try:
        t0 = time.perf_counter()
        d = derive(net)                                   # what `symbp notes` does: check=True
        out["derive"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        render_notes(d, tmp / "tex", pdf=False)
        out["tex"] = time.perf_counter() - t0
        progress(f"notes: derive {out['derive']:.2f} s, tex {out['tex']:.2f} s; compiling the PDF ...")
        try:
            t0 = time.perf_counter()
            render_notes(d, tmp / "pdf", pdf=True)
            out["pdf"] = time.perf_counter() - t0
        except Exception as exc:           # TeX missing or failing: report, don't stop the bench
            out["pdf_error"] = f"{type(exc).__name__}: {exc}"
        progress(f"notes: with PDF {out.get('pdf', float('nan')):.2f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def render(r: dict) -> str:
    pdf = f"{r['pdf']:.2f}" if "pdf" in r else f"failed ({r['pdf_error']})"
    total = f"{r['derive'] + r['pdf']:.2f}" if "pdf" in r else "—"
    return table(["example", "derive + self-check (s)", "render tex only (s)", "render tex + PDF (s)",
                  "`symbp notes` equivalent: derive + PDF (s)"],
                 [[r["net"], f"{r['derive']:.2f}", f"{r['tex']:.2f}", pdf, total]]) + "\n"


if __name__ == "__main__":
    print(render(measure()))
