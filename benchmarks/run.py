"""All the performance benchmarks: python benchmarks/run.py -> output/bench.md and output/bench.png.

Sections (each can be skipped with --skip NAME): derive (derivation and self-check time vs W,
beside the naive sympy.diff of the explicit loss), ops (operation counts, gradient vs loss),
runtime (exported NumPy module vs the hand-written backprop, exported JAX module vs
jax.jit(value_and_grad)), train (loss_and_gradients and hessian_vector of the exported modules vs a
hand-written one-pass backprop, jax.jit(value_and_grad), torch autograd and hvp: bench_train.py), notes (`symbp notes` time), present (what a person reads of
784-256-10: notes pages, derive lines, export, Jupyter; derive --json vs W).
Progress goes to stderr. matplotlib is optional: without it the plot is skipped with a note.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_derive  # noqa: E402
import bench_naive  # noqa: E402
import bench_notes  # noqa: E402
import bench_ops  # noqa: E402
import bench_present  # noqa: E402
import bench_runtime  # noqa: E402
import bench_train  # noqa: E402
from _common import OUTPUT, blas_info, progress  # noqa: E402

SECTIONS = ("derive", "naive", "ops", "runtime", "train", "notes", "present")


def bars(derive_rows, ops_rows, runtime_rows) -> list[str]:
    out = []
    if derive_rows:
        big = derive_rows[-1]
        total = big["derive"] + big["check"]
        e = bench_derive.exponents(derive_rows)
        out.append(f"- derive {big['net']} with self-check < 60 s: {total:.1f} s — "
                   f"{'met' if total < 60 else 'MISSED'}")
        out.append(f"- fitted exponent <= 1.2: derive + self-check {e['total']:.2f}, derive alone "
                   f"{e['derive']:.2f} — {'met' if max(e['total'], e['derive']) <= 1.2 else 'MISSED'}")
    if ops_rows:
        worst = max(ops_rows, key=lambda r: r["ratio"])
        out.append(f"- gradient / loss ops <= 3: worst {worst['ratio']:.2f} ({worst['net']}) — "
                   f"{'met' if worst['ratio'] <= 3 else 'MISSED'}")
    for r in runtime_rows or []:
        c = r["case"]
        if "exported" not in r["median"]:
            out.append(f"- exported NumPy within 5% of the reference, {c['layers']}: GAP ({r['build']['gap']})")
            continue
        ratio = r["median"]["exported"] / r["median"]["reference"]
        out.append(f"- exported NumPy within 5% of the reference, {c['layers']} N={c['N']}: "
                   f"{ratio:.3f} (per-round median {r['per_round']['exported']:.3f}) — "
                   f"{'met' if ratio <= 1.05 else 'MISSED'}")
    for r in runtime_rows or []:
        c, m = r["case"], r["median"]
        bar = f"- exported JAX within 10% of hand-written jax.jit(value_and_grad), {c['layers']} N={c['N']}"
        if "exported_jax" not in m:
            out.append(f"{bar}: GAP ({r['build'].get('gap') or 'jax not importable'})")
            continue
        ratio = m["exported_jax"] / m["jax_vg"]
        out.append(f"{bar}: {ratio:.3f} (per-round median {r['per_round']['exported_jax']:.3f}) — "
                   f"{'met' if ratio <= 1.10 else 'MISSED'}")
    for r in runtime_rows or []:
        c, m = r["case"], r["median"]
        rivals = [n for n in ("torch", "jax") if n in m]
        bar = f"- exported NumPy faster than PyTorch autograd and jax.jit(grad), {c['layers']} N={c['N']}"
        if "exported" not in m or not rivals:
            out.append(f"{bar}: not measured ({'no exported module' if 'exported' not in m else 'torch/jax not importable'})")
            continue
        parts = ", ".join(f"{m['exported'] / m[n]:.2f}x {'PyTorch' if n == 'torch' else 'jax.jit'}" for n in rivals)
        met = all(m["exported"] < m[n] for n in rivals)
        out.append(f"{bar}: exported takes {parts} — {'met' if met else 'MISSED (see the elementwise table)'}")
    return out


def plot(path: Path, derive_rows, naive, ops_rows, runtime_rows) -> str:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (optional: pip install matplotlib): no plot written."
    panels = [p for p in (derive_rows, ops_rows, runtime_rows) if p]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2))
    axes = list(axes) if len(panels) > 1 else [axes]
    i = 0
    if derive_rows:
        ax = axes[i]; i += 1
        W = [r["W"] for r in derive_rows]
        ax.loglog(W, [r["derive"] for r in derive_rows], "o-", label="derive (check=False)")
        ax.loglog(W, [r["check"] for r in derive_rows], "s-", label="self-check")
        ax.loglog(W, [r["derive"] + r["check"] for r in derive_rows], "^-", label="total")
        if naive:
            done = [(r["W"], naive[r["net"]]["time"]) for r in derive_rows
                    if r["net"] in naive and naive[r["net"]]["done"]]
            over = [(r["W"], naive[r["net"]]["cap"]) for r in derive_rows
                    if r["net"] in naive and not naive[r["net"]]["done"]]
            if done:
                ax.loglog(*zip(*done), "kx--", label="naive sympy.diff")
            if over:
                ax.loglog(*zip(*over), "k^", mfc="none", label="naive > cap")
        ax.set_xlabel("parameters W"); ax.set_ylabel("seconds"); ax.set_title("derivation time")
        ax.legend(fontsize=8); ax.grid(True, which="both", alpha=0.3)
    if ops_rows:
        ax = axes[i]; i += 1
        W = [r["W"] for r in ops_rows]
        ax.loglog(W, [r["m_loss"] for r in ops_rows], "o-", label="loss program")
        ax.loglog(W, [r["m_grad"] for r in ops_rows], "s-", label="gradient program")
        ax.set_xlabel("parameters W"); ax.set_ylabel("count_ops"); ax.set_title("operation counts")
        ax.legend(fontsize=8); ax.grid(True, which="both", alpha=0.3)
    if runtime_rows:
        ax = axes[i]; i += 1
        labels = [f"{r['case']['layers']}\nN={r['case']['N']}" for r in runtime_rows]
        vals = [r["median"].get("exported", float("nan")) / r["median"]["reference"] for r in runtime_rows]
        ax.bar(range(len(vals)), vals, color="tab:blue")
        ax.axhline(1.0, color="k", lw=0.8); ax.axhline(1.05, color="r", ls="--", lw=0.8, label="+5%")
        ax.set_xticks(range(len(vals))); ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("exported / hand-written"); ax.set_title("gradient evaluation time")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"Plot: {path.name}."


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", action="append", default=[], choices=SECTIONS, help="leave a section out")
    ap.add_argument("--out", type=Path, default=OUTPUT, help="output directory (output/)")
    ap.add_argument("--naive-cap", type=float, default=bench_naive.CAP, help="seconds per network (60)")
    ap.add_argument("--naive-all", action="store_true",
                    help="run the naive way on every network even after a smaller one exceeded the cap")
    ap.add_argument("--build-timeout", type=float, default=bench_runtime.BUILD_TIMEOUT,
                    help="seconds for derive + export of a runtime network before it is a gap (180)")
    ap.add_argument("--time-budget", type=float, default=bench_runtime.TIME_BUDGET,
                    help="seconds of timed gradient calls per runtime case (6)")
    ap.add_argument("--train-rounds", type=int, default=bench_train.ROUNDS,
                    help=f"rounds of the train section ({bench_train.ROUNDS}; $SYMBP_BENCH_ROUNDS)")
    ap.add_argument("--train-block", type=float, default=bench_train.BLOCK,
                    help=f"seconds per worker and round in the train section ({bench_train.BLOCK}; $SYMBP_BENCH_BLOCK)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    env = blas_info()
    for line in env:
        progress(line)
    md = ["# symbp benchmarks", "", f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} by `python benchmarks/run.py`.", "",
          "## Machine", "", *[f"- {line}" for line in env], ""]
    derive_rows = naive = ops_rows = runtime_rows = None
    if "derive" not in args.skip:
        progress("== derivation time vs W ==")
        derive_rows = bench_derive.measure()
    if "naive" not in args.skip:
        progress(f"== naive sympy.diff of the explicit loss, cap {args.naive_cap:.0f} s per network ==")
        naive = bench_naive.measure(cap=args.naive_cap, skip_after_cap=not args.naive_all)
    if derive_rows:
        md += ["## Derivation time vs W", "",
               "Sigmoid units throughout, half_sse loss. `derive(net, check=False)`, then "
               "`self_check(d)` separately (symbolic for W <= 60, 50-digit numeric beyond). Naive: "
               "`sympy.diff(net.explicit_loss(), p)` for every parameter p (time includes building the "
               f"explicit loss), in a subprocess, stopped after {args.naive_cap:.0f} s.", "",
               bench_derive.render(derive_rows, naive)]
    if "ops" not in args.skip:
        progress("== operation counts ==")
        ops_rows = bench_ops.measure()
        md += ["## Operation counts: gradient code vs loss code", "",
               "`sympy.count_ops` after `sympy.cse`, one sample. Loss program: the forward definitions "
               "v = net_input(l, j), y = output(l, j) and the loss in the outputs. Gradient program: the "
               "same forward definitions, every delta rule `d.deltas[s].value` and every "
               "`d.params[n].gradient`, cse'd as one list. Above "
               f"{bench_ops.PER_PARAM_MAX} parameters the per-parameter cse is too slow (~200 s for "
               "32-64-32-8), so the per-layer matrix form is counted instead by dimensions "
               "(A(n x k) @ B(k x p): n p (2k - 1); Hadamard/sum of m terms: (m - 1) n p; elementwise "
               "function: n p count_ops(body)); both are shown where both run.", "",
               bench_ops.render(ops_rows)]
    if "runtime" not in args.skip:
        progress("== gradient evaluation time ==")
        runtime_rows = bench_runtime.measure(timeout=args.build_timeout, budget=args.time_budget)
        md += ["## One gradient evaluation: exported NumPy vs hand-written backprop", "",
               "Forward + loss + all gradients, float64, `params, X, T` fixed per case. Cells: median time "
               "ratio to `symbp.reference.gradients` (ratio of medians; per-round = median of the per-round "
               "ratios), then the median time; the exported JAX module's ratio is to the hand-written "
               "`jax.jit(jax.value_and_grad(E))` instead. Each library runs in a worker process of its own "
               "(PyTorch's and XLA's thread pools beside OpenBLAS in one process slowed NumPy 10-20x); the "
               "workers are asked in turn for blocks of ~0.15 s of calls, A B A B ..., after a warm-up. "
               "Exported modules are cached in output/bench_cache/.", "",
               bench_runtime.render(runtime_rows), "",
               "### Where the time goes: one elementwise pass and one matrix product, per library", "",
               "A 256 x 256 float64 array (784-256-10's hidden layer at N=256), median of repeated calls in "
               "the same workers. NumPy's float64 tanh/exp call the C library once per element unless the CPU "
               "has AVX-512 (then NumPy uses vectorized SVML kernels); PyTorch and XLA vectorize them with AVX2.",
               "", bench_runtime.render_micro(runtime_rows)]
    train_rows = None
    if "train" not in args.skip:
        progress("== training-loop costs: loss_and_gradients, hessian_vector ==")
        train_rows = bench_train.measure(rounds=args.train_rounds, block=args.train_block)
        md += ["## A training loop's calls: loss_and_gradients and hessian_vector", "",
               "\n\n".join(bench_train.__doc__.split("\n\n")[2:4]), "", bench_train.render(train_rows)]
    if "notes" not in args.skip:
        progress("== symbp notes ==")
        notes = bench_notes.measure()
        md += ["## `symbp notes` for the built-in example", "", bench_notes.render(notes)]
    if "present" not in args.skip:
        progress("== what a person reads, at scale ==")
        md += ["## Outputs the size of a lecture", "",
               "Each command as a user runs it (`python -m symbp ... --quiet`, wall time including start-up, the "
               "derivation and its self-check). `_repr_latex_` is timed alone, after `derive`.", "",
               bench_present.render(bench_present.measure())]
    md += ["## Bars", "", *bars(derive_rows, ops_rows, runtime_rows), *bench_train.bars(train_rows or []), ""]
    note = plot(args.out / "bench.png", derive_rows, naive, ops_rows, runtime_rows)
    md += [note, "", f"Total benchmark time: {time.perf_counter() - t0:.0f} s.", ""]
    (args.out / "bench.md").write_text("\n".join(md))
    progress(f"wrote {args.out / 'bench.md'}; {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
