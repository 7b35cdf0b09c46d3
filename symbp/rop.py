"""Second order, derived: the R-operator (Pearlmutter 1994) on the derived matrix rules gives Hessian-vector products.

R{f} = d/d(eps) f(theta + eps V) at eps = 0 is forward-mode differentiation along the direction
V; applied to the backward pass it gives H V without forming H. Every rule it differentiates is
one the derivation produced and checked: the forward pass (v = W y +/- b, y = phi(v) + shortcuts),
the output delta for any targets, the hidden deltas of the matrix form (one term per path out of
a layer) and the gradients dE/dW = s delta y^T, dE/db = s (+/-) delta. The unknowns of the chain
rule are R{v}, R{y}, R{delta} per layer and the direction V_W, V_b; the product rule walks the
matrix expression, and every elementwise function is differentiated by sympy.diff of its body, so
phi'' is SymPy's derivative of the derived phi' (relu: Heaviside' = DiracDelta, which is 0 away
from the kink and is dropped: H V is the almost-everywhere Hessian, as autodiff gives it).
Softmax is not elementwise: R{y_j} = sum_m dy_j/dv_m R{v_m} with the registry's proved dy_j/dv_m,
collected so that the sum over the layer, sum_m y_m R{v_m}, is a per-sample scalar.

Before they are used the rules are checked (``check``, up to CHECK_MAX_PARAMS parameters): at a
random 50-digit point, H V must equal central differences of the derived gradients along V.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import mpmath
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .derive import Derivation
from .errors import SelfCheckError
from .forms import _input, _target, _vectors, evaluate, vectorize, weight_matrix
from .selfcheck import DIGITS, _mp_algebra, _mp_point, _Point


@dataclass(frozen=True)
class RLayer:
    """The R-operator's rules of one layer, as matrix expressions over column vectors of one sample.

    ``sums`` are per-sample scalars the rules read, each (symbol, vector whose entries it sums).
    ``grads`` are (params key, R{dE/dP}) for W{l}, its skips W{l}_{s} and b{l}.
    """

    layer: int
    Rv: sp.MatrixExpr
    Ry: sp.MatrixExpr
    Rdelta: sp.MatrixExpr
    grads: tuple
    sums: tuple = ()


def r_name(name: str) -> str:
    """The R-symbol of a unit quantity (Rv1, Ry2, Rdelta1) or the direction of a parameter (VW1, Vb2)."""
    return ("V" if name[0] in "Wb" and name[1:2].isdigit() else "R") + name


def _tangent(m: sp.MatrixSymbol) -> sp.MatrixSymbol:
    return sp.MatrixSymbol(r_name(m.name), *m.shape)


def _zero_a_e(expr: sp.Expr) -> sp.Expr:
    """DiracDelta, the derivative of a step, is 0 away from the kink: the almost-everywhere derivative."""
    return expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.Integer(0))


def _sum(terms: list):
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else sp.MatAdd(*terms)


def _apply(f: sp.Lambda, arg: sp.MatrixExpr) -> sp.MatrixExpr:
    # Basic.__new__: the constructor would apply f at once to a 1 x 1 argument (forms.vectorize)
    return sp.Basic.__new__(ElementwiseApplyFunction, f, arg)


def directional(expr, tangents: dict):
    """R{expr}: d/d(eps) of a matrix rule with every MatrixSymbol M moved to M + eps tangents[M], at eps = 0.

    Forward mode on the expression tree: sums and transposes pass through, products take the product
    rule, an elementwise f takes sympy.diff(f) times R{argument}. None stands for a zero matrix.
    Scalars (numbers, N, a sample's sum of targets) do not move.
    """
    if isinstance(expr, sp.MatrixSymbol):
        return tangents.get(expr)
    if not getattr(expr, "is_Matrix", False) or isinstance(expr, (sp.OneMatrix, sp.Identity, sp.ZeroMatrix)):
        return None
    if isinstance(expr, sp.MatAdd):
        return _sum([directional(a, tangents) for a in expr.args])
    if isinstance(expr, sp.Transpose):
        inner = directional(expr.arg, tangents)
        return None if inner is None else inner.T
    if isinstance(expr, sp.MatMul):
        return _product_rule(expr.args, tangents, lambda args: sp.MatMul(*args))
    if isinstance(expr, sp.HadamardProduct):
        return _product_rule(expr.args, tangents, lambda args: sp.HadamardProduct(*args))
    if isinstance(expr, sp.HadamardPower):
        z = sp.Dummy("z", real=True)
        return directional(_apply(sp.Lambda(z, z ** expr.exp), expr.base), tangents)
    if isinstance(expr, ElementwiseApplyFunction):
        inner = directional(expr.expr, tangents)
        if inner is None:
            return None
        f = expr.function
        slope = _zero_a_e(sp.diff(f.expr, f.variables[0]))
        if slope == 0:
            return None
        if not slope.has(f.variables[0]):
            return slope * inner
        # f'(X) as vectorize writes a rule: sums and products over the vector, functions applied alone
        return sp.HadamardProduct(vectorize(slope, {f.variables[0]: expr.expr}, expr.shape[0]), inner)
    raise TypeError(f"no R-operator for {type(expr).__name__} in a matrix rule")


def _product_rule(args, tangents: dict, build):
    terms = []
    for i, a in enumerate(args):
        da = directional(a, tangents) if getattr(a, "is_Matrix", False) else None
        if da is not None:
            terms.append(build([*args[:i], da, *args[i + 1:]]))
    return _sum(terms)


def _in_output(expr, net, layer: int):
    """phi'(v) written in the layer's output y where it can be (y = phi(v) with no shortcut added):
    an elementwise f(v) whose body, with phi(z) replaced by y, no longer reads z."""
    if not isinstance(expr, ElementwiseApplyFunction) or net.graph.shortcuts(layer):
        return None
    act, vec = net.activation(layer), _vectors(net, layer)
    z, y = expr.function.variables[0], net.y[layer][0]
    body = expr.function.expr.xreplace({act.function(z): y})
    if expr.expr != vec["v"] or body.has(z):
        return None
    return vectorize(body, {y: vec["y"]}, net.layers[layer])


def _rewrite_slopes(expr, net, layer: int):
    """Every f(v(layer)) in ``expr`` that can be written in y(layer), so written (y is at hand)."""
    if isinstance(expr, ElementwiseApplyFunction):
        return _in_output(expr, net, layer) or expr
    if not getattr(expr, "is_Matrix", False) or not expr.args or isinstance(expr, sp.MatrixSymbol):
        return expr
    args = [_rewrite_slopes(a, net, layer) for a in expr.args]
    return expr if all(a is b for a, b in zip(args, expr.args)) else expr.func(*args)


def _net_input(net, l: int) -> sp.MatrixExpr:
    """v(l) = sum over the connections into l of W y(source) +/- b(l): the network's local definition."""
    n = net.layers
    outs = lambda s: _input(net) if s == 0 else _vectors(net, s)["y"]
    terms = [weight_matrix(net, c) * outs(c.src) for c in net.graph.inputs(l)]
    if net.bias:
        terms.append(net.bias_sign * sp.MatrixSymbol(f"b{l}", n[l], 1))
    return terms[0] if len(terms) == 1 else sp.MatAdd(*terms)


def _softmax_jvp(net, l: int, total: sp.Symbol) -> sp.MatrixExpr:
    """R{y} of a softmax layer: sum_m dy_j/dv_m R{v_m}, dy_j/dv_m the registry's proved identity,
    collected in y_j with sum_m y_m R{v_m} named ``total``."""
    act, y, n = net.activation(l), net.y[l], net.layers[l]
    Rv = [sp.Symbol(f"R_{s.name}", real=True) for s in net.v[l]]
    jvp = sp.Add(*[act.derivative_in_output(y[0], y[m], m == 0) * Rv[m] for m in range(n)])
    # every dy_j/dv_m carries y_j: divide it out, and the rest holds the whole sum sum_m y_m R{v_m}
    rule = y[0] * sp.expand(jvp / y[0]).subs(sp.Add(*[ym * r for ym, r in zip(y, Rv)]), total)
    if not rule.free_symbols <= {y[0], Rv[0], total}:
        raise ValueError(f"R{{y}} of the {act.name} layer {l} is not one rule per unit: {rule}")
    vec = _vectors(net, l)
    return vectorize(rule, {y[0]: vec["y"], Rv[0]: _tangent(vec["v"])}, n)


def r_rules(d: Derivation, output_delta: sp.MatrixExpr) -> list[RLayer]:
    """The R-operator's rules of every layer, forward (R{v}, R{y}) in topological order, then backward
    (R{delta}, R{dE/dP}); ``output_delta`` is delta(L) for any targets (export.output_delta_matrix)."""
    net, L = d.net, d.net.depth
    tangents = {weight_matrix(net, c): _tangent(weight_matrix(net, c)) for c in net.graph.weighted}
    if net.bias:
        tangents.update({(b := sp.MatrixSymbol(f"b{l}", net.layers[l], 1)): _tangent(b) for l in net.graph.order})
    forward, sums = {}, {l: () for l in net.graph.order}
    for l in net.graph.order:
        vec = _vectors(net, l)
        forward[l] = (directional(_net_input(net, l), tangents), None)
        tangents[vec["v"]] = _tangent(vec["v"])
        if net.activation(l).elementwise:
            z = sp.Dummy("z", real=True)
            y = _apply(sp.Lambda(z, net.activation(l).function(z)), vec["v"])
            for c in net.graph.shortcuts(l):
                y = sp.MatAdd(y, _vectors(net, c.src)["y"])
            Ry = _rewrite_slopes(directional(y, tangents), net, l)
        else:
            total = sp.Symbol(f"R{vec['y'].name}_sum", real=True)
            Ry, sums[l] = _softmax_jvp(net, l, total), ((total, sp.HadamardProduct(vec["y"], _tangent(vec["v"]))),)
        forward[l] = (forward[l][0], Ry)
        tangents[vec["y"]] = _tangent(vec["y"])
    if net.e:      # e = t - y: its tangent by the same walk over its vectorized definition
        error = sp.MatrixSymbol(net.profile.error, net.layers[L], 1)
        e_def = vectorize(net.error(1), {net.t[0]: _target(net), net.y[L][0]: _vectors(net, L)["y"]}, net.layers[L])
        tangents[error] = directional(e_def, tangents)
    matrix = {m.layer: m for m in d.matrix}
    out = {}
    for l in reversed(net.graph.order):
        delta = output_delta if l == L else matrix[l].delta
        Rdelta = directional(delta, tangents)
        vec = _vectors(net, l)
        tangents[vec["delta"]] = _tangent(vec["delta"])
        m = matrix[l]
        grads = [(key, directional(g, tangents)) for key, g in m.weight_grads]
        if m.grad_b is not None:
            grads.append((f"b{l}", directional(m.grad_b, tangents)))
        out[l] = RLayer(l, forward[l][0], forward[l][1], Rdelta, tuple(grads), sums[l])
    layers = [out[l] for l in net.graph.order]
    if net.n_params <= CHECK_MAX_PARAMS:
        check(d, layers, output_delta)
    return layers


CHECK_MAX_PARAMS = 5000    # beyond this the rules are checked by the tests' oracles, not on every export
STEP = 1e-15               # central differences at 50 digits: an error of order STEP**2


def check(d: Derivation, layers: list[RLayer], output_delta: sp.MatrixExpr, seed: int = 2) -> float:
    """H V of the rules against central differences of the derived gradients along V at 50 digits.

    At a random point (the self-check's, its direction u as V) the matrix form's gradients are
    evaluated at theta + h V and theta - h V; their difference quotient must equal the R-operator's
    H V to about h**2. Raises SelfCheckError otherwise; returns the largest relative gap.
    """
    net = d.net
    with mpmath.workdps(DIGITS):
        pt = _mp_point(net, random.Random(seed))
        h = mpmath.mpf(STEP)
        moved = [_Point({k: w + sign * h * pt.uW[k] for k, w in pt.W.items()},
                        {l: b + sign * h * pt.ub[l] for l, b in pt.b.items()}, pt.x, pt.t, pt.uW, pt.ub)
                 for sign in (1, -1)]
        (_, plus), (_, minus) = (_values(d, p, output_delta) for p in moved)
        arrays, _ = _values(d, pt, output_delta)
        got = _r_values(d, layers, arrays)
        worst = 0.0
        for key, value in got.items():
            quotient = (plus[key] - minus[key]) / (2 * h)
            scale = 1 + max(abs(q) for q in quotient.ravel())
            worst = max(worst, float(max(abs(a - b) for a, b in zip(value.ravel(), quotient.ravel())) / scale))
        if worst > 1e-20:
            raise SelfCheckError(f"the R-operator's H V disagrees with differences of the derived gradients "
                                 f"(relative gap {worst:.1e})")
    return worst


def _algebra(arrays: dict):
    scalars = {sp.Symbol(name, **kw): v for name, (v, kw) in arrays["__scalars__"].items()}
    return _mp_algebra(arrays, scalars)


def _values(d: Derivation, pt, output_delta) -> tuple[dict, dict]:
    """(every array and scalar of the rules at the point, the matrix form's gradients there)."""
    from .export import target_sum
    net, p = d.net, d.net.profile
    arrays = {"x": pt.x, p.target: pt.t, **pt.W, **{f"b{l}": b for l, b in pt.b.items()},
              **{r_name(k): u for k, u in pt.uW.items()}, **{r_name(f"b{l}"): u for l, u in pt.ub.items()}}
    scalars = {net.batch.name: (mpmath.mpf(3), net.batch.assumptions0)}
    scalars[target_sum(net).name] = (mpmath.fsum(pt.t[:, 0]), {"real": True})
    arrays["__scalars__"] = scalars
    for l, (v, y) in enumerate(pt.layers(net), start=1):
        arrays[f"{p.net}{l}"], arrays[f"{p.out}{l}"] = v, y
    if net.e:
        arrays[p.error] = pt.t - arrays[f"{p.out}{net.depth}"]
    matrix, grads = {m.layer: m for m in d.matrix}, {}
    for l in reversed(net.graph.order):
        arrays[f"delta{l}"] = evaluate(output_delta if l == net.depth else matrix[l].delta, _algebra(arrays))
        grads.update({key: evaluate(g, _algebra(arrays)) for key, g in matrix[l].weight_grads})
        if matrix[l].grad_b is not None:
            grads[f"b{l}"] = evaluate(matrix[l].grad_b, _algebra(arrays))
    return arrays, grads


def _r_values(d: Derivation, layers: list[RLayer], arrays: dict) -> dict:
    """The R-operator's rules evaluated in order at the point: H V by params key."""
    p, out = d.net.profile, {}
    for r in layers:
        arrays[f"R{p.net}{r.layer}"] = evaluate(r.Rv, _algebra(arrays))
        for s, inner in r.sums:
            arrays["__scalars__"][s.name] = (mpmath.fsum(evaluate(inner, _algebra(arrays)).ravel()), {"real": True})
        arrays[f"R{p.out}{r.layer}"] = evaluate(r.Ry, _algebra(arrays))
    for r in reversed(layers):
        arrays[f"Rdelta{r.layer}"] = evaluate(r.Rdelta, _algebra(arrays))
    for r in layers:
        out.update({key: evaluate(g, _algebra(arrays)) for key, g in r.grads})
    return out


def equations(layers: list[RLayer], text) -> list[str]:
    """The R-operator's equations as text (``text`` prints an expression), in the order they are evaluated."""
    lines = []
    for r in layers:
        lines.append(f"R{{v{r.layer}}} = {text(r.Rv)}")
        lines += [f"{s} = sum_j ({text(v)})_j" for s, v in r.sums]
        lines.append(f"R{{y{r.layer}}} = {text(r.Ry)}")
    for r in reversed(layers):
        lines.append(f"R{{delta{r.layer}}} = {text(r.Rdelta)}")
    for r in layers:
        lines += [f"(H V)[{key}] = sum_n {text(g)}" for key, g in r.grads]
    return lines
