"""[training]: weight decay, the mean over the batch and momentum, from the spec to step().

Oracles: sympy.diff of a loss the test writes itself (the plain network's explicit loss, times 1/N,
plus lambda/2 sum w^2 typed here), symbp.reference (hand-written NumPy that shares no code with the
symbolic side), central finite differences of the reference loss, and numbers worked by hand.
"""
import importlib.util
import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from symbp import Network, derive, reference
from symbp.cli import main
from symbp.compile import compile_network
from symbp.errors import SelfCheckError, SpecError
from symbp.example import worked_example
from symbp.export import export, module_source
from symbp.selfcheck import self_check
from symbp.spec import Training, spec_from_dict, spec_from_layer_string
from symbp.verify import verify

TORCH = Path("/tmp/torchvenv/bin/python")
ORACLE = Path(__file__).parent / "oracles" / "torch_step.py"

# (layers, activations, loss)
NETS = [("2-2-1", "sigmoid,linear", "half_sse"), ("2-2-2", "tanh,softmax", "ce"), ("2-2-1", "tanh,linear", "mse")]
SETTINGS = [Training(0.9, 0.1, False, "sum"), Training(0.5, 0.3, True, "mean")]


def _net(layers, acts, loss, training=None):
    return Network(spec_from_layer_string(layers, activation=acts, loss=loss, training=training or Training()))


def _by_hand_loss(net):
    """The regularised loss of one sample, written here: the plain network's explicit loss (times 1/N under
    mean, except mse, whose 1/N it has already), plus lambda/2 w^2 for every weight (and bias if decayed)."""
    t = net.training
    plain = Network(replace(net.spec, training=Training()))
    E = plain.explicit_loss()
    if t.reduction == "mean" and net.loss.name != "mse":
        E = E / plain.batch
    lam = sp.Symbol("lam", positive=True)
    decayed = [p for p in plain.params() if p.name.startswith("w") or t.decay_biases]
    return E + lam / 2 * sum(p ** 2 for p in decayed), lam


def _acts(net):
    return list(net.spec.activations)


def _kw(t: Training):
    return {"weight_decay": t.weight_decay, "decay_biases": t.decay_biases, "reduction": t.reduction}


# -- the gradient of every parameter -----------------------------------------------------------

@pytest.mark.parametrize("training", SETTINGS, ids=["sum", "mean"])
@pytest.mark.parametrize("layers,acts,loss", NETS)
def test_every_gradient_is_sympy_diff_of_the_regularised_loss(layers, acts, loss, training):
    d = derive(_net(layers, acts, loss, training))
    E, lam = _by_hand_loss(d.net)
    constraint = d.net.target_constraint()
    rng = np.random.default_rng(3)
    point = {s: sp.Float(rng.uniform(-1, 1)) for s in d.net.x + d.net.params()}
    point.update({t: sp.Float(v) for t, v in zip(d.net.t, rng.dirichlet(np.ones(len(d.net.t))))})
    point.update({d.net.batch: 3, d.net.lam: sp.Float(0.37)})
    for name, rule in d.params.items():
        truth = sp.diff(E, rule.symbol).xreplace(constraint).xreplace({lam: d.net.lam})
        derived = d.explicit(rule.gradient).xreplace(constraint)
        assert abs(float((truth - derived).xreplace(point))) < 1e-12, name
        assert (rule.decay != 0) == (rule.kind == "weight" or training.decay_biases)


@pytest.mark.parametrize("training", SETTINGS, ids=["sum", "mean"])
@pytest.mark.parametrize("layers,acts,loss", NETS)
def test_batch_gradients_match_finite_differences_of_the_reference(layers, acts, loss, training):
    net = _net(layers, acts, loss, training)
    compiled = compile_network(derive(net))
    rng = np.random.default_rng(5)
    params = {k: rng.normal(0, 0.7, v.shape) for k, v in compiled.init_params(0).items()}
    X = rng.normal(size=(3, net.layers[0]))
    T = rng.dirichlet(np.ones(net.layers[-1]), size=3)
    grads = compiled.gradients(params, X, T)
    E = compiled.loss(params, X, T)
    assert E == pytest.approx(reference.regularised_loss(params, X, T, _acts(net), loss, **_kw(training)), abs=1e-13)
    h = 1e-6
    for key, value in params.items():
        for idx in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][idx] += h
            minus[key][idx] -= h
            fd = (reference.regularised_loss(plus, X, T, _acts(net), loss, **_kw(training))
                  - reference.regularised_loss(minus, X, T, _acts(net), loss, **_kw(training))) / (2 * h)
            assert grads[key][idx] == pytest.approx(fd, abs=1e-7), (key, idx)


def test_mean_reduction_divides_mse_once():
    """mse is a mean already: reduction = mean leaves its loss (and deltas) as they are."""
    X, T = np.array([[0.3, -0.2], [0.5, 0.1]]), np.array([[0.2], [0.7]])
    plain = compile_network(_net("2-2-1", "tanh,linear", "mse"))
    mean = compile_network(_net("2-2-1", "tanh,linear", "mse", Training(reduction="mean")))
    params = plain.init_params(1)
    assert mean.loss(params, X, T) == plain.loss(params, X, T)
    half = compile_network(_net("2-2-1", "tanh,linear", "half_sse", Training(reduction="mean")))
    summed = compile_network(_net("2-2-1", "tanh,linear", "half_sse"))
    assert half.loss(params, X, T) == pytest.approx(summed.loss(params, X, T) / 2, rel=1e-15)


def test_a_one_sample_weight_decay_by_hand():
    """2-1-1 linear, half_sse, one sample: E = (d - w2 w1 x)^2/2 + lambda/2 (w1^2 + w2^2), no biases.
    At x = 1, d = 1, w1 = 0.5, w2 = 2, lambda = 0.1: y = 1, so dE/dw1 = lambda w1 = 0.05, dE/dw2 = 0.2."""
    net = Network(spec_from_layer_string("1-1-1", activation="linear", bias=False,
                                         training=Training(weight_decay=0.1)))
    g = compile_network(net).gradients({"W1": np.array([[0.5]]), "W2": np.array([[2.0]])}, [[1.0]], [[1.0]])
    assert g["W1"][0, 0] == pytest.approx(0.05, abs=1e-15)
    assert g["W2"][0, 0] == pytest.approx(0.2, abs=1e-15)


def test_the_self_check_rejects_a_wrong_decay_factor():
    d = derive(_net("2-2-1", "sigmoid,linear", "half_sse", Training(weight_decay=0.1)), check=False)
    d.params = {n: replace(r, gradient=r.gradient + r.decay) for n, r in d.params.items()}   # 2 lambda w
    with pytest.raises(SelfCheckError):
        self_check(d)


def test_the_numeric_self_check_covers_weight_decay():
    """Above 60 parameters the check runs along random directions; the regulariser is in both sides."""
    d = derive(_net("4-8-3", "tanh,softmax", "ce", Training(0.9, 0.2, True, "mean")))
    assert d.check.method == "numeric"
    d.params = {n: replace(r, gradient=r.gradient - r.decay) for n, r in d.params.items()}   # decay forgotten
    with pytest.raises(SelfCheckError):
        self_check(d)


def test_plain_training_changes_no_rule():
    plain = derive(_net("2-2-1", "sigmoid,linear", "half_sse"))
    assert str(plain.params["w1_1_1"].update) == "delta1_1*eta*x1"
    sigmoid_out = derive(_net("2-2-1", "sigmoid,sigmoid", "half_sse"))
    assert str(sigmoid_out.deltas[sigmoid_out.net.delta[2][0]].value) == "e1*y2_1*(1 - y2_1)"   # not expanded
    assert "learning rule" not in plain.text()
    src = module_source(plain, "numpy")
    assert "def step(" in src and "_regulariser" not in src


def test_derive_states_the_update_equations():
    d = derive(_net("2-2-1", "sigmoid,linear", "half_sse", Training(0.9, 1e-4, False, "mean")))
    rule = d.params["w2_1_1"]
    eta, alpha, lam = d.net.eta, d.net.alpha, d.net.lam
    prev, w = rule.previous, rule.symbol
    assert prev.name == "dw2_1_1_prev"
    assert sp.expand(rule.update - (alpha * prev - eta * (rule.loss_gradient + lam * w))) == 0
    assert sp.expand(rule.new - (w + rule.update)) == 0
    assert d.params["b2_1"].decay == 0
    data = d.to_dict()
    assert data["network"]["training"] == {"momentum": 0.9, "weight_decay": 1e-4, "decay_biases": False,
                                           "reduction": "mean"}
    assert data["parameters"]["w2_1_1"]["previous"] == "dw2_1_1_prev"
    assert "alpha" in data["learning_rule"]["update"]["expr"]
    assert r"\Delta w^{(2)}_{11}(n-1)" in data["parameters"]["w2_1_1"]["update"]["latex"]
    assert r"\lambda" in data["parameters"]["w2_1_1"]["gradient"]["latex"]
    assert "momentum alpha = 0.9" in d.text()


# -- step() --------------------------------------------------------------------------------

def _module(tmp_path, d, target):
    path = export(d, tmp_path / f"m_{target}_{abs(hash(d.net.name)) % 10**6}.py", target=target)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("target", ["numpy", "jax"])
@pytest.mark.parametrize("training", SETTINGS + [Training(0.7, 0.0, False, "mean")], ids=["sum", "mean", "nodecay"])
def test_step_equals_the_reference_over_several_steps(tmp_path, target, training):
    if target == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
    net = _net("3-4-2", "tanh,softmax", "ce", training)
    m = _module(tmp_path, derive(net, check=False), target)   # the self-check is tested above
    rng = np.random.default_rng(7)
    params = {k: rng.normal(0, 0.5, m.SHAPES[k]) for k in m.PARAMETERS}
    ours, state, theirs, their_state = params, None, params, None
    for _ in range(5):
        X, T = rng.normal(size=(4, 3)), rng.dirichlet(np.ones(2), size=4)
        ours, state = m.step(ours, state, X, T, 0.2)
        theirs, their_state = reference.momentum_step(theirs, their_state, X, T, 0.2, _acts(net), "ce",
                                                      momentum=training.momentum, **_kw(training))
        for k in theirs:
            np.testing.assert_allclose(np.asarray(ours[k]), theirs[k], rtol=0, atol=1e-13)
            np.testing.assert_allclose(np.asarray(state[k]), their_state[k], rtol=0, atol=1e-13)


def test_step_over_blocks_of_a_large_batch():
    """numpy walks a batch in blocks: the regulariser is added once, not once per block; mean uses the whole N."""
    net = _net("2-3-1", "sigmoid,linear", "half_sse", Training(0.9, 0.1, False, "mean"))
    c = compile_network(derive(net, check=False))
    rng = np.random.default_rng(2)
    N = 2 * c.module.BLOCK + 5
    X, T = rng.normal(size=(N, 2)), rng.normal(size=(N, 1))
    params = c.init_params(0)
    ours, state = c.step(params, None, X, T, 0.5)
    theirs, _ = reference.momentum_step(params, None, X, T, 0.5, ["sigmoid", "linear"], "half_sse", momentum=0.9,
                                        weight_decay=0.1, reduction="mean")
    for k in theirs:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=0, atol=1e-13)


@pytest.mark.skipif(not TORCH.exists(), reason="no scratch venv with torch at /tmp/torchvenv (torch is an oracle)")
def test_step_equals_torch_sgd(tmp_path):
    cases = [("2-3-1", "sigmoid,linear", "half_sse", Training(0.9, 0.01, False, "sum")),
             ("2-3-1", "sigmoid,linear", "half_sse", Training(0.9, 0.01, False, "mean")),
             ("3-4-2", "tanh,linear", "mse", Training(0.5, 0.1, False, "mean")),
             ("3-4-3", "tanh,softmax", "ce", Training(0.9, 0.001, False, "mean")),
             ("3-4-2", "relu,sigmoid", "bce", Training(0.0, 0.05, False, "sum")),
             ("2-3-1", "tanh,linear", "half_sse", Training(0.9, 0.01, True, "sum")),
             *[("3-4-2", f"{a},linear", "half_sse", Training(0.9, 0.01, False, "mean"))
               for a in ("elu", "leaky_relu(0.2)", "silu", "gelu", "softsign")]]
    for i, (layers, acts, loss, t) in enumerate(cases):
        export(derive(_net(layers, acts, loss, t), check=False), tmp_path / f"case{i}.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(TORCH), str(ORACLE), str(tmp_path), "5"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = r.stdout.splitlines()[1:-1]     # between the header and the footer
    assert len(rows) == len(cases) and all(float(row.split()[-1]) <= 1e-12 for row in rows), r.stdout


# -- the worked example ------------------------------------------------------------------------

def test_example_shows_two_steps_worked_independently():
    net = _net("2-2-1", "sigmoid,linear", "half_sse", Training(0.5, 0.1, False, "sum"))
    data = worked_example(net)
    first, second = data["steps"]
    eta = data["learning_rate"]
    keys = {name: (net.positions[name].key, net.positions[name].index) for name in net.positions}
    params = {}
    for name, (key, idx) in keys.items():
        params.setdefault(key, np.zeros(compile_network(net).shapes[key]))
        params[key][idx] = data["params"][name]
    X, T = np.array(data["inputs"]), np.array(data["targets"])
    p1, s1 = reference.momentum_step(params, None, X, T, eta, ["sigmoid", "linear"], "half_sse",
                                     momentum=0.5, weight_decay=0.1)
    p2, s2 = reference.momentum_step(p1, s1, X, T, eta, ["sigmoid", "linear"], "half_sse",
                                     momentum=0.5, weight_decay=0.1)
    g2 = reference.regularised_gradients(p1, X, T, ["sigmoid", "linear"], "half_sse", weight_decay=0.1)
    for name, (key, idx) in keys.items():
        assert first["updated"][name] == pytest.approx(p1[key][idx], abs=1e-14)
        assert data["updated"][name] == pytest.approx(p1[key][idx], abs=1e-14)
        assert second["gradients"][name] == pytest.approx(g2[key][idx], abs=1e-14)
        # by hand: Delta p(2) = alpha Delta p(1) - eta dE/dp(2), with Delta p(1) = -eta dE/dp(1)
        assert second["change"][name] == pytest.approx(0.5 * (-eta * first["gradients"][name])
                                                       - eta * second["gradients"][name], abs=1e-14)
        assert second["updated"][name] == pytest.approx(p2[key][idx], abs=1e-14)


def test_example_without_momentum_has_one_step():
    assert "steps" not in worked_example(_net("2-2-1", "sigmoid,linear", "half_sse", Training(weight_decay=0.1)))


# -- verify ------------------------------------------------------------------------------------

DECAYED = _net("2-3-1", "sigmoid,linear", "half_sse", Training(0.9, 0.01, False, "sum"))


@pytest.mark.parametrize("expr,mistake", [
    ("alpha*dw2_1_1_prev - eta*(lam*w2_1_1 - e1*y1_1)", None),
    ("alpha*dw2_1_1_prev - eta*(-lam*w2_1_1 - e1*y1_1)", "decay_sign_or_factor"),
    ("alpha*dw2_1_1_prev - eta*(2*lam*w2_1_1 - e1*y1_1)", "decay_sign_or_factor"),
    ("alpha*dw2_1_1_prev - eta*(lam*w2_1_1/2 - e1*y1_1)", "decay_sign_or_factor"),
    ("alpha*dw2_1_1_prev + eta*e1*y1_1", "decay_sign_or_factor"),
])
def test_verify_update_knows_momentum_and_decay(expr, mistake):
    r = verify(DECAYED, "w2_1_1", expr, quantity="update")
    assert r.equivalent is (mistake is None)
    assert r.to_dict()["mistake"] == mistake


def test_verify_gradient_decay_sign_on_a_hidden_weight():
    net = _net("2-3-1", "sigmoid,linear", "half_sse", Training(weight_decay=0.01))
    r = verify(net, "w1_2_1", "-lam*w1_2_1 - e1*w2_1_2*y1_2*(1 - y1_2)*x1")
    assert not r.equivalent and r.to_dict()["mistake"] == "decay_sign_or_factor"
    assert verify(net, "W2", "-e @ y1.T + lam*W2").equivalent


def _cli(capsys, *args):
    """symbp ARGS in this process: (exit status, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exc:      # argparse's own errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_symbols_names_lam_alpha_and_the_previous_steps(capsys):
    _, out, _ = _cli(capsys, "verify", "2-3-1", "--momentum", "0.9", "--weight-decay", "0.01", "--list-symbols")
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert {"lam", "alpha", "dw1_1_1_prev"} <= set(names)


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("table,field", [
    ({"momentum": 1.0}, "training.momentum"), ({"momentum": -0.1}, "training.momentum"),
    ({"momentum": "0.9"}, "training.momentum"), ({"weight_decay": -1e-4}, "training.weight_decay"),
    ({"weight_decay": math.inf}, "training.weight_decay"), ({"decay_biases": 1}, "training.decay_biases"),
    ({"reduction": "average"}, "training.reduction"), ({"nesterov": True}, "training.nesterov"),
])
def test_spec_errors_name_the_field(table, field):
    with pytest.raises(SpecError) as info:
        spec_from_dict({"network": {"layers": [2, 2, 1]}, "training": table})
    assert str(info.value).startswith(field + ":")


@pytest.mark.parametrize("flags,field", [(["--momentum", "1"], "training.momentum"),
                                         (["--momentum", "fast"], "training.momentum"),
                                         (["--weight-decay", "-1"], "training.weight_decay"),
                                         (["--reduction", "avg"], "training.reduction")])
def test_cli_errors_exit_2_naming_the_field(flags, field, tmp_path, capsys):
    code, _, err = _cli(capsys, "export", "2-2-1", *flags, "-o", str(tmp_path / "g.py"))
    assert code == 2 and field in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g.py").exists()


def test_cli_flags_replace_a_spec_files_training(tmp_path):
    """Through a real process once: the flags, the spec file and the JSON on stdout."""
    spec = tmp_path / "net.toml"
    spec.write_text('[network]\nlayers = [2, 2, 1]\n[training]\nmomentum = 0.5\nreduction = "mean"\n')
    r = subprocess.run([sys.executable, "-m", "symbp", "derive", str(spec), "--weight-decay", "0.1", "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["network"]["training"] == {"momentum": 0.5, "weight_decay": 0.1,
                                                           "decay_biases": False, "reduction": "mean"}


def test_check_table_agrees_under_decay_mean_and_a_batch(tmp_path):
    """symbp check: derived, compiled, sympy.diff, reference and finite differences, the regulariser once per batch."""
    from symbp.check import check_table
    spec = tmp_path / "net.toml"
    spec.write_text('[network]\nlayers = [2, 2, 1]\nactivations = ["tanh", "linear"]\n'
                    '[training]\nweight_decay = 0.2\nreduction = "mean"\nmomentum = 0.5\ndecay_biases = true\n'
                    '[example]\ninputs = [[0.1, 0.2], [0.5, -0.3], [0.9, 0.4]]\ntargets = [[0.3], [0.1], [0.7]]\n')
    table = check_table(Network(spec))
    assert table.ok and len(table.rows) == 9


# -- LaTeX answers and the notes under [training] --------------------------------------------------

def test_verify_latex_reads_lambda_and_alpha():
    net = _net("2-3-1", "sigmoid,linear", "half_sse", Training(momentum=0.9, weight_decay=0.01))
    right = r"\lambda w^{(2)}_{11} - (d_1 - y^{(2)}_1) y^{(1)}_1"          # by hand: lam w - e y
    assert verify(net, "w2_1_1", right, quantity="gradient", latex=True).equivalent
    r = verify(net, "w2_1_1", r"2 \lambda w^{(2)}_{11} - (d_1 - y^{(2)}_1) y^{(1)}_1", quantity="gradient", latex=True)
    assert not r.equivalent and r.to_dict()["mistake"] == "decay_sign_or_factor"


def test_notes_state_momentum_and_decay_where_they_give_updates():
    from symbp.notes import render_tex
    tex = render_tex(derive(_net("2-2-1", "sigmoid,linear", "half_sse", Training(momentum=0.9, weight_decay=0.1))))
    assert "+ -" not in tex.replace("  ", " ")          # p + (-eta ...) is written p - eta ...
    # the algorithm's gradient has the regulariser's lambda W, and its update the stated recursion
    assert r"\lambda \mathbf{W}^{(1)}" in tex
    assert r"\Delta \mathbf{W}^{(1)}(n) &= \alpha \Delta \mathbf{W}^{(1)}(n-1) - \eta" in tex
    # a weight's worked update is labelled with the recursion, never as -eta dE/dw alone
    assert r"\Delta w^{(2)}_{11}(n) &= \alpha \Delta w^{(2)}_{11}(n-1) - \eta \frac" in tex
    assert r"\Delta w^{(2)}_{11} &= -\eta \frac" not in tex


# The output delta of the general rules (index form), against sympy.diff of the mean loss of one unit
# written here: E = c term(phi(v), t), c = 1/N under reduction mean (and for mse, a mean already), else 1.
_PHI = {"sigmoid": lambda v: 1 / (1 + sp.exp(-v)), "tanh": lambda v: (sp.exp(v) - sp.exp(-v)) / (sp.exp(v) + sp.exp(-v)),
        "linear": lambda v: v}
_TERM = {"half_sse": lambda y, t: (t - y) ** 2 / 2, "sse": lambda y, t: (t - y) ** 2, "mse": lambda y, t: (y - t) ** 2,
         "bce": lambda y, t: -t * sp.log(y) - (1 - t) * sp.log(1 - y)}


@pytest.mark.parametrize("act,loss,notation", [("sigmoid", "half_sse", "haykin"), ("tanh", "sse", "ont"),
                                               ("linear", "mse", "nielsen"), ("sigmoid", "bce", "mitchell")])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_the_general_output_delta_carries_the_mean(act, loss, notation, reduction):
    from symbp.indexform import B, N, j
    net = Network(spec_from_layer_string("2-2-2", activation=f"tanh,{act}", loss=loss, notation=notation,
                                         training=Training(reduction=reduction)))
    general = derive(net, check=False).index.output.delta
    v, t, n = sp.Symbol("v", real=True), sp.Symbol("t", real=True), sp.Symbol("n", positive=True)
    y = _PHI[act](v)
    c = 1 / n if reduction == "mean" or loss == "mse" else 1
    oracle = net.profile.delta_sign * sp.diff(c * _TERM[loss](y, t), v)        # delta = -dE/dv or +dE/dv
    ours = general.xreplace({B["y"][j]: y, B["t"][j]: t, B["e"][j]: t - y, N: n})
    for point in ({v: sp.Rational(3, 10), t: sp.Rational(1, 5), n: 3}, {v: -2, t: sp.Rational(7, 10), n: 5}):
        assert abs(sp.N((ours - oracle).xreplace(point), 30)) < 1e-25


def test_derive_prints_the_mean_in_the_general_output_rule(capsys):
    for reduction, has in (("mean", True), ("sum", False)):
        assert main(["derive", "2-3-1", "--reduction", reduction]) == 0
        rule = next(line for line in capsys.readouterr().out.splitlines() if "output delta_j" in line)
        assert rule.strip() == "output delta_j = e_j*y(l)_j*(1 - y(l)_j)" + ("/N" if has else "")
