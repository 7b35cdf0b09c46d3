"""The algebra the notes used to skip, read back from the displayed rows (issue 13 review): sigmoid + bce over a
common denominator, softmax + ce's sum of the targets, a graph's worked deltas in order, and no line twice."""
from __future__ import annotations

import random
import re

import pytest
import sympy as sp
from test_notes_wrap import same

from symbp import Network, derive
from symbp.compile import CompiledNetwork
from symbp.notes import (
    _example,
    _path_products,
    _simplification_rows,
    _Tex,
    _worked_weight,
    join_rows,
    render_tex,
    steps,
)
from symbp.spec import Training, spec_from_layer_string
from symbp.verify.latex import parse_latex_for


def _chains(lines: list[str]) -> list[tuple[str, list[str]]]:
    r"""Rows of one align -> (lhs, [rhs of each step]), ``&\qquad`` continuations joined, a reason beside cut."""
    out: list[tuple[str, list[str]]] = []
    for line in lines:
        body = line.split(REASON)[0]
        if body.startswith(r"&\qquad"):
            out[-1][1][-1] += " " + body[len(r"&\qquad"):]
        elif body.startswith("&"):
            out[-1][1].append(body[1:].strip().removeprefix("="))
        else:
            lhs, rhs = body.split("&", 1)
            out.append((lhs.strip(), [rhs.strip().removeprefix("=")]))
    return out


REASON = r" \qquad \text{("        # a reason written beside a row: \qquad \text{(since ...)}


def _readable(net, rhs: str) -> sp.Expr | None:
    """The rhs as an expression, or None for a step written in partial derivatives (a definition)."""
    return None if r"\partial" in rhs else parse_latex_for(net, rhs)


def _sigmoid(v):
    return 1 / (1 + sp.exp(-v))


# -- sigmoid + bce: dE/dy over y (1 - y), which the slope cancels -------------------------------------------

BCE = {"haykin": {}, "ont": {"notation": "ont"}, "nielsen": {"notation": "nielsen"},
       "mean": {"training": Training(reduction="mean")}}       # the batch's 1/N in front of every line


@pytest.mark.parametrize("profile", sorted(BCE))
def test_bce_brings_dE_dy_over_its_common_denominator_before_it_cancels(profile):
    net = Network(spec_from_layer_string("2-2-2", activation="sigmoid", loss="bce", **BCE[profile]))
    d = derive(net, check=False)
    r = d.deltas[net.delta[2][0]]
    y, t, s = net.y[2][0], net.t[0], net.profile.delta_sign
    scale = 1 / net.batch if profile == "mean" else 1
    (lhs1, dE_dy), (lhs2, delta) = _chains(_simplification_rows(_Tex(net), r))
    assert r"\partial" in lhs1 and lhs2 == _Tex(net)(r.symbol)
    # oracles written here: the loss of one output unit, differentiated by SymPy in y, and in v through y = sigma(v)
    v = sp.Symbol("v", real=True)
    loss = -(t * sp.log(y) + (1 - t) * sp.log(1 - y)) * scale
    want_dy = sp.diff(loss, y)
    want_delta = s * sp.diff(loss.subs(y, _sigmoid(v)), v)
    rng = random.Random(5)
    for _ in range(3):
        point = {v: sp.Rational(rng.randint(-40, 40), 17), t: sp.Rational(rng.randint(1, 30), 31),
                 net.batch: rng.randint(2, 9)}
        at = {**point, y: _sigmoid(point[v])}
        for rhs in dE_dy:       # every line of dE/dy is dE/dy
            assert abs(sp.N((parse_latex_for(net, rhs) - want_dy).xreplace(at), 30)) < 1e-20, rhs
        shown = [e for e in map(lambda rhs: _readable(net, rhs), delta) if e is not None]
        for e in shown:         # every line of delta is delta
            assert abs(sp.N((e - want_delta.xreplace(point)).xreplace(at), 30)) < 1e-20
    # the steps: the loss's two terms, each over y (1 - y), one fraction (y - t) / (y (1 - y))
    assert len(dE_dy) == 3 and dE_dy[0].count(r"\frac") == 2 + (scale != 1)
    num, den = sp.fraction(sp.together(parse_latex_for(net, dE_dy[-1]) / scale))
    assert sp.expand(num * (y - y**2) - (y - t) * den) == 0 and sp.expand(den).has(y**2)
    # delta: that fraction times the slope y (1 - y), then y - t in the profile's sign
    assert dE_dy[-1].strip() in delta[-2] and len(delta) == 3
    assert sp.expand(parse_latex_for(net, delta[-1]) - s * (y - t) * scale) == 0


def test_the_bce_remark_is_what_the_notes_show():
    net = Network.from_string("2-2-2", activation="sigmoid", loss="bce")
    d = derive(net, check=False)
    rows = _simplification_rows(_Tex(net), d.deltas[net.delta[2][0]])
    assert join_rows(rows) in render_tex(d)


# -- softmax + ce: the form for any targets, then the sum of the targets is 1 ------------------------------

def _softmax_ce():
    net = Network.from_string("4-5-3", activation="relu,softmax", loss="ce", notation="nielsen")
    return net, derive(net, check=False)


def test_softmax_ce_shows_the_sum_of_the_targets_before_using_that_it_is_one():
    net, d = _softmax_ce()
    T = _Tex(net)
    r = d.deltas[net.delta[2][0]]
    worked = _worked_weight(T, d, net.W[2][0][0].name)["delta"]
    z = list(sp.symbols("z1:4", real=True))
    a = [sp.exp(zi) / sum(sp.exp(zk) for zk in z) for zi in z]
    # the oracle: cross-entropy of a softmax written here, for targets of any sum, differentiated in z_1
    want = net.profile.delta_sign * sp.diff(-sum(tm * sp.log(am) for tm, am in zip(net.t, a)), z[0])
    rng = random.Random(11)
    for rows in (worked, _simplification_rows(T, r)):
        assert rows[-1].endswith(REASON + "since the targets of a sample sum to 1)}"), rows[-1]
        (lhs, rhs), = _chains(rows)
        general, rule = parse_latex_for(net, rhs[-2]), parse_latex_for(net, rhs[-1])
        # the line before the rule collects the unit's output: it multiplies the sum of all the targets
        assert rf"\left({T(sp.Add(*net.t))}\right) {T(net.y[2][0])}" in rhs[-2], rhs[-2]
        for total in (None, 1):                            # targets of any sum, then summing to one
            point = {zi: sp.Rational(rng.randint(-30, 30), 13) for zi in z}
            targets = [sp.Rational(rng.randint(1, 20), 7) for _ in net.t]
            if total:
                targets = [x / sum(targets) for x in targets]
            at = {**dict(zip(net.t, targets)), **{y: am.xreplace(point) for y, am in zip(net.y[2], a)}}
            oracle = want.xreplace({**point, **dict(zip(net.t, targets))})
            assert abs(sp.N(general.xreplace(at) - oracle, 30)) < 1e-20
            gap = abs(sp.N(rule.xreplace(at) - oracle, 30))
            assert gap < 1e-20 if total else gap > 1e-3     # the rule needs the targets to sum to one


def test_no_row_reaches_the_softmax_rule_without_the_reason():
    net, d = _softmax_ce()
    tex = render_tex(d)
    backward = tex[tex.index(r"\section{The backward pass}"):tex.index(r"\subsection{The local gradients of every")]
    rule = r"&= a^{(2)}_{1} - y_{1}"
    # the weight's delta shows the rule, with its reason; the matched pair's remark points there, not again
    assert backward.count(rule) == 1
    assert backward.count(rule + REASON + "since the targets of a sample sum to 1)}") == 1
    assert r"as the local gradient" + "\n" + r"$\delta^{(2)}_{1}$ above shows" in backward


# -- a graph's worked example: the deltas the update needs, in order ----------------------------------------

GRAPHS = {"skip": dict(activation="tanh,tanh,linear", skip="1:3"),
          "mixed": dict(activation="tanh,sigmoid,relu,softplus,softmax", loss="ce", skip="0:2,1:4", residual="1:3")}
LAYERS = {"skip": "2-3-3-1", "mixed": "3-4-4-4-4-2"}


@pytest.mark.parametrize("case", sorted(GRAPHS))
def test_a_graphs_worked_update_reads_only_worked_deltas_of_unit_one(case):
    net = Network.from_string(LAYERS[case], **GRAPHS[case])
    d = derive(net, check=False)
    T = _Tex(net)
    worked = _example(T, d, CompiledNetwork(d))["worked"]
    *deltas, update = worked["rows"]
    by_tex = {T(s): s for layer in net.delta.values() for s in layer}
    done = []
    for row in deltas:
        sym = by_tex[row["lhs"]]
        read = {s for s in row["expr"].free_symbols if s in by_tex.values()}
        # every delta of a unit 1 that this rule reads was worked above it; other units' come from the table
        assert {s for s in read if s.name.endswith("_1")} <= set(done), row["lhs"]
        # the numbers put in give the value shown
        assert float(sp.sympify(0) + parse_latex_for(net, row["numbers"])) == pytest.approx(row["exact"], rel=1e-5)
        done.append(sym)
    assert done[0] == net.delta[net.depth][0]
    assert {s for s in update["expr"].free_symbols if s in by_tex.values()} <= set(done)
    assert worked["read"] and worked["listed"]     # other units' deltas are read, all in the table of every unit


# -- no line twice --------------------------------------------------------------------------------------------

def test_steps_leave_out_a_stage_printed_as_the_one_before():
    assert steps("a", [["x"], ["x"], ["y", "+ z"], ["y + z"]]) == ["a &= x", "&= y + z"]
    net = Network.from_string("2-2-1", activation="sigmoid", loss="sse", notation="ont")
    T, (delta, x) = _Tex(net), (net.delta[1][0], net.x[0])
    assert _path_products(T, [(delta, x)], delta * x) == [[T(delta * x)]]       # delta x, then delta x again
    kept = _path_products(T, [(-delta, x)], -delta * x)                       # (-delta) x, then -delta x: a step
    assert len(kept) == 2 and kept[0] != kept[1]


BCE_SPEC = """\
[network]
layers = [2, 2, 2]
activations = ["sigmoid", "sigmoid"]
loss = "bce"
[example]
inputs = [[0.05, 0.10], [0.3, 0.7]]
targets = [[1.0, 0.0], [0.0, 1.0]]
learning_rate = 0.5
"""
REVIEW = {
    "default": ("2-3-1", {}),
    "ont": ("2-2-1", dict(activation="sigmoid", loss="sse", notation="ont", bias_sign="-")),
    "mitchell": ("3-4-4-2", dict(activation="tanh", notation="mitchell")),
    "nielsen": ("4-5-3", dict(activation="relu,softmax", loss="ce", notation="nielsen")),
    "bce": (None, {}),
    "wide": ("20-30-5", {}),
    "tanh": ("4-6-5-3", dict(activation="tanh")),
    "skip": (LAYERS["skip"], GRAPHS["skip"]),
    "mixed": (LAYERS["mixed"], GRAPHS["mixed"]),
    # not of the review: a successor sum whose factors print as their own product (delta w + delta w)
    "skip_nielsen": ("3-3-3-2", dict(activation="sigmoid", loss="bce", skip="0:2", notation="nielsen")),
}


def _aligned_rows(tex: str) -> list[list[str]]:
    """The rows of every align and aligned environment of a .tex."""
    blocks = re.findall(r"\\begin\{(align\*?|aligned)\}(.*?)\\end\{\1\}", tex, re.S)
    return [[r.strip() for r in re.split(r"\\\\(?:\[[^\]]*\])?\n", body) if r.strip()] for _, body in blocks]


def _shown(row: str) -> str:
    """A row's right-hand side as a reader sees it: after its relation, thin spaces and spacing dropped."""
    rhs = re.sub(r"^[^&]*&\s*(=|\\leftarrow)?", "", row, count=1)
    return re.sub(r"\s+|\\,", "", rhs)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(REVIEW))
def test_no_align_shows_a_line_twice_in_a_row(case, tmp_path):
    layers, flags = REVIEW[case]
    if layers is None:
        (tmp_path / "bce.toml").write_text(BCE_SPEC)
        net = Network.load(tmp_path / "bce.toml")
    else:
        net = Network.from_string(layers, **flags)
    tex = render_tex(derive(net, check=False))
    blocks = _aligned_rows(tex)
    assert len(blocks) > 10
    for rows in blocks:
        for a, b in zip(rows, rows[1:]):
            if b.startswith(r"&\qquad"):        # a continuation of the same step
                continue
            assert a != b and _shown(a) != _shown(b), (a, b)


# -- every step of a worked weight equals the one before ------------------------------------------------------

@pytest.mark.parametrize("case", ["default", "ont", "mitchell", "nielsen", "tanh", "skip"])
def test_each_shown_step_of_a_worked_weight_equals_the_step_before(case):
    layers, flags = REVIEW[case]
    net = Network.from_string(layers, **flags)
    d = derive(net, check=False)
    T, rng, checked = _Tex(net), random.Random(2), 0
    for name in {net.W[net.depth][0][0].name, net.W[net.depth - 1][0][0].name}:
        w = _worked_weight(T, d, name)
        for key in ("chain", "delta", "gradient"):
            for lhs, rhs in _chains(w[key]):
                readable = [e for e in (None if re.search(r"\\cdots|\\underbrace|\\Bigl", x) else _readable(net, x)
                                        for x in rhs) if e is not None]
                # the step said to use that the targets sum to one is read with them summing to one
                one = ({net.t[0]: 1 - sp.Add(*net.t[1:])} if REASON + "since the targets" in w[key][-1] else {})
                for n, (a, b) in enumerate(zip(readable, readable[1:])):
                    last = n == len(readable) - 2
                    assert same(a.xreplace(one if last else {}), b.xreplace(one if last else {}), rng), (lhs, a, b)
                    checked += 1
    assert checked >= 2


def test_the_worked_example_points_to_the_table_only_where_it_lists_every_delta_read():
    for layers, listed in (("2-3-4", True), ("2-3-10", False)):     # ten outputs: the table shows 1, 2, ..., 10
        net = Network.from_string(layers)
        d = derive(net, check=False)
        worked = _example(_Tex(net), d, CompiledNetwork(d))["worked"]
        hidden = next(r for r in worked["rows"] if r["lhs"] == _Tex(net)(net.delta[1][0]))
        assert set(net.delta[2]) <= hidden["expr"].free_symbols          # it reads every output delta
        assert worked["read"] and worked["listed"] is listed
        assert ("(the table below lists their\nvalues)" in render_tex(d)) is listed
