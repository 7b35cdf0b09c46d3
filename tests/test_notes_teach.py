"""What the notes teach beyond the rules (issue 13): the algorithm, the counts, numbers put into rules, a
training run; and each profile's letters kept to itself. Oracles: the hand-written reference backprop,
numbers counted by hand, the derivation's own rules read back from the displayed LaTeX."""
from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
import sympy as sp
from corpus import XOR
from test_notes_wrap import same

from symbp import Network, builtin_spec, derive
from symbp import indexform as ix
from symbp import reference as ref
from symbp.compile import CompiledNetwork
from symbp.descent import train
from symbp.example import worked_example
from symbp.notes import (
    _algorithm,
    _example,
    _simplification_rows,
    _speed,
    _Tex,
    _training,
    notes_context,
    render_tex,
)
from symbp.verify.latex import parse_latex_for


def _ctx(layers: str, **flags) -> tuple[Network, dict]:
    net = Network.from_string(layers, **flags)
    return net, notes_context(derive(net, check=False))


# -- the counts of "why backpropagation is fast", worked out by hand -------------------------------

def test_speed_counts_by_hand():
    # 2-3-1: 6 + 3 = 9 weights, W = 13; back through W2: 3, slopes of 3 hidden units, 9 weight gradients
    c = _speed(Network(builtin_spec()))["counts"]
    assert c == {"W": 13, "forward": 9, "backward": 3 + 3 + 9, "fd": 14 * 9, "fwd_mode": 13 * 9}
    # 784-256-10: 200,704 + 2,560 weights; back through W2 only (2,560), 256 slopes
    wide = _speed(Network.from_string("784-256-10", activation="sigmoid,softmax", loss="ce"))["counts"]
    assert wide["forward"] == 203_264 and wide["backward"] == 2_560 + 256 + 203_264
    assert wide["W"] == 203_530 and wide["fd"] == 203_531 * 203_264
    # the text's passes: 2-3-1's backward 15 = 1.7 forward passes of 9, the whole gradient 24/9 = 2.7
    speed = _speed(Network(builtin_spec()))
    assert (speed["back_passes"], speed["passes"]) == ("1.7", "2.7")


# -- numbers put into the rules ---------------------------------------------------------------------

def _read_number(tex: str) -> float:
    """A number as number() prints it: 1.2 \\times 10^{-5}."""
    mant, _, exp = tex.partition(r" \times 10^")
    return float(mant) * (10 ** int(exp.strip("{}")) if exp else 1)


@pytest.mark.parametrize("layers,flags", [
    ("2-3-1", {"activation": "sigmoid,linear"}),
    ("2-2-2", {"activation": "tanh,sigmoid", "loss": "bce", "notation": "nielsen"}),
    ("3-4-2", {"activation": "relu,linear", "notation": "ont", "bias_sign": "-", "loss": "sse"}),
])
def test_worked_numbers_are_the_rules_and_the_reference(layers, flags):
    net = Network.from_string(layers, **flags)
    d = derive(net, check=False)
    T = _Tex(net)
    ex = _example(T, d, CompiledNetwork(d))
    rows = ex["worked"]["rows"]
    assert len(rows) == 3                                    # output delta, hidden delta, one update
    rng = random.Random(7)
    for r in rows:
        # the printed rule is the derivation's (its last form, errors written out)
        shown = parse_latex_for(net, r["rule"])
        assert same(shown, r["expr"], rng), r["rule"]
        # the numbers put in, evaluated, give the value printed
        numbers = sp.sympify(0) + parse_latex_for(net, r["numbers"])
        assert float(numbers) == pytest.approx(r["exact"], rel=1e-5, abs=1e-9)
        assert _read_number(r["value"]) == pytest.approx(r["exact"], rel=1e-5)
        # every line in numbers (a factor worked out, H(0.29) = 1) is the value, to the six digits printed
        stages = []
        for row in r["rows"]:
            body = row.split("&", 1)[1].removeprefix("=").removeprefix(r"\qquad").removesuffix(r"\\[4pt]")
            if row.startswith(r"&\qquad"):
                stages[-1] += " " + body
            else:
                stages.append(body)
        numeric = [sp.sympify(0) + parse_latex_for(net, t.replace(r"\bigl", "").replace(r"\bigr", ""))
                   for t in stages]
        numeric = [v for v in numeric if not v.free_symbols]
        assert len(numeric) >= 2                    # the numbers put in and the value, at least
        for v in numeric:
            assert float(v) == pytest.approx(r["exact"], rel=1e-4, abs=1e-9)
    # the update's value is -eta times the reference's gradient of that weight
    raw = ex["raw"]
    params = {k: np.array(v) for k, v in _params(net, raw).items()}
    acts = tuple(a.name for a in net.activations)
    want = ref.gradients(params, np.array(raw["inputs"]), np.array(raw["targets"]), acts, net.loss.name,
                         net.bias_sign)
    assert rows[2]["exact"] == pytest.approx(-raw["learning_rate"] * want["W1"][0, 0], rel=1e-10)


def _params(net: Network, ex: dict) -> dict:
    from symbp.example import example_params
    p = {k: np.array(v, dtype=float) for k, v in example_params(net, None).items()}
    for name, pos in net.positions.items():
        p[pos.key][pos.index] = ex["params"][name]
    return p


def test_default_relu_numbers_stay_off_the_kink():
    net = Network.from_string("4-5-3", activation="relu,softmax", loss="ce")
    ex = worked_example(CompiledNetwork(derive(net, check=False)))
    assert min(abs(ex["forward"][v.name]) for v in net.v[1]) >= 0.05
    assert sum(g == 0 for g in ex["gradients"].values()) == 0


def test_batch_example_one_number_per_cell():
    net = Network.load("tests/data/two_two_one_ont_batch.toml")
    tex = render_tex(derive(net, check=False))
    body = tex[tex.index(r"\subsection{Every unit}"):tex.index("One step of gradient descent")]
    assert body.count(r"\begin{longtable}") == 2 and r"\allowbreak" not in body
    assert r"The batch total of the loss over the 2 samples is $E_{\text{batch}}" in tex


# -- the matched pairs, every step shown ------------------------------------------------------------

@pytest.mark.parametrize("layers,flags", [
    ("4-5-3", {"activation": "relu,softmax", "loss": "ce", "notation": "nielsen"}),
])
def test_simplification_rows_mean_the_rule(layers, flags):
    """softmax + ce; sigmoid + bce's two chains (dE/dy, then delta) are read back in test_notes_algebra.py."""
    net = Network.from_string(layers, **flags)
    d = derive(net, check=False)
    T = _Tex(net)
    r = next(r for r in d.deltas.values() if r.simplification)
    lines = _simplification_rows(T, r)
    assert len(lines) == 4                                   # definition, product, collected, rule
    one = {t: sp.Integer(1) - sp.Add(*[u for u in net.t if u != t]) for t in net.t[:1]}   # targets sum to 1
    rng = random.Random(3)
    for line in lines[1:]:
        got = parse_latex_for(net, line.removeprefix("&= ").split(r" \qquad \text{(")[0])   # the reason beside
        assert same(got.xreplace(one), r.value.xreplace(one), rng), line


def test_general_softmax_delta_shows_the_sum_of_targets():
    _, ctx = _ctx("4-5-3", activation="relu,softmax", loss="ce", notation="nielsen")
    first, second = ctx["index"]["output"]
    assert r"\sum_{q=1}^{Q} y_{q}" in first and r"a^{(l)}_{j} - y_{j}" in second


# -- the algorithm -----------------------------------------------------------------------------------

def test_algorithm_steps_are_the_matrix_rules():
    net, ctx = _ctx("3-4-4-2", activation="tanh,tanh,linear", notation="mitchell")
    alg, matrix = ctx["algorithm"], {m["layer"]: m["rows"] for m in ctx["matrix"]}
    assert alg["backward"] == matrix[2][:1] + matrix[1][:1]          # delta^(2), then delta^(1), as derived
    assert alg["output"] == matrix[3][:1]                            # no error vector in mitchell
    _, sig = _ctx("3-4-1", activation="tanh,sigmoid")
    e, first = sig["algorithm"]["output"]
    assert first == {m["layer"]: m["rows"] for m in sig["matrix"]}[2][0]
    assert e == r"\boldsymbol{e} &= \boldsymbol{d} - \boldsymbol{y}^{(2)}"         # defined before its use
    assert len(alg["updates"]) == len(alg["gradients"]) == 6          # W and b of three layers
    assert [e["name"] for e in alg["four"]] == list(net.profile.equations)
    _, ont = _ctx("2-2-1", activation="sigmoid", loss="sse", notation="ont", bias_sign="-")
    assert ont["algorithm"]["updates"][0] == (r"\mathbf{W}^{(2)} &\leftarrow \mathbf{W}^{(2)} - \eta "
                                              r"\boldsymbol{\delta}^{(2)} \left(\boldsymbol{o}^{(1)}\right)^{T}")
    assert all("+ -" not in u for u in ont["algorithm"]["updates"])
    _, nielsen = _ctx("2-3-2", activation="sigmoid", loss="bce", notation="nielsen")
    assert [e["name"] for e in nielsen["algorithm"]["four"]] == ["BP1", "BP2", "BP3", "BP4"]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_proof_of_the_hidden_rule_reaches_the_rule(activation):
    """The proof's third line (SymPy's factors) equals its last (the rule) once y_j = phi(v_j)."""
    net = Network.from_string("2-3-1", activation=f"{activation},linear")
    d = derive(net, check=False)
    r = d.index.hidden[1]
    act = net.activation(1)
    y, v = ix.B["y"][ix.j], ix.B["v"][ix.j]
    factors = sp.Sum(ix.B["delta_next"][ix.m] * r.dvnext_dy, (ix.m, 1, ix.M)) * r.dy_dv
    rule = r.hidden_delta.xreplace({y: act.function(v)})
    assert sp.simplify((factors - rule).doit()) == 0
    alg = _algorithm(_Tex(net), d)
    assert alg["proof"][-1].endswith(_Tex(net)(r.hidden_delta))


# -- the training run --------------------------------------------------------------------------------

def test_training_curve_is_the_reference_descent():
    """XOR on a 2-2-1: the drawn losses are gradient descent with the hand-written reference's gradients."""
    net = Network.from_string("2-2-1", activation="tanh,linear")
    d = derive(net, check=False)
    T, compiled = _Tex(net), CompiledNetwork(d)
    ex = _example(T, d, compiled)
    run = _training(T, compiled, ex["raw"])
    assert run["task"]["xor"] and not run["skipped"]
    eta = float(run["eta"])
    p = _params(net, ex["raw"])
    X, Y = np.array(XOR[0]), np.array(XOR[1])
    acts = ("tanh", "linear")
    want = []
    for _ in range(run["steps"] + 1):
        want.append(ref.loss(p, X, Y, acts, "half_sse", 1))
        g = ref.gradients(p, X, Y, acts, "half_sse", 1)
        p = {k: v - eta * g[k] for k, v in p.items()}
    np.testing.assert_allclose(run["losses"], want, rtol=1e-8, atol=1e-12)
    assert run["losses"][-1] < 0.01 * run["losses"][0]               # it learned
    assert len(run["path"].split(" -- ")) <= 2 * 100 + 2


def test_the_drawn_curve_keeps_every_stretchs_extremes():
    """A spike between the drawn points is drawn: each stretch's lowest and highest loss, worked by hand."""
    from symbp.descent import curve_steps
    losses = [10.0] + [1.0] * 500 + [24.0] + [0.5] * 498
    kept = curve_steps(losses)
    assert 501 in kept and 0 in kept and 999 in kept and len(kept) <= 202
    assert curve_steps([3.0, 2.0, 1.0]) == [0, 1, 2]


def test_the_builtin_notes_learn_xor_from_seed_003s_weights():
    """The built-in example has one sample, fitted in a few steps: the run learns XOR instead, from the worked
    example's weights (seed 003's), and the drawn losses are the reference's descent, which leaves XOR's plateau."""
    net = Network(builtin_spec())
    d = derive(net, check=False)
    T, compiled = _Tex(net), CompiledNetwork(d)
    ex = _example(T, d, compiled)
    run = _training(T, compiled, ex["raw"])
    assert run["task"]["xor"] and run["task"]["instead"]
    eta, p = float(run["eta"]), _params(net, ex["raw"])
    assert p["W1"][0, 0] == 0.15 and p["b2"][0] == 0.6                      # seed 003's numbers
    X, Y = np.array(XOR[0]), np.array(XOR[1])
    want = []
    for _ in range(run["steps"] + 1):
        want.append(ref.loss(p, X, Y, ("sigmoid", "linear"), "half_sse", 1))
        g = ref.gradients(p, X, Y, ("sigmoid", "linear"), "half_sse", 1)
        p = {k: v - eta * g[k] for k, v in p.items()}
    np.testing.assert_allclose(run["losses"], want, rtol=1e-8, atol=1e-12)
    assert run["steps"] > 100 and run["losses"][-1] < 0.01 * min(run["losses"][:100])   # past the plateau
    tex = render_tex(d)
    assert "The worked example has one sample" in tex and "learns XOR" in tex.replace("\n", " ")


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_momentum_is_spoken_of_only_under_momentum(momentum):
    """The worked update says the momentum term drops out at the first step only where there is one."""
    from dataclasses import replace

    from symbp.spec import Training
    net = Network(builtin_spec())
    tex = render_tex(derive(Network(replace(net.spec, training=Training(momentum=momentum))), check=False))
    assert ("momentum" in tex.lower()) == (momentum > 0)


def test_made_up_task_is_parity_by_hand():
    """Without samples the run learns parity: XOR for two inputs; for 3 inputs and 2 outputs the number of
    1s modulo 2, one-hot (worked by hand: 011 has two 1s, remainder 0, target (1, 0))."""
    from symbp.example import training_data
    X, Y = training_data(2, 1)
    assert X.tolist() == XOR[0] and Y.tolist() == XOR[1]
    X, Y = training_data(3, 2)
    assert X.tolist()[3] == [0, 1, 1] and Y.tolist()[3] == [1, 0] and Y.tolist()[7] == [0, 1] and len(X) == 8
    X, Y = training_data(4, 3)
    assert len(X) == 8 and len({tuple(x) for x in X.tolist()}) == 8 and X.tolist()[0] == [0, 0, 0, 1]
    assert Y.tolist()[0] == [0, 1, 0]               # one 1: remainder 1 of 3


@pytest.mark.parametrize("layers, flags, acts, loss", [
    ("2-3-1", {}, ("sigmoid", "sigmoid"), "half_sse"),
    ("4-5-3", {"activation": "relu,softmax", "loss": "ce", "notation": "nielsen"}, ("relu", "softmax"), "ce"),
    ("2-2-1", {"activation": "sigmoid", "loss": "sse", "notation": "ont", "bias_sign": "-"}, ("sigmoid", "sigmoid"),
     "sse")])
def test_default_training_curve_teaches(layers, flags, acts, loss):
    """The built-in run is neither instant nor flat: the loss is still above a tenth of its start after 10
    steps and ends below a fifth of it, along the reference descent on the made-up samples."""
    from symbp.example import training_data
    net = Network.from_string(layers, **flags)
    d = derive(net, check=False)
    T, compiled = _Tex(net), CompiledNetwork(d)
    ex = _example(T, d, compiled)
    run = _training(T, compiled, ex["raw"])
    losses = run["losses"]
    assert run["task"] and not run["diverged"] and len(losses) > 100
    assert losses[10] > 0.1 * losses[0] and losses[-1] < 0.2 * losses[0], (losses[0], losses[10], losses[-1])
    X, Y = training_data(net.layers[0], net.layers[-1])
    assert run["samples"] == len(X) > 1
    p, eta, sign = _params(net, ex["raw"]), float(run["eta"]), -1 if flags.get("bias_sign") == "-" else 1
    for n in range(run["steps"] + 1):
        if n in (0, 10, run["steps"]):
            assert ref.loss(p, X, Y, acts, loss, sign) == pytest.approx(losses[n], rel=1e-8)
        g = ref.gradients(p, X, Y, acts, loss, sign)
        p = {k: v - eta * g[k] for k, v in p.items()}
    if run["plateau"]:          # said of the smaller rates: the reference descent at that rate hardly moves
        p, eta = _params(net, ex["raw"]), float(run["plateau"])
        for _ in range(run["steps"]):
            g = ref.gradients(p, X, Y, acts, loss, sign)
            p = {k: v - eta * g[k] for k, v in p.items()}
        assert ref.loss(p, X, Y, acts, loss, sign) > 0.9 * losses[0]
    assert bool(run["plateau"]) == (layers != "4-5-3")


def test_training_stops_when_the_loss_is_no_longer_finite():
    net = Network.from_string("2-2-1", activation="tanh,linear")
    d = derive(net, check=False)
    start = {k: np.asarray(v, dtype=float) for k, v in _params(net, worked_example(net)).items()}
    losses, _, status = train(CompiledNetwork(d), start, np.array(XOR[0]), np.array(XOR[1]), 50.0, 500)
    assert status == "diverged" and all(np.isfinite(losses)) and len(losses) < 500


def test_wide_network_skips_the_training_run():
    net = Network.from_string("60-90-2", activation="sigmoid", loss="bce")
    T = _Tex(net)
    assert net.n_params > 5000
    assert _training(T, None, {})["skipped"]


# -- each profile's letters ----------------------------------------------------------------------------

def test_profiles_keep_their_letters():
    nielsen = render_tex(derive(Network.from_string("4-5-3", activation="relu,softmax", loss="ce",
                                                    notation="nielsen"), check=False))
    assert r"a_{1} = \frac{e^{z_{1}}}" in nielsen and "v_{1}" not in nielsen
    assert r"a^{(l)}_{j} = f(z^{(l)}_{j})" in nielsen          # sigma only names the logistic; f is Nielsen's
    assert "sample $x$" in nielsen
    ont = render_tex(derive(Network.from_string("2-2-1", activation="sigmoid", loss="sse", notation="ont",
                                                bias_sign="-"), check=False))
    # seed 004's samples x; the step is tau, as ont's n is the net input and t the target
    assert "sample $n$" not in ont and "sample $x$" in ont and "output $y$" not in ont
    assert r"{$-1$}" in ont and "constant input $-1$" in ont and r"(\tau+1)" in ont and "(p+1)" not in ont
    mitchell = render_tex(derive(Network.from_string("2-2-1", notation="mitchell"), check=False))
    assert r"\mathrm{net}" in mitchell and r"\mathit{net}" not in mitchell
    glob = render_tex(derive(Network(builtin_spec()), check=False))
    assert r"$w_{41} = w^{(2)}_{11}$" in glob and r"e_{1} = d_{1} - y_{4}" in glob


def test_prose_is_for_students():
    tex = render_tex(derive(Network(builtin_spec())))
    for program in ("sympy.diff", "half_sse", "seed", "proved by expansion", "the half the", "linear: z.",
                    "SymPy differentiates", "SymPy derives", "SymPy checks", "evaluated)", "with the sign"):
        assert program not in tex, program
    # SymPy is named for the check only, its details in a footnote
    assert tex.count("SymPy's differentiation of the loss\\footnote{") == 1
    assert tex.count("SymPy") == 2               # and in the footnote
    assert r"\emph{linear}: $z \mapsto z$" in tex


def test_notes_with_a_training_run_are_deterministic():
    d = derive(Network.from_string("2-2-1", activation="sigmoid", loss="bce"), check=False)
    assert render_tex(d) == render_tex(d)



def test_worked_update_under_momentum_and_weight_decay():
    """lambda's and alpha's numbers are put in too; the first step has no previous change (issue 14's rules)."""
    from symbp.spec import Training, spec_from_layer_string
    net = Network(spec_from_layer_string("2-3-1", activation="sigmoid,linear", loss="half_sse",
                                         training=Training(0.5, 0.1, False, "sum")))
    d = derive(net, check=False)
    ex = _example(_Tex(net), d, CompiledNetwork(d))
    update = ex["worked"]["rows"][2]
    assert r"\lambda" in update["rows"][0] and r"\lambda" not in update["rows"][1] and "(n-1)" not in update["rows"][1]
    assert float(parse_latex_for(net, update["numbers"])) == pytest.approx(update["exact"], rel=1e-5)
    raw = ex["raw"]
    p = _params(net, raw)
    g = ref.regularised_gradients(p, np.array(raw["inputs"]), np.array(raw["targets"]), ["sigmoid", "linear"],
                                  "half_sse", weight_decay=0.1)
    assert update["exact"] == pytest.approx(-raw["learning_rate"] * g["W1"][0, 0], rel=1e-10)
    assert ex["worked"]["first"]


def test_training_with_momentum_is_the_reference_rule():
    from symbp.spec import Training, spec_from_layer_string
    net = Network(spec_from_layer_string("2-2-1", activation="tanh,linear", loss="half_sse",
                                         training=Training(0.5, 0.01, False, "sum")))
    compiled = CompiledNetwork(derive(net, check=False))
    start = _params(net, worked_example(compiled))
    X, Y = np.array(XOR[0]), np.array(XOR[1])
    losses, final, _ = train(compiled, start, X, Y, 0.05, steps=20, momentum=0.5)
    p, state = start, None
    for _ in range(20):
        p, state = ref.momentum_step(p, state, X, Y, 0.05, ["tanh", "linear"], "half_sse", momentum=0.5,
                                     weight_decay=0.01)
    for key in p:
        np.testing.assert_allclose(final[key], p[key], rtol=1e-10, atol=1e-12)


def test_a_minus_before_a_difference_goes_into_it():
    """delta = (t - a)(1 - a^2), not -(a - t)(1 - a^2) (issue 13, defect 2, in the printer)."""
    _, ctx = _ctx("3-4-4-2", activation="tanh", notation="mitchell")
    assert ctx["index"]["output"] == [r"\delta^{(l)}_{j} &= \left(t_{j} - a^{(l)}_{j}\right) "
                                      r"\left(1 - \left(a^{(l)}_{j}\right)^{2}\right)"]
    assert ctx["deltas"][0]["rows"][0].startswith(r"\delta^{(3)}_{1} &= \left(t_{1} - a^{(3)}_{1}\right)")


def test_signal_flow_is_the_hidden_units_backward_pass():
    net, ctx = _ctx("2-4-5", activation="sigmoid,linear")
    flow, T = ctx["algorithm"]["flow"], _Tex(net)
    # delta_1 of layer 1 collects the output deltas through the weights out of unit 1: first two, dots, last
    assert [n["label"] for n in flow["nodes"]] == [T(net.delta[2][0]), T(net.delta[2][1]), r"\vdots", T(net.delta[2][4])]
    assert [n["weight"] for n in flow["nodes"] if not n["dots"]] == [T(net.W[2][m][0]) for m in (0, 1, 4)]
    assert flow["slope"] == T(net.y[1][0] * (1 - net.y[1][0])) and flow["delta"] == T(net.delta[1][0])


def test_algorithm_forward_pass_on_a_graph():
    _, ctx = _ctx("2-3-3-3-1", activation="tanh,tanh,tanh,linear", skip="0:2", residual="1:3")
    rows = ctx["algorithm"]["forward"]
    assert rows[2] == (r"\boldsymbol{v}^{(2)} &= \mathbf{W}^{(2)} \boldsymbol{y}^{(1)} + \mathbf{W}^{(2,0)} \boldsymbol{x}"
                       r" + \boldsymbol{b}^{(2)}")
    assert rows[5] == r"\boldsymbol{y}^{(3)} &= \tanh{\left(\boldsymbol{v}^{(3)} \right)} + \boldsymbol{y}^{(1)}"


# -- page layout: read back from the built PDF, page by page --------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                    reason="TeX Live (pdflatex, pdftotext) not installed")
@pytest.mark.parametrize("layers, flags, whole", [
    ("2-3-1", {}, True),
    ("3-4-4-4-4-2", {"activation": "tanh,sigmoid,relu,softplus,softmax", "loss": "ce", "skip": "0:2,1:4",
                     "residual": "1:3"}, False)])
def test_captions_and_lead_ins_share_a_page_with_their_bodies(layers, flags, whole, tmp_path):
    """Algorithm 1's caption sits on the page of its first step (and, when the algorithm fits a page, of its
    last), never before its section and at most a page after (a float, which lets the text fill the page);
    each table of the run's results starts on the page of its lead-in."""
    import subprocess

    from symbp.notes import render_notes
    pdf = render_notes(derive(Network.from_string(layers, **flags), check=False), tmp_path)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = [" ".join(p.split()) for p in text.split("\f")]

    def on(words: str) -> list[int]:
        return [n for n, p in enumerate(pages) if words in p]
    caption = on("Algorithm 1 (backpropagation")
    heading = on("4 The algorithm")
    assert len(caption) == 1 and len(heading) == 1 and caption[0] in on("Forward pass, layer by layer")
    assert heading[0] <= caption[0] <= heading[0] + 1
    assert (on("Updates, with learning rate") == caption) == whole
    for lead, head in (("After the run", "inputs targets outputs"), ("and the parameters, before and after", "parameter")):
        page = on(lead)
        assert len(page) == 1 and head in pages[page[0]].split(lead)[1], lead    # the table follows on the page
