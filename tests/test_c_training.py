"""The C target's [training] part: weight decay in loss() and the gradients, reduction = "mean", and step().

The exported .c is compiled with the system compiler and called through ctypes. Oracles:
symbp.reference (hand-written NumPy that shares no code with the symbolic path: its regularised
loss, gradients and momentum_step), central finite differences of the reference's regularised loss,
the numpy target's step() (an other printer of the same derivation), and relations worked by hand
(the mean is the sum over N; an undecayed bias's gradient is the one without weight decay).
"""
import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from symbp import Network, derive, reference
from symbp.cli import main
from symbp.compile import compile_network
from symbp.export import export, param_shapes
from symbp.spec import Training, spec_from_layer_string

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")

TOL = 1e-12
# (layers, activations, loss, skip, residual, training): momentum + weight decay + the mean in each
CASES = [("2-3-1", "sigmoid,linear", "half_sse", "", "", Training(0.9, 0.01, False, "mean")),
         ("3-4-3", "tanh,softmax", "ce", "", "", Training(0.5, 0.1, False, "mean")),
         ("3-4-2", "softplus,sigmoid", "bce", "", "", Training(0.9, 0.05, True, "mean")),
         ("3-4-2", "tanh,linear", "mse", "", "", Training(0.8, 0.2, False, "mean")),
         ("3-4-4-2", "tanh,elu,linear", "sse", "0:2", "", Training(0.9, 0.03, False, "mean")),
         ("3-4-4-4-2", "tanh,sigmoid,tanh,linear", "half_sse", "", "1:3", Training(0.7, 0.02, True, "sum"))]
IDS = [f"{c[0]} {c[1]} {c[2]}" + (f" skip {c[3]}" if c[3] else "") + (f" residual {c[4]}" if c[4] else "")
       for c in CASES]


def _net(layers, acts, loss, skip="", residual="", training=None) -> Network:
    return Network(spec_from_layer_string(layers, activation=acts, loss=loss, skip=skip, residual=residual,
                                          training=training or Training()))


class CModule:
    """The exported C module of ``net``, built as a shared library; params as dicts, flattened in C's layout."""

    def __init__(self, net: Network, directory, dtype: str = "float64"):
        self.net, self.shapes = net, param_shapes(net)
        c_path = export(derive(net, check=False), directory / "grad.c", target="c", dtype=dtype)
        lib_path = directory / "libgrad.so"
        build = subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                                "-o", str(lib_path), str(c_path), "-lm"], capture_output=True, text=True)
        assert build.returncode == 0, build.stderr
        self.lib = ctypes.CDLL(str(lib_path))
        self.real = ctypes.c_float if dtype == "float32" else ctypes.c_double
        self.np_real = np.float32 if dtype == "float32" else np.float64
        self.lib.loss.restype = self.lib.loss_and_gradients.restype = self.lib.step.restype = self.real
        self.ptr = ctypes.POINTER(self.real)

    def flat(self, params) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate([np.ravel(params[k]) for k in self.shapes]), dtype=self.np_real)

    def unflat(self, vector) -> dict:
        out, start = {}, 0
        for k, shape in self.shapes.items():
            size = int(np.prod(shape))
            out[k] = np.array(vector[start:start + size], dtype=float).reshape(shape)
            start += size
        return out

    def _p(self, a):
        return a.ctypes.data_as(self.ptr)

    def _batch(self, X, T):
        return (np.ascontiguousarray(X, dtype=self.np_real), np.ascontiguousarray(T, dtype=self.np_real))

    def loss(self, params, X, T) -> float:
        X, T = self._batch(X, T)
        return self.lib.loss(self._p(self.flat(params)), self._p(X), self._p(T), ctypes.c_size_t(len(X)))

    def gradients(self, params, X, T) -> dict:
        X, T = self._batch(X, T)
        grad = np.full(sum(int(np.prod(s)) for s in self.shapes.values()), np.nan, dtype=self.np_real)
        self.lib.gradients(self._p(self.flat(params)), self._p(X), self._p(T), ctypes.c_size_t(len(X)),
                           self._p(grad))
        return self.unflat(grad)

    def step(self, params, state, X, T, eta):
        """(new params, new state, loss, grad): state None is Delta p(0) = 0, the C caller's zeroed array."""
        X, T = self._batch(X, T)
        flat = self.flat(params)
        st = np.zeros_like(flat) if state is None else self.flat(state)
        grad = np.full_like(flat, np.nan)
        E = self.lib.step(self._p(flat), self._p(st), self._p(X), self._p(T), ctypes.c_size_t(len(X)),
                          self.real(eta), self._p(grad))
        return self.unflat(flat), self.unflat(st), E, self.unflat(grad)


def _dir(tmp_path, name: str):
    (tmp_path / name).mkdir()
    return tmp_path / name


def _reference_args(net: Network) -> tuple[tuple, dict]:
    t = net.training
    return (([a.name for a in net.activations], net.loss.name, net.bias_sign),
            {"residual": net.spec.residual, "weight_decay": t.weight_decay, "decay_biases": t.decay_biases,
             "reduction": t.reduction})


def _problem(net: Network, N: int, rng):
    """A batch of N samples; targets in (0, 1), summing to 1 for ce."""
    X = rng.normal(size=(N, net.layers[0]))
    T = rng.uniform(0.05, 0.95, size=(N, net.layers[-1]))
    if net.loss.name == "ce":
        T = T / T.sum(axis=1, keepdims=True)
    return X, T


def _params(net: Network, rng) -> dict:
    return {k: rng.normal(0.0, 0.5, shape) for k, shape in param_shapes(net).items()}


def _assert_close(got: dict, want: dict, what: str, tol: float = TOL):
    assert set(got) == set(want), what
    for k in want:
        err = float(np.max(np.abs(np.asarray(got[k], dtype=float) - np.asarray(want[k], dtype=float))))
        assert err <= tol, f"{what}[{k}]: max |diff| {err:.3g} > {tol:g}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_c_steps_equal_the_reference_and_the_numpy_step(tmp_path, case):
    """Five steps with momentum and weight decay, a new batch each step: C, reference.momentum_step and the
    numpy module's step() keep the same parameters and the same state Delta p(n)."""
    *shape, t = case
    net = _net(*shape, training=t)
    c, numpy_module = CModule(net, tmp_path), compile_network(derive(net, check=False))
    rng = np.random.default_rng(7)
    start = _params(net, rng)
    args, kw = _reference_args(net)
    ours, theirs, mine = (start, None), (start, None), (start, None)
    eta = 0.3 if t.reduction == "mean" else 0.05     # a summed batch of 5 takes smaller steps (no divergence)
    for n in range(5):
        X, T = _problem(net, 5, rng)
        before = reference.regularised_loss(theirs[0], X, T, *args, **kw)
        *ours, E, _ = c.step(*ours, X, T, eta)
        assert E == pytest.approx(before, rel=1e-12, abs=TOL)      # the loss at the parameters before the step
        theirs = reference.momentum_step(*theirs, X, T, eta, *args, momentum=t.momentum, **kw)
        mine = numpy_module.step(*mine, X, T, eta)
        _assert_close(ours[0], theirs[0], f"step {n + 1} params (C vs reference)")
        _assert_close(ours[1], theirs[1], f"step {n + 1} state (C vs reference)")
        _assert_close(ours[0], mine[0], f"step {n + 1} params (C vs numpy)")
        _assert_close(ours[1], mine[1], f"step {n + 1} state (C vs numpy)")
    # the steps moved the parameters: the comparison is not one of unchanged arrays
    assert max(float(np.max(np.abs(ours[0][k] - start[k]))) for k in start) > 1e-3


@pytest.mark.parametrize("case", CASES[:4], ids=IDS[:4])
def test_c_regularised_loss_and_gradients_under_the_mean(tmp_path, case):
    """loss() is the reference's regularised loss; gradients() are its central differences (h = 1e-6)."""
    *shape, t = case
    net = _net(*shape, training=t)
    c = CModule(net, tmp_path)
    rng = np.random.default_rng(3)
    params, (X, T) = _params(net, rng), _problem(net, 6, rng)
    args, kw = _reference_args(net)
    assert c.loss(params, X, T) == pytest.approx(reference.regularised_loss(params, X, T, *args, **kw),
                                                 rel=1e-12, abs=1e-14)
    got, h = c.gradients(params, X, T), 1e-6
    for k, shape in param_shapes(net).items():
        for index in np.ndindex(*shape):
            up, down = {q: v.copy() for q, v in params.items()}, {q: v.copy() for q, v in params.items()}
            up[k][index] += h
            down[k][index] -= h
            fd = (reference.regularised_loss(up, X, T, *args, **kw)
                  - reference.regularised_loss(down, X, T, *args, **kw)) / (2 * h)
            assert abs(got[k][index] - fd) <= 1e-7, (k, index, got[k][index], fd)


def test_c_mean_is_the_sum_over_n(tmp_path):
    """reduction = "mean" without decay: loss and gradients are the summed module's divided by N, exactly
    as N = 4 is a power of two."""
    summed = CModule(_net("2-3-2", "tanh,sigmoid", "bce"), _dir(tmp_path, "sum"))
    mean = CModule(_net("2-3-2", "tanh,sigmoid", "bce", training=Training(reduction="mean")),
                   _dir(tmp_path, "mean"))
    rng = np.random.default_rng(5)
    params, (X, T) = _params(summed.net, rng), _problem(summed.net, 4, rng)
    assert mean.loss(params, X, T) == pytest.approx(summed.loss(params, X, T) / 4, rel=1e-15)
    _assert_close(mean.gradients(params, X, T), {k: g / 4 for k, g in summed.gradients(params, X, T).items()},
                  "mean vs sum/N", tol=1e-16)
    # mse is a mean already: reduction = "mean" does not divide it a second time
    mse = CModule(_net("2-3-2", "tanh,linear", "mse", training=Training(reduction="mean")),
                  _dir(tmp_path, "mse"))
    residuals = np.asarray(reference.forward(params, X, None, ["tanh", "linear"], +1)[-1][1]) - T
    assert mse.loss(params, X, T) == pytest.approx(float(np.sum(residuals ** 2)) / 4, rel=1e-12)


@pytest.mark.parametrize("decay_biases", [False, True])
def test_c_decay_biases(tmp_path, decay_biases):
    """Without decay_biases a bias's gradient is the undecayed network's, to the bit; a weight's is it plus
    lambda w. With decay_biases both carry lambda p."""
    lam = 0.25
    plain = CModule(_net("3-4-2", "sigmoid,sigmoid", "half_sse"), _dir(tmp_path, "plain"))
    decayed = CModule(_net("3-4-2", "sigmoid,sigmoid", "half_sse", training=Training(0.0, lam, decay_biases)),
                      _dir(tmp_path, "decayed"))
    rng = np.random.default_rng(11)
    params, (X, T) = _params(plain.net, rng), _problem(plain.net, 3, rng)
    g0, g = plain.gradients(params, X, T), decayed.gradients(params, X, T)
    for k in params:
        if k.startswith("b") and not decay_biases:
            np.testing.assert_array_equal(g[k], g0[k])
        else:
            np.testing.assert_allclose(g[k] - g0[k], lam * params[k], rtol=0, atol=1e-15)
    penalty = sum(float(np.sum(p ** 2)) for k, p in params.items() if k.startswith("W") or decay_biases)
    assert decayed.loss(params, X, T) == pytest.approx(plain.loss(params, X, T) + lam / 2 * penalty, rel=1e-14)
    # momentum 0: step() is plain gradient descent on the regularised loss, and its state is -eta * grad
    new, state, _, grad = decayed.step(params, None, X, T, 0.5)
    _assert_close(grad, g, "step's grad")
    _assert_close(state, {k: -0.5 * g[k] for k in g}, "state")
    _assert_close(new, {k: params[k] - 0.5 * g[k] for k in g}, "params")


def test_c_step_float32(tmp_path):
    """--dtype float32: step() is float throughout (-Wdouble-promotion) and follows the reference to float precision."""
    net = _net("2-3-1", "sigmoid,linear", "half_sse", training=Training(0.9, 0.01, False, "mean"))
    c = CModule(net, tmp_path, "float32")
    source = (tmp_path / "grad.c").read_text() + (tmp_path / "grad.h").read_text()
    assert "double" not in source
    build = subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Wdouble-promotion", "-Werror", "-c",
                            "-o", str(tmp_path / "grad.o"), str(tmp_path / "grad.c")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    rng = np.random.default_rng(2)
    ours = theirs = (_params(net, rng), None)
    args, kw = _reference_args(net)
    for _ in range(3):
        X, T = _problem(net, 4, rng)
        *ours, _, _ = c.step(*ours, X.astype(np.float32), T.astype(np.float32), 0.25)
        theirs = reference.momentum_step(*theirs, X.astype(np.float32).astype(float),
                                         T.astype(np.float32).astype(float), 0.25, *args, momentum=0.9, **kw)
    _assert_close(ours[0], theirs[0], "float32 params", tol=1e-5)


def test_c_header_states_the_learning_rule(tmp_path):
    """The header defines alpha and lambda, names the decayed keys, declares step(); the output is deterministic."""
    d = derive(_net("2-3-1", "sigmoid,linear", "half_sse", training=Training(0.9, 0.01, False, "mean")), check=False)
    export(d, tmp_path / "a.c", target="c")
    export(d, tmp_path / "b.c", target="c")
    header = (tmp_path / "a.h").read_text()
    assert "#define SYMBP_MOMENTUM 0.90000000000000002" in header
    assert "#define SYMBP_WEIGHT_DECAY 0.01   /* lambda, over W1, W2 */" in header
    assert "double step(double *params, double *state, const double *X, const double *T, size_t N, double eta, " \
           "double *grad);" in header
    assert (tmp_path / "a.c").read_text().replace('"a.h"', "").replace("a.h", "") == \
        (tmp_path / "b.c").read_text().replace('"b.h"', "").replace("b.h", "")
    assert header.replace("SYMBP_A_H", "") == (tmp_path / "b.h").read_text().replace("SYMBP_B_H", "")


def test_cli_exports_c_with_the_learning_rule(tmp_path, capsys):
    """`symbp export --target c` with momentum, weight decay and the mean: no refusal, a step() in the module."""
    code = main(["export", "2-3-1", "--activation", "tanh,linear", "--momentum", "0.9", "--weight-decay", "1e-4",
                 "--reduction", "mean", "--target", "c", "-o", str(tmp_path / "net.c"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "double step(double *params, double *state" in (tmp_path / "net.c").read_text()
    assert "#define SYMBP_WEIGHT_DECAY 0.0001" in (tmp_path / "net.h").read_text()


TORCH = Path("/tmp/torchvenv/bin/python")
ORACLE = Path(__file__).parent / "oracles" / "torch_step.py"


@pytest.mark.skipif(not TORCH.exists(), reason="no scratch venv with torch at /tmp/torchvenv (torch is an oracle)")
def test_c_step_equals_torch_sgd(tmp_path):
    """The oracle compiles each NAME.c next to NAME.py and steps both against torch.optim.SGD (float64)."""
    cases = [("2-3-1", "sigmoid,linear", "half_sse", Training(0.9, 0.01, False, "mean")),
             ("3-4-3", "tanh,softmax", "ce", Training(0.9, 0.001, False, "mean")),
             ("2-3-1", "tanh,linear", "half_sse", Training(0.9, 0.01, True, "sum"))]
    for i, (layers, acts, loss, t) in enumerate(cases):
        d = derive(_net(layers, acts, loss, training=t), check=False)
        export(d, tmp_path / f"case{i}.py")
        export(d, tmp_path / f"case{i}.c", target="c")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(TORCH), str(ORACLE), str(tmp_path), "5"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith(("2-3-1", "3-4-3"))]
    assert len(rows) == 3 and all(line.split()[-1] != "-" for line in rows), r.stdout     # C was compared
