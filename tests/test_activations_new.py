"""elu, leaky_relu(a), silu/swish, gelu, softsign: one registry row each, checked against numbers worked
out by hand, against the hand-written reference, finite differences and sympy.diff (check), in every
target the exporter writes and on the page of the notes."""
from __future__ import annotations

import ctypes
import dataclasses
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from symbp import Network, derive, reference
from symbp.activations import get_activation, proves_derivative
from symbp.check import check_table
from symbp.compile import compile_network
from symbp.errors import SpecError
from symbp.export import export, module_source
from symbp.notes import render_tex

NEW = ["elu", "leaky_relu", "leaky_relu(0.2)", "silu", "gelu", "softsign"]
z = sp.Symbol("z", real=True)

# phi(v) and phi'(v) at a few points, worked out by hand (e = 2.718281828459045, erf from a table).
BY_HAND = {
    "elu": [(-1.0, math.exp(-1) - 1, math.exp(-1)), (2.0, 2.0, 1.0), (-0.5, math.exp(-0.5) - 1, math.exp(-0.5))],
    "leaky_relu": [(-2.0, -0.02, 0.01), (3.0, 3.0, 1.0)],
    "leaky_relu(0.2)": [(-2.0, -0.4, 0.2), (0.5, 0.5, 1.0)],
    # silu(1) = 1/(1 + e^-1); silu'(1) = s + s(1 - s) with s = sigma(1) = 0.7310585786300049
    "silu": [(1.0, 0.7310585786300049, 0.7310585786300049 * (2 - 0.7310585786300049)), (0.0, 0.0, 0.5)],
    # gelu(1) = Phi(1) = 0.8413447460685429; gelu'(1) = Phi(1) + phi(1) = 0.8413447460685429 + 0.24197072451914337
    "gelu": [(1.0, 0.8413447460685429, 0.8413447460685429 + 0.24197072451914337), (0.0, 0.0, 0.5)],
    "softsign": [(3.0, 0.75, 1 / 16), (-1.0, -0.5, 0.25)],
}


@pytest.mark.parametrize("name", NEW)
def test_row_is_proved_and_matches_the_numbers_by_hand(name):
    act = get_activation(name)
    assert proves_derivative(act)
    for v, phi, slope in BY_HAND[name]:
        assert float(act.function(sp.Float(v)).evalf(30)) == pytest.approx(phi, rel=1e-14, abs=1e-15)
        assert float(sp.diff(act.function(z), z).subs(z, v).evalf(30)) == pytest.approx(slope, rel=1e-14)
        got = reference.activate(name, np.array([v]))
        assert got[0] == pytest.approx(phi, rel=1e-14, abs=1e-15)
        assert reference.activation_derivative(name, np.array([v]), got)[0] == pytest.approx(slope, rel=1e-14)


@pytest.mark.parametrize("name,wrong", [("softsign", lambda y, v: 1 - sp.Abs(y)),
                                        ("elu", lambda y, v: sp.Piecewise((1, y > 0), (y + 2, True))),
                                        ("leaky_relu", lambda y, v: sp.Heaviside(v, 0))])
def test_a_wrong_output_form_is_not_proved(name, wrong):
    assert not proves_derivative(dataclasses.replace(get_activation(name), derivative_in_output=wrong))


def test_output_forms_kinks_and_init():
    assert get_activation("swish") is get_activation("silu")
    assert get_activation("silu").derivative_in_output is None and get_activation("gelu").derivative_in_output is None
    assert get_activation("elu").kink is None          # phi' is continuous at 0 for alpha = 1
    assert get_activation("leaky_relu(0.2)").kink == 0.0
    assert {get_activation(a).init for a in ("elu", "leaky_relu", "silu", "gelu")} == {"he"}
    assert get_activation("leaky_relu(0.01)") is get_activation("leaky_relu")
    assert get_activation("leaky_relu(0.20)").name == "leaky_relu(0.2)"
    assert r"\operatorname{LReLU}_{0.2}" in sp.latex(get_activation("leaky_relu(0.2)").function(z))


@pytest.mark.parametrize("bad", ["leaky_relu(2)", "leaky_relu(0)", "leaky_relu(-0.1)", "leaky_relu(a)"])
def test_bad_slope_is_refused_naming_the_field(bad):
    with pytest.raises(SpecError, match=r"network.activations\[0\].*0 < a < 1"):
        Network.from_string("2-3-1", activation=f"{bad},linear")


def test_bad_slope_on_the_command_line_is_one_line_exit_2():
    out = subprocess.run([sys.executable, "-m", "symbp", "derive", "2-3-1", "--activation", "leaky_relu(1.5),linear"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize("name", NEW)
def test_check_agrees_four_ways(name):
    """Derived, compiled, sympy.diff of the explicit loss, the hand-written reference and central
    differences, on a tiny network with the activation in both layers."""
    table = check_table(Network.from_string("2-2-2", activation=name))
    assert table.ok, table.text()


def test_silu_and_gelu_keep_phi_prime_in_v():
    d = derive(Network.from_string("2-2-1", activation="silu,linear"))
    rule = d.deltas[d.net.delta[1][0]].value
    assert rule.has(d.net.v[1][0]) and not rule.has(d.net.y[1][0])
    tex = render_tex(d)
    assert "silu has no form in its own output" in tex


def test_elu_matrix_form_prints_entry_by_entry():
    d = derive(Network.from_string("2-3-1", activation="elu,linear"))
    text = d.text()
    assert "Piecewise((1, y1 > 0), (1 + y1, True))*(W2.T @ delta2)" in text
    assert "np.where" in module_source(d, "numpy") or "np.select" in module_source(d, "numpy")


# Every new row, in two networks of two hidden layers (a deeper nest of erf and exp makes the symbolic
# self-check expand for minutes).
NETS = [["elu", "gelu", "linear"], ["silu", "softsign", "leaky_relu(0.2)"]]


@pytest.fixture(scope="module", params=NETS, ids=lambda acts: "-".join(acts))
def deep(request):
    """A network of new activations, its compiled module, a problem and the reference's gradients."""
    acts = request.param
    net = Network.from_string("2-3-2-2", activation=",".join(acts))
    compiled = compile_network(net)
    rng = np.random.default_rng(1)
    params = {k: rng.normal(0, 0.9, shape) for k, shape in compiled.shapes.items()}
    X, T = rng.normal(0, 1.5, (9, 2)), rng.normal(0, 1, (9, 2))
    return compiled, params, X, T, reference.gradients(params, X, T, acts, "half_sse")


def test_numpy_module_of_every_new_row_equals_the_reference(deep):
    compiled, params, X, T, want = deep
    got = compiled.gradients(params, X, T)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-13, err_msg=k)
    assert ("import math" in compiled.source) == ("gelu" in compiled.net.spec.activations)   # erf: NumPy has none


def test_jax_module_of_every_new_row_equals_the_reference(deep, tmp_path):
    pytest.importorskip("jax")
    compiled, params, X, T, want = deep
    (tmp_path / "jaxgrad.py").write_text(module_source(compiled.derivation, "jax"))
    np.savez(tmp_path / "case.npz", X=X, T=T, **params)
    code = ("import json, sys, jax; jax.config.update('jax_enable_x64', True); sys.path.insert(0, '.')\n"
            "import numpy as np, jaxgrad\n"
            "d = dict(np.load('case.npz')); X, T = d.pop('X'), d.pop('T')\n"
            "print(json.dumps({k: np.asarray(v).tolist() for k, v in jaxgrad.gradients(d, X, T).items()}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    for k in want:
        np.testing.assert_allclose(np.array(got[k]), want[k], rtol=1e-10, atol=1e-13, err_msg=k)


def test_c_module_of_every_new_row_equals_the_reference(deep, tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    compiled, params, X, T, want = deep
    export(compiled.derivation, tmp_path / "grad.c", target="c")
    subprocess.run([cc, "-std=c99", "-O1", "-shared", "-fPIC", "-o", str(tmp_path / "grad.so"),
                    str(tmp_path / "grad.c"), "-lm"], check=True, timeout=120)
    lib = ctypes.CDLL(str(tmp_path / "grad.so"))
    flat = compiled.ravel(params)
    grad = np.zeros_like(flat)
    ptr = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))     # noqa: E731
    Xc, Tc = np.ascontiguousarray(X), np.ascontiguousarray(T)
    lib.gradients(ptr(flat), ptr(Xc), ptr(Tc), ctypes.c_size_t(X.shape[0]), ptr(grad))
    got = compiled.unravel(grad)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-13, err_msg=k)


TORCH = Path("/tmp/torchvenv/bin/python")


@pytest.mark.slow
@pytest.mark.skipif(not TORCH.exists(), reason="torch lives only in the scratch venv /tmp/torchvenv (an oracle)")
def test_exported_gradients_equal_torch_autograd():
    """tests/oracles/torch_activations.py: each new activation and a formula activation and loss, float64."""
    script = Path(__file__).parent / "oracles" / "torch_activations.py"
    out = subprocess.run([sys.executable, str(script), "--torch", str(TORCH)], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("\n") == 11 and "softsign_f (formula)" in out.stdout
