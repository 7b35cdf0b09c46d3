"""ce gradients for ANY targets: every exported module's gradients against central differences of its OWN loss().

The taught rule delta = y - t holds only where a sample's targets sum to 1; the exported code evaluates
the general rule delta_j = y_j sum_m t_m - t_j. Oracles: central finite differences of each module's
loss() (numpy, jax, C, compile_network), the hand-written symbp.reference (itself held against finite
differences of its own loss), and the self-check, which must refuse the taught rule for general targets.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp

from symbp import Network, compile_network, derive, reference
from symbp.derive import Derivation
from symbp.errors import SelfCheckError
from symbp.export import export, param_shapes
from symbp.selfcheck import self_check

NETS = {   # a chain and a graph (skip and residual), in two sign conventions
    "chain": ("3-4-3", dict(activation="tanh,softmax", loss="ce")),
    "chain-nielsen": ("2-3-4", dict(activation="sigmoid,softmax", loss="ce", notation="nielsen", bias_sign="-")),
    "graph": ("3-4-4-4-3", dict(activation="tanh,sigmoid,softplus,softmax", loss="ce", skip="0:2,1:4",
                                residual="1:3")),
}
TARGETS = ("two-hot", "unnormalised", "zero-row")


def network(name: str) -> Network:
    layers, flags = NETS[name]
    return Network.from_string(layers, **flags)


def targets(kind: str, rng, batch: int, width: int) -> np.ndarray:
    """Targets whose rows do not sum to 1 (each row's sum is printed in a failure)."""
    if kind == "two-hot":
        return 2.0 * np.eye(width)[rng.integers(0, width, batch)]
    T = rng.uniform(0.1, 2.0, (batch, width))
    if kind == "zero-row":
        T[0] = 0.0
    return T


def problem(net: Network, kind: str, seed: int = 0, batch: int = 4):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(0.0, 0.6, shape) for k, shape in param_shapes(net).items()}
    X = rng.normal(0.0, 1.0, (batch, net.layers[0]))
    T = targets(kind, rng, batch, net.layers[-1])
    assert np.all(np.abs(T.sum(axis=1) - 1) > 0.05)
    return params, X, T


def central_differences(loss, params: dict, h: float = 1e-6) -> dict:
    """dE/dp of ``loss(params)`` by (E(p + h) - E(p - h)) / 2h, entry by entry."""
    out = {}
    for key, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus, minus = dict(params), dict(params)
            plus[key], minus[key] = value.copy(), value.copy()
            plus[key][idx] += h
            minus[key][idx] -= h
            g[idx] = (loss(plus) - loss(minus)) / (2 * h)
        out[key] = g
    return out


def assert_close(grads: dict, fd: dict, tol: float = 1e-6):
    assert set(grads) == set(fd)
    for key in fd:
        np.testing.assert_allclose(np.asarray(grads[key], dtype=float), fd[key], rtol=tol, atol=tol, err_msg=key)


def load(path):
    spec = importlib.util.spec_from_file_location(f"ce_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def derived():
    return {name: derive(network(name)) for name in NETS}


# -- the derivation: the general rule beside the taught special case ---------------------------

def test_output_delta_general_and_special_case(derived):
    d = derived["chain"]
    net, s = d.net, d.net.profile.delta_sign
    y, t = net.y[2], net.t
    for j, delta in enumerate(net.delta[2]):
        rule = d.deltas[delta]
        assert sp.expand(rule.value - s * (y[j] - t[j])) == 0                 # taught: targets sum to 1
        assert sp.expand(rule.general - s * (y[j] * sp.Add(*t) - t[j])) == 0  # any targets
        assert rule.simplification == "the targets of a sample sum to 1"
    assert d.check.any_targets
    assert all(r.general is None for r in derive("2-3-1", activation="sigmoid,sigmoid", loss="bce").deltas.values())


def _taught_only(d: Derivation) -> Derivation:
    """The derivation with the general output delta replaced by the taught y - t."""
    deltas = {s: dataclasses.replace(r, general=r.value) if r.general is not None else r for s, r in d.deltas.items()}
    return Derivation(d.net, deltas, d.params)


@pytest.mark.parametrize("spec", [("2-2-3", "tanh,softmax"), ("3-6-6-4", "sigmoid,tanh,softmax")],
                         ids=["symbolic", "numeric"])
def test_self_check_refuses_y_minus_t_for_any_targets(spec):
    d = derive(spec[0], activation=spec[1], loss="ce", check=False)
    assert self_check(d).any_targets
    with pytest.raises(SelfCheckError, match="any targets"):
        self_check(_taught_only(d))


# -- the oracle itself -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", TARGETS)
@pytest.mark.parametrize("name", NETS)
def test_reference_against_its_own_loss(name, kind):
    net = network(name)
    params, X, T = problem(net, kind, seed=1)
    args = ([a.name for a in net.activations], net.loss.name, net.bias_sign)
    kw = {"residual": net.spec.residual}
    fd = central_differences(lambda p: reference.loss(p, X, T, *args, **kw), params)
    assert_close(reference.gradients(params, X, T, *args, **kw), fd)


# -- every exported module against finite differences of its own loss() ---------------------

@pytest.mark.parametrize("kind", TARGETS)
@pytest.mark.parametrize("name", NETS)
def test_numpy_module_and_compile_network(derived, tmp_path, name, kind):
    d = derived[name]
    params, X, T = problem(d.net, kind, seed=2)
    mod = load(export(d, tmp_path / f"{name.replace('-', '_')}.py"))
    E, grads = mod.loss_and_gradients(params, X, T)
    assert_close(grads, central_differences(lambda p: mod.loss(p, X, T), params))
    compiled = compile_network(d)
    assert_close(compiled.gradients(params, X, T), central_differences(lambda p: compiled.loss(p, X, T), params))
    one = central_differences(lambda p: mod.loss(p, X[0], T[0]), params)     # one sample, 1-D arrays
    assert_close(mod.gradients(params, X[0], T[0]), one)


JAX_FD = """
    import json, sys, numpy as np, jax
    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, ".")
    import mod
    data = json.loads(open("data.json").read())
    P = {k: np.array(v) for k, v in data["params"].items()}
    X, T, h = np.array(data["X"]), np.array(data["T"]), 1e-6
    out = {"grads": {k: np.asarray(v).tolist() for k, v in mod.gradients(P, X, T).items()}, "fd": {}}
    for key, value in P.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus, minus = dict(P), dict(P)
            plus[key], minus[key] = value.copy(), value.copy()
            plus[key][idx] += h
            minus[key][idx] -= h
            g[idx] = (float(mod.loss(plus, X, T)) - float(mod.loss(minus, X, T))) / (2 * h)
        out["fd"][key] = g.tolist()
    print(json.dumps(out))
"""


@pytest.mark.parametrize("name", ["chain", "graph"])
def test_jax_module(derived, tmp_path, name):
    pytest.importorskip("jax", reason="jax is not installed")
    d = derived[name]
    params, X, T = problem(d.net, "unnormalised", seed=3)
    export(d, tmp_path / "mod.py", target="jax")
    (tmp_path / "data.json").write_text(json.dumps(
        {"params": {k: v.tolist() for k, v in params.items()}, "X": X.tolist(), "T": T.tolist()}))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out = subprocess.run([sys.executable, "-I", "-c", textwrap.dedent(JAX_FD)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert_close(result["grads"], {k: np.array(v) for k, v in result["fd"].items()})


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
@pytest.mark.parametrize("name", ["chain", "graph"])
def test_c_module(derived, tmp_path, name):
    import ctypes
    d = derived[name]
    c_path = export(d, tmp_path / "grad.c", target="c")
    lib_path = tmp_path / "libgrad.so"
    build = subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", str(lib_path),
                            str(c_path), "-lm"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    lib = ctypes.CDLL(str(lib_path))
    lib.loss.restype = ctypes.c_double
    ptr = ctypes.POINTER(ctypes.c_double)
    params, X, T = problem(d.net, "two-hot", seed=4)
    shapes = param_shapes(d.net)
    X, T = np.ascontiguousarray(X), np.ascontiguousarray(T)

    def flat(p):
        return np.ascontiguousarray(np.concatenate([p[k].ravel() for k in shapes]))

    def c_loss(p):
        return lib.loss(flat(p).ctypes.data_as(ptr), X.ctypes.data_as(ptr), T.ctypes.data_as(ptr),
                        ctypes.c_size_t(len(X)))
    grad = np.zeros(sum(int(np.prod(s)) for s in shapes.values()))
    lib.gradients(flat(params).ctypes.data_as(ptr), X.ctypes.data_as(ptr), T.ctypes.data_as(ptr),
                  ctypes.c_size_t(len(X)), grad.ctypes.data_as(ptr))
    fd = flat(central_differences(c_loss, params))
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)
