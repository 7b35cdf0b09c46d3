"""The notes' training run: batch gradient descent with the compiled gradients, and what its runs show.

Numbers only; symbp.notes says them in words and draws the curve. Every fact about the learning rates is
computed from the runs themselves (rate_facts), so the text never claims what a run did not do.
"""
from __future__ import annotations

import numpy as np

TRAIN_STEPS = 2000      # XOR from seed 003's weights needs about 1,500 at eta = 0.1 to leave its plateau
TRAIN_RATES = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)     # tried besides the example's own, the best one drawn
TRAIN_HALVINGS = 3      # when the smallest rate is the best, at most this many halvings looking for a steady run
TRAIN_MAX_PARAMS = 5000      # above this the notes skip the training run (say so) rather than slow the build


CONVERGED = 1e-12      # a run stops once the loss is this small a fraction of where it started
RISE = 0.01            # a loss more than this fraction above the lowest before it is a rise worth saying
STALL = 0.01           # a run stalls when over its last quarter the loss falls by less than this fraction
FAR = 10.0             # a stalled run ends more than this factor above the best run's end
SLOW = 2.0             # the smallest rate "moves slowly" when it ends more than this factor above the best run
LEARNED = 0.1          # the best run learns the task when it ends below this fraction of where it started


def train(compiled, params: dict, X, T, eta: float, steps: int = TRAIN_STEPS,
          momentum: float = 0.0) -> tuple[list[float], dict, str]:
    """Batch gradient descent with the compiled gradients (weight decay is in them), with momentum
    Delta p(n) = alpha Delta p(n-1) - eta dE/dp: the loss before each step and after the last, the final
    parameters and how the run ended: "done", "converged" (the loss fell by CONVERGED) or "diverged"
    (the loss stopped being finite)."""
    params = {k: np.array(v, dtype=float) for k, v in params.items()}
    change = {k: np.zeros_like(v) for k, v in params.items()}
    losses = []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            loss, grads = compiled.loss_and_gradients(params, X, T)
            if not np.isfinite(loss):
                return losses, params, "diverged"
            losses.append(float(loss))
            if losses[-1] <= CONVERGED * losses[0]:
                return losses, params, "converged"
            change = {k: momentum * change[k] - eta * grads[k] for k in params}
            params = {k: v + change[k] for k, v in params.items()}
        loss = float(compiled.loss(params, X, T))
    if not np.isfinite(loss):
        return losses, params, "diverged"
    return losses + [loss], params, "done"


def search(compiled, start: dict, X, T, given: float, momentum: float = 0.0) -> tuple[dict, float]:
    """The runs of train from ``start`` at the given rate and each of TRAIN_RATES (rate -> (losses, params,
    status)), and the best rate: the run that converged fastest, else the lowest final loss (ties: the smaller
    rate). When the smallest rate is the best, smaller ones are tried too (at most TRAIN_HALVINGS), until one
    falls without rising: the larger ones overshoot."""
    runs = {eta: train(compiled, start, X, T, eta, momentum=momentum) for eta in sorted({given, *TRAIN_RATES})}

    def best() -> float:
        done = {e: r for e, r in runs.items() if r[2] != "diverged"}
        return min(done or runs, key=lambda e: (runs[e][2] == "diverged", runs[e][2] != "converged",
                                                len(runs[e][0]), runs[e][0][-1] if runs[e][0] else 0, e))

    if best() == min(runs):
        for _ in range(TRAIN_HALVINGS):
            low = runs[min(runs)]
            if low[2] != "diverged" and rise(low[0]) is None:
                break
            runs[min(runs) / 2] = train(compiled, start, X, T, min(runs) / 2, momentum=momentum)
        runs = dict(sorted(runs.items()))
    return runs, best()


def rises(losses) -> list[tuple[int, int]]:
    """Each rise of a run's loss as (step where it starts climbing, step where it stops): a stretch of steps
    over which the loss only grows, by more than RISE in all. The curve draws both ends of each."""
    L = np.asarray(losses, dtype=float)
    out, k = [], 0
    while k < len(L) - 1:
        if L[k + 1] > L[k]:
            start = k
            while k < len(L) - 1 and L[k + 1] > L[k]:
                k += 1
            if L[k] > (1 + RISE) * L[start]:
                out.append((start, k))
        else:
            k += 1
    return out


def rise(losses) -> tuple[int, int, int] | None:
    """The largest rise of a run's loss (relative to the lowest loss before it) as (step of that lowest, step
    of the rise, how many rises there are, as ``rises`` counts them), when the loss climbs more than RISE above
    its lowest so far; None when the loss only falls."""
    L = np.asarray(losses, dtype=float)
    if len(L) < 2:
        return None
    ratio = L / np.maximum(np.minimum.accumulate(L), np.finfo(float).tiny)
    k = int(np.argmax(ratio))
    return (int(np.argmin(L[:k])), k, max(1, len(rises(L)))) if ratio[k] > 1 + RISE else None


def rate_facts(runs: dict, eta: float) -> dict:
    """What the table of learning rates shows, each fact only where the runs show it (runs: rate -> the
    (losses, params, status) of train, all from the same start; eta: the run drawn): the rates whose loss
    grew and those whose loss stopped being finite; those that stalled (over the last quarter the loss fell
    by less than STALL, ending more than FAR above the drawn run's end); whether the smallest rate ended
    above the drawn run while still moving (slow); whether every rate lowered the loss and each larger rate
    did better (converged in fewer steps, or ended lower); and the plateau: the smaller rates from the
    smallest up that left the loss above 0.9 of its start while the drawn run fell below a tenth of it; how far
    (a power of ten) above the drawn run the stalled ones end; whether the drawn run learned (ended below
    LEARNED of its start)."""
    rates = sorted(runs)
    start, end = runs[eta][0][0], runs[eta][0][-1]
    infinite = [e for e in rates if runs[e][2] == "diverged"]
    grew = [e for e in rates if e in infinite or runs[e][0][-1] > start]

    def stuck(e):       # near its start: XOR's saddle, said as a plateau below
        return runs[e][2] != "diverged" and runs[e][0][-1] > 0.9 * start

    smaller = [e for e in rates if e < eta]
    plateau = smaller[:next((n for n, e in enumerate(smaller) if not stuck(e)), len(smaller))]
    if end >= 0.1 * start:
        plateau = []

    def stalled(e):
        L = runs[e][0]
        return (runs[e][2] == "done" and e != eta and e not in grew + plateau and L[-1] > FAR * end
                and L[-1 - (len(L) - 1) // 4] - L[-1] < STALL * L[-1])

    stalls = [e for e in rates if stalled(e)]
    low = rates[0]
    slow = low != eta and low not in grew + stalls and runs[low][0][-1] > SLOW * end

    def speed(e):       # smaller is faster: converged in fewer steps, else a lower end
        return (runs[e][2] != "converged", len(runs[e][0]) if runs[e][2] == "converged" else runs[e][0][-1])

    # how far above the best run's end the stalled ones stop: the smallest factor, to its power of ten
    far = min(runs[e][0][-1] / end for e in stalls) if stalls and end > 0 else FAR
    return {"grew": grew, "infinite": infinite, "stalls": stalls, "slow": slow, "plateau": plateau,
            "far": 10.0 ** np.floor(np.log10(far)), "learned": end < LEARNED * start,
            "fastest": not grew and all(speed(b) < speed(a) for a, b in zip(rates, rates[1:]))}


CURVE_BUCKETS = 100     # the drawn curve: the lowest and highest loss of each of this many stretches of steps


def curve_steps(losses: list) -> list[int]:
    """The steps drawn: of each stretch, its lowest and its highest loss in step order, and both ends of each
    rise, so a rise the text speaks of is drawn even when every step cannot be; the first and the last step
    always."""
    every = max(1, -(-len(losses) // CURVE_BUCKETS))
    kept = {0, len(losses) - 1, *(k for r in rises(losses) for k in r)}     # every rise the text counts, drawn
    for start in range(0, len(losses), every):
        stretch = range(start, min(start + every, len(losses)))
        kept |= {min(stretch, key=losses.__getitem__), max(stretch, key=losses.__getitem__)}
    return sorted(kept)
