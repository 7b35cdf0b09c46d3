"""A layer's answer over a batch of samples (``verify --batch N``).

Every per-sample vector of the matrix form is then a matrix with one column per sample (``delta2`` is
(n_2, N), ``y1`` (n_1, N)); the weights and biases are shared. The batch's loss is the sum of the samples'
losses (or their mean, as ``reduction`` says, through N), so its gradient is the sum of the samples'
gradients: ``delta2 @ y1.T`` for a weight matrix, the deltas summed over the samples for a bias
(``delta2.sum(axis=1)``). The expected values are the derivation's per-sample rules, one copy per sample,
added; they are compared with the answer at random points of N samples sharing their parameters.
"""
from __future__ import annotations

import sympy as sp

from ..derive import Derivation
from ..printing import to_text
from . import algebra as alg
from .symbols import MAX_BATCH, batch_points, close, evaluate, number_text, output_symbols, point_text, sample_copies
from .target import Target, VerifyError, matrix_rule

POINTS = 4


def check_size(size) -> int:
    """A batch has 2 to MAX_BATCH samples (checked before the answer is read in its matrices)."""
    if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= MAX_BATCH:
        raise VerifyError(f"batch: expected a number of samples from 2 to {MAX_BATCH}, got {size!r}")
    return size


def check_batch(d: Derivation, t: Target) -> None:
    """A batch answer is a layer's (W2, b2, delta2), under plain gradient descent."""
    if not t.layer_level:
        raise VerifyError(f"param: --batch checks a layer's answer (a matrix W, a bias vector b or a delta "
                          f"vector), got the single {t.kind} {t.name!r}")
    training = d.net.training
    if training.weight_decay or training.momentum:
        raise VerifyError("batch: --batch checks plain gradient descent; this network's [training] has "
                          f"{'weight decay' if training.weight_decay else 'momentum'} (check one sample's rule)")


def shape(t: Target, size: int) -> tuple[int, int]:
    """A layer's deltas over a batch have a column per sample; a gradient has its parameter's shape."""
    return (t.shape[0], size) if t.kind == "delta" else t.shape


def _unroll(d: Derivation, size: int) -> list[dict]:
    """Per sample: its deltas and errors written out, and phi(v) back in outputs, in that sample's symbols."""
    outputs = output_symbols(d.net)
    names = [*d.deltas, *d.net.e]
    return [{copy[s]: d.unrolled(s).xreplace(outputs).xreplace(copy) for s in names}
            | {k.xreplace(copy): v.xreplace(copy) for k, v in outputs.items()} for copy in sample_copies(d.net, size)]


def per_sample(d: Derivation, t: Target, size: int, quantity: str) -> sp.ImmutableMatrix:
    """The quantity of each entry for each sample alone: column n is sample n's (the deltas' own layout)."""
    outputs = output_symbols(d.net)
    copies = sample_copies(d.net, size)
    rows = [d.quantity(n, quantity, form="unrolled").xreplace(outputs) for n in t.names]
    return sp.ImmutableMatrix(len(rows), size, [r.xreplace(c) for r in rows for c in copies])


def expected(d: Derivation, t: Target, size: int) -> sp.ImmutableMatrix:
    """The target over the batch: a delta's per-sample columns, or a parameter's step from the summed gradient."""
    if t.kind == "delta":
        return per_sample(d, t, size, "delta")
    summed = alg.sum_axis(per_sample(d, t, size, "gradient"), 1)
    grad = sp.ImmutableMatrix(*t.shape, list(summed))
    if t.quantity == "gradient":
        return grad
    update = grad.applyfunc(lambda g: -d.net.eta * g)
    return update if t.quantity == "update" else update + t.build(lambda n: d.params[n].symbol)


def expected_text(d: Derivation, t: Target) -> str:
    """The rule as --batch reads it back: W's and delta's matrix rules hold as they are (the product with
    y1.T sums the samples); a bias's gradient sums its deltas over the samples."""
    if t.kind != "bias":
        return to_text(matrix_rule(d, t))
    summed = f"({to_text(matrix_rule(d, t, 'gradient'))}).sum(axis=1)"
    return {"gradient": summed, "update": f"-eta*{summed}", "new": f"{t.name} - eta*{summed}"}[t.quantity]


def verdict(d: Derivation, t: Target, candidate: alg.Value, size: int, seed: int):
    """Is ``candidate`` (in the batch's symbols) the target over ``size`` samples? A VerifyResult."""
    from . import VerifyResult
    want = expected(d, t, size)
    text, rule = expected_text(d, t), (None if t.kind == "bias" else matrix_rule(d, t))
    unroll = _unroll(d, size)
    if alg.is_matrix(candidate):
        for values in unroll:
            candidate = candidate.xreplace(values)
    points = batch_points(d.net, size, POINTS, seed)
    found = _wrong_shape(d, t, candidate, want, size, points, unroll)
    if found is not None:
        mistake, message = found
        return VerifyResult(False, want, text, None, mistake, message, rule=rule, network=d.net, param=t.name,
                            quantity=t.quantity, score=0.0)
    if all(sp.expand(a - b) == 0 for a, b in zip(candidate, want)):
        return VerifyResult(True, want, text, None, None, f"Equivalent over a batch of {size} samples (identical "
                            "after expansion).", rule=rule, network=d.net, param=t.name, quantity=t.quantity,
                            score=1.0)
    for point in points:
        mine, right = evaluate(candidate, point), evaluate(want, point)
        if mine is None or right is None or not close(mine, right):
            mistake, why = _diagnosis(t, candidate, want, points)
            example = _example(t, candidate, want, point, mine, right)
            return VerifyResult(False, want, text, example[0], mistake, f"{why} {example[1]}", rule=rule,
                                network=d.net, param=t.name, quantity=t.quantity, score=0.0)
    return VerifyResult(True, want, text, None, None, f"Equivalent over a batch of {size} samples: equal at "
                        f"{len(points)} random batches to 30 significant digits.", rule=rule, network=d.net,
                        param=t.name, quantity=t.quantity, score=1.0)


def _agrees(a, b, points) -> bool:
    values = [(evaluate(a, p), evaluate(b, p)) for p in points]
    return all(x is not None and y is not None and close(x, y) for x, y in values)


def _wrong_shape(d, t, candidate, want, size, points, unroll) -> tuple[str, str] | None:
    """(mistake, message) for an answer whose shape is not the target's over the batch, else None."""
    mine, right = alg.shape_text(candidate), alg.shape_text(want)
    if alg.is_matrix(candidate) and candidate.shape == want.shape:
        return None
    if t.kind == "bias" and alg.is_matrix(candidate) and candidate.shape == (want.rows, size):
        steps = per_sample(d, t, size, "gradient")
        if t.quantity != "gradient":
            steps = steps.applyfunc(lambda g: -d.net.eta * g)
        signs = [(1, ""), (-1, ", and its sign is wrong as well")]
        for sign, also in signs:
            if _agrees(candidate, steps.applyfunc(lambda g, sign=sign: sign * g), points):
                return ("bias_not_summed",
                        f"The bias's {_what(t)} is not summed over the batch: yours is {mine}, one column per "
                        f"sample, each sample's own{also}; the batch's loss adds the samples' losses, so its "
                        f"{_what(t)} adds their columns (delta.sum(axis=1), or \\sum_n, or times the ones "
                        f"vector), of shape {right}.")
    if alg.is_matrix(candidate) and candidate.shape == want.shape[::-1]:
        if _agrees(alg.transpose(candidate), want, points):
            return ("missing_transpose", f"Yours is the transpose of {t.what} over the batch: shape {mine}, "
                                         f"expected {right}; transposed, it is right.")
    summed = " (summed over the wrong axis? the samples are the columns)" if t.kind == "bias" else ""
    return ("other", f"Wrong shape over a batch of {size} samples: the answer is {mine}; {t.what} is "
                     f"{right}{summed}.")


def _what(t: Target) -> str:
    return {"gradient": "gradient", "update": "update", "new": "step"}[t.quantity]


def _diagnosis(t: Target, candidate, want, points) -> tuple[str, str]:
    """The sign, or "other": the batch's mistakes of shape are named before any number is compared."""
    if _agrees(candidate, want.applyfunc(lambda e: -e), points):
        return "sign", f"The sign is wrong: yours is minus {t.what} over the batch."
    return "other", f"Not {t.what} over the batch, and no sign or shape explains the difference."


def _example(t: Target, candidate, want, point, mine, right) -> tuple[dict, str]:
    """The counterexample: the values the first differing entry reads, and that entry's two values."""
    cols = want.cols
    i = next(k for k in range(len(want)) if mine is None or right is None or not close(mine[k], right[k]))
    row, col = divmod(i, cols)
    used = candidate[i].free_symbols | want[i].free_symbols
    values = {s.name: float(v) for s, v in sorted(point.values.items(), key=lambda kv: kv[0].name) if s in used}
    got = None if mine is None else float(mine[i])
    exp = None if right is None else float(right[i])
    values.update(expected_value=exp, candidate_value=got)
    shown = point_text(values, [k for k in values if not k.endswith("_value")])
    return values, (f"For example at {shown}: entry ({row + 1}, {col + 1}): expected {number_text(exp)}, "
                    f"got {number_text(got)}.")
