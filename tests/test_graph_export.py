"""Exported modules (NumPy, JAX, C), compile_network, `symbp example` and `symbp check` on graphs of layers.

Every number is held against oracles that share no code with the exporter: the hand-written NumPy
backprop (symbp.reference, which reads skips off the params keys W{l}_{s} and takes the residual
shortcuts as an argument) and central finite differences of its loss. The corpus is drawn from the
registries: every activation (elementwise ones anywhere, an output-only one where a loss needs it) and
every loss (its targets of the kind its row names), and an activation and a loss defined by a formula
(tests/corpus.py), so a new row meets every property here.
"""
from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from corpus import ACTIVATION_ROWS, ELEMENTWISE, GAUSS, PSEUDO_HUBER
from corpus import LOSS_ROWS as LOSSES
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from symbp import Network, compile_network, derive, reference
from symbp.export import export, param_shapes
from symbp.notation import profile_names

ROOT = Path(__file__).resolve().parents[1]
KINKS = {a.name: a.kink for a in ACTIVATION_ROWS if a.kink is not None}
RTOL = 1e-10           # exported code vs the reference: the same float64 math, summed in other orders
FD_TOL = 1e-6          # vs central differences of step 1e-6 (relative plus absolute)
FD_STEP = 1e-6
MARGIN = 1e-3          # finite differences are compared only where every kinked unit is this far from its kink


# -- the corpus ------------------------------------------------------------------------------------

@st.composite
def graph_networks(draw, max_width: int = 3):
    """A random graph of depth 2..5: skips s -> l (s < l - 1), residuals between hidden layers of equal
    width, any registry activation and loss, bias on or off and either sign, any notation."""
    depth = draw(st.integers(2, 5))
    loss = draw(st.sampled_from(LOSSES))
    out = loss.needs or draw(st.sampled_from(ELEMENTWISE))
    layers = [draw(st.integers(1, max_width)) for _ in range(depth + 1)]
    if draw(st.booleans()):                                   # equal hidden widths: residuals become possible
        layers[1:depth] = [layers[1]] * (depth - 1)
    if not next(a for a in ACTIVATION_ROWS if a.name == out).elementwise:
        layers[-1] = max(layers[-1], 2)                       # a softmax of one unit is the constant 1
    skip = tuple((s, l) for l in range(2, depth + 1) for s in range(l - 1) if draw(st.booleans()))
    residual = tuple((s, l) for l in range(2, depth) for s in range(1, l)
                     if layers[s] == layers[l] and draw(st.booleans()))
    hidden = [draw(st.sampled_from(ELEMENTWISE)) for _ in range(depth - 1)]
    return Network.build(layers=layers, activations=hidden + [out], loss=loss.name, skip=skip, residual=residual,
                         bias=draw(st.booleans()), bias_sign=draw(st.sampled_from(["+", "-"])),
                         notation=draw(st.sampled_from(profile_names())))


TARGETS = {   # by the kind of targets a loss row says it takes
    "distribution": lambda rng, shape: (lambda t: t / t.sum(axis=1, keepdims=True))(rng.uniform(0.05, 1.0, shape)),
    "probability": lambda rng, shape: rng.uniform(0.0, 1.0, shape),
    "any": lambda rng, shape: rng.normal(0.0, 1.0, shape),
}


def random_problem(net: Network, batch: int, seed: int):
    """float64 params for every key of the network (W{l}, W{l}_{s}, b{l}) and a batch (X, T) for its loss."""
    rng = np.random.default_rng(seed)
    params = {key: rng.normal(0.0, 0.7, shape) for key, shape in param_shapes(net).items()}
    X = rng.normal(0.0, 1.0, (batch, net.layers[0]))
    return params, X, TARGETS[net.loss.targets](rng, (batch, net.layers[-1]))


def oracle(net: Network):
    """(positional, keyword) arguments of symbp.reference for this network."""
    return ([a.name for a in net.activations], net.loss.name, net.bias_sign), {"residual": net.spec.residual}


def away_from_kinks(net: Network, params, X) -> bool:
    args, kw = oracle(net)
    forward = reference.forward(params, X, net.layers, args[0], args[2], **kw)
    return all(np.all(np.abs(v - KINKS[name]) > MARGIN) for (v, _), name in zip(forward, args[0]) if name in KINKS)


def central_differences(net: Network, params, X, T) -> dict[str, np.ndarray]:
    args, kw = oracle(net)
    out = {}
    for key, value in params.items():
        grad = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            p = {k: v.copy() for k, v in params.items()}
            p[key][idx] = value[idx] + FD_STEP
            plus = reference.loss(p, X, T, *args, **kw)
            p[key][idx] = value[idx] - FD_STEP
            grad[idx] = (plus - reference.loss(p, X, T, *args, **kw)) / (2 * FD_STEP)
        out[key] = grad
    return out


def deltas_oracle(net: Network, params, X, T) -> list[np.ndarray]:
    """delta(l) of each sample = (profile sign) dE/dv(l), from central differences in the biases of that
    sample alone: dv/db = bias sign, and a sample's share of a mean loss is 1/N of its own loss."""
    args, kw = oracle(net)
    share = 1.0 / X.shape[0] if net.loss.mean else 1.0
    out = []
    for l in net.graph.order:
        g = np.zeros((X.shape[0], net.layers[l]))
        for n, j in np.ndindex(g.shape):
            p = {k: v.copy() for k, v in params.items()}
            p[f"b{l}"][j] += FD_STEP
            plus = reference.loss(p, X[n:n + 1], T[n:n + 1], *args, **kw)
            p[f"b{l}"][j] -= 2 * FD_STEP
            minus = reference.loss(p, X[n:n + 1], T[n:n + 1], *args, **kw)
            g[n, j] = share * (plus - minus) / (2 * FD_STEP) * net.bias_sign * net.profile.delta_sign
        out.append(g)
    return out


def close(got, want, rtol: float = RTOL, atol: float = 1e-13, what: str = ""):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert np.all(np.abs(got - want) <= rtol * np.maximum(np.abs(got), np.abs(want)) + atol), (what, got, want)


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the exported NumPy module on random graphs ----------------------------------------------------

@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(net=graph_networks(), batch=st.sampled_from([1, 5]), seed=st.integers(0, 2**32 - 1))
@example(net=Network.build(layers=[2, 3, 3, 2], activations=[GAUSS, "tanh", GAUSS], loss=PSEUDO_HUBER, skip=((0, 2),),
                           residual=((1, 2),), bias_sign="-"), batch=5, seed=4)
def test_exported_numpy_matches_reference_and_finite_differences(tmp_path_factory, net, batch, seed):
    params, X, T = random_problem(net, batch, seed)
    assume(away_from_kinks(net, params, X))
    mod = load(export(derive(net, check=False), tmp_path_factory.mktemp("graph") / "grad.py"))
    args, kw = oracle(net)
    want = reference.gradients(params, X, T, *args, **kw)
    got = mod.gradients(params, X, T)
    assert list(got) == list(want) == list(mod.PARAMETERS) == net.param_keys()
    fd = central_differences(net, params, X, T)
    for key in want:
        close(got[key], want[key], what=key)
        close(got[key], fd[key], rtol=FD_TOL, atol=FD_TOL, what=f"{key} vs finite differences")
    close(mod.loss(params, X, T), reference.loss(params, X, T, *args, **kw))
    forward = reference.forward(params, X, net.layers, args[0], args[2], **kw)
    close(mod.forward(params, X), forward[-1][1])
    for l, ((v, y), (rv, ry)) in enumerate(zip(mod.layers(params, X), forward), start=1):
        close(v, rv, what=f"v{l}")
        close(y, ry, what=f"y{l}")
    if net.bias:
        for l, (d, o) in enumerate(zip(mod.deltas(params, X, T), deltas_oracle(net, params, X, T)), start=1):
            close(d, o, rtol=FD_TOL, atol=FD_TOL, what=f"delta{l}")


@settings(deadline=None)
@given(net=graph_networks(), seed=st.integers(0, 2**32 - 1))
def test_compiled_network_matches_reference(net, seed):
    params, X, T = random_problem(net, 4, seed)
    compiled = compile_network(derive(net, check=False))
    args, kw = oracle(net)
    got, want = compiled.gradients(params, X, T), reference.gradients(params, X, T, *args, **kw)
    assert set(got) == set(want) == set(params)
    for key in want:
        close(got[key], want[key], what=key)
    one = compiled.gradients(params, X[0], T[0])        # one sample in, the same keys and shapes out
    for key, value in reference.gradients(params, X[:1], T[:1], *args, **kw).items():
        close(one[key], value, what=key)


# -- a few named graphs through every target ---------------------------------------------------------

GRAPHS = [   # (layer string, flags): skips, residuals and both, over the registry's losses
    ("2-3-3-1", dict(activation="tanh,tanh,linear", skip="1:3")),
    ("3-4-4-4-4-2", dict(activation="tanh,sigmoid,relu,softplus,softmax", loss="ce", skip="0:2,1:4",
                         residual="1:3")),
    ("2-3-3-3-2", dict(activation="softplus,tanh,sigmoid,sigmoid", loss="bce", skip="0:4",
                       residual="1:3,2:3", bias_sign="-", notation="ont")),
    ("3-2-2-2", dict(activation="sigmoid,tanh,linear", loss="mse", residual="1:2", bias=False,
                     notation="nielsen")),
    ("2-2-3-2-2", dict(activation="relu,sigmoid,tanh,softplus", loss="sse", skip="0:2,0:3,0:4,1:4,2:4",
                       notation="mitchell")),
]
IDS = [f"{layers} {flags.get('skip', '-')} {flags.get('residual', '-')}" for layers, flags in GRAPHS]


def graph(i: int) -> Network:
    layers, flags = GRAPHS[i]
    return Network.from_string(layers, **flags)


def kink_free_problem(net: Network, batch: int):
    """The first seeded problem whose kinked units are away from their kinks."""
    for seed in range(100):
        params, X, T = random_problem(net, batch, seed)
        if away_from_kinks(net, params, X):
            return params, X, T
    raise AssertionError("no kink-free problem in 100 seeds")


def payload(params, X, T) -> str:
    return json.dumps({"params": {k: v.tolist() for k, v in params.items()}, "X": X.tolist(), "T": T.tolist()})


def run_isolated(directory: Path, code: str) -> dict:
    """Run ``code`` with python -I (no site, no PYTHONPATH, no symbp) in a directory holding only the modules."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    script = "import sys; sys.path.insert(0, '.')\n" + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-I", "-W", "error", "-c", script], cwd=directory, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


ISOLATED = """
    import sys, json, importlib, numpy as np
    out = {}
    for name in json.loads(open("names.json").read()):
        mod, data = importlib.import_module(name), json.loads(open(name + ".json").read())
        P = {k: np.array(v) for k, v in data["params"].items()}
        X, T = np.array(data["X"]), np.array(data["T"])
        tolist = lambda a: np.asarray(a).tolist()
        out[name] = {"grads": {k: tolist(v) for k, v in mod.gradients(P, X, T).items()},
                     "single": {k: tolist(v) for k, v in mod.gradients(P, X[0], T[0]).items()},
                     "loss": mod.loss(P, X, T), "forward": tolist(mod.forward(P, X)),
                     "layers": [[tolist(v), tolist(y)] for v, y in mod.layers(P, X)],
                     "deltas": [tolist(d) for d in mod.deltas(P, X, T)],
                     "skip": [list(p) for p in mod.SKIP], "residual": [list(p) for p in mod.RESIDUAL],
                     "modules": sorted(m for m in sys.modules if m.split(".")[0] == "symbp")}
    print(json.dumps(out))
"""


def _check_answers(net, params, X, T, got, deltas: bool = True):
    args, kw = oracle(net)
    want = reference.gradients(params, X, T, *args, **kw)
    assert sorted(got["grads"]) == sorted(want)
    for key in want:
        close(got["grads"][key], want[key], what=key)
    for key, value in reference.gradients(params, X[:1], T[:1], *args, **kw).items():
        close(got["single"][key], value, what=f"{key} of one sample")
    close(got["loss"], reference.loss(params, X, T, *args, **kw))
    forward = reference.forward(params, X, net.layers, args[0], args[2], **kw)
    close(got["forward"], forward[-1][1])
    for (v, y), (rv, ry) in zip(got["layers"], forward):
        close(v, rv)
        close(y, ry)
    if deltas and net.bias:
        for l, (d, o) in enumerate(zip(got["deltas"], deltas_oracle(net, params, X, T)), start=1):
            close(d, o, rtol=FD_TOL, atol=FD_TOL, what=f"delta{l}")


def test_exported_modules_run_alone_in_a_fresh_process(tmp_path):
    """Each module imported by python -I from a directory that holds no symbp, as an engineer ships it."""
    cases = {}
    for i in range(len(GRAPHS)):
        net = graph(i)
        path = export(derive(net, check=False), tmp_path / f"graph{i}.py")
        params, X, T = kink_free_problem(net, 5)
        (tmp_path / f"graph{i}.json").write_text(payload(params, X, T))
        cases[path.stem] = (net, params, X, T)
    (tmp_path / "names.json").write_text(json.dumps(list(cases)))
    assert not (tmp_path / "symbp").exists()
    results = run_isolated(tmp_path, ISOLATED)
    for name, (net, params, X, T) in cases.items():
        got = results[name]
        assert got["modules"] == []
        assert got["skip"] == [list(p) for p in net.spec.skip] and got["residual"] == [list(p) for p in net.spec.residual]
        _check_answers(net, params, X, T, got)


@pytest.mark.parametrize("i", range(len(GRAPHS)), ids=IDS)
def test_header_names_the_graph_and_its_equations(tmp_path, i):
    net = graph(i)
    d = derive(net, check=False)
    doc = load(export(d, tmp_path / "grad.py")).__doc__
    assert "-".join(map(str, net.layers)) in doc and net.loss.name in doc
    for c in net.graph.connections:
        if c.kind == "skip":
            assert f"{c.key} {(net.layers[c.dst], net.layers[c.src])} from layer {c.src} into layer {c.dst}" in doc
            assert f"d{net.profile.loss}/d{c.key} = sum_n" in doc
        elif not c.weighted:
            assert f"{net.profile.out}{c.src} added to {net.profile.out}{c.dst}" in doc
    for l in net.graph.order:
        inputs = " + ".join(f"{c.key} @ {net.profile.out}{c.src}" if c.src else f"{c.key} @ x"
                            for c in net.graph.inputs(l))
        assert f"{net.profile.net}{l} = {inputs}" in doc
        assert f"delta{l} = " in doc
    export(d, tmp_path / "grad.c", target="c")
    header = (tmp_path / "grad.h").read_text()
    offsets = {k: int(line.split()[-1]) for line in header.splitlines() if line.startswith("#define SYMBP_OFFSET_")
               for k in [line.split()[1][len("SYMBP_OFFSET_"):]]}
    sizes = [int(np.prod(s)) for s in param_shapes(net).values()]
    assert offsets == {k.upper(): int(sum(sizes[:i])) for i, k in enumerate(param_shapes(net))}
    assert f"#define SYMBP_N_PARAMS {net.n_params}" in header


# -- C ------------------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")
@pytest.mark.parametrize("i", range(len(GRAPHS)), ids=IDS)
def test_c_target_matches_reference(tmp_path, i):
    net = graph(i)
    c_path = export(derive(net, check=False), tmp_path / "grad.c", target="c")
    lib_path = tmp_path / "libgrad.so"
    build = subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", str(lib_path),
                            str(c_path), "-lm"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    lib = ctypes.CDLL(str(lib_path))
    dp = ctypes.POINTER(ctypes.c_double)
    lib.loss.restype = ctypes.c_double
    params, X, T = kink_free_problem(net, 6)
    args, kw = oracle(net)
    flat = np.ascontiguousarray(np.concatenate([np.ravel(params[k]) for k in param_shapes(net)]))  # the C layout
    for n in (1, 6):
        Xn, Tn = np.ascontiguousarray(X[:n]), np.ascontiguousarray(T[:n])
        want = reference.gradients(params, Xn, Tn, *args, **kw)
        grad = np.full_like(flat, np.nan)
        lib.gradients(flat.ctypes.data_as(dp), Xn.ctypes.data_as(dp), Tn.ctypes.data_as(dp), ctypes.c_size_t(n),
                      grad.ctypes.data_as(dp))
        close(grad, np.concatenate([np.ravel(want[k]) for k in param_shapes(net)]))
        E = lib.loss(flat.ctypes.data_as(dp), Xn.ctypes.data_as(dp), Tn.ctypes.data_as(dp), ctypes.c_size_t(n))
        close(E, reference.loss(params, Xn, Tn, *args, **kw))
        Y = np.zeros((n, net.layers[-1]))
        lib.forward(flat.ctypes.data_as(dp), Xn.ctypes.data_as(dp), ctypes.c_size_t(n), Y.ctypes.data_as(dp))
        close(Y, reference.forward(params, Xn, net.layers, args[0], args[2], **kw)[-1][1])


# -- JAX: every graph in one subprocess, in 64-bit mode ------------------------------------------------

JAX_CALL = """
    import json, importlib, numpy as np, jax
    jax.config.update("jax_enable_x64", True)
    out = {}
    for name in json.loads(open("names.json").read()):
        mod, data = importlib.import_module(name), json.loads(open(name + ".json").read())
        P = {k: np.array(v) for k, v in data["params"].items()}
        X, T = np.array(data["X"]), np.array(data["T"])

        def answers(P, X, T):      # one jax.jit around every call: one XLA compile per module
            return {"grads": mod.gradients(P, X, T), "single": mod.gradients(P, X[0], T[0]),
                    "loss": mod.loss(P, X, T), "forward": mod.forward(P, X), "layers": mod.layers(P, X),
                    "deltas": mod.deltas(P, X, T)}
        got = jax.jit(answers)(P, X, T)
        out[name] = jax.tree_util.tree_map(lambda a: np.asarray(a).tolist(), got)
        out[name]["dtype"] = str(got["grads"]["W1"].dtype)
    print(json.dumps(out))
"""


def test_jax_target_matches_reference(tmp_path):
    pytest.importorskip("jax", reason="jax is not installed: the JAX target's modules cannot run")
    cases = {}
    for i in (1, 2, 3):     # the ce, bce and mse graphs: skips, residuals, no bias
        net = graph(i)
        export(derive(net, check=False), tmp_path / f"jaxgraph{i}.py", target="jax")
        params, X, T = kink_free_problem(net, 5)
        (tmp_path / f"jaxgraph{i}.json").write_text(payload(params, X, T))
        cases[f"jaxgraph{i}"] = (net, params, X, T)
    (tmp_path / "names.json").write_text(json.dumps(list(cases)))
    results = run_isolated(tmp_path, JAX_CALL)
    for name, (net, params, X, T) in cases.items():
        got = results[name]
        assert got["dtype"] == "float64"
        _check_answers(net, params, X, T, got)


# -- compile_network's checks name the key ----------------------------------------------------------

def test_compiled_network_names_a_wrong_or_missing_skip():
    net = graph(1)
    compiled = compile_network(derive(net, check=False))
    params, X, T = random_problem(net, 2, 0)
    with pytest.raises(ValueError, match=r"params\['W4_1'\] has shape \(1, 4\), expected \(4, 4\)"):
        compiled.gradients({**params, "W4_1": params["W4_1"][:1]}, X, T)
    with pytest.raises(KeyError, match=r"params\['W2_0'\] is missing: expected shape \(4, 3\)"):
        compiled.gradients({k: v for k, v in params.items() if k != "W2_0"}, X, T)
    chain = compile_network(derive(Network.from_string("3-4-4-4-4-2", activation="tanh,sigmoid,relu,softplus,softmax",
                                                       loss="ce"), check=False))
    with pytest.raises(KeyError, match="W2_0, which is no parameter"):    # skips of another graph: never ignored
        chain.gradients(params, X, T)


# -- symbp example and symbp check on graphs ---------------------------------------------------------

CLI_GRAPHS = [["2-3-3-1", "--activation", "tanh,tanh,linear", "--skip", "1:3"],
              ["3-4-4-4-4-2", "--activation", "tanh,sigmoid,relu,softplus,softmax", "--loss", "ce",
               "--skip", "0:2,1:4", "--residual", "1:3"]]


def symbp(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "symbp", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)


def matrices(net: Network, values: dict) -> dict[str, np.ndarray]:
    """{w3_1_2_1: ..., b1_2: ...} -> {W3_1: array, b1: array}, by the canonical names of PRODUCT.md:
    w{l}_{j}_{k} on the chain, w{l}_{s}_{j}_{k} on a skip, b{l}_{j}."""
    out = {key: np.full(shape, np.nan) for key, shape in param_shapes(net).items()}
    for name, value in values.items():
        parts = [int(p) for p in name[1:].split("_")]
        if name[0] == "b":
            out[f"b{parts[0]}"][parts[1] - 1] = value
        elif len(parts) == 3:
            out[f"W{parts[0]}"][parts[1] - 1, parts[2] - 1] = value
        else:
            out[f"W{parts[0]}_{parts[1]}"][parts[2] - 1, parts[3] - 1] = value
    assert all(np.all(np.isfinite(a)) for a in out.values()), "a parameter is missing from the JSON"
    return out


@pytest.mark.parametrize("argv", CLI_GRAPHS, ids=lambda a: " ".join(a[:1] + a[-4:]))
def test_example_on_a_graph_against_the_reference(argv):
    run = symbp("example", *argv, "--json")
    assert run.returncode == 0 and run.stderr == "", run.stderr
    data = json.loads(run.stdout)
    net = Network.from_string(argv[0], **{k[2:]: v for k, v in zip(argv[1::2], argv[2::2])})
    assert list(data["params"]) == [p.name for p in net.params()]
    params = matrices(net, data["params"])
    X, T = np.array(data["inputs"]), np.array(data["targets"])
    args, kw = oracle(net)
    grads = matrices(net, data["gradients"])
    for key, want in reference.gradients(params, X, T, *args, **kw).items():
        close(grads[key], want, what=key)
    close(data["loss"], reference.loss(params, X, T, *args, **kw))
    for l, (v, y) in enumerate(reference.forward(params, X, net.layers, args[0], args[2], **kw), start=1):
        close([data["forward"][s.name] for s in net.v[l]], v[0], what=f"v{l}")
        close([data["forward"][s.name] for s in net.y[l]], y[0], what=f"y{l}")
    eta = data["learning_rate"]
    assert data["updated"] == pytest.approx({k: data["params"][k] - eta * data["gradients"][k] for k in data["params"]},
                                            rel=1e-12, abs=1e-15)
    text = symbp("example", *argv)
    assert text.returncode == 0 and f"loss = {data['loss']!r}" in text.stdout


@pytest.mark.parametrize("argv", CLI_GRAPHS, ids=lambda a: " ".join(a[:1] + a[-4:]))
def test_check_on_a_graph_agrees_everywhere(argv):
    net = Network.from_string(argv[0], **{k[2:]: v for k, v in zip(argv[1::2], argv[2::2])})
    run = symbp("check", *argv, "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads(run.stdout)
    assert data["ok"] is True and data["network"] == net.name
    assert [r["name"] for r in data["rows"]] == [p.name for p in net.params()]
    assert all(r["verdict"] == "ok" for r in data["rows"])
    assert any(r["name"].startswith(f"w{c.dst}_{c.src}_") for r in data["rows"]
               for c in net.graph.connections if c.kind == "skip")
    assert data["sympy_checked"] is (net.n_params <= 60)
    text = symbp("check", *argv)
    assert text.returncode == 0 and f"{net.n_params} of {net.n_params} parameters agree" in text.stdout


def test_example_weights_of_a_graph_spec_in_connection_order(tmp_path):
    """[example] weights lists W1, W2, W2_0, W3 (net.graph.weighted order); the numbers land where they belong."""
    W1, W2, W2_0, W3 = [[0.1, -0.2], [0.3, 0.4]], [[0.5, -0.6], [0.7, 0.1]], [[-0.3, 0.2], [0.6, -0.5]], [[0.2, -0.4]]
    spec = tmp_path / "net.toml"
    spec.write_text(textwrap.dedent(f"""
        [network]
        layers = [2, 2, 2, 1]
        activations = ["tanh", "sigmoid", "linear"]
        skip = [[0, 2]]
        residual = [[1, 2]]
        [example]
        inputs = [0.3, -0.7]
        targets = [0.25]
        weights = [{W1}, {W2}, {W2_0}, {W3}]
        biases = [[0.1, -0.1], [0.2, 0.05], [-0.3]]
        learning_rate = 0.1
    """))
    run = symbp("example", str(spec), "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    net = Network.from_file(spec)
    params = matrices(net, data["params"])
    for key, written in {"W1": W1, "W2": W2, "W2_0": W2_0, "W3": W3}.items():
        np.testing.assert_array_equal(params[key], written)
    args, kw = oracle(net)
    want = reference.gradients(params, np.array([[0.3, -0.7]]), np.array([[0.25]]), *args, **kw)
    for key, value in want.items():
        close(matrices(net, data["gradients"])[key], value, what=key)
    check = symbp("check", str(spec))
    assert check.returncode == 0 and f"{net.n_params} of {net.n_params} parameters agree" in check.stdout, check.stdout
