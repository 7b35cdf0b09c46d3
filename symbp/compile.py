"""Compile a derivation into NumPy functions: its matrix-form rules, printed as a module and loaded in memory.

The module is the one ``symbp export`` writes (symbp.export.module_source): every line is
printed by SymPy's code printers from the derivation's matrix rules, so what a notebook
user calls and what an engineer ships are the same code. Nothing the user typed reaches
it but the network's shape, which is validated before printing.
"""
from __future__ import annotations

import hashlib
import linecache
import types
from collections.abc import Mapping

import numpy as np
import sympy as sp

from .derive import Derivation, derive
from .export import module_source, param_shapes

Params = Mapping[str, np.ndarray]


def _load(source: str, name: str) -> types.ModuleType:
    """Execute generated source as a module; linecache keeps tracebacks pointing into it."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]     # one linecache entry per distinct module
    filename = f"<symbp compiled {name} {digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType("symbp_compiled")
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


class CompiledNetwork:
    """forward / loss / gradients of one network, vectorized over the batch (X is (N, n0) or (n0,))."""

    def __init__(self, derivation: Derivation):
        self.derivation = derivation
        self.net = derivation.net
        self.source = module_source(derivation, "numpy")
        self.module = _load(self.source, self.net.name)
        self.shapes = param_shapes(self.net)

    def _checked(self, params: Params) -> Params:
        """Refuse a key that is no parameter of the network (the module names a missing or misshapen one)."""
        unknown = [key for key in params if key not in self.shapes]
        if unknown:     # a skip matrix of another graph would silently not take part
            raise KeyError(f"params has {unknown[0]}, which is no parameter of {self.net.name} "
                           f"(its parameters: {', '.join(self.shapes)})")
        return params

    # -- public API -------------------------------------------------------------------------
    def forward(self, params: Params, X) -> list[tuple[np.ndarray, np.ndarray]]:
        """(v, y) of every computing layer, (N, n_l) each; one sample in gives 1-D arrays back."""
        return self.module.layers(self._checked(params), X)

    def output(self, params: Params, X) -> np.ndarray:
        """The network's output, (N, n_L) (or (n_L,) for one sample)."""
        return self.module.forward(self._checked(params), X)

    def loss(self, params: Params, X, T) -> float:
        """E over the batch: the per-sample loss summed over the samples (it carries 1/N for mse and under
        reduction = "mean"), plus the regulariser lambda/2 sum w^2 under weight decay."""
        return float(self.module.loss(self._checked(params), X, T))

    def gradients(self, params: Params, X, T) -> dict[str, np.ndarray]:
        """dE/dW{l}, dE/dW{l}_{s} (skips) and dE/db{l}, summed over the samples, keyed and shaped like params."""
        return self.module.gradients(self._checked(params), X, T)

    def loss_and_gradients(self, params: Params, X, T) -> tuple[float, dict[str, np.ndarray]]:
        """(loss, gradients) from one forward and one backward pass: what loss() and gradients() return."""
        E, grads = self.module.loss_and_gradients(self._checked(params), X, T)
        return float(E), grads

    def step(self, params: Params, state: Params | None, X, T, eta: float) -> tuple[dict, dict]:
        """One step of the [training] learning rule: Delta p(n) = alpha Delta p(n-1) - eta dE/dp(n) on the
        regularised loss; ``state`` is Delta p(n-1) (None on the first call). Returns (params, state)."""
        return self.module.step(self._checked(params), state, X, T, eta)

    def hessian_vector(self, params: Params, X, T, V: Params) -> dict[str, np.ndarray]:
        """The Hessian of loss() times V (keyed like params), by the R-operator on the derived rules (symbp.rop)."""
        return self.module.hessian_vector(self._checked(params), X, T, self._checked(V))

    def ravel(self, params: Params) -> np.ndarray:
        """params as one 1-D vector: the keys in net.param_keys() order, each array row-major."""
        return self.module.ravel(self._checked(params))

    def unravel(self, vector) -> dict[str, np.ndarray]:
        """The inverse of ravel."""
        return self.module.unravel(vector)

    def init_params(self, rng=None, scheme: str | None = None) -> dict[str, np.ndarray]:
        """Random weights ("glorot" or "he"; None: each layer's activation's), zero biases."""
        return self.module.init_params(rng, scheme)

    def deltas(self, params: Params, X, T) -> list[np.ndarray]:
        """The local gradient of every computing layer (profile's sign), (N, n_l) each."""
        return self.module.deltas(self._checked(params), X, T)

    def unit_values(self, params: Params, X, T) -> dict[sp.Symbol, np.ndarray]:
        """Every unit's net input, output and local gradient (and error, where named), one entry per sample."""
        net = self.net
        X, T = np.atleast_2d(np.asarray(X, dtype=float)), np.atleast_2d(np.asarray(T, dtype=float))
        values: dict[sp.Symbol, np.ndarray] = {}
        for l, ((v, y), delta) in enumerate(zip(self.forward(params, X), self.deltas(params, X, T)), start=1):
            for j in range(net.layers[l]):
                values[net.v[l][j]], values[net.y[l][j]], values[net.delta[l][j]] = v[:, j], y[:, j], delta[:, j]
        for j, e in enumerate(net.e):
            values[e] = T[:, j] - values[net.y[net.depth][j]]
        return values

    def __repr__(self) -> str:
        return f"CompiledNetwork({self.net.name!r})"


def compile_network(net, check: bool = True) -> CompiledNetwork:
    """NumPy functions for ``net`` (a Network, Spec, spec file, layer string or a Derivation)."""
    derivation = net if isinstance(net, Derivation) else derive(net, check=check)
    return CompiledNetwork(derivation)
