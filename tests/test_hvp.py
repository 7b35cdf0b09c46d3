"""hessian_vector (the R-operator on the derived rules) against oracles that share no code with it.

1. sympy's exact second directional derivative of the explicit loss, d/d(eps) grad E(theta + eps V),
   on tiny networks (a chain, a graph, relu away from its kink);
2. central differences of the module's own gradients() along V, on random networks built from the
   registries: every elementwise activation (hidden and output) and every loss;
3. torch.autograd.functional.hvp in float64 (tests/oracles/torch_hvp.py, run in the scratch venv
   /tmp/torchvenv when it exists).
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from corpus import ACTIVATION_ROWS, LOSS_ROWS

from symbp import Network, compile_network, derive
from symbp.export import export, module_source, param_shapes

TORCH = Path("/tmp/torchvenv/bin/python")
ORACLE = Path(__file__).parent / "oracles" / "torch_hvp.py"


def problem(net: Network, seed: int, batch: int = 5):
    rng = np.random.default_rng(seed)
    shapes = param_shapes(net)
    params = {k: rng.normal(0.0, 0.6, s) for k, s in shapes.items()}
    V = {k: rng.normal(0.0, 1.0, s) for k, s in shapes.items()}
    X = rng.normal(0.0, 1.0, (batch, net.layers[0]))
    T = rng.uniform(0.05, 0.95, (batch, net.layers[-1]))     # ce: rows that do not sum to 1
    return params, V, X, T


# -- 1. exact: sympy.diff of the explicit loss, twice -------------------------------------------

EXACT = [
    ("2-2-2", dict(activation="tanh,softmax", loss="ce")),
    ("2-2-1", dict(activation="sigmoid,linear", loss="half_sse", notation="nielsen", bias_sign="-")),
    ("2-2-2-1", dict(activation="relu,softplus,sigmoid", loss="bce", skip="0:3", residual="1:2")),
    ("2-2-1", dict(activation="tanh,tanh", loss="mse", notation="ont")),
]


@pytest.mark.parametrize("layers, flags", EXACT, ids=[f"{a} {f['activation']} {f['loss']}" for a, f in EXACT])
def test_against_sympy_second_directional_derivative(layers, flags):
    compiled = compile_network(derive(layers, **flags))
    net = compiled.net
    params, V, X, T = problem(net, seed=7, batch=1)
    eps = sp.Symbol("eps")
    E = net.explicit_loss().xreplace({net.batch: 1})
    at = {s: sp.Float(v, 30) for s, v in zip(net.x, X[0])} | {s: sp.Float(v, 30) for s, v in zip(net.t, T[0])}
    moved = {}
    for p in net.params():       # theta + eps V, entry by entry
        pos = net.positions[p.name]
        moved[p] = sp.Float(params[pos.key][pos.index], 30) + eps * sp.Float(V[pos.key][pos.index], 30)
    got = compiled.hessian_vector(params, X[0], T[0], V)
    for p in net.params():
        pos = net.positions[p.name]
        exact = sp.diff(sp.diff(E, p).xreplace(at).xreplace(moved), eps).xreplace({eps: 0})
        exact = float(exact.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.Integer(0)).evalf(30))
        assert got[pos.key][pos.index] == pytest.approx(exact, rel=1e-10, abs=1e-12), p.name


# -- 2. finite differences of the module's own gradients, over the registries ------------------

def _corpus():
    """Every elementwise activation as hidden and as output layer (half_sse), every loss with its output;
    the formula-defined rows too (tests/corpus.py)."""
    out = []
    for a in ACTIVATION_ROWS:
        if a.elementwise:
            out.append(("3-4-2", dict(activation=f"{a.name},{a.name}", loss="half_sse")))
    for loss in LOSS_ROWS:
        out.append(("3-4-3", dict(activation=f"tanh,{loss.needs or 'linear'}", loss=loss.name)))
    out.append(("3-4-4-4-3", dict(activation="tanh,sigmoid,softplus,softmax", loss="ce", skip="0:2,1:4",
                                  residual="1:3", bias_sign="-")))
    return out


CORPUS = _corpus()


def _away_from_kinks(compiled, params, X) -> bool:
    """No net input of a layer with a kink (relu) within 1e-3 of it, where differences would straddle it."""
    for l, (v, _) in enumerate(compiled.forward(params, X), start=1):
        kink = compiled.net.activation(l).kink
        if kink is not None and np.min(np.abs(v - kink)) < 1e-3:
            return False
    return True


@pytest.mark.parametrize("layers, flags", CORPUS, ids=[f"{a} {f['activation']} {f['loss']}" for a, f in CORPUS])
def test_against_differences_of_gradients(layers, flags):
    compiled = compile_network(derive(layers, check=False, **flags))
    seed = 0
    params, V, X, T = problem(compiled.net, seed)
    while not _away_from_kinks(compiled, params, X):
        seed += 1
        params, V, X, T = problem(compiled.net, seed)
    h = 1e-5
    plus = compiled.gradients({k: params[k] + h * V[k] for k in params}, X, T)
    minus = compiled.gradients({k: params[k] - h * V[k] for k in params}, X, T)
    got = compiled.hessian_vector(params, X, T, V)
    assert list(got) == list(params)
    for key in params:
        assert got[key].shape == params[key].shape
        np.testing.assert_allclose(got[key], (plus[key] - minus[key]) / (2 * h), rtol=1e-6, atol=1e-7, err_msg=key)


def test_relu_second_derivative_is_zero_not_dirac():
    source = module_source(derive("3-4-2", activation="relu,linear", check=False))
    body = source[source.index("def _block_hessian_vector"):]     # the NumPy module walks blocks of samples
    assert "DiracDelta" not in source and "Rdelta1 = heaviside" not in body.replace(" ", "").lower()
    assert "Rdelta1 = np.heaviside(v1, 0.0)*(VW2.T @ delta2 + W2.T @ Rdelta2)" in body


def test_module_header_lists_the_r_operator_equations():
    source = module_source(derive("2-3-2", activation="tanh,softmax", loss="ce", check=False))
    header = source[:source.index('"""', 3)]
    for line in ("R{v1} = VW1 @ x + Vb1", "R{y1} = (1 - y1**2)*Rv1", "R{delta2}", "(H V)[W2] ="):
        assert line in header


def test_keeps_float32_and_names_a_bad_key(tmp_path):
    net = Network.from_string("3-4-2", activation="sigmoid,softmax", loss="ce")
    path = export(derive(net, check=False), tmp_path / "m.py")
    spec = importlib.util.spec_from_file_location("hvp_m", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    params, V, X, T = problem(net, 3)
    f32 = lambda d: {k: v.astype(np.float32) for k, v in d.items()}
    got = mod.hessian_vector(f32(params), X.astype(np.float32), T.astype(np.float32), f32(V))
    assert {v.dtype for v in got.values()} == {np.dtype(np.float32)}
    with pytest.raises(KeyError, match=r"V\['b2'\] is missing: expected shape \(2,\)"):
        mod.hessian_vector(params, X, T, {k: v for k, v in V.items() if k != "b2"})


JAX_HVP = """
import json, sys, numpy as np, jax
jax.config.update("jax_enable_x64", True)
sys.path.insert(0, ".")
import mod
data = json.loads(open("data.json").read())
P, V = ({k: np.array(v) for k, v in data[name].items()} for name in ("params", "V"))
print(json.dumps({k: np.asarray(v).tolist() for k, v in mod.hessian_vector(P, np.array(data["X"]),
                                                                              np.array(data["T"]), V).items()}))
"""


def test_jax_module_equals_numpy_module(tmp_path):
    pytest.importorskip("jax", reason="jax is not installed")
    import json
    d = derive("3-4-4-4-3", activation="tanh,sigmoid,relu,softmax", loss="ce", skip="0:2", residual="1:3", check=False)
    export(d, tmp_path / "mod.py", target="jax")
    params, V, X, T = problem(d.net, 5)
    (tmp_path / "data.json").write_text(json.dumps({"params": {k: v.tolist() for k, v in params.items()},
                                                    "V": {k: v.tolist() for k, v in V.items()},
                                                    "X": X.tolist(), "T": T.tolist()}))
    out = subprocess.run([sys.executable, "-I", "-c", JAX_HVP], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    want = compile_network(d).hessian_vector(params, X, T, V)
    for key, value in json.loads(out.stdout).items():
        np.testing.assert_allclose(value, want[key], rtol=1e-12, atol=1e-12, err_msg=key)


# -- 3. torch, in its scratch venv ----------------------------------------------------------------

@pytest.mark.skipif(not TORCH.exists(), reason=f"{TORCH} (the scratch venv with torch) does not exist")
def test_against_torch_hvp():
    out = subprocess.run([str(TORCH), str(ORACLE)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = out.stdout.strip().splitlines()[1:]
    assert len(rows) >= 8 and all(r.endswith(" ok") for r in rows), out.stdout


def test_sigmoid_prints_as_one_factor():
    """sigma(v)**2 (the R-operator's phi'' of a sigmoid written in v) must square the whole quotient."""
    from symbp.activations import sigmoid
    from symbp.export import ModulePrinter
    x = sp.Symbol("x", real=True)
    code = ModulePrinter().doprint(x * sigmoid(x) ** 2)
    v = np.array([-40.0, -3.0, 0.5, 40.0])
    module = {}
    exec(module_source(derive("1-1", activation="sigmoid", check=False)), module)   # its sigmoid() helper
    np.testing.assert_allclose(eval(code, {**module, "x": v}), v / (1 + np.exp(-v)) ** 2, rtol=1e-14)


@pytest.mark.parametrize("training", [dict(weight_decay=0.2, decay_biases=True), dict(reduction="mean")],
                         ids=["weight decay", "mean"])
def test_training_options_against_differences_of_gradients(training):
    """[training]: the regulariser's lambda V joins H V, and reduction = mean's 1/N scales it."""
    from symbp.spec import Training, spec_from_layer_string
    net = Network(spec_from_layer_string("3-4-3", activation="tanh,softmax", loss="ce", training=Training(**training)))
    compiled = compile_network(derive(net, check=False))
    params, V, X, T = problem(compiled.net, 11)
    h = 1e-5
    plus = compiled.gradients({k: params[k] + h * V[k] for k in params}, X, T)
    minus = compiled.gradients({k: params[k] - h * V[k] for k in params}, X, T)
    got = compiled.hessian_vector(params, X, T, V)
    for key in params:
        np.testing.assert_allclose(got[key], (plus[key] - minus[key]) / (2 * h), rtol=1e-6, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("wrong", ["Rdelta", "grad"])
def test_the_rules_check_refuses_a_wrong_rule(wrong):
    """rop.check (run before export prints the rules) must catch a factor of 2 in R{delta} or a lost R{y} term."""
    import dataclasses

    from symbp.errors import SelfCheckError
    from symbp.export import output_delta_matrix
    from symbp.rop import check, r_rules
    d = derive("3-4-4-4-3", activation="tanh,sigmoid,softplus,softmax", loss="ce", skip="0:2,1:4", residual="1:3",
               check=False)
    layers = r_rules(d, output_delta_matrix(d))
    assert check(d, layers, output_delta_matrix(d)) < 1e-25
    r = layers[1]
    if wrong == "Rdelta":
        bad = dataclasses.replace(r, Rdelta=2 * r.Rdelta)
    else:       # R{dE/dW} = s (R{delta} y^T + delta R{y}^T) without its second term
        key, g = r.grads[0]
        bad = dataclasses.replace(r, grads=((key, g.args[0]),) + r.grads[1:])
    with pytest.raises(SelfCheckError, match="R-operator"):
        check(d, [layers[0], bad, *layers[2:]], output_delta_matrix(d))
