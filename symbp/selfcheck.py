"""Every derived rule against sympy.diff of the explicit loss: symbolic when small, 50 digits when large."""
from __future__ import annotations

import operator
import random
from dataclasses import dataclass, field
from functools import cache

import mpmath
import numpy as np
import sympy as sp

from .errors import SelfCheckError

SYMBOLIC_MAX_PARAMS = 60   # beyond this, differentiating the expanded loss per weight is O(W^2)
UNIT_RULES_MAX = 5000      # beyond this, the numeric check takes a random sample of the per-unit rules
UNIT_RULES_SAMPLE = 500    # ... of this size, beside every entry of the matrix form
EXPAND_MAX_OPS = 3000      # larger differences are decided at 50-digit points only
DIGITS = 50
TOLERANCE = 1e-35


@dataclass(frozen=True)
class CheckReport:
    """How the rules were checked: ``method`` is "symbolic" or "numeric", ``checked`` counts rules."""

    method: str
    checked: int
    points: int = 0
    max_rel_error: float = 0.0
    proved: int = 0
    total: int = 0             # parameters; checked < total when the unit rules were sampled
    any_targets: bool = False  # also checked with the general output delta, at targets of any sum

    def __str__(self) -> str:
        general = ("; with the general output delta, also at targets that do not sum to 1"
                   if self.any_targets else "")
        if self.method == "symbolic":
            return (f"{self.checked} rules equal sympy.diff of the explicit loss: {self.proved} proved by "
                    f"expansion, all agree at {self.points} random {DIGITS}-digit points "
                    f"(max difference {self.max_rel_error:.1e}){general}")
        rules = (f"{self.checked} rules" if self.checked == self.total else
                 f"{self.checked} of the {self.total} rules (at random, and each layer's first and last)")
        return (f"{rules} and every entry of the matrix form agree with sympy.diff of the explicit loss "
                f"along random directions at {self.points} random {DIGITS}-digit points "
                f"(max relative difference {self.max_rel_error:.1e}){general}")


def self_check(d, progress=None) -> CheckReport:
    """Raise SelfCheckError unless every rule of derivation ``d`` equals the true derivative."""
    if d.net.n_params <= SYMBOLIC_MAX_PARAMS:
        return _symbolic(d, progress)
    return _numeric(d, progress)


def _symbolic(d, progress) -> CheckReport:
    """Per rule: sympy.diff of the explicit loss, then a proof that the difference is zero.

    The difference is first evaluated at random 50-digit points (a cheap, certain reject);
    then ``expand`` must reduce it to 0. Where expansion cannot decide in reasonable size
    (softmax's exponential sums), the rule stands on the 50-digit agreement.
    """
    net = d.net
    constraint = net.target_constraint()
    E = net.explicit_loss().xreplace(constraint)
    rng = random.Random(0)
    points = [_random_point(net, rng) for _ in range(3)]
    proved, worst = 0, 0.0
    for i, (name, rule) in enumerate(d.params.items()):
        gap = sp.diff(E, rule.symbol) - d.explicit(rule.gradient).xreplace(constraint)
        for values in points:
            worst = max(worst, _relative(gap, values))
        if worst > TOLERANCE:
            raise SelfCheckError(f"derived dE/d{name} = {rule.gradient} disagrees with sympy.diff of the loss")
        if net.activation(net.depth).elementwise and sp.count_ops(gap) < EXPAND_MAX_OPS:
            if sp.expand(gap) != 0:
                raise SelfCheckError(f"derived dE/d{name} = {rule.gradient} is not sympy.diff of the loss")
            proved += 1
        if progress:
            progress(i + 1, len(d.params))
    general = _any_targets(d)
    if general is not None:
        worst = max(worst, _symbolic_any_targets(d, general, rng))
    return CheckReport("symbolic", len(d.params), len(points), worst, proved, any_targets=general is not None)


def _any_targets(d) -> dict | None:
    """Every delta in unit values, with the output deltas that hold for any targets; None where the
    taught output deltas already do (every loss but softmax + ce)."""
    net = d.net
    if all(d.deltas[s].general is None for s in net.delta[net.depth]):
        return None
    errors, out = {e: net.error(j) for j, e in enumerate(net.e, start=1)}, {}
    for l in reversed(net.graph.order):
        for s in net.delta[l]:
            out[s] = d.deltas[s].any_targets.xreplace(errors).xreplace(out)
    return out


def _symbolic_any_targets(d, unrolled: dict, rng: random.Random) -> float:
    """Each rule, with the general output delta, against sympy.diff of the loss WITHOUT the constraint
    that the targets sum to 1, at 50-digit points whose targets do not."""
    net, forward = d.net, d.net.forward_substitution()
    E = net.explicit_loss()
    points = [_random_point(net, rng, any_sum=True) for _ in range(2)]
    worst = 0.0
    for name, rule in d.params.items():
        gap = sp.diff(E, rule.symbol) - rule.gradient.xreplace(unrolled).xreplace(forward)
        for values in points:
            worst = max(worst, _relative(gap, values))
        if worst > TOLERANCE:
            raise SelfCheckError(f"derived dE/d{name} for any targets disagrees with sympy.diff of the loss")
    return worst


def _relative(gap: sp.Expr, values: dict) -> float:
    return float(abs(gap.xreplace(values).evalf(DIGITS)))


def _random_point(net, rng: random.Random, any_sum: bool = False) -> dict:
    """Inputs, parameters and targets; ``any_sum``: positive targets whose sum is not 1."""
    def r(lo=-1.0, hi=1.0):
        return sp.Float(rng.uniform(lo, hi), DIGITS)
    values = {s: r() for s in net.x + net.params()}
    if any_sum:
        values.update({t: r(0.1, 2.0) for t in net.t})
    elif net.loss.targets == "distribution":
        raw = [r(0.1, 1.0) for _ in net.t]
        values.update({t: v / sp.Add(*raw) for t, v in zip(net.t, raw)})
    else:
        values.update({t: r(0.05, 0.95) for t in net.t})
    values[net.batch] = sp.Integer(3)
    values[net.eta] = r(0.1, 1.0)
    values[net.lam] = r(0.1, 1.0)     # weight decay: a wrong factor of lambda must not cancel
    return values


# -- the numeric check: directional derivatives at 50 digits, O(W) --------------------------
#
# Values live in NumPy object arrays of mpmath numbers, one array per layer (W[l] is
# (n_l, n_{l-1}), vectors are (n, 1)), so the wide sums run through mpmath.fdot instead of
# building SymPy expressions with 200,000 terms.

def _dot(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A @ b for object arrays of mpf (b a column), each entry one exact-rounding fdot."""
    col = list(b[:, 0])
    return np.array([[mpmath.fdot(row, col)] for row in A], dtype=object).reshape(A.shape[0], 1)


def _total(A: np.ndarray, B: np.ndarray) -> mpmath.mpf:
    """sum_ij A_ij B_ij."""
    return mpmath.fdot(list(A.ravel()), list(B.ravel()))


@dataclass
class _Point:
    """Random parameters, inputs and targets of a network, and a random direction u over the parameters.

    Weights are keyed by their params key (W2, W3_1), biases by layer.
    """

    W: dict
    b: dict
    x: np.ndarray
    t: np.ndarray
    uW: dict
    ub: dict
    forward: list = field(default_factory=list)   # (v, y) of layers 1..L at the point, filled by layers()

    def layers(self, net) -> list:
        """(v, y) of every computing layer at the point: v = W y +/- b, y = phi(v) by its exp form."""
        if not self.forward:
            ys = {0: self.x}
            for l in net.graph.order:
                v = sum((_dot(self.W[c.key], ys[c.src]) for c in net.graph.inputs(l)), _zero(net, l))
                v = v + (net.bias_sign * self.b[l] if net.bias else 0)
                ys[l] = sum((ys[c.src] for c in net.graph.shortcuts(l)), _apply(net, l, v))
                self.forward.append((v, ys[l]))
        return self.forward


def _zero(net, layer: int) -> np.ndarray:
    return np.full((net.layers[layer], 1), mpmath.mpf(0), dtype=object)


def _mp_point(net, rng: random.Random, any_sum: bool = False) -> _Point:
    def r(shape, lo=-1.0, hi=1.0):
        flat = [mpmath.mpf(rng.uniform(lo, hi)) for _ in range(int(np.prod(shape)))]
        return np.array(flat, dtype=object).reshape(shape)
    layers = net.graph.order
    W = {c.key: r((net.layers[c.dst], net.layers[c.src])) for c in net.graph.weighted}
    b = {l: r((net.layers[l], 1)) for l in layers} if net.bias else {}
    x = r((net.layers[0], 1))
    if any_sum:       # positive targets whose sum is not 1
        t = r((net.layers[-1], 1), 0.1, 2.0)
    elif net.loss.targets == "distribution":
        raw = r((net.layers[-1], 1), 0.1, 1.0)
        t = raw / mpmath.fsum(raw[:, 0])
    else:
        t = r((net.layers[-1], 1), 0.05, 0.95)
    uW = {key: r(w.shape) for key, w in W.items()}
    ub = {l: r(b[l].shape) for l in b}
    return _Point(W, b, x, t, uW, ub)


@cache
def _activation_line(name: str, width: int):
    """(value, slope): phi(a) and d/dtau phi(a + b tau) at tau = 0, by sympy.diff of the exp form.

    Elementwise activations take one unit's (a, b); softmax takes the layer's vectors.
    """
    from .activations import get_activation, softmax_unit
    act, tau = get_activation(name), sp.Symbol("tau", real=True)
    if act.elementwise:
        a, b = sp.symbols("a b", real=True)
        value = act.function(a).rewrite(sp.exp)
        slope = sp.diff(act.function(a + b * tau).rewrite(sp.exp), tau).subs(tau, 0)
        return sp.lambdify(a, value, "mpmath"), sp.lambdify((a, b), slope, "mpmath")
    a, b = sp.symbols(f"a1:{width + 1}", real=True), sp.symbols(f"b1:{width + 1}", real=True)
    line = [ai + bi * tau for ai, bi in zip(a, b)]
    values = [softmax_unit(list(a), j) for j in range(width)]
    slopes = [sp.diff(softmax_unit(line, j), tau).subs(tau, 0) for j in range(width)]
    return sp.lambdify([a], values, "mpmath"), sp.lambdify([a, b], slopes, "mpmath")


def _apply(net, layer: int, v: np.ndarray, dv: np.ndarray | None = None):
    """phi(v) of a layer, and with ``dv`` its slope along the line too: (y, dy)."""
    value, slope = _activation_line(net.activation(layer).name, v.shape[0])
    column = lambda values: np.array(list(values), dtype=object).reshape(-1, 1)
    if net.activation(layer).elementwise:
        y = column(value(a) for a in v[:, 0])
        return y if dv is None else (y, column(slope(a, b) for a, b in zip(v[:, 0], dv[:, 0])))
    y = column(value(list(v[:, 0])))
    return y if dv is None else (y, column(slope(list(v[:, 0]), list(dv[:, 0]))))


def _loss_line(net):
    """d/dtau E(y + y' tau) at tau = 0, by sympy.diff of the loss in the outputs, lambdified."""
    tau = sp.Symbol("tau", real=True)
    dy = sp.symbols(f"ydot1:{net.layers[-1] + 1}", real=True)
    y = net.y[net.depth]
    E = net.loss_in_outputs().xreplace({yj: yj + d * tau for yj, d in zip(y, dy)})
    slope = sp.diff(E, tau).subs(tau, 0)
    return sp.lambdify([list(y), list(dy), list(net.t), net.batch], slope, "mpmath")


def _line_derivative(net, pt: _Point, uW: dict, ub: dict, loss_line) -> mpmath.mpf:
    """d/dtau E(p + tau u) at tau = 0, carried forward layer by layer as (value, slope) pairs.

    The net input is bilinear in weights and outputs, so its slope along the line is
    u y + w y' (+/- u_b); activations and the loss are differentiated by sympy.diff
    (_activation_line, and ``loss_line`` from _loss_line). None of it reads the derivation.
    """
    ys, dys = {0: pt.x}, {0: np.full(pt.x.shape, mpmath.mpf(0), dtype=object)}
    for l, (v, y) in enumerate(pt.layers(net), start=1):     # the values at tau = 0, computed once
        dv = sum((_dot(uW[c.key], ys[c.src]) + _dot(pt.W[c.key], dys[c.src]) for c in net.graph.inputs(l)),
                 _zero(net, l))
        dv = dv + (net.bias_sign * ub[l] if net.bias else 0)
        ys[l] = y
        dys[l] = sum((dys[c.src] for c in net.graph.shortcuts(l)), _apply(net, l, v, dv)[1])
    y, dy = ys[net.depth], dys[net.depth]
    return loss_line(list(y[:, 0]), list(dy[:, 0]), list(pt.t[:, 0]), 3) + _regulariser_line(net, pt, uW, ub)


LAM = mpmath.mpf("0.3125")   # lambda at the numeric check's points


def _regulariser_line(net, pt: _Point, uW: dict, ub: dict) -> mpmath.mpf:
    """d/dtau of the regulariser lambda/2 sum p^2 along p + tau u, by sympy.diff of each key's term."""
    total = []
    for p in _first_of_each_key(net):
        a, b, tau = sp.symbols("a b tau", real=True)
        term = net.regulariser_term(p)
        if term == 0:
            continue
        slope = sp.lambdify((a, b, net.lam), sp.diff(term.xreplace({p: a + b * tau}), tau).subs(tau, 0), "mpmath")
        pos = net.positions[p.name]
        values, u = (pt.W[pos.key], uW[pos.key]) if pos.is_weight else (pt.b[pos.layer], ub[pos.layer])
        total += [slope(x, ux, LAM) for x, ux in zip(values.ravel(), u.ravel())]
    return mpmath.fsum(total)


def _first_of_each_key(net) -> list:
    """The first parameter of every params key (W1, b1, W2, ...): a key's entries share one regulariser term."""
    seen, out = set(), []
    for p in net.params():
        key = net.positions[p.name].key
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _unit_values(d, pt: _Point, any_targets: bool = False) -> dict:
    """{symbol: mpf}: every input, parameter, target, net input, output, error and delta.

    Net inputs and outputs by the forward pass of the check (v = W y +/- b, y = phi(v) in its exp
    form); errors and deltas from the derivation's rules (they are what is being checked).
    """
    net, vals = d.net, {}
    vals.update(zip(net.x, pt.x[:, 0]))
    vals.update(zip(net.t, pt.t[:, 0]))
    for c in net.graph.weighted:
        vals.update(zip([w for row in net.weights[c] for w in row], pt.W[c.key].ravel()))
    for l in net.graph.order:
        if net.bias:
            vals.update(zip(net.b[l], pt.b[l][:, 0]))
    for l, (v, y) in enumerate(pt.layers(net), start=1):
        vals.update(zip(net.v[l], v[:, 0]))
        vals.update(zip(net.y[l], y[:, 0]))
    vals[net.batch] = mpmath.mpf(3)
    vals[net.lam] = LAM
    vals.update({e: _evaluate(net.error(j), vals) for j, e in enumerate(net.e, start=1)})
    rule = (lambda r: r.any_targets) if any_targets else (lambda r: r.value)
    for l in reversed(net.graph.order):
        vals.update({s: _evaluate(rule(d.deltas[s]), vals) for s in net.delta[l]})
    return vals


def _evaluate(expr: sp.Expr, vals: dict) -> mpmath.mpf:
    """A rule's value at 50 digits, its symbols replaced by their values."""
    sub = {s: sp.Float(vals[s], DIGITS) for s in expr.free_symbols}
    return mpmath.mpf(sp.Float(expr.xreplace(sub).evalf(DIGITS), DIGITS))


def _mp_algebra(arrays: dict, scalars: dict):
    """symbp.forms' matrix rules over object arrays of mpf (MatrixSymbols looked up by name in arrays)."""
    from .forms import MatrixAlgebra

    def apply(f: sp.Lambda, values: np.ndarray) -> np.ndarray:
        z = f.variables[0]
        return np.array([[_evaluate(f.expr.xreplace({z: sp.Float(e, DIGITS)}), scalars) for e in row]
                         for row in values], dtype=object)
    return MatrixAlgebra(leaf=lambda m: arrays[m.name], scalar=lambda e: _evaluate(e, scalars),
                         ones=lambda shape: np.full(shape, mpmath.mpf(1), dtype=object),
                         apply=apply, hadamard=operator.mul, matmul=_matmul)


def _matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    if B.shape[1] == 1:
        return _dot(A, B)
    if A.shape[1] == 1:     # an outer product: no sums to round
        return A * B
    return np.array([[mpmath.fdot(list(r), list(c)) for c in B.T] for r in A], dtype=object)


def _matrix_gradients(d, vals: dict) -> tuple[dict, dict]:
    """dE/dW{l} and dE/db{l} of the matrix form at the point, and its deltas checked against the unit rules."""
    net, p = d.net, d.net.profile
    col = lambda symbols: np.array([[vals[s]] for s in symbols], dtype=object)
    arrays = {"x": col(net.x), p.target: col(net.t)}
    if net.e:
        arrays[p.error] = col(net.e)
    for c in net.graph.weighted:
        arrays[c.key] = np.array([[vals[w] for w in row] for row in net.weights[c]], dtype=object)
    for l in net.graph.order:
        arrays.update({f"{p.net}{l}": col(net.v[l]), f"{p.out}{l}": col(net.y[l]), f"delta{l}": col(net.delta[l])})
    from .forms import evaluate
    algebra, gW, gb = _mp_algebra(arrays, vals), {}, {}
    for m in d.matrix:
        delta = evaluate(m.delta, algebra)
        units = arrays[f"delta{m.layer}"]
        if max(abs(a - b) / (1 + abs(b)) for a, b in zip(delta[:, 0], units[:, 0])) > TOLERANCE:
            raise SelfCheckError(f"the matrix form's delta{m.layer} differs from the unit rules")
        gW.update({key: evaluate(grad, algebra) for key, grad in m.weight_grads})
        if m.grad_b is not None:
            gb[m.layer] = evaluate(m.grad_b, algebra)
    for key, decay in d.matrix_decay.items():     # lambda*P, the derivation's decay term of each key
        f = sp.lambdify((sp.Symbol(key, real=True), net.lam), decay, "mpmath")
        if key in gW:
            gW[key] = gW[key] + np.array([[f(w, LAM) for w in row] for row in arrays[key]], dtype=object)
        else:
            layer = int(key[1:])
            gb[layer] = gb[layer] + np.array([[f(vals[b], LAM)] for b in net.b[layer]], dtype=object)
    return gW, gb


def _numeric(d, progress, points: int = 2) -> CheckReport:
    """At random points and directions u: sum_p u_p dE/dp == d/dtau E(p + tau u) at tau = 0.

    The right side is sympy.diff of the explicit loss along the line; any single wrong rule
    changes the left side, so it cannot pass (bar probability zero). Checked twice: the
    matrix form (every entry, as export and compile use it) against u over all parameters,
    and the per-unit rules (all of them, or a sample on a very wide network) against u
    restricted to them. On a disagreement, one direction per layer's W and b names the culprits.
    """
    net, rng = d.net, random.Random(1)
    names = [p.name for p in net.params()]
    sample = _sample(net, names, rng)
    loss_line = _loss_line(net)
    worst = 0.0
    with mpmath.workdps(DIGITS + 10):
        for n in range(points):
            pt = _mp_point(net, rng)
            vals = _unit_values(d, pt)
            matrix = _Derived(d, pt, vals, matrix=_matrix_gradients(d, vals))
            rules = _Derived(d, pt, vals, keep=set(sample))
            for derived, what in ((matrix, "the matrix form"), (rules, "the rules")):
                worst = max(worst, _agree(derived, loss_line, what))
            if progress:
                progress(n + 1, points)
        general = any(d.deltas[s].general is not None for s in net.delta[net.depth])
        if general:     # the general output delta, at targets that do not sum to 1, without the constraint
            pt = _mp_point(net, rng, any_sum=True)
            rules = _Derived(d, pt, _unit_values(d, pt, any_targets=True), keep=set(sample))
            worst = max(worst, _agree(rules, loss_line, "the rules for any targets"))
    return CheckReport("numeric", len(sample), points, worst, total=len(names), any_targets=general)


def _sample(net, names: list[str], rng: random.Random) -> list[str]:
    """Every parameter, or on a very wide network a random sample plus each layer's first and last
    weight and bias (where an index bug at an edge of a layer would show)."""
    if len(names) <= UNIT_RULES_MAX:
        return names
    edges = set()
    for c in net.graph.weighted:
        edges |= {net.weights[c][0][0].name, net.weights[c][-1][-1].name}
    for l in net.graph.order:
        edges |= {net.b[l][0].name, net.b[l][-1].name} if net.bias else set()
    chosen = set(rng.sample(range(len(names)), UNIT_RULES_SAMPLE)) | {names.index(e) for e in edges}
    return [names[i] for i in sorted(chosen)]


@dataclass
class _Derived:
    """The derived side at one point: the matrix form's gradients (``matrix``), or the unit rules of
    the parameters in ``keep``, contracted with the point's direction restricted to a group."""

    d: object
    pt: _Point
    vals: dict
    matrix: tuple | None = None
    keep: set | None = None

    def along(self, group: set | None = None) -> tuple[mpmath.mpf, dict, dict]:
        """(sum_p u_p dE/dp, uW, ub) over the parameters in ``keep`` and ``group`` (None: all)."""
        keep = self.keep if group is None else (group if self.keep is None else self.keep & group)
        uW, ub = (self.pt.uW, self.pt.ub) if keep is None else _restrict(self.d.net, self.pt, keep)
        if self.matrix is not None:
            gW, gb = self.matrix
            return mpmath.fsum([_total(uW[l], gW[l]) for l in gW] + [_total(ub[l], gb[l]) for l in gb]), uW, ub
        names = [p.name for p in self.d.net.params() if p.name in keep]
        return mpmath.fsum([_entry(self.d.net, uW, ub, n) * _evaluate(self.d.params[n].gradient, self.vals)
                            for n in names]), uW, ub


def _restrict(net, pt: _Point, keep: set) -> tuple[dict, dict]:
    """The point's direction with every parameter outside ``keep`` set to 0."""
    zero = mpmath.mpf(0)
    uW = {l: np.full(u.shape, zero, dtype=object) for l, u in pt.uW.items()}
    ub = {l: np.full(u.shape, zero, dtype=object) for l, u in pt.ub.items()}
    for name in keep:
        array, at = _slot(net, uW, ub, name)
        array[at] = _entry(net, pt.uW, pt.ub, name)
    return uW, ub


def _slot(net, uW: dict, ub: dict, name: str) -> tuple[np.ndarray, tuple]:
    """(array, index) of a parameter's entry in direction arrays (biases are (n, 1) columns)."""
    pos = net.positions[name]
    return (uW[pos.key], pos.index) if pos.is_weight else (ub[pos.layer], (pos.index[0], 0))


def _entry(net, uW: dict, ub: dict, name: str):
    array, at = _slot(net, uW, ub, name)
    return array[at]


def _gap(derived: mpmath.mpf, truth: mpmath.mpf) -> float:
    return float(abs(truth - derived) / (1 + abs(truth)))


def _agree(derived: _Derived, loss_line, what: str) -> float:
    """The relative gap of the derived side from the line derivative; on a failure, name the groups."""
    net, pt = derived.d.net, derived.pt
    value, uW, ub = derived.along()
    rel = _gap(value, _line_derivative(net, pt, uW, ub, loss_line))
    if rel <= TOLERANCE:
        return rel
    bad = []
    for group in _groups(net):
        names = [p.name for p in group if derived.keep is None or p.name in derived.keep]
        if names:
            part, uW, ub = derived.along(set(names))
            if _gap(part, _line_derivative(net, pt, uW, ub, loss_line)) > TOLERANCE:
                bad.append(f"{names[0]}..{names[-1]}" if len(names) > 1 else names[0])
    raise SelfCheckError(f"{what}: derived gradients of {'; '.join(bad) or 'some parameters'} disagree with "
                         "sympy.diff of the loss")


def _groups(net) -> list[list[sp.Symbol]]:
    out = []
    for l in net.graph.order:
        out += [[w for row in net.weights[c] for w in row] for c in net.graph.inputs(l)]
        if net.bias:
            out.append(list(net.b[l]))
    return out
