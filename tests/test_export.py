"""The exported modules: standalone, deterministic, stable, and equal to the hand-written backprop."""
import ast
import ctypes
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
from corpus import ELEMENTWISE, GAUSS, PSEUDO_HUBER
from corpus import LOSS_ROWS as LOSSES
from hypothesis import example, given, settings
from hypothesis import strategies as st

from symbp import Network, derive, reference
from symbp.activations import ACTIVATIONS, softmax_unit
from symbp.cli import main
from symbp.export import export, module_source
from symbp.notation import profile_names


def _net(layers, acts, loss, **kw):
    return Network.build(layers=list(layers), activations=list(acts), loss=loss, **kw)


def _run_isolated(module_dir, code: str) -> str:
    """Run ``code`` with python -I in a directory holding only the exported module (no symbp)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    script = "import sys; sys.path.insert(0, '.')\n" + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-I", "-W", "error", "-c", script], cwd=module_dir, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _random_case(rng, net, n):
    params = {}
    for l in range(1, net.depth + 1):
        params[f"W{l}"] = rng.normal(scale=0.8, size=(net.layers[l], net.layers[l - 1]))
        if net.bias:
            params[f"b{l}"] = rng.normal(scale=0.5, size=net.layers[l])
    X = rng.normal(size=(n, net.layers[0]))
    if net.loss.targets == "distribution":
        T = rng.uniform(0.05, 1, size=(n, net.layers[-1]))
        T /= T.sum(axis=1, keepdims=True)
    else:
        T = rng.uniform(size=(n, net.layers[-1]))
    return params, X, T


@st.composite
def networks(draw):
    depth = draw(st.integers(1, 3))
    layers = [draw(st.integers(1, 4))] + [draw(st.integers(2, 4)) for _ in range(depth)]   # width-1 relu layers: see forms.vectorize
    loss = draw(st.sampled_from(LOSSES))
    hidden = [draw(st.sampled_from(ELEMENTWISE)) for _ in range(depth - 1)]
    out = loss.needs or draw(st.sampled_from(ELEMENTWISE))     # the output activation the loss needs, if any
    if out not in ELEMENTWISE:
        layers[-1] = max(layers[-1], 2)
    bias = draw(st.booleans())
    sign = draw(st.sampled_from(["+", "-"]))
    notation = draw(st.sampled_from(profile_names()))
    return _net(layers, hidden + [out], loss.name, bias=bias, bias_sign=sign, notation=notation)


def _payload(params, X, T):
    return json.dumps({"params": {k: v.tolist() for k, v in params.items()}, "X": X.tolist(), "T": T.tolist()})


CALL = """
    import json, numpy as np, grad
    data = json.loads(open("case.json").read())
    P = {k: np.array(v) for k, v in data["params"].items()}
    out = {}
    for n in (1, 7):
        X, T = np.array(data["X"][:n]), np.array(data["T"][:n])
        g = grad.gradients(P, X, T)
        out[n] = {"loss": grad.loss(P, X, T), "forward": grad.forward(P, X).tolist(),
                  "grads": {k: v.tolist() for k, v in g.items()},
                  "shapes": {k: list(v.shape) for k, v in g.items()}}
    g1 = grad.gradients(P, np.array(data["X"][0]), np.array(data["T"][0]))
    out["single"] = {k: v.tolist() for k, v in g1.items()}
    print(json.dumps(out))
"""


def _close(a, b, rtol=1e-10):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.all(np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b)) + 1e-13), (a, b)


@settings(max_examples=10, deadline=None)
@given(net=networks(), seed=st.integers(0, 2**32 - 1))
@example(net=_net([2, 3, 2], [GAUSS, "tanh"], PSEUDO_HUBER, bias_sign="-", notation="ont"), seed=3)
def test_exported_module_matches_reference(tmp_path_factory, net, seed):
    tmp = tmp_path_factory.mktemp("export")
    export(derive(net, check=False), tmp / "grad.py")
    rng = np.random.default_rng(seed)
    params, X, T = _random_case(rng, net, 7)
    (tmp / "case.json").write_text(_payload(params, X, T))
    out = json.loads(_run_isolated(tmp, CALL))
    acts = [a.name for a in net.activations]
    for n in (1, 7):
        got = out[str(n)]
        ref = reference.gradients(params, X[:n], T[:n], acts, net.loss.name, net.bias_sign)
        assert list(got["grads"]) == list(ref)
        for k in ref:
            assert tuple(got["shapes"][k]) == ref[k].shape
            _close(got["grads"][k], ref[k])
        _close(got["loss"], reference.loss(params, X[:n], T[:n], acts, net.loss.name, net.bias_sign))
        _close(got["forward"], reference.forward(params, X[:n], net.layers, acts, net.bias_sign)[-1][1])
    ref1 = reference.gradients(params, X[0], T[0], acts, net.loss.name, net.bias_sign)
    for k in ref1:
        _close(out["single"][k], ref1[k])


COMBOS = [
    ("2-3-1", "sigmoid,linear", "half_sse", {}),
    ("2-2-1", "sigmoid", "sse", {"bias_sign": "-", "notation": "ont"}),
    ("3-4-4-2", "tanh,tanh,linear", "mse", {"notation": "mitchell"}),
    ("4-5-3", "relu,softmax", "ce", {"notation": "nielsen"}),
    ("2-3-2", "softplus,sigmoid", "bce", {}),
    ("3-2-2", "linear,relu", "half_sse", {"bias": False}),
    ("2-3-2", "tanh,softplus", "sse", {}),
    ("2-3-2", f"{GAUSS},linear", PSEUDO_HUBER, {"notation": "nielsen"}),     # an activation and a loss of your own
]


@pytest.fixture(scope="module", params=COMBOS, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in COMBOS])
def exported(request, tmp_path_factory):
    layers, acts, loss, kw = request.param
    net = Network.from_string(layers, activation=acts, loss=loss, **kw)
    d = derive(net, check=False)
    tmp = tmp_path_factory.mktemp("combo")
    path = export(d, tmp / "grad.py")
    export(d, tmp / "jaxgrad.py", target="jax")
    return net, d, path


def test_every_combo_matches_reference(exported):
    net, d, path = exported
    rng = np.random.default_rng(1)
    params, X, T = _random_case(rng, net, 7)
    (path.parent / "case.json").write_text(_payload(params, X, T))
    out = json.loads(_run_isolated(path.parent, CALL))
    acts = [a.name for a in net.activations]
    for n in (1, 7):
        ref = reference.gradients(params, X[:n], T[:n], acts, net.loss.name, net.bias_sign)
        for k in ref:
            _close(out[str(n)]["grads"][k], ref[k])


@pytest.mark.parametrize("stem,library", [("grad", "numpy"), ("jaxgrad", "jax")])
def test_imports_only_its_array_library(exported, stem, library):
    _, _, path = exported
    path = path.with_name(f"{stem}.py")
    tree = ast.parse(path.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    assert modules == {library}
    text = path.read_text()
    assert "Dummy" not in text and "_Dummy" not in text and "sympy" not in text.split('"""', 2)[2]
    assert all(f"def {name}(" in text for name in ("layers", "forward", "loss", "deltas", "gradients"))
    assert "config" not in text.split('"""', 2)[2]     # the JAX module never flips JAX's configuration


def test_header_names_network_and_equations(exported):
    net, d, path = exported
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert "-".join(map(str, net.layers)) in doc
    assert net.loss.name in doc and f"Notation '{net.profile.name}'" in doc
    assert all(f"delta{l} = " in doc for l in range(1, net.depth + 1))


def test_byte_identical_across_processes(tmp_path):
    code = ("from symbp import Network, derive; from symbp.export import export; import sys\n"
            "net = Network.from_string('3-4-2', activation='tanh,softmax', loss='ce', notation='nielsen')\n"
            "d = derive(net, check=False); export(d, sys.argv[1]); export(net, sys.argv[2], target='c')\n"
            "export(d, sys.argv[3], target='jax')\n")
    outs = []
    for i, seed in enumerate(("1", "2")):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-c", code, str(tmp_path / f"a{i}.py"), str(tmp_path / f"a{i}.c"),
                        str(tmp_path / f"j{i}.py")],
                       check=True, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
        outs.append(((tmp_path / f"a{i}.py").read_bytes(), (tmp_path / f"a{i}.c").read_bytes(),
                     (tmp_path / f"a{i}.h").read_bytes().replace(b"A1_H", b"A_H"), (tmp_path / f"j{i}.py").read_bytes()))
    assert outs[0][0] == outs[1][0]
    assert outs[0][1].replace(b"a0.h", b"a1.h") == outs[1][1]
    assert outs[0][3] == outs[1][3] and b"@jax.jit" in outs[0][3]


def test_atomic_write_leaves_no_temporaries(tmp_path):
    net = Network.from_string("2-2-1", activation="sigmoid", loss="half_sse")
    export(net, tmp_path / "out" / "grad.py")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["grad.py"]


STABLE = """
    import json, numpy as np, grad
    data = json.loads(open("case.json").read())
    P = {k: np.array(v) for k, v in data["params"].items()}
    X, T = np.array(data["X"]), np.array(data["T"])
    # Overflow, invalid and divide raise; underflow is exact rounding to 0 (e^-1000, (1e-200)**2),
    # not an instability, and cannot be avoided in general.
    with np.errstate(all="raise", under="ignore"):
        E = grad.loss(P, X, T); g = grad.gradients(P, X, T); y = grad.forward(P, X)
    ok = np.isfinite(E) and all(np.all(np.isfinite(v)) for v in g.values()) and np.all(np.isfinite(y))
    print(json.dumps({"ok": bool(ok), "loss": E, "grads": {k: v.tolist() for k, v in g.items()}}))
"""


@pytest.mark.parametrize("layers,acts,loss", [
    ("3-4-2", "sigmoid,softmax", "ce"), ("3-4-2", "softplus,sigmoid", "bce"),
    ("3-4-2", "tanh,linear", "mse"), ("3-4-2", "relu,sigmoid", "half_sse"),
    ("3-4-2", "relu,softmax", "ce"), ("3-4-2", "softplus,softplus", "sse")])
def test_stable_at_large_inputs(tmp_path, layers, acts, loss):
    net = Network.from_string(layers, activation=acts, loss=loss)
    export(derive(net, check=False), tmp_path / "grad.py")
    rng = np.random.default_rng(3)
    params, _, T = _random_case(rng, net, 4)
    X = np.array([[1e3, -1e3, 1e3], [-1e3, 1e3, -1e3], [1e3, 1e3, 1e3], [-1e3, -1e3, -1e3]])
    (tmp_path / "case.json").write_text(_payload(params, X, T))
    out = json.loads(_run_isolated(tmp_path, STABLE))
    assert out["ok"]
    acts_ = [a.name for a in net.activations]
    with np.errstate(all="ignore"):
        ref = reference.gradients(params, X, T, acts_, loss, net.bias_sign)
    for k in ref:
        _close(out["grads"][k], ref[k], rtol=1e-9)


@pytest.mark.parametrize("act", [a for a in ACTIVATIONS if a.log_output is not None], ids=lambda a: a.name)
def test_logs_in_the_net_input_are_identities(act):
    """The loss is printed with log y rewritten by the output activation's row: each rewrite must be exact."""
    v, lse = sp.symbols("v1:4", real=True), sp.Symbol("lse", real=True)
    exact_lse = sp.log(sum(sp.exp(vm) for vm in v))
    for j in range(3) if not act.elementwise else range(1):
        y = softmax_unit(list(v), j) if not act.elementwise else act.function(v[0])
        for log, rewritten in act.log_output(sp.Symbol("y"), v[j], lse).items():
            exact = log.subs(sp.Symbol("y"), y).rewrite(sp.exp)
            for point in ({v[0]: 0.7, v[1]: -1.3, v[2]: 2.1}, {v[0]: -35, v[1]: 4, v[2]: 0}):
                got = rewritten.subs(lse, exact_lse).rewrite(sp.exp).evalf(30, subs=point)
                assert abs(got - exact.evalf(30, subs=point)) < 1e-25, (act.name, log)


def test_bad_target_refused(tmp_path):
    with pytest.raises(ValueError):
        export(Network.from_string("2-1", activation="sigmoid", loss="half_sse"), tmp_path / "x.py", target="rust")
    assert not list(tmp_path.iterdir())


def test_bad_target_on_the_command_line_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "2-1", "--activation", "sigmoid", "-o", str(tmp_path / "x.py"), "--target", "rust"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice: 'rust'" in err[0] and "'jax'" in err[0]
    assert not list(tmp_path.iterdir())


def test_module_source_is_the_exported_text(exported):
    net, d, path = exported
    assert module_source(d) == path.read_text()
    assert module_source(d, "jax") == path.with_name("jaxgrad.py").read_text()
    with pytest.raises(ValueError, match="numpy, jax"):
        module_source(d, "c")


# -- deltas: s * dE/dv of every layer, against finite differences of the hand-written loss ---

DELTA_SIGN = {"haykin": -1, "ont": +1, "mitchell": -1, "nielsen": +1}   # delta = s dE/dv in each source


def _loss_of_net_inputs(net, params, l, T):
    """V -> E when V are the net inputs of layer l: layers l..L as a network whose first weights are I."""
    acts = [a.name for a in net.activations][l - 1:]
    tail = {"W1": np.eye(net.layers[l])}
    for k in range(l + 1, net.depth + 1):
        tail[f"W{k - l + 1}"] = params[f"W{k}"]
        if net.bias:
            tail[f"b{k - l + 1}"] = params[f"b{k}"]
    return lambda V: reference.loss(tail, V, T, acts, net.loss.name, net.bias_sign)


def _deltas_oracle(net, params, X, T, h=1e-6):
    """delta_l = s dE/dv_l for every layer, by central differences in each net input of each sample."""
    acts = [a.name for a in net.activations]
    out = []
    for l, (V, _) in enumerate(reference.forward(params, X, net.layers, acts, net.bias_sign), start=1):
        E, g = _loss_of_net_inputs(net, params, l, T), np.zeros_like(V)
        for idx in np.ndindex(V.shape):
            step = np.zeros_like(V)
            step[idx] = h
            g[idx] = (E(V + step) - E(V - step)) / (2 * h)
        out.append(DELTA_SIGN[net.profile.name] * g)
    return out


def _close_fd(got, want):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape
    assert np.allclose(got, want, rtol=1e-6, atol=1e-8), (got, want)


def _load(path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.parent.name}_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_deltas_and_layers_match_independent_oracles(exported):
    net, _, path = exported
    mod = _load(path)
    params, X, T = _random_case(np.random.default_rng(2), net, 5)
    oracle = _deltas_oracle(net, params, X, T)
    got = mod.deltas(params, X, T)
    assert len(got) == net.depth
    for g, o in zip(got, oracle):
        _close_fd(g, o)
    one = mod.deltas(params, X[0], T[0])
    for g, o in zip(one, _deltas_oracle(net, params, X[:1], T[:1])):
        _close_fd(g, o[0])
    acts = [a.name for a in net.activations]
    for (v, y), (rv, ry) in zip(mod.layers(params, X), reference.forward(params, X, net.layers, acts, net.bias_sign)):
        _close(v, rv)
        _close(y, ry)
    assert [v.shape for v, _ in mod.layers(params, X[0])] == [(n,) for n in net.layers[1:]]


# -- C -------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
@pytest.mark.parametrize("combo", COMBOS, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in COMBOS])
def test_c_target_matches_reference(tmp_path, combo):
    layers, acts, loss, kw = combo
    net = Network.from_string(layers, activation=acts, loss=loss, **kw)
    c_path = export(derive(net, check=False), tmp_path / "grad.c", target="c")
    assert c_path.with_suffix(".h").exists()
    lib_path = tmp_path / "libgrad.so"
    subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", str(lib_path),
                    str(c_path), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(lib_path))
    dp = ctypes.POINTER(ctypes.c_double)
    lib.loss.restype = ctypes.c_double
    rng = np.random.default_rng(5)
    params, X, T = _random_case(rng, net, 7)
    acts_ = [a.name for a in net.activations]
    for n in (1, 7):
        Xn, Tn = np.ascontiguousarray(X[:n]), np.ascontiguousarray(T[:n])
        ref = reference.gradients(params, Xn, Tn, acts_, loss, net.bias_sign)
        flat = np.ascontiguousarray(np.concatenate([np.ravel(params[k]) for k in ref]))
        grad = np.full_like(flat, np.nan)
        lib.gradients(flat.ctypes.data_as(dp), Xn.ctypes.data_as(dp), Tn.ctypes.data_as(dp),
                      ctypes.c_size_t(n), grad.ctypes.data_as(dp))
        _close(grad, np.concatenate([np.ravel(ref[k]) for k in ref]))
        E = lib.loss(flat.ctypes.data_as(dp), Xn.ctypes.data_as(dp), Tn.ctypes.data_as(dp), ctypes.c_size_t(n))
        _close(E, reference.loss(params, Xn, Tn, acts_, loss, net.bias_sign))
        Y = np.zeros((n, net.layers[-1]))
        lib.forward(flat.ctypes.data_as(dp), Xn.ctypes.data_as(dp), ctypes.c_size_t(n), Y.ctypes.data_as(dp))
        _close(Y, reference.forward(params, Xn, net.layers, acts_, net.bias_sign)[-1][1])


# -- JAX: every module of this file in one subprocess (jit compiles are slow; x64 stays there) ---

JAX_CALL = """
    import json, numpy as np, jax
    jax.config.update("jax_enable_x64", True)
    import importlib

    def answers(mod, P, X, T, more):
        # every call inside one jax.jit: one XLA compile per module instead of one per call
        out = {"grads": mod.gradients(P, X, T), "loss": mod.loss(P, X, T), "forward": mod.forward(P, X)}
        if more:
            out.update(deltas=mod.deltas(P, X, T), single=mod.gradients(P, X[0], T[0]),
                       deltas1=mod.deltas(P, X[0], T[0]), layers=mod.layers(P, X))
        return out

    out = {}
    for name, more in json.loads(open("names.json").read()).items():
        mod, data = importlib.import_module(name), json.loads(open(name + ".json").read())
        P = {k: np.array(v) for k, v in data["params"].items()}
        X, T = np.array(data["X"]), np.array(data["T"])
        got = jax.jit(lambda P, X, T: answers(mod, P, X, T, more))(P, X, T)
        out[name] = jax.tree_util.tree_map(lambda a: np.asarray(a).tolist(), got)
        out[name]["dtype"] = str(got["grads"]["W1"].dtype)
        try:
            mod.gradients(P, X[:, :-1], T)
        except ValueError as exc:
            out[name]["bad_shape"] = str(exc)
    print(json.dumps(out))
"""

STABLE_COMBOS = [("3-4-2", "sigmoid,softmax", "ce"), ("3-4-2", "softplus,sigmoid", "bce"),
                 ("3-4-2", "tanh,linear", "mse"), ("3-4-2", "relu,sigmoid", "half_sse"),
                 ("3-4-2", f"{GAUSS},tanh", PSEUDO_HUBER)]
LARGE_X = np.array([[1e3, -1e3, 1e3], [-1e3, 1e3, -1e3], [1e3, 1e3, 1e3], [-1e3, -1e3, -1e3]])


JAX_MORE = (2, 3)    # the combos whose deltas, layers and one-sample calls are checked too (compiles are slow)


def _jax_cases():
    """(name, more, network, params, X, T): the combos at random inputs, then the stability cases at +-1e3."""
    for i, (layers, acts, loss, kw) in enumerate(COMBOS):
        net = Network.from_string(layers, activation=acts, loss=loss, **kw)
        yield (f"combo{i}", i in JAX_MORE, net, *_random_case(np.random.default_rng(1), net, 7))
    for i, (layers, acts, loss) in enumerate(STABLE_COMBOS):
        net = Network.from_string(layers, activation=acts, loss=loss)
        params, _, T = _random_case(np.random.default_rng(3), net, 4)
        yield f"stable{i}", False, net, params, LARGE_X, T


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """The JAX modules' answers in float64, and the cases they answered, by name."""
    pytest.importorskip("jax", reason="jax is not installed: the JAX target's modules cannot run")
    tmp = tmp_path_factory.mktemp("jax")
    cases, more = {}, {}
    for name, more[name], net, params, X, T in _jax_cases():
        export(derive(net, check=False), tmp / f"{name}.py", target="jax")
        (tmp / f"{name}.json").write_text(_payload(params, X, T))
        cases[name] = (net, params, X, T)
    (tmp / "names.json").write_text(json.dumps(more))
    return cases, json.loads(_run_isolated(tmp, JAX_CALL))


@pytest.mark.parametrize("i", range(len(COMBOS)), ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in COMBOS])
def test_jax_module_matches_reference(jax_run, i):
    cases, results = jax_run
    (net, params, X, T), got = cases[f"combo{i}"], results[f"combo{i}"]
    acts = [a.name for a in net.activations]
    assert got["dtype"] == "float64"
    ref = reference.gradients(params, X, T, acts, net.loss.name, net.bias_sign)
    assert sorted(got["grads"]) == sorted(ref)      # jax.jit returns a dict in sorted key order
    for k in ref:
        _close(got["grads"][k], ref[k])
    _close(got["loss"], reference.loss(params, X, T, acts, net.loss.name, net.bias_sign))
    fwd = reference.forward(params, X, net.layers, acts, net.bias_sign)
    _close(got["forward"], fwd[-1][1])
    assert got["bad_shape"].startswith("X has shape")
    if i not in JAX_MORE:
        return
    for k in ref:
        _close(got["single"][k], reference.gradients(params, X[0], T[0], acts, net.loss.name, net.bias_sign)[k])
    for (v, y), (rv, ry) in zip(got["layers"], fwd):
        _close(v, rv)
        _close(y, ry)
    for g, o in zip(got["deltas"], _deltas_oracle(net, params, X, T)):
        _close_fd(g, o)
    for g, o in zip(got["deltas1"], _deltas_oracle(net, params, X[:1], T[:1])):
        _close_fd(g, o[0])


@pytest.mark.parametrize("i", range(len(STABLE_COMBOS)), ids=["-".join(c) for c in STABLE_COMBOS])
def test_jax_stable_at_large_inputs(jax_run, i):
    cases, results = jax_run
    (net, params, X, T), got = cases[f"stable{i}"], results[f"stable{i}"]
    acts = [a.name for a in net.activations]
    assert np.isfinite(got["loss"]) and np.all(np.isfinite(got["forward"]))
    with np.errstate(all="ignore"):
        ref = reference.gradients(params, X, T, acts, net.loss.name, net.bias_sign)
    for k in ref:
        assert np.all(np.isfinite(got["grads"][k]))
        _close(got["grads"][k], ref[k], rtol=1e-9)


def test_jax_module_leaves_jax_config_alone(tmp_path):
    """Imported without 64-bit mode, the module computes in float32 and does not turn x64 on."""
    pytest.importorskip("jax", reason="jax is not installed: the JAX target's modules cannot run")
    net = Network.from_string("2-3-1", activation="sigmoid,linear", loss="half_sse")
    export(derive(net, check=False), tmp_path / "grad.py", target="jax")
    params, X, T = _random_case(np.random.default_rng(4), net, 3)
    (tmp_path / "case.json").write_text(_payload(params, X, T))
    out = json.loads(_run_isolated(tmp_path, """
        import json, numpy as np, jax, grad
        data = json.loads(open("case.json").read())
        P = {k: np.array(v) for k, v in data["params"].items()}
        g = grad.gradients(P, np.array(data["X"]), np.array(data["T"]))
        print(json.dumps({"x64": bool(jax.config.jax_enable_x64), "dtype": str(g["W1"].dtype),
                          "W1": np.asarray(g["W1"]).tolist()}))
    """))
    assert out["x64"] is False and out["dtype"] == "float32"
    ref = reference.gradients(params, X, T, ["sigmoid", "linear"], "half_sse", +1)
    assert np.allclose(out["W1"], ref["W1"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("extra", [0, 7])
def test_gradients_over_several_blocks_use_the_whole_batch(tmp_path, extra):
    # mse carries 1/N: every block of samples must scale by the whole batch's N, not its own.
    net = _net([3, 2, 2], ["tanh", "linear"], "mse", bias_sign="-")
    path = export(derive(net, check=False), tmp_path / "grad_blocks.py")
    spec = importlib.util.spec_from_file_location("grad_blocks", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    params, X, T = _random_case(np.random.default_rng(5), net, 2 * mod.BLOCK + extra)
    got = mod.gradients(params, X, T)
    want = reference.gradients(params, X, T, ["tanh", "linear"], "mse", -1)
    for k in want:
        _close(got[k], want[k], rtol=1e-9)
