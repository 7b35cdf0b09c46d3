"""The exported modules' training API: loss_and_gradients, dtypes, ravel/unravel/init_params, edge numerics.

Every number is held against symbp.reference (hand-written NumPy, no code shared with the exporter)
or against a high-precision evaluation with mpmath.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from corpus import ACTIVATION_ROWS

from symbp import Network, compile_network, derive, reference
from symbp.cli import main
from symbp.export import export, param_shapes

CHAINS = [   # (layer string, flags): every loss, both bias signs, no bias
    ("3-4-2", dict(activation="sigmoid,softmax", loss="ce")),
    ("2-3-2", dict(activation="softplus,sigmoid", loss="bce")),
    ("3-4-4-2", dict(activation="tanh,tanh,linear", loss="mse", bias_sign="-", notation="ont")),
    ("2-3-1", dict(activation="relu,linear", loss="half_sse", notation="nielsen")),
    ("3-2-2", dict(activation="tanh,softplus", loss="sse", bias=False, notation="mitchell")),
]
GRAPHS = [   # skips and residuals
    ("3-4-4-4-4-2", dict(activation="tanh,sigmoid,relu,softplus,softmax", loss="ce", skip="0:2,1:4", residual="1:3")),
    ("2-3-3-3-2", dict(activation="softplus,tanh,sigmoid,sigmoid", loss="bce", skip="0:4", residual="1:3,2:3",
                       bias_sign="-", notation="ont")),
    ("3-2-2-2", dict(activation="sigmoid,tanh,linear", loss="mse", residual="1:2", bias=False)),
]
NETS = CHAINS + GRAPHS
IDS = [f"{layers} {flags['activation']} {flags['loss']}" for layers, flags in NETS]


def network(i: int) -> Network:
    layers, flags = NETS[i]
    return Network.from_string(layers, **flags)


def problem(net: Network, batch: int, seed: int = 0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(0.0, 0.7, shape).astype(dtype) for k, shape in param_shapes(net).items()}
    X = rng.normal(0.0, 1.0, (batch, net.layers[0])).astype(dtype)
    T = rng.uniform(0.05, 1.0, (batch, net.layers[-1]))
    if net.loss.targets == "distribution":
        T /= T.sum(axis=1, keepdims=True)
    return params, X, T.astype(dtype)


def oracle(net: Network):
    return ([a.name for a in net.activations], net.loss.name, net.bias_sign), {"residual": net.spec.residual}


def close(got, want, rtol=1e-10, atol=1e-13, what=""):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert np.all(np.abs(got - want) <= rtol * np.maximum(np.abs(got), np.abs(want)) + atol), (what, got, want)


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    """The exported NumPy module of every network, by index."""
    tmp = tmp_path_factory.mktemp("api")
    return {i: load(export(derive(network(i), check=False), tmp / f"net{i}.py")) for i in range(len(NETS))}


def run_isolated(directory: Path, code: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    script = "import sys; sys.path.insert(0, '.')\n" + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-I", "-W", "error", "-c", script], cwd=directory, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# -- 1. loss_and_gradients: one forward and one backward pass --------------------------------------

@pytest.mark.parametrize("i", range(len(NETS)), ids=IDS)
def test_loss_and_gradients_equals_loss_gradients_and_reference(modules, i):
    net, mod = network(i), modules[i]
    args, kw = oracle(net)
    for batch in (1, 6):
        params, X, T = problem(net, batch, seed=i)
        E, grads = mod.loss_and_gradients(params, X, T)
        assert E == mod.loss(params, X, T)
        assert list(grads) == list(mod.gradients(params, X, T)) == net.param_keys()
        for key, g in mod.gradients(params, X, T).items():
            np.testing.assert_array_equal(grads[key], g)
        close(E, reference.loss(params, X, T, *args, **kw))
        for key, g in reference.gradients(params, X, T, *args, **kw).items():
            close(grads[key], g, what=key)
        E1, g1 = mod.loss_and_gradients(params, X[0], T[0])     # one sample
        close(E1, reference.loss(params, X[:1], T[:1], *args, **kw))
        assert {k: v.shape for k, v in g1.items()} == param_shapes(net)


@pytest.mark.parametrize("i", [0, 2, 5, 7], ids=[IDS[i] for i in (0, 2, 5, 7)])
def test_loss_and_gradients_runs_the_forward_pass_once(modules, i, monkeypatch):
    net, mod = network(i), modules[i]
    params, X, T = problem(net, 5)
    calls = []
    forward = mod._forward
    monkeypatch.setattr(mod, "_forward", lambda *a: calls.append(1) or forward(*a))
    mod.loss_and_gradients(params, X, T)
    assert len(calls) == 1
    calls.clear()
    mod.gradients(params, X, T)
    assert len(calls) == 1


def test_loss_and_gradients_over_several_blocks(tmp_path):
    net = Network.from_string("3-2-2", activation="tanh,linear", loss="mse", bias_sign="-")
    mod = load(export(derive(net, check=False), tmp_path / "blocks.py"))
    params, X, T = problem(net, 2 * mod.BLOCK + 7, seed=3)
    E, grads = mod.loss_and_gradients(params, X, T)
    args, kw = oracle(net)
    close(E, reference.loss(params, X, T, *args, **kw), rtol=1e-9)
    for key, g in reference.gradients(params, X, T, *args, **kw).items():
        close(grads[key], g, rtol=1e-9, what=key)


@pytest.mark.parametrize("i", [0, 3, 5], ids=[IDS[i] for i in (0, 3, 5)])
def test_compiled_loss_and_gradients(i):
    net = network(i)
    compiled = compile_network(derive(net, check=False))
    params, X, T = problem(net, 4, seed=1)
    E, grads = compiled.loss_and_gradients(params, X, T)
    assert E == compiled.loss(params, X, T)
    args, kw = oracle(net)
    close(E, reference.loss(params, X, T, *args, **kw))
    for key, g in compiled.gradients(params, X, T).items():
        np.testing.assert_array_equal(grads[key], g)


JAX_CALL = """
    import json, importlib, numpy as np, jax
    jax.config.update("jax_enable_x64", True)
    out = {}
    for name in json.loads(open("names.json").read()):
        mod, data = importlib.import_module(name), json.loads(open(name + ".json").read())
        P = {k: np.array(v) for k, v in data["params"].items()}
        X, T = np.array(data["X"]), np.array(data["T"])
        E, g = mod.loss_and_gradients(P, X, T)
        tolist = lambda a: np.asarray(a).tolist()
        out[name] = {"E": float(E), "loss": float(mod.loss(P, X, T)), "grads": {k: tolist(v) for k, v in g.items()},
                     "gradients": {k: tolist(v) for k, v in mod.gradients(P, X, T).items()}}
        f32 = lambda a: np.asarray(a, dtype=np.float32)     # float32 in, float32 out, even in 64-bit mode
        E32, g32 = mod.loss_and_gradients({k: f32(v) for k, v in P.items()}, f32(X), f32(T))
        out[name]["dtypes"] = sorted({str(E32.dtype)} | {str(v.dtype) for v in g32.values()})
    print(json.dumps(out))
"""


def test_jax_loss_and_gradients(tmp_path):
    pytest.importorskip("jax", reason="jax is not installed")
    cases = {}
    for i in (0, 2, 5, 6):
        net = network(i)
        export(derive(net, check=False), tmp_path / f"jax{i}.py", target="jax")
        params, X, T = problem(net, 5, seed=i)
        (tmp_path / f"jax{i}.json").write_text(json.dumps(
            {"params": {k: v.tolist() for k, v in params.items()}, "X": X.tolist(), "T": T.tolist()}))
        cases[f"jax{i}"] = (net, params, X, T)
    (tmp_path / "names.json").write_text(json.dumps(list(cases)))
    results = run_isolated(tmp_path, JAX_CALL)
    for name, (net, params, X, T) in cases.items():
        got, (args, kw) = results[name], oracle(net)
        close(got["E"], got["loss"])
        assert got["dtypes"] == ["float32"]
        close(got["E"], reference.loss(params, X, T, *args, **kw))
        for key, g in reference.gradients(params, X, T, *args, **kw).items():
            close(got["grads"][key], g, what=key)
            close(got["gradients"][key], g, what=key)


def build_c(net: Network, directory: Path, dtype: str = "float64"):
    import ctypes
    c_path = export(derive(net, check=False), directory / "grad.c", target="c", **({"dtype": dtype} if dtype != "float64" else {}))
    lib_path = directory / "libgrad.so"
    build = subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", str(lib_path),
                            str(c_path), "-lm"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    lib = ctypes.CDLL(str(lib_path))
    real = ctypes.c_float if dtype == "float32" else ctypes.c_double
    lib.loss.restype = lib.loss_and_gradients.restype = real
    return lib, ctypes.POINTER(real)


@pytest.mark.skipif(__import__("shutil").which("cc") is None, reason="no C compiler")
@pytest.mark.parametrize("i", [0, 2, 5, 6], ids=[IDS[i] for i in (0, 2, 5, 6)])
def test_c_loss_and_gradients(tmp_path, i):
    import ctypes
    net = network(i)
    lib, ptr = build_c(net, tmp_path)
    params, X, T = problem(net, 6, seed=i)
    flat = np.ascontiguousarray(np.concatenate([np.ravel(params[k]) for k in param_shapes(net)]))
    X, T = np.ascontiguousarray(X), np.ascontiguousarray(T)
    args = (flat.ctypes.data_as(ptr), X.ctypes.data_as(ptr), T.ctypes.data_as(ptr), ctypes.c_size_t(len(X)))
    both, alone = np.full_like(flat, np.nan), np.full_like(flat, np.nan)
    E = lib.loss_and_gradients(*args, both.ctypes.data_as(ptr))
    lib.gradients(*args, alone.ctypes.data_as(ptr))
    assert E == lib.loss(*args)
    np.testing.assert_array_equal(both, alone)
    (a, kw) = oracle(net)
    close(E, reference.loss(params, X, T, *a, **kw))
    want = reference.gradients(params, X, T, *a, **kw)
    close(both, np.concatenate([np.ravel(want[k]) for k in param_shapes(net)]))


# -- 2. the dtype is kept, and float32 is stable at +-1e3 ------------------------------------------

def extreme_inputs(net: Network, batch: int, seed: int, dtype):
    params, _, T = problem(net, batch, seed, dtype)
    rng = np.random.default_rng(seed)
    X = rng.choice([-1e3, 1e3, -37.0, 0.0, 500.0], size=(batch, net.layers[0])).astype(dtype)
    return params, X, T


@pytest.mark.parametrize("i", range(len(NETS)), ids=IDS)
def test_float32_in_float32_out(modules, i):
    net, mod = network(i), modules[i]
    params, X, T = problem(net, 5, seed=i, dtype=np.float32)
    E, grads = mod.loss_and_gradients(params, X, T)
    assert E.dtype == np.float32 and mod.loss(params, X, T).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    assert mod.forward(params, X).dtype == np.float32
    assert all(d.dtype == np.float32 for d in mod.deltas(params, X, T))
    args, kw = oracle(net)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    X64, T64 = X.astype(np.float64), T.astype(np.float64)
    close(E, reference.loss(p64, X64, T64, *args, **kw), rtol=1e-4, atol=1e-5)
    for key, g in reference.gradients(p64, X64, T64, *args, **kw).items():
        close(grads[key], g, rtol=1e-3, atol=1e-4, what=key)
    mixed = mod.loss_and_gradients(params, X64, T)        # NumPy's promotion: float64
    assert mixed[0].dtype == np.float64 and all(g.dtype == np.float64 for g in mixed[1].values())
    ints = mod.gradients(p64, np.ones((2, net.layers[0]), dtype=int), T64[:2])
    assert all(g.dtype == np.float64 for g in ints.values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("i", range(len(NETS)), ids=IDS)
def test_stable_at_large_inputs_in_either_dtype(modules, i, dtype):
    net, mod = network(i), modules[i]
    params, X, T = extreme_inputs(net, 6, i, dtype)
    with np.errstate(all="raise", under="ignore"):
        E, grads = mod.loss_and_gradients(params, X, T)
        y = mod.forward(params, X)
    assert np.isfinite(E) and np.all(np.isfinite(y)) and all(np.all(np.isfinite(g)) for g in grads.values())
    assert E.dtype == dtype


def test_dtype_is_for_the_c_target(tmp_path):
    net = network(0)
    with pytest.raises(ValueError, match="for the C target"):
        export(net, tmp_path / "grad.py", dtype="float32")
    with pytest.raises(ValueError, match="dtype: expected float64 or float32, got 'float16'"):
        export(net, tmp_path / "grad.c", target="c", dtype="float16")
    assert not list(tmp_path.iterdir())
    assert main(["export", "2-3-2", "--activation", "sigmoid,softmax", "--loss", "ce", "-o", str(tmp_path / "grad.c"),
                 "--target", "c", "--dtype", "float32"]) == 0
    assert "float loss(" in (tmp_path / "grad.c").read_text()


@pytest.mark.skipif(__import__("shutil").which("cc") is None, reason="no C compiler")
@pytest.mark.parametrize("i", [0, 1, 2, 3, 5], ids=[IDS[i] for i in (0, 1, 2, 3, 5)])
def test_c_float32(tmp_path, i):
    """--dtype float32: float throughout (-Wdouble-promotion finds any double), equal to the reference."""
    import ctypes
    net = network(i)
    export(derive(net, check=False), tmp_path / "grad.c", target="c", dtype="float32")
    assert "double" not in (tmp_path / "grad.c").read_text() + (tmp_path / "grad.h").read_text()
    build = subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Wdouble-promotion", "-Werror", "-c",
                            "-o", str(tmp_path / "grad.o"), str(tmp_path / "grad.c")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    lib, ptr = build_c(net, tmp_path, "float32")
    params, X, T = problem(net, 6, seed=i, dtype=np.float32)
    flat = np.ascontiguousarray(np.concatenate([np.ravel(params[k]) for k in param_shapes(net)]))
    X, T = np.ascontiguousarray(X), np.ascontiguousarray(T)
    grad = np.full_like(flat, np.nan)
    E = lib.loss_and_gradients(flat.ctypes.data_as(ptr), X.ctypes.data_as(ptr), T.ctypes.data_as(ptr),
                               ctypes.c_size_t(len(X)), grad.ctypes.data_as(ptr))
    (a, kw) = oracle(net)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    close(E, reference.loss(p64, X.astype(float), T.astype(float), *a, **kw), rtol=1e-4, atol=1e-5)
    want = reference.gradients(p64, X.astype(float), T.astype(float), *a, **kw)
    close(grad, np.concatenate([np.ravel(want[k]) for k in param_shapes(net)]), rtol=1e-3, atol=1e-4)


# -- 3. ravel, unravel, init_params and errors that name the key ------------------------------------

@pytest.mark.parametrize("i", range(len(NETS)), ids=IDS)
def test_ravel_unravel_round_trip(modules, i):
    net, mod = network(i), modules[i]
    params, _, _ = problem(net, 1, seed=i)
    flat = mod.ravel(params)
    assert flat.shape == (net.n_params,) == (mod.N_PARAMS,)
    back = mod.unravel(flat)
    assert list(back) == net.param_keys()
    for key in params:
        np.testing.assert_array_equal(back[key], params[key])
    np.testing.assert_array_equal(mod.ravel(back), flat)
    assert mod.ravel({k: v.astype(np.float32) for k, v in params.items()}).dtype == np.float32


def test_ravel_layout_by_hand(tmp_path):
    """2-2-1 with a skip 0 -> 2: W1 row-major, b1, W2, W2_0, b2, in net.param_keys() order."""
    net = Network.from_string("2-2-1", activation="tanh,linear", skip="0:2")
    mod = load(export(derive(net, check=False), tmp_path / "grad.py"))
    params = {"W1": np.array([[1.0, 2.0], [3.0, 4.0]]), "b1": np.array([5.0, 6.0]), "W2": np.array([[7.0, 8.0]]),
              "W2_0": np.array([[9.0, 10.0]]), "b2": np.array([11.0])}
    assert net.param_keys() == ["W1", "b1", "W2", "W2_0", "b2"]
    np.testing.assert_array_equal(mod.ravel(params), np.arange(1.0, 12.0))
    np.testing.assert_array_equal(mod.unravel(np.arange(1.0, 12.0))["W1"], [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match=r"vector has shape \(10,\), expected \(11,\)"):
        mod.unravel(np.arange(10.0))


@pytest.mark.parametrize("i", range(len(NETS)), ids=IDS)
def test_init_params(modules, i):
    net, mod = network(i), modules[i]
    params = mod.init_params(np.random.default_rng(0))
    assert {k: v.shape for k, v in params.items()} == param_shapes(net)
    again = mod.init_params(np.random.default_rng(0))
    assert all(np.array_equal(params[k], again[k]) for k in params)          # seeded: reproducible
    for key, value in params.items():
        if key.startswith("b"):
            assert not value.any()
    assert np.isfinite(mod.loss(params, *problem(net, 3)[1:]))
    with pytest.raises(ValueError, match="scheme must be 'glorot', 'he' or None, not 'lecun'"):
        mod.init_params(np.random.default_rng(0), "lecun")


def test_init_params_scales_by_scheme_and_activation(tmp_path):
    net = Network.from_string("400-300-200-10", activation="relu,tanh,linear", loss="half_sse", skip="0:2")
    mod = load(export(derive(net, check=False), tmp_path / "grad.py"))
    assert mod.INIT == {"W1": "he", "W2": "glorot", "W2_0": "glorot", "W3": "glorot"}     # the activation rows' init
    assert mod.FAN_IN == {"W1": 400, "W2": 700, "W2_0": 700, "W3": 200}
    default = mod.init_params(np.random.default_rng(1))
    np.testing.assert_allclose(default["W1"].std(), np.sqrt(2 / 400), rtol=0.02)
    np.testing.assert_allclose(default["W2"].std(), np.sqrt(2 / (700 + 200)), rtol=0.02)
    he = mod.init_params(np.random.default_rng(1), scheme="he")
    np.testing.assert_allclose(he["W2_0"].std(), np.sqrt(2 / 700), rtol=0.02)
    glorot = mod.init_params(np.random.default_rng(1), scheme="glorot")
    np.testing.assert_allclose(glorot["W1"].std(), np.sqrt(2 / (400 + 300)), rtol=0.02)


def test_errors_name_the_key_and_the_expected_shape(tmp_path):
    net = Network.from_string("4-3-2", activation="sigmoid,softmax", loss="ce")
    mod = load(export(derive(net, check=False), tmp_path / "grad.py"))
    compiled = compile_network(derive(net, check=False))
    params, X, T = problem(net, 2)
    for f in (mod.loss_and_gradients, mod.gradients, mod.loss, compiled.loss_and_gradients):
        with pytest.raises(KeyError, match=r"params\['W2'\] is missing: expected shape \(2, 3\)"):
            f({k: v for k, v in params.items() if k != "W2"}, X, T)
        with pytest.raises(ValueError, match=r"params\['b1'\] has shape \(4,\), expected \(3,\)"):
            f({**params, "b1": np.zeros(4)}, X, T)
        with pytest.raises(ValueError, match=r"X has shape \(2, 3\), expected \(N, 4\) or \(4,\)"):
            f(params, X[:, :3], T)
        with pytest.raises(ValueError, match=r"T has shape \(2, 3\), expected \(N, 2\) or \(2,\)"):
            f(params, X, np.ones((2, 3)))
    with pytest.raises(KeyError, match=r"params\['W1'\] is missing"):
        mod.ravel({})
    assert compiled.unravel(compiled.ravel(params))["W2"].shape == (2, 3)
    assert set(compiled.init_params(0)) == set(params)


JAX_INIT = """
    import json, numpy as np, jax, grad
    p = grad.init_params(jax.random.PRNGKey(0))
    back = grad.unravel(grad.ravel(p))
    try:
        grad.loss({k: v for k, v in p.items() if k != "W2"}, np.zeros((1, 4)), np.ones((1, 2)) / 2)
        missing = ""
    except KeyError as exc:
        missing = str(exc)
    print(json.dumps({"shapes": {k: list(v.shape) for k, v in p.items()}, "same": all(bool((back[k] == p[k]).all()) for k in p),
                      "missing": missing}))
"""


def test_jax_ravel_and_init(tmp_path):
    pytest.importorskip("jax", reason="jax is not installed")
    net = Network.from_string("4-3-2", activation="relu,softmax", loss="ce")
    export(derive(net, check=False), tmp_path / "grad.py", target="jax")
    got = run_isolated(tmp_path, JAX_INIT)
    assert got["shapes"] == {k: list(s) for k, s in param_shapes(net).items()} and got["same"]
    assert "params['W2'] is missing: expected shape (2, 3)" in got["missing"]


# -- 4. numerics at the edges: saturated sigmoids and equal large softmax inputs, against mpmath -----

def mp_sigmoid(v):
    import mpmath
    with mpmath.workdps(50):
        return float(1 / (1 + mpmath.exp(-mpmath.mpf(float(v)))))


SATURATED = np.array([-700.0, -300.0, -100.0, -50.0, -38.0, -20.0, -1.0, 0.0, 3.0, 30.0])


def test_sigmoid_keeps_its_relative_precision_when_saturated(tmp_path):
    """A 1-1 network v = x: the output sigma(x) and dE/dw = (y - t) y (1 - y) x, nonzero where representable."""
    net = Network.from_string("1-1", activation="sigmoid", loss="half_sse", bias=False)
    mod = load(export(derive(net, check=False), tmp_path / "grad.py"))
    params, X, T = {"W1": np.ones((1, 1))}, SATURATED[:, None], np.full((len(SATURATED), 1), 0.5)
    want = np.array([mp_sigmoid(v) for v in SATURATED])
    with np.errstate(all="raise", under="ignore"):
        got = mod.forward(params, X)[:, 0]
        grads = [mod.gradients(params, X[n], T[n])["W1"][0, 0] for n in range(len(X))]
        ref = reference.forward(params, X, None, ["sigmoid"])[0][1][:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=0)
    np.testing.assert_allclose(ref, want, rtol=1e-8, atol=0)          # the reference, on its own
    for v, s, g in zip(SATURATED, want, grads):
        if v < 0:   # (s - 1/2) s (1 - s) v: representable, so it must not be rounded to 0
            np.testing.assert_allclose(g, (s - 0.5) * s * (1 - s) * v, rtol=1e-8)
            assert g != 0


def test_softmax_ce_with_equal_large_net_inputs(tmp_path):
    """v = 1e3 (float64: up to 1e17; float32: 1e3 and 1e7) in every unit: E = log(3) per sample, never -0.0."""
    import mpmath
    net = Network.from_string("1-3", activation="softmax", loss="ce", bias=False)
    mod = load(export(derive(net, check=False), tmp_path / "grad.py"))
    want = float(mpmath.log(3))
    for dtype, scales in ((np.float64, (1e3, 1e8, 1e17)), (np.float32, (1e3, 1e7))):
        for scale in scales:
            params = {"W1": np.full((3, 1), scale, dtype=dtype)}
            X, T = np.ones((2, 1), dtype=dtype), np.eye(3, dtype=dtype)[[0, 2]]
            with np.errstate(all="raise", under="ignore"):
                E, grads = mod.loss_and_gradients(params, X, T)
            np.testing.assert_allclose(E, 2 * want, rtol=1e-15 if dtype == np.float64 else 1e-7)
            assert E.dtype == dtype
            np.testing.assert_allclose(grads["W1"][:, 0], [-1 / 3, 2 / 3, -1 / 3], rtol=1e-6)
            ref = reference.loss({"W1": params["W1"].astype(float)}, X.astype(float), T.astype(float),
                                 ["softmax"], "ce")
            np.testing.assert_allclose(ref, 2 * want, rtol=1e-15)


@pytest.mark.skipif(__import__("shutil").which("cc") is None, reason="no C compiler")
def test_c_sigmoid_and_softmax_at_the_edges(tmp_path):
    import ctypes
    net = Network.from_string("1-1", activation="sigmoid", loss="half_sse", bias=False)
    lib, ptr = build_c(net, tmp_path)
    flat, X = np.ones(1), np.ascontiguousarray(SATURATED)
    Y = np.zeros(len(X))
    lib.forward(flat.ctypes.data_as(ptr), X.ctypes.data_as(ptr), ctypes.c_size_t(len(X)), Y.ctypes.data_as(ptr))
    np.testing.assert_allclose(Y, [mp_sigmoid(v) for v in SATURATED], rtol=1e-8, atol=0)
    (tmp_path / "ce").mkdir()
    lib, ptr = build_c(Network.from_string("1-3", activation="softmax", loss="ce", bias=False), tmp_path / "ce")
    flat, X, T = np.full(3, 1e8), np.ones(1), np.eye(3)[0].copy()
    E = lib.loss(flat.ctypes.data_as(ptr), X.ctypes.data_as(ptr), T.ctypes.data_as(ptr), ctypes.c_size_t(1))
    np.testing.assert_allclose(E, np.log(3), rtol=1e-15)


@pytest.mark.parametrize("act", [a.name for a in ACTIVATION_ROWS if a.elementwise and not a.output_only])
def test_float32_stays_float32_for_every_activation_row(act):
    """Constants such as gelu's sqrt(2) must not promote float32 arrays to float64 (NEP 50)."""
    from symbp.export import module_source
    module: dict = {}
    exec(module_source(derive("3-4-2", activation=f"{act},linear", check=False)), module)
    rng = np.random.default_rng(3)
    params = {k: v.astype(np.float32) for k, v in module["init_params"](rng).items()}
    X, T = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32)
    E, grads = module["loss_and_gradients"](params, X, T)
    hv = module["hessian_vector"](params, X, T, params)
    assert E.dtype == np.float32
    assert {g.dtype for g in (*grads.values(), *hv.values())} == {np.dtype(np.float32)}
