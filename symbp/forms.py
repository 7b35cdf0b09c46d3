"""The general index form and the matrix form of the rules, each checked against the per-unit rules."""
from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from . import indexform as ix
from .errors import SelfCheckError


@dataclass(frozen=True)
class IndexForm:
    """Rules for a unit j of a layer of any width (inputs k, next-layer units m)."""

    output: ix.OutputRules
    hidden: dict[int, ix.LayerRules]     # layer -> its general factors and delta recursion
    weight_gradient: sp.Expr             # dE/dw_jk in delta_j
    bias_gradient: sp.Expr
    delta_sign: int
    skip_gradients: dict                 # skip Connection -> dE/dw^{(l,s)}_jk in delta_j of its layer


def index_form(net) -> IndexForm:
    s = net.profile.delta_sign
    out = ix.output_rules(net.activation(net.depth).name, net.spec.loss, s, bool(net.e),
                          net.training.reduction == "mean")
    from .derive import hidden_rules
    hidden = {l: hidden_rules(net, l) for l in net.graph.order[:-1]}
    from .derive import input_rules
    rules = ix.layer_rules(net.activation(net.depth).name, net.bias, net.bias_sign)
    delta = ix.B["delta"][ix.j]
    skips = {}
    for c in net.graph.weighted:
        if c.kind == "skip":
            general = dict(input_rules(net, c.dst).skip_dv_dw)[c.src - c.dst]
            skips[c] = s * delta * general
    return IndexForm(out, hidden, s * delta * rules.dv_dw, s * delta * rules.dv_db, s, skips)


@dataclass(frozen=True)
class MatrixLayer:
    """delta^{(l)}, dE/dW^{(l)} and dE/db^{(l)} for one sample, as SymPy matrix expressions.

    ``grad_skips`` are the gradients of the skip matrices W^{(l,s)} into the layer, by source.
    """

    layer: int
    delta: sp.MatrixExpr
    grad_W: sp.MatrixExpr
    grad_b: sp.MatrixExpr | None
    grad_skips: tuple = ()      # ((Connection, dE/dW^{(l,s)}), ...)

    @property
    def weight_grads(self) -> list[tuple[str, sp.MatrixExpr]]:
        """(params key, gradient) of every weight matrix into the layer: W{l} first, then W{l}_{s}."""
        return [(f"W{self.layer}", self.grad_W)] + [(c.key, g) for c, g in self.grad_skips]


def _vectors(net, l: int) -> dict:
    n, p = net.layers[l], net.profile
    return {"v": sp.MatrixSymbol(f"{p.net}{l}", n, 1), "y": sp.MatrixSymbol(f"{p.out}{l}", n, 1),
            "delta": sp.MatrixSymbol(f"delta{l}", n, 1)}


def _input(net) -> sp.MatrixSymbol:
    return sp.MatrixSymbol("x", net.layers[0], 1)


def _outputs(net, l: int) -> sp.MatrixSymbol:
    return _vectors(net, l)["y"] if l > 0 else _input(net)


def weight_matrix(net, c) -> sp.MatrixSymbol:
    """The MatrixSymbol of a weighted connection, named by its params key (W3, W3_1)."""
    return sp.MatrixSymbol(c.key, net.layers[c.dst], net.layers[c.src])


def _target(net) -> sp.MatrixSymbol:
    return sp.MatrixSymbol(net.profile.target, net.layers[-1], 1)


def vectorize(expr: sp.Expr, scalars: dict, n: int) -> sp.MatrixExpr:
    """An elementwise scalar rule for unit 1 -> the same rule on whole layer vectors.

    ``scalars`` maps unit 1's symbols to the layer's column vectors; products become
    Hadamard products, functions apply elementwise, numbers broadcast as c * 1.
    """
    if expr in scalars:
        return scalars[expr]
    if expr.is_Number:
        return expr * sp.OneMatrix(n, 1)
    if not expr.free_symbols & set(scalars):
        return expr * sp.OneMatrix(n, 1)
    if expr.is_Add:
        return sp.MatAdd(*[vectorize(a, scalars, n) for a in expr.args])
    if expr.is_Mul:
        coeff, rest = expr.as_independent(*scalars)
        parts = [vectorize(a, scalars, n) for a in sp.Mul.make_args(rest)]
        prod = parts[0] if len(parts) == 1 else sp.HadamardProduct(*parts)
        return coeff * prod
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        return sp.HadamardProduct(*[vectorize(expr.base, scalars, n)] * int(expr.exp))
    z = sp.Dummy("z", real=True)   # real: Heaviside refuses a complex-capable argument
    used = [s for s in scalars if expr.has(s)]
    if len(used) == 1:
        # a function of one unit value (sigma(v), elu's Piecewise in y, 1/(1 + |v|)^2) applies entry by
        # entry to that value's vector; the printers write the Lambda's body with the vector in it
        return sp.Basic.__new__(ElementwiseApplyFunction, sp.Lambda(z, expr.xreplace({used[0]: z})),
                                vectorize(used[0], scalars, n))
    if isinstance(expr, sp.Piecewise):
        raise NotImplementedError(f"a piecewise rule in {len(used)} unit values has no matrix form: {expr}")
    arg, *rest = expr.args   # Heaviside(v, 0) carries its value at 0 as a constant argument
    # Basic.__new__: the constructor would apply the function at once to a 1x1 symbol,
    # which Heaviside refuses (a MatrixElement is not known to be real).
    return sp.Basic.__new__(ElementwiseApplyFunction, sp.Lambda(z, expr.func(z, *rest)), vectorize(arg, scalars, n))


def matrix_form(d) -> list[MatrixLayer]:
    """Matrix rules per layer, derived from the per-unit rules and checked entry by entry."""
    net, s = d.net, d.net.profile.delta_sign
    L, layers = net.depth, []
    for l in reversed(net.graph.order):
        vec, prev = _vectors(net, l), _vectors(net, l - 1) if l > 1 else {"y": _input(net)}
        n = net.layers[l]
        if l == L and net.activation(L).elementwise:
            scalars = {net.y[L][0]: vec["y"], net.v[L][0]: vec["v"]}
            scalars[net.t[0]] = _target(net)
            if net.e:
                scalars[net.e[0]] = sp.MatrixSymbol(net.profile.error, n, 1)
            delta = vectorize(d.deltas[net.delta[L][0]].value, scalars, n)
        elif l == L:  # softmax + ce: delta = s (y - t), elementwise again after the simplification
            delta = vectorize(d.deltas[net.delta[L][0]].value,
                              {net.y[L][0]: vec["y"], net.t[0]: _target(net)}, n)
        else:
            unit1 = d.deltas[net.delta[l][0]].chain[0][-1].result
            phi = vectorize(unit1, {net.y[l][0]: vec["y"], net.v[l][0]: vec["v"]}, n)
            # one term per path: the weighted connection that reads y(l), or y(l) carried by shortcuts
            back = [weight_matrix(net, p.into).T * _vectors(net, p.into.dst)["delta"] for p in net.graph.paths(l)]
            delta = sp.HadamardProduct(phi, back[0] if len(back) == 1 else sp.MatAdd(*back))
        grad_W = s * vec["delta"] * prev["y"].T
        grad_b = s * net.bias_sign * vec["delta"] if net.bias else None
        skips = tuple((c, s * vec["delta"] * _outputs(net, c.src).T)
                      for c in net.graph.inputs(l) if c.kind == "skip")
        layers.append(MatrixLayer(l, delta, grad_W, grad_b, skips))
    _check(d, layers)
    return layers


def _entries(net) -> dict:
    """Each MatrixSymbol -> the explicit matrix of this network's (real) scalar symbols."""
    col = lambda symbols: sp.ImmutableMatrix(len(symbols), 1, list(symbols))
    out = {}
    for l in range(1, net.depth + 1):
        vec = _vectors(net, l)
        out[vec["v"]], out[vec["y"]], out[vec["delta"]] = col(net.v[l]), col(net.y[l]), col(net.delta[l])
    for c in net.graph.weighted:
        out[weight_matrix(net, c)] = sp.ImmutableMatrix(net.weights[c])
    out[_input(net)] = col(net.x)
    out[_target(net)] = col(net.t)
    if net.e:
        out[sp.MatrixSymbol(net.profile.error, net.layers[-1], 1)] = col(net.e)
    return out


@dataclass(frozen=True)
class MatrixAlgebra:
    """How to evaluate the matrix rules over one representation of matrices.

    ``leaf`` gives a MatrixSymbol's value, ``scalar`` a scalar factor's, ``ones`` the value of
    a vector of ones of a shape; ``apply(f, value)`` applies a Lambda entrywise; ``hadamard``
    and ``matmul`` multiply two values (a scalar times a value is plain ``*``).
    """

    leaf: Callable
    scalar: Callable
    ones: Callable
    apply: Callable
    hadamard: Callable
    matmul: Callable


def evaluate(expr, algebra: MatrixAlgebra):
    """A matrix rule of this module evaluated in ``algebra``, walked node by node.

    Walked by hand: rebuilding an ElementwiseApplyFunction over a 1x1 explicit matrix would
    apply Heaviside to the matrix itself.
    """
    if isinstance(expr, sp.MatrixSymbol):
        return algebra.leaf(expr)
    if isinstance(expr, sp.OneMatrix) or (isinstance(expr, sp.Identity) and expr.shape == (1, 1)):
        return algebra.ones(expr.shape)          # vectorize's 1 x 1 ones simplify to Identity(1)
    if isinstance(expr, ElementwiseApplyFunction):
        return algebra.apply(expr.function, evaluate(expr.expr, algebra))
    if not getattr(expr, "is_Matrix", False):
        return algebra.scalar(expr)
    args = [evaluate(a, algebra) for a in expr.args]
    if isinstance(expr, sp.HadamardProduct):
        return reduce(algebra.hadamard, args)
    if isinstance(expr, sp.HadamardPower):
        return reduce(algebra.hadamard, [args[0]] * int(expr.exp))
    if isinstance(expr, sp.MatAdd):
        return reduce(operator.add, args)
    if isinstance(expr, sp.MatMul):
        matrices = [a for a, e in zip(args, expr.args) if e.is_Matrix]
        scale = reduce(operator.mul, [a for a, e in zip(args, expr.args) if not e.is_Matrix], 1)
        # the scalar goes into the first factor (delta, a column), not the (n x k) product
        return reduce(algebra.matmul, [scale * matrices[0], *matrices[1:]])
    if isinstance(expr, sp.Transpose):
        return args[0].T
    raise TypeError(f"no evaluation of {type(expr).__name__} in a matrix rule")


def _explicit_algebra(entries: dict) -> MatrixAlgebra:
    """Explicit SymPy matrices of this network's scalar symbols."""
    return MatrixAlgebra(leaf=entries.__getitem__, scalar=lambda e: e,
                         ones=lambda shape: sp.ImmutableMatrix.ones(*shape),
                         apply=lambda f, m: m.applyfunc(f), hadamard=lambda a, b: a.multiply_elementwise(b),
                         matmul=operator.mul)


def _check(d, layers: list[MatrixLayer]) -> None:
    """Each entry of each matrix rule must equal the per-unit rule (small networks: all entries)."""
    net, algebra = d.net, _explicit_algebra(_entries(d.net))
    if net.n_params > 400:
        return  # the per-unit rules are checked against sympy.diff; the matrix form is their layout
    for m in layers:
        D = evaluate(m.delta, algebra)
        for j in net.units(m.layer):
            if sp.expand(D[j - 1, 0] - d.deltas[net.delta[m.layer][j - 1]].value) != 0:
                raise SelfCheckError(f"matrix delta{m.layer} entry {j} differs from the unit rule")
        for c, (key, grad) in zip(net.graph.inputs(m.layer), m.weight_grads):
            G = evaluate(grad, algebra)
            for j in net.units(m.layer):
                for k in net.units(c.src):
                    if sp.expand(G[j - 1, k - 1] - d.params[net.weights[c][j - 1][k - 1].name].gradient) != 0:
                        raise SelfCheckError(f"matrix dE/d{key} entry ({j}, {k}) differs from the unit rule")
