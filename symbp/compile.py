"""Compile a derivation into NumPy functions: forward pass, loss and gradients, vectorized over the batch."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import sympy as sp

from .activations import softplus
from .derive import Derivation, derive
from .network import Network

Params = Mapping[str, np.ndarray]


class logsumexp(sp.Function):
    """log(sum_m exp(a_m)), printed as NumPy's stable reduction of logaddexp."""

    def _eval_rewrite_as_log(self, *args, **kwargs):
        return sp.log(sp.Add(*[sp.exp(a) for a in args]))

    def fdiff(self, argindex=1):
        return sp.exp(self.args[argindex - 1] - self)

    def _numpycode(self, printer):
        items = ", ".join(printer._print(a) for a in self.args)
        return (f"{printer._module_format('numpy.logaddexp.reduce')}"
                f"({printer._module_format('numpy.stack')}(({items},)), axis=0)")


@dataclass
class _Stage:
    """Expressions lambdified together (with common subexpressions shared) over their free symbols."""

    exprs: Sequence[sp.Expr]
    args: tuple = field(init=False)
    fn: object = field(init=False)

    def __post_init__(self):
        free = set().union(*[sp.sympify(e).free_symbols for e in self.exprs])
        self.args = tuple(sorted(free, key=lambda s: s.name))
        self.fn = sp.lambdify(self.args, list(self.exprs), modules="numpy", cse=True)

    def __call__(self, env: dict, n: int) -> list[np.ndarray]:
        out = self.fn(*[env[s] for s in self.args])
        # A constant expression comes back as a scalar; every stage works on (N,) columns.
        return [np.broadcast_to(np.asarray(o, dtype=float), (n,)) for o in out]


def _stable_output(net: Network, layer: int, j: int) -> sp.Expr:
    """y_j in the net inputs; softmax as exp(v_j - logsumexp(v)), which never overflows."""
    if net.activation(layer).elementwise:
        return net.output(layer, j)
    v = net.v[layer]
    return sp.exp(v[j - 1] - logsumexp(*v))


def _stable_loss(net: Network) -> sp.Expr:
    """E of one sample with log(y) rewritten in net inputs where the output would saturate to 0 or 1."""
    E, L = net.loss_in_outputs(), net.depth
    y, v = net.y[L], net.v[L]
    if net.loss.name == "bce":
        # log sigma(v) = -softplus(-v), log(1 - sigma(v)) = -softplus(v)
        logs = {sp.log(yj): -softplus(-vj) for yj, vj in zip(y, v)}
        logs.update({sp.log(1 - yj): -softplus(vj) for yj, vj in zip(y, v)})
        return E.xreplace(logs)
    if net.loss.name == "ce":
        lse = logsumexp(*v)
        return E.xreplace({sp.log(yj): vj - lse for yj, vj in zip(y, v)})
    return E


class CompiledNetwork:
    """forward / loss / gradients of one network, evaluated from its derivation's equations."""

    def __init__(self, derivation: Derivation):
        self.derivation = derivation
        net = self.net = derivation.net
        self._net_inputs = {l: _Stage([net.net_input(l, j) for j in net.units(l)]) for l in self._layers}
        self._outputs = {l: _Stage([_stable_output(net, l, j) for j in net.units(l)]) for l in self._layers}
        self._loss = _Stage([_stable_loss(net)])
        errors = {e: net.error(j) for j, e in enumerate(net.e, start=1)}
        self._deltas = {l: _Stage([derivation.deltas[d].value.xreplace(errors) for d in net.delta[l]])
                        for l in self._layers}
        self._rules = {l: [r for r in derivation.params.values() if r.layer == l] for l in self._layers}
        self._grads = {l: _Stage([r.gradient for r in self._rules[l]]) for l in self._layers}

    @property
    def _layers(self) -> range:
        return range(1, self.net.depth + 1)

    # -- plumbing -------------------------------------------------------------------------
    def _env(self, params: Params, X: np.ndarray) -> dict:
        """{symbol: value}: weights and biases as scalars, the inputs as (N,) columns."""
        net = self.net
        env = {net.batch: X.shape[0]}
        env.update({xk: X[:, k] for k, xk in enumerate(net.x)})
        for l in self._layers:
            W = np.asarray(params[f"W{l}"], dtype=float)
            if W.shape != (net.layers[l], net.layers[l - 1]):
                raise ValueError(f"W{l} has shape {W.shape}, expected {(net.layers[l], net.layers[l - 1])}")
            env.update({w: W[j, k] for j, row in enumerate(net.W[l]) for k, w in enumerate(row)})
            if net.bias:
                b = np.asarray(params[f"b{l}"], dtype=float)
                env.update({bj: b[j] for j, bj in enumerate(net.b[l])})
        return env

    def _run_forward(self, env: dict, n: int) -> None:
        for l in self._layers:
            env.update(zip(self.net.v[l], self._net_inputs[l](env, n)))
            env.update(zip(self.net.y[l], self._outputs[l](env, n)))

    def _columns(self, env: dict, symbols) -> np.ndarray:
        return np.stack([env[s] for s in symbols], axis=1)

    # -- public API -------------------------------------------------------------------------
    def forward(self, params: Params, X) -> list[tuple[np.ndarray, np.ndarray]]:
        """(v, y) of every computing layer, (N, n_l) each; one sample in gives 1-D arrays back."""
        single, X = np.ndim(X) == 1, _rows(X)
        env = self._env(params, X)
        self._run_forward(env, X.shape[0])
        out = [(self._columns(env, self.net.v[l]), self._columns(env, self.net.y[l])) for l in self._layers]
        return [(v[0], y[0]) for v, y in out] if single else out

    def loss(self, params: Params, X, T) -> float:
        """E over the batch: the per-sample loss summed over the samples (it carries 1/N for mse)."""
        env, n = self._prepared(params, X, T)
        return float(np.sum(self._loss(env, n)[0]))

    def gradients(self, params: Params, X, T) -> dict[str, np.ndarray]:
        """dE/dW{l} and dE/db{l}, the batch sums of the derived per-sample gradients."""
        env, n = self._prepared(params, X, T)
        self._run_backward(env, n)
        net, grads = self.net, {}
        for l in self._layers:
            W = np.zeros((net.layers[l], net.layers[l - 1]))
            b = np.zeros(net.layers[l])
            for rule, value in zip(self._rules[l], self._grads[l](env, n)):
                if rule.kind == "weight":
                    W[rule.unit - 1, rule.source - 1] = value.sum()
                else:
                    b[rule.unit - 1] = value.sum()
            grads[f"W{l}"] = W
            if net.bias:
                grads[f"b{l}"] = b
        return grads

    def unit_values(self, params: Params, X, T) -> dict[sp.Symbol, np.ndarray]:
        """Every unit's net input, output and local gradient (and error, where named), one entry per sample."""
        env, n = self._prepared(params, X, T)
        self._run_backward(env, n)
        net = self.net
        symbols = [s for l in self._layers for s in (*net.v[l], *net.y[l], *net.delta[l])]
        values = {s: np.asarray(env[s]) for s in symbols}
        values.update({e: np.asarray(env[t]) - np.asarray(env[y])
                       for e, t, y in zip(net.e, net.t, net.y[net.depth])})
        return values

    def _run_backward(self, env: dict, n: int) -> None:
        for l in reversed(self._layers):
            env.update(zip(self.net.delta[l], self._deltas[l](env, n)))   # needs the deltas of layer l + 1

    def _prepared(self, params: Params, X, T) -> tuple[dict, int]:
        X, T = _rows(X), _rows(T)
        if T.shape != (X.shape[0], self.net.layers[-1]):
            raise ValueError(f"T has shape {T.shape}, expected {(X.shape[0], self.net.layers[-1])}")
        env = self._env(params, X)
        env.update({tj: T[:, j] for j, tj in enumerate(self.net.t)})
        self._run_forward(env, X.shape[0])
        return env, X.shape[0]

    def __repr__(self) -> str:
        return f"CompiledNetwork({self.net.name!r})"


def _rows(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[None, :] if a.ndim == 1 else a


def compile_network(net, check: bool = True) -> CompiledNetwork:
    """NumPy functions for ``net`` (a Network, Spec, spec file, layer string or a Derivation)."""
    derivation = net if isinstance(net, Derivation) else derive(net, check=check)
    return CompiledNetwork(derivation)
