"""Operation counts: sympy.count_ops after sympy.cse, gradient code vs loss code.

Both programs are lists of scalar expressions over the same unit symbols, cse'd as one list:

* loss program:     every forward definition v_j = net_input(l, j), y_j = output(l, j), then
                    the loss of one sample in the outputs (loss_in_outputs);
* gradient program: the same forward definitions, the error definitions e_j = t_j - y_j (if
                    the notation names them), every delta rule d.deltas[s].value and every
                    parameter gradient d.params[n].gradient.

Also given: count_ops of cse([net.explicit_loss()]) -- the loss as one nested expression.
The count is the sum of count_ops over the cse replacements and the reduced expressions.

sympy.cse of the per-parameter program grows much faster than W (about 200 s for the
4456-parameter 32-64-32-8 on this machine), so above PER_PARAM_MAX parameters the same
programs are counted in their per-layer matrix form instead (forward W@y + b, the
derivation's matrix rules d.matrix for delta, dE/dW, dE/db), with the scalar ops a matrix
expression costs by its dimensions: A (n x k) @ B (k x p) is n p (2k - 1), a Hadamard
product or sum of m terms (m - 1) n p, an elementwise function n p count_ops(body), a
scalar factor or negation n p. Both counts are given where both run, as a cross-check.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import NETS, progress, table  # noqa: E402


def _ops(exprs) -> int:
    import sympy as sp
    replacements, reduced = sp.cse(list(exprs), order="none")
    return sum(sp.count_ops(rhs) for _, rhs in replacements) + sum(sp.count_ops(e) for e in reduced)


def forward_definitions(net) -> list:
    out = []
    for l in range(1, net.depth + 1):
        out += [net.net_input(l, j) for j in net.units(l)]
        out += [net.output(l, j) for j in net.units(l)]
    return out


PER_PARAM_MAX = 2000


def _mat_ops(expr) -> int:
    """Scalar operations of a matrix expression, by its dimensions (see the module doc)."""
    import sympy as sp
    from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
    if isinstance(expr, (sp.MatrixSymbol, sp.OneMatrix, sp.Identity, sp.ZeroMatrix)):
        return 0
    n, p = expr.shape
    size = int(n * p)
    if isinstance(expr, sp.Transpose):
        return _mat_ops(expr.arg)
    if isinstance(expr, sp.MatMul):
        coeff, mats = expr.as_coeff_matrices()
        ops = sum(_mat_ops(m) for m in mats)
        acc = mats[0]
        for m in mats[1:]:
            k = int(acc.shape[1])
            ops += int(acc.shape[0]) * int(m.shape[1]) * (2 * k - 1)
            acc = sp.MatMul(acc, m)
        if mats[0].shape == (n, p) and len(mats) == 1 and isinstance(mats[0], sp.OneMatrix):
            return 0   # a broadcast constant c * 1
        return ops + (size if coeff != 1 else 0)
    if isinstance(expr, sp.MatAdd):
        ops = (len(expr.args) - 1) * size
        for a in expr.args:   # a - b counts one SUB, as count_ops does: no extra NEG
            coeff = a.as_coeff_matrices()[0] if isinstance(a, sp.MatMul) else 1
            ops += _mat_ops(-a if coeff == -1 else a)
        return ops
    if isinstance(expr, sp.HadamardProduct):
        return (len(expr.args) - 1) * size + sum(_mat_ops(a) for a in expr.args)
    if isinstance(expr, sp.HadamardPower):
        return size * sp.count_ops(sp.Symbol("z") ** expr.exp) + _mat_ops(expr.base)
    if isinstance(expr, ElementwiseApplyFunction):
        return size * sp.count_ops(expr.function.expr) + _mat_ops(expr.expr)
    raise TypeError(f"no op count for {type(expr).__name__}")


def matrix_counts(net, d) -> tuple[int, int]:
    """(loss program, gradient program) ops of the per-layer matrix form of one sample."""
    import sympy as sp
    fwd = 0
    for l in range(1, net.depth + 1):
        n, k = net.layers[l], net.layers[l - 1]
        fwd += n * (2 * k - 1) + (n if net.bias else 0)               # W @ y (+/-) b
        act = net.activation(l)
        if act.elementwise:
            fwd += n * sp.count_ops(net.output(l, 1))
        else:
            fwd += _ops([net.output(l, j) for j in net.units(l)])
    loss = fwd + _ops([net.loss_in_outputs()])
    grad = fwd + (len(net.e) * sp.count_ops(net.error(1)) if net.e else 0)
    for m in d.matrix:
        grad += _mat_ops(m.delta) + _mat_ops(m.grad_W) + (_mat_ops(m.grad_b) if m.grad_b is not None else 0)
    return loss, grad


def measure(nets=NETS, per_param_max: int = PER_PARAM_MAX) -> list[dict]:
    from symbp import Network, derive
    rows = []
    for layers in nets:
        net = Network.from_string(layers)
        d = derive(net, check=False)
        t0 = time.perf_counter()
        m_loss, m_grad = matrix_counts(net, d)
        if net.n_params > per_param_max:
            secs = time.perf_counter() - t0
            rows.append({"net": layers, "W": net.n_params, "loss": None, "explicit": None, "grad": None,
                         "m_loss": m_loss, "m_grad": m_grad, "ratio": m_grad / m_loss, "secs": secs,
                         "method": "matrix"})
            progress(f"ops    {layers:>11} W={net.n_params:>5}: matrix form loss {m_loss}, gradient {m_grad}, "
                     f"ratio {m_grad / m_loss:.2f} ({secs:.1f} s)")
            continue
        fwd = forward_definitions(net)
        loss_prog = _ops(fwd + [net.loss_in_outputs()])
        explicit = _ops([net.explicit_loss()])
        errors = [net.error(j) for j in range(1, len(net.e) + 1)] if net.e else []
        grad_exprs = ([r.value for r in d.deltas.values()] + [r.gradient for r in d.params.values()])
        grad_prog = _ops(fwd + errors + grad_exprs)
        secs = time.perf_counter() - t0
        rows.append({"net": layers, "W": net.n_params, "loss": loss_prog, "explicit": explicit,
                     "grad": grad_prog, "m_loss": m_loss, "m_grad": m_grad, "ratio": grad_prog / loss_prog,
                     "secs": secs, "method": "per-parameter cse"})
        progress(f"ops    {layers:>11} W={net.n_params:>5}: loss {loss_prog}, explicit loss {explicit}, "
                 f"gradient program {grad_prog}, ratio {grad_prog / loss_prog:.2f} ({secs:.1f} s)")
    return rows


def render(rows: list[dict]) -> str:
    dash = lambda x: "—" if x is None else x
    body = [[r["net"], r["W"], dash(r["loss"]), dash(r["explicit"]), dash(r["grad"]), r["m_loss"], r["m_grad"],
             f"**{r['ratio']:.2f}** ({'matrix' if r['method'] == 'matrix' else 'cse'})",
             f"{r['m_grad'] / r['m_loss']:.2f}", f"{r['secs']:.1f}"] for r in rows]
    return table(["network", "W", "loss: cse ops", "cse(explicit loss) ops", "grad: cse ops",
                  "loss: matrix-form ops", "grad: matrix-form ops", "grad / loss", "grad / loss (matrix)",
                  "count time (s)"], body) + "\n"


if __name__ == "__main__":
    print(render(measure()))
