"""Where the exported NumPy module's loss_and_gradients spends its time, statement by statement.

    python benchmarks/profile_export.py MODULE.py LAYERS ACTIVATIONS LOSS N [--repeats R]

Each statement of the module's private passes (_forward, _backward, _loss, _block_loss_and_gradients,
and hessian_vector on the whole batch when the module has it)
is run in turn in one namespace, as the function would run it, on the first block of samples
(BLOCK, as loss_and_gradients walks a large batch), and timed; the table gives the
median of R runs per statement (a statement that calls another pass includes all of it), beside
the hand-written backprop's total. Run it with OPENBLAS_NUM_THREADS=1 to match bench_train.
"""
from __future__ import annotations

import argparse
import ast
import inspect
import statistics
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_runtime  # noqa: E402
import bench_train  # noqa: E402

PASSES = ("_forward", "_backward", "_loss", "_block_loss_and_gradients")


def statements(fn) -> tuple[list[str], list]:
    """(parameter names, [(source line, compiled statement)]) of fn's body, the docstring left out."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    body = [s for s in tree.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    def code(s):
        if isinstance(s, ast.Return):         # timed as its expression
            return compile(ast.Expression(s.value), fn.__name__, "eval")
        return compile(ast.Module([s], []), fn.__name__, "exec")
    return [a.arg for a in tree.args.args], [(ast.unparse(s), code(s)) for s in body]


def profile(mod, params, X, T, repeats: int, V=None) -> list[tuple[str, str, float, float]]:
    """[(pass, statement, median seconds, fastest seconds)]; a return statement is timed as its expression."""
    x, d = mod._samples(X, T)
    block = getattr(mod, "BLOCK", x.shape[1])       # loss_and_gradients runs the passes per block
    x, d = x[:, :block], d[:, :block]
    rows = []
    passes = [*PASSES, *(["hessian_vector"] if V is not None and hasattr(mod, "hessian_vector") else [])]
    for name in passes:
        args, stmts = statements(getattr(mod, name))
        given = {"_loss": (mod._forward(params, x), d), "hessian_vector": (params, X, T, V)}.get(name, (params, x, d))
        times = [[] for _ in stmts]
        for _ in range(repeats):
            ns = dict(vars(mod))
            ns.update(dict(zip(args, given)))
            for i, (src, code) in enumerate(stmts):
                t0 = time.perf_counter()
                eval(code, ns) if src.startswith("return ") else exec(code, ns)
                times[i].append(time.perf_counter() - t0)
        rows += [(name, src, statistics.median(t), min(t)) for (src, _), t in zip(stmts, times)]
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module", type=Path)
    ap.add_argument("layers")
    ap.add_argument("activations")
    ap.add_argument("loss")
    ap.add_argument("N", type=int)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args(argv)
    mod = bench_runtime._load(args.module)
    case = {"layers": args.layers, "activations": args.activations, "loss": args.loss, "N": args.N}
    params, X, T, V = bench_train.problem(case)
    for _ in range(3):
        mod.loss_and_gradients(params, X, T)
    rows = profile(mod, params, X, T, args.repeats, V)
    total, hand = bench_train.interleave([lambda: mod.loss_and_gradients(params, X, T),
                                          lambda: bench_train.loss_and_gradients(params, X, T, args.activations,
                                                                                 args.loss)], args.repeats)
    print(f"{args.layers} {args.activations} {args.loss} N={args.N}: loss_and_gradients median "
          f"{statistics.median(total) * 1e3:.3f} ms, fastest {min(total) * 1e3:.3f} ms; hand-written median "
          f"{statistics.median(hand) * 1e3:.3f} ms, fastest {min(hand) * 1e3:.3f} ms ({args.repeats} interleaved calls)")
    print(f"statements on one block of {min(getattr(mod, 'BLOCK', len(X)), len(X))} samples:")
    print("  median   fastest  pass                         statement")
    for name, src, t, fast in rows:
        print(f"{t * 1e3:8.3f} {fast * 1e3:8.3f}  {name:28s} {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
