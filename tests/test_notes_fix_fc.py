"""The training run's prose says only what its table shows (issue 13 review, helper fc): each sentence about the
learning rates is checked against runs built by hand and against gradient descent with the hand-written reference
(symbp/reference.py), with criteria written out here; the numbers of the tables are read back from the .tex."""
from __future__ import annotations

import re

import numpy as np
import pytest
from corpus import XOR

from symbp import Network, builtin_spec, derive
from symbp import reference as ref
from symbp.compile import CompiledNetwork
from symbp.descent import rate_facts, rise, train
from symbp.example import example_params, training_data
from symbp.notes import _example, _Tex, render_tex

# -- the facts, on runs made by hand --------------------------------------------------------------------


def falling(start, end, n=2001):
    """A run that falls steadily, by the same factor each step (its last quarter falls a lot)."""
    return list(np.geomspace(start, end, n)), {}, "done"


def flat(start, level, n=2001):
    """A run that drops to ``level`` at once and stays there (dead ReLUs, saturated units)."""
    return [start] + [level] * (n - 1), {}, "done"


def test_rise_by_hand():
    assert rise([10.0, 5.0, 2.0, 24.0, 1.0]) == (2, 3, 1)      # 2 at step 2, up to 24 at step 3
    assert rise([10.0, 5.0, 2.0, 3.0, 2.5, 30.0]) == (2, 5, 2)  # x15 over the lowest before it; two stretches climb
    assert rise([10.0, 2.0, 2.5, 1.0, 1.5, 0.5]) == (3, 4, 2)   # two climbs, x1.25 and x1.5
    assert rise([4.0, 3.0, 2.0, 1.0]) is None
    assert rise([1.0, 0.5, 0.504]) is None                      # 0.8 % up: not said
    assert rise([1.0, 0.5, 0.51]) == (1, 2, 1)                  # 2 % up
    assert rise([3.0]) is None


def test_the_curve_draws_both_ends_of_every_rise():
    """2,000 falling steps with two one-step rises: the 100-stretch thinning would keep each stretch's extremes
    only (a stretch's highest loss is its first), so the rises are kept by name."""
    from symbp.descent import curve_steps
    L = list(np.linspace(10.0, 1.0, 2000))
    L[500], L[1200] = L[499] * 1.5, L[1199] * 1.2
    kept = curve_steps(L)
    assert {499, 500, 1199, 1200} <= set(kept) and kept == sorted(kept) and kept[0] == 0 and kept[-1] == 1999


def test_stuck_rates_are_not_said_to_overshoot():
    """4-5-3 with ReLUs (the review's n453): at 0.25 and 0.5 the loss stays at 8.32 from 9.64, at 1 and 2 it
    ends above its start; only those two grew, the other two stall."""
    runs = {0.05: falling(9.64, 0.0039), 0.1: falling(9.64, 0.0017), 0.25: flat(9.64, 8.32),
            0.5: flat(9.64, 8.32), 1.0: flat(9.64, 15.9), 2.0: flat(9.64, 39.8)}
    facts = rate_facts(runs, 0.1)
    assert facts["grew"] == [1.0, 2.0] and facts["infinite"] == []
    assert facts["stalls"] == [0.25, 0.5]
    assert facts["slow"] and not facts["fastest"] and facts["plateau"] == []
    runs[2.0] = ([9.64, 50.0, 1e5], {}, "diverged")
    facts = rate_facts(runs, 0.1)
    assert facts["grew"] == [1.0, 2.0] and facts["infinite"] == [2.0]


def test_larger_rates_that_stall_are_not_the_fastest():
    """3-4-4-2 tanh (the review's n3442): 0.05 -> 0.223, 0.1 -> 0.0047, 0.25 -> 0.752, 0.5, 1, 2 -> 4 from 4.38.
    No rate grew, but the larger ones are not faster: they stall."""
    runs = {0.05: falling(4.38, 0.223), 0.1: falling(4.38, 0.0047), 0.25: flat(4.38, 0.752),
            0.5: flat(4.38, 4.0), 1.0: flat(4.38, 4.0), 2.0: flat(4.38, 4.0)}
    facts = rate_facts(runs, 0.1)
    assert facts["grew"] == [] and not facts["fastest"]
    assert facts["stalls"] == [0.25, 0.5, 1.0, 2.0] and facts["slow"]


def test_the_larger_ones_fastest_only_when_each_larger_rate_does_better():
    runs = {e: falling(2.7, end) for e, end in [(0.05, 0.049), (0.1, 0.022), (0.5, 0.0041), (2.0, 0.001)]}
    facts = rate_facts(runs, 2.0)
    assert facts["fastest"] and facts["slow"] and not facts["grew"] + facts["stalls"]
    # converged runs: faster is fewer steps; 1.0 taking 32 steps after 0.5's 3 is not faster
    conv = {0.05: (list(np.geomspace(1, 1e-13, 130)), {}, "converged"),
            0.5: (list(np.geomspace(1, 1e-13, 4)), {}, "converged"),
            1.0: (list(np.geomspace(1, 1e-13, 33)), {}, "converged")}
    assert not rate_facts(conv, 0.5)["fastest"]
    del conv[1.0]
    assert rate_facts(conv, 0.5)["fastest"]


def test_plateau_and_stall_of_small_rates():
    """Small rates that stay near the start sit on a plateau (said once, not again as a stall); a small rate that
    stops far from its start stalls and is not called slow."""
    runs = {0.05: flat(1.0, 0.99), 0.1: flat(1.0, 0.95), 0.25: falling(1.0, 0.5), 2.0: falling(1.0, 0.001)}
    facts = rate_facts(runs, 2.0)
    assert facts["plateau"] == [0.05, 0.1] and facts["stalls"] == [] and facts["slow"]
    runs = {0.05: flat(1.0, 0.5), 2.0: falling(1.0, 0.001)}
    facts = rate_facts(runs, 2.0)
    assert facts["plateau"] == [] and facts["stalls"] == [0.05] and not facts["slow"]


# -- the page against the reference's descent ----------------------------------------------------------

NETS = {
    "builtin": (None, {}, ("sigmoid", "linear"), "half_sse", ()),
    "n221": ("2-2-1", {"activation": "sigmoid", "loss": "sse", "notation": "ont", "bias_sign": "-"},
             ("sigmoid", "sigmoid"), "sse", ()),
    "n3442": ("3-4-4-2", {"activation": "tanh", "notation": "mitchell"}, ("tanh",) * 3, "half_sse", ()),
    "n453": ("4-5-3", {"activation": "relu,softmax", "loss": "ce", "notation": "nielsen"}, ("relu", "softmax"),
             "ce", ()),
    "ngraph": ("3-4-4-4-2", {"activation": "tanh,sigmoid,tanh,linear", "skip": "0:2", "residual": "1:3"},
               ("tanh", "sigmoid", "tanh", "linear"), "half_sse", ((1, 3),)),
}


def _read(tex: str) -> float:
    mant, _, exp = tex.strip("$ ").partition(r" \times 10^")
    return float(mant) * (10 ** int(exp.strip("{}")) if exp else 1)


def _said(phrase: str, rates: list[float]) -> list[float]:
    """The rates a phrase names: 'from $\\eta = X$' is every rate from X up; 'at $\\eta = a$, $b$ and $c$'."""
    if phrase.startswith("from"):
        low = _read(re.match(r"from \$\\eta = (.*?)\$", phrase).group(1))
        return [e for e in rates if e >= low]
    return sorted(_read(x) for x in re.findall(r"\$(?:\\eta = )?([^$]*)\$", phrase))


def _descent(name: str):
    """The page and, per rate in its table, the losses of the notes' run (train) from the same start; their first
    steps are the reference's descent (later ones only up to rounding: a run that spikes amplifies it)."""
    layers, flags, acts, loss, residual = NETS[name]
    net = Network(builtin_spec()) if layers is None else Network.from_string(layers, **flags)
    d = derive(net, check=False)
    compiled = CompiledNetwork(d)
    raw = _example(_Tex(net), d, compiled)["raw"]
    p0 = {k: np.array(v, dtype=float) for k, v in example_params(net, net.spec.example).items()}
    for n, pos in net.positions.items():
        p0[pos.key][pos.index] = raw["params"][n]
    X, Y = training_data(net.layers[0], net.layers[-1])
    sign = -1 if flags.get("bias_sign") == "-" else 1
    text = render_tex(d)
    table = re.search(r"loss at the end \\\\\n\\midrule\n(.*?)\\bottomrule", text, re.S).group(1)
    rows = [re.match(r"\$(.*?)\$ & (\d+) & \$(.*?)\$ \\\\", r).groups() for r in table.strip().splitlines()]
    runs = {}
    for eta_text, steps, _ in rows:
        eta = _read(eta_text)
        losses, _, status = train(compiled, p0, X, Y, eta)
        runs[eta] = losses + [np.inf] if status == "diverged" else losses
        assert len(losses) - 1 == int(steps)
        p, want = dict(p0), []
        for _ in range(min(20, len(losses))):
            want.append(ref.loss(p, X, Y, acts, loss, sign, residual=residual))
            g = ref.gradients(p, X, Y, acts, loss, sign, residual=residual)
            p = {k: v - eta * g[k] for k, v in p.items()}
        np.testing.assert_allclose(losses[:20], want, rtol=1e-7)
    return " ".join(text.split()), rows, runs


def _significant(x: float, digits: int) -> float:
    return float(f"{x:.{digits}g}")


@pytest.mark.parametrize("name", list(NETS))
def test_every_sentence_about_the_rates_is_what_the_reference_runs_do(name):
    tex, rows, runs = _descent(name)
    rates = sorted(runs)
    start = runs[rates[0]][0]
    assert _read(re.search(r"each from the loss (\$.*?\$) of the start", tex).group(1)) == pytest.approx(start, 1e-5)
    ends = {e: L[-1] if np.isfinite(L[-1]) else np.inf for e, L in runs.items()}
    best = min(rates, key=lambda e: ends[e])      # none of these converges: the lowest end is the best
    assert re.search(r"With the best of them, \$\\eta = (.*?)\$", tex).group(1) == f"{best:g}"
    # the table: each end as the reference's, with enough digits that it differs from the start
    for eta_text, _, last in rows:
        e = _read(eta_text)
        if last == r"\infty":
            assert not np.isfinite(ends[e])
            continue
        digits = len(re.sub(r"^[0.]+", "", last.split(" ")[0].replace(".", "")))   # significant digits printed
        assert _read(last) == pytest.approx(_significant(ends[e], digits), rel=1e-9), (e, last)
        assert _significant(ends[e], digits) != _significant(start, digits), (e, last)
    # overshoot: exactly the rates whose loss ended above its start or was not finite
    grew = [e for e in rates if ends[e] > start]
    said = re.search(r"overshoots \((.*?) the loss grows", tex)
    assert (_said(said.group(1), rates) if said else []) == grew
    infinite = [e for e in rates if not np.isfinite(ends[e])]
    if infinite:
        assert "without bound, $\\infty$" in tex
    # the plateau: every rate up to the one named left the loss above 0.9 of its start
    plateau = re.search(r"With \$\\eta \\le (.*?)\$ the loss hardly moves", tex)
    flat = [e for e in rates if plateau and e <= _read(plateau.group(1))]
    assert all(ends[e] > 0.9 * start for e in flat) and all(e < best for e in flat)
    # stalls: over the last quarter falling by less than 1 %, ending more than 10 times above the best
    tail = {e: (L[-1 - (len(L) - 1) // 4] - L[-1]) / L[-1] for e, L in runs.items() if np.isfinite(L[-1])}
    stalled = [e for e in rates if e in tail and e != best and e not in grew + flat and tail[e] < 0.01
               and ends[e] > 10 * ends[best]]
    said = re.search(r"The loss stalls (.*?): in the last (\d+) steps it falls by less than 1\\%", tex)
    assert (_said(said.group(1), rates) if said else []) == stalled
    if stalled:     # how far above: the smallest factor among them, to its power of ten
        far = re.search(r"it ends more than ([\d{},]+) times above where the best rate takes it", tex).group(1)
        ratio = min(ends[e] / ends[best] for e in stalled)
        assert int(far.replace("{,}", "")) <= ratio < 10 * int(far.replace("{,}", ""))
    # the larger ones fastest: each larger rate ended lower; slow: the smallest ended above the best
    if "the larger ones fastest" in tex:
        assert not grew and all(ends[b] < ends[a] for a, b in zip(rates, rates[1:]))
    if "too small a one moves slowly" in tex:       # ending more than twice as high as the best
        assert ends[rates[0]] > 2 * ends[best] and rates[0] not in stalled + grew
    else:
        assert ends[rates[0]] <= 2 * ends[best] or rates[0] in stalled or "the larger ones fastest" in tex
    # a run that does not learn says so: the best ends above a tenth of its start
    assert ("the network does not learn" in " ".join(tex.split())) == (ends[best] >= 0.1 * start)
    # the drawn run: "falls" only when it never climbs 1 % above its lowest so far, else where it rises
    L = np.array(runs[best])
    climb = L / np.minimum.accumulate(L)
    if climb.max() <= 1.01:
        assert "the batch loss falls from" in tex and "not steadily" not in tex
    else:
        m = re.search(r"the batch loss goes from .*? not steadily: after falling to (\$.*?\$) by step (\d+) it rises "
                      r"again, to (\$.*?\$) at step (\d+)", tex)
        assert m, tex[tex.index("With the best"):][:400]
        i, k = int(m.group(2)), int(m.group(4))
        assert i < k and L[i] == L[:k].min() and L[k] > 1.01 * L[i]
        assert _read(m.group(1)) == pytest.approx(L[i], rel=1e-5) and _read(m.group(3)) == pytest.approx(L[k], 1e-5)
        assert "falls from" not in tex[tex.index("With the best"):][:200]
        # the rises: stretches of steps over which the loss only grows, by more than 1 % in all
        times, n = 0, 0
        while n < len(L) - 1:
            start = n
            while n < len(L) - 1 and L[n + 1] > L[n]:
                n += 1
            times += n > start and L[n] > 1.01 * L[start]
            n += n == start
        said = "the largest of its rises measured against the loss before it" in " ".join(tex.split())
        assert said == (times > 1)


def test_the_builtin_run_is_still_xor_at_eta_01():
    """Seed 003's weights learn XOR at eta = 0.1 (2.42 -> 0.0005 in 2,000 steps), the reference's descent."""
    tex, _, runs = _descent("builtin")
    m = re.search(r"\$\\eta = 0\.1\$, the batch loss falls from (\$.*?\$) to (\$.*?\$)", tex)
    assert _read(m.group(1)) == pytest.approx(runs[0.1][0], rel=1e-5) and 2.42 < runs[0.1][0] < 2.43
    assert _read(m.group(2)) == pytest.approx(runs[0.1][-1], rel=1e-5) and runs[0.1][-1] < 0.001


def test_a_diverging_graph_tries_smaller_rates_until_one_falls_steadily():
    """ngraph: from 0.1 up every rate diverges and 0.05 spikes; 0.025 spikes too, 0.0125 falls all the way."""
    _, rows, runs = _descent("ngraph")
    rates = [_read(r[0]) for r in rows]
    assert rates[:3] == [0.0125, 0.025, 0.05]
    steady = np.array(runs[0.0125])
    assert np.all(np.diff(steady) <= 0)
    assert np.max(np.array(runs[0.025]) / np.minimum.accumulate(runs[0.025])) > 1.01


def test_outputs_are_printed_to_exactly_three_decimals():
    """The XOR table after the built-in run: each output the reference's forward pass of the reference's final
    weights (eta = 0.1, the drawn run), to three decimals, trailing zeros kept."""
    net = Network(builtin_spec())
    tex = render_tex(derive(net, check=False))
    body = tex[tex.index("(outputs to three decimals)"):]
    body = body[body.index(r"\midrule"):body.index(r"\bottomrule")]
    printed = re.findall(r"\$([^$()]*)\$ \\\\", body)      # one output: a number, not a one-tuple
    assert len(printed) == 4 and all(re.fullmatch(r"-?\d+\.\d{3}", y) for y in printed), printed
    d = derive(net, check=False)
    raw = _example(_Tex(net), d, CompiledNetwork(d))["raw"]
    p = {k: np.array(v, dtype=float) for k, v in example_params(net, net.spec.example).items()}
    for n, pos in net.positions.items():
        p[pos.key][pos.index] = raw["params"][n]
    X, Y = np.array(XOR[0]), np.array(XOR[1])
    for _ in range(2000):
        g = ref.gradients(p, X, Y, ("sigmoid", "linear"), "half_sse")
        p = {k: v - 0.1 * g[k] for k, v in p.items()}
    y = ref.forward(p, X, None, ("sigmoid", "linear"))[-1][1][:, 0]
    assert printed == [f"{round(v, 3) + 0.0:.3f}" for v in y]
