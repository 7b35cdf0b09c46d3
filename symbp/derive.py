"""The chain rule, step by step: deltas, gradients and updates of every parameter, in three forms."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import sympy as sp

from . import indexform as ix
from .network import Network
from .spec import Spec, check_budget

QUANTITIES = ("gradient", "update", "new", "delta")


@dataclass(frozen=True)
class Factor:
    """One factor d(of)/d(wrt) of a chain: SymPy's derivative of a local definition.

    ``reason`` names the definition differentiated: "loss" (E in the outputs or errors),
    "error" (e_j = d_j - y_j), "activation" (y_j = phi(v_j)), "net_input" (v_j = sum w y + b),
    "delta" (the local gradient's own definition). ``value`` is what SymPy returned;
    ``result`` is the form the rule uses (phi' in terms of the unit's output, when proved).
    """

    of: sp.Symbol
    wrt: sp.Symbol
    value: sp.Expr
    reason: str
    rewritten: sp.Expr | None = None

    @property
    def result(self) -> sp.Expr:
        return self.value if self.rewritten is None else self.rewritten


@dataclass(frozen=True)
class DeltaRule:
    """The local gradient of one unit.

    ``chain`` is a sum of products: each inner tuple multiplies to one path from E to
    v_j (one path for an elementwise output unit, one per next-layer unit when hidden or
    under softmax). ``value`` is delta in the profile's sign, in next-layer deltas (hidden)
    or in the unit's output, target and error (output). ``general`` is the output delta for
    targets of any sum when ``value`` is only its special case (softmax + ce: value uses that a
    sample's targets sum to 1); None when ``value`` holds for any targets.
    """

    layer: int
    unit: int
    symbol: sp.Symbol
    net: sp.Symbol
    output: bool
    chain: tuple[tuple[Factor, ...], ...]
    dE_dv: sp.Expr             # the chain multiplied out, before simplification
    value: sp.Expr             # delta = s dE/dv, simplified
    simplification: str | None = None
    network: Network | None = field(default=None, repr=False, compare=False)   # to print in its notation
    general: sp.Expr | None = None   # delta for any targets, where value is a special case of it

    @property
    def any_targets(self) -> sp.Expr:
        """delta for targets of any kind: what exported code evaluates."""
        return self.value if self.general is None else self.general

    def _repr_latex_(self) -> str:
        from .printing import to_latex
        return f"${to_latex(self.symbol, self.network)} = {to_latex(self.value, self.network)}$"


@dataclass(frozen=True)
class ParamRule:
    """dE/dp = dE/dv_j * dv_j/dp for one weight or bias, and its update equations."""

    name: str
    symbol: sp.Symbol
    kind: str                  # "weight" or "bias"
    layer: int
    unit: int
    source: int | None      # k of w_jk; None for a bias
    chain: tuple[Factor, Factor]
    gradient: sp.Expr          # in the unit's delta
    update: sp.Expr            # Delta p = -eta dE/dp
    new: sp.Expr               # p + Delta p
    src: int | None = None  # the layer a weight reads (layer - 1 on the chain); None for a bias
    network: Network | None = field(default=None, repr=False, compare=False)   # to print in its notation
    decay: sp.Expr = sp.Integer(0)   # d/dp of the regulariser lambda/2 p^2 (0 without weight decay)
    previous: sp.Symbol | None = None   # Delta p(n-1) under momentum: update = alpha Delta p(n-1) - eta dE/dp

    @property
    def loss_gradient(self) -> sp.Expr:
        """dE/dp of the data loss alone, in the unit's delta (the gradient without the decay term)."""
        return self.gradient - self.decay

    def _repr_latex_(self) -> str:
        """dE/dp and the update of p, in the network's notation."""
        from .printing import to_latex
        net = self.network
        E, p = net.profile.loss_tex, to_latex(self.symbol, net)
        return (rf"$\begin{{aligned}}\frac{{\partial {E}}}{{\partial {p}}} &= {to_latex(self.gradient, net)}"
                rf"\\ \Delta {p} &= {to_latex(self.update, net)}\end{{aligned}}$")


class ParamRules(Mapping):
    """canonical name -> ParamRule, each instantiated from its layer's general rule when first asked for.

    A 784-256-10 network has 203,530 parameters and every rule is the same general rule with
    other indices: building them all up front would cost a minute that export, check and the
    self-check (which samples them) never need. Iteration follows ``net.params()``.
    """

    def __init__(self, names: list[str], make: Callable[[str], ParamRule]):
        self._names, self._index, self._make = names, {n: i for i, n in enumerate(names)}, make
        self._rules: dict[str, ParamRule] = {}

    def __getitem__(self, name: str) -> ParamRule:
        rule = self._rules.get(name)
        if rule is None:
            if name not in self._index:
                raise KeyError(name)
            rule = self._rules[name] = self._make(name)
        return rule

    def __contains__(self, name) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class _DataRules(Mapping):
    """The rules with the data loss's gradient in ``gradient`` (what the matrix form lays out)."""

    def __init__(self, rules: Mapping):
        self._rules = rules

    def __getitem__(self, name: str) -> ParamRule:
        rule = self._rules[name]
        return replace(rule, gradient=rule.loss_gradient, decay=sp.Integer(0))

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)


@dataclass(eq=False)
class Derivation:
    """Everything derived for one network; rules are checked before they are exposed."""

    net: Network
    deltas: dict[sp.Symbol, DeltaRule]
    params: Mapping[str, ParamRule]
    check: object = field(default=None, repr=False)

    # -- forms ------------------------------------------------------------------------
    def rule(self, name: str) -> ParamRule:
        """The rule of the parameter with canonical name ``name`` (KeyError if none)."""
        return self.params[name]

    @cached_property
    def _unrolled_deltas(self) -> dict[sp.Symbol, sp.Expr]:
        """Each delta in unit values only (errors and next-layer deltas substituted)."""
        net, out = self.net, {}
        for l in reversed(net.graph.order):
            for d in net.delta[l]:
                out[d] = self.deltas[d].value.xreplace(self._errors).xreplace(out)
        return out

    @cached_property
    def _errors(self) -> dict[sp.Symbol, sp.Expr]:
        return {e: self.net.error(j) for j, e in enumerate(self.net.e, start=1)}

    def unrolled(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with every delta and error written out in outputs, targets and weights."""
        return expr.xreplace(self._unrolled_deltas).xreplace(self._errors)

    @cached_property
    def _forward(self) -> dict[sp.Symbol, sp.Expr]:
        return self.net.forward_substitution()

    def explicit(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` as a function of the inputs, weights, biases and targets alone."""
        return self.unrolled(expr).xreplace(self._forward)   # built once, not per rule

    def quantity(self, name: str, quantity: str = "gradient", form: str = "rule") -> sp.Expr:
        """A quantity of a parameter (or a delta): form "rule" (in deltas), "unrolled" or "explicit"."""
        if quantity == "delta":
            expr = self.deltas[sp.Symbol(name, real=True)].value
        else:
            expr = getattr(self.params[name], quantity)
        return {"rule": lambda e: e, "unrolled": self.unrolled, "explicit": self.explicit}[form](expr)

    @cached_property
    def index(self):
        from .forms import index_form
        return index_form(self.net)

    @cached_property
    def matrix(self):
        """The matrix form of the data loss's gradients (the decay terms are ``matrix_decay``)."""
        from .forms import matrix_form
        if not self.net.training.weight_decay:
            return matrix_form(self)
        # matrix_form checks its entries against the rules' gradients: give it the data loss's
        return matrix_form(Derivation(self.net, self.deltas, _DataRules(self.params)))

    @cached_property
    def matrix_decay(self) -> dict[str, sp.Expr]:
        """params key -> d/dP of the regulariser for a decayed matrix or vector P (lambda*P), else absent.

        sympy.diff of lambda/2 p^2 for the key's first entry, written for the whole array: the
        regulariser is the same term for every entry of a key.
        """
        out = {}
        for key in self.net.param_keys():
            first = next(p for p in self.net.params() if self.net.positions[p.name].key == key)
            g = sp.diff(self.net.regulariser_term(first), first)
            if g != 0:
                out[key] = g.xreplace({first: sp.Symbol(key, real=True)})
        return out

    def to_dict(self) -> dict:
        from .report import derivation_dict
        return derivation_dict(self)

    def text(self, full: bool = False) -> str:
        """What `symbp derive` prints; wide layers show their first and last units unless ``full``."""
        from .report import derivation_text
        return derivation_text(self, full)

    def latex(self, full: bool = False) -> str:
        """Per layer the general rule, the matrix form and the units shown, as one aligned block."""
        from .report import derivation_latex
        return derivation_latex(self, full)

    def _repr_latex_(self) -> str:
        return self.latex()

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        checked = "unchecked" if self.check is None else f"checked {self.check.method}ally"
        return f"<Derivation of {self.net.name}: {self.net.n_params} parameters, {checked}>"


# -- the derivation ---------------------------------------------------------------------

def _output_chain(net: Network, j: int) -> tuple[tuple[Factor, ...], ...]:
    """Factors of dE/dv_j for output unit j, each SymPy's derivative of a local definition."""
    L, E = net.depth, net.loss_symbol
    act = net.activation(L)
    y, v = net.y[L], net.v[L]

    def dE_dy(m: int) -> tuple[Factor, ...]:
        if net.e:
            e = net.e[m - 1]
            return (Factor(E, e, sp.diff(net.loss_in_errors(), e), "loss"),
                    Factor(e, y[m - 1], sp.diff(net.error(m), y[m - 1]), "error"))
        return (Factor(E, y[m - 1], sp.diff(net.loss_in_outputs(), y[m - 1]), "loss"),)

    if act.elementwise:
        value = sp.diff(net.output(L, j), v[j - 1])
        own = act.derivative_in_output      # None (silu, gelu): phi' stays in v
        rewritten = own(y[j - 1], v[j - 1]) if own is not None else None
        return (dE_dy(j) + (Factor(y[j - 1], v[j - 1], value, "activation", rewritten),),)
    paths = []
    for m in net.units(L):
        value = sp.diff(net.output(L, m), v[j - 1])
        rewritten = act.derivative_in_output(y[m - 1], y[j - 1], m == j)
        paths.append(dE_dy(m) + (Factor(y[m - 1], v[j - 1], value, "activation", rewritten),))
    return tuple(paths)


def _multiply(chain: tuple[tuple[Factor, ...], ...]) -> sp.Expr:
    return sp.Add(*[sp.Mul(*[f.result for f in path]) for path in chain])


def _simplify_output(net: Network, raw: sp.Expr) -> tuple[sp.Expr, str | None, sp.Expr | None]:
    """(taught form, why, general form or None): cancel what cancels (sigmoid + bce); softmax + ce
    collects to y_j sum_m t_m - t_j for any targets, and teaches y_j - t_j, where they sum to 1."""
    if not net.activation(net.depth).elementwise:
        collected = sp.collect(sp.expand(raw), net.y[net.depth])
        simplified = collected.subs(sp.Add(*net.t), 1)
        return simplified, "the targets of a sample sum to 1", collected
    if any(p.exp.is_negative and not (p.base.is_Number or p.base == net.batch) for p in raw.atoms(sp.Pow)):
        cancelled = sp.factor(sp.cancel(raw))
        # only where it is shorter (sigmoid + bce): 1/(1 + |v|)^2 of a formula activation does not cancel
        if sp.count_ops(cancelled) < sp.count_ops(raw):
            return cancelled, "the fraction cancels", None
    # a number common to a sum's terms comes out in front: 2 (o - t), as a person writes it, not (2 o - 2 t)
    return sp.factor_terms(raw), None, None


def _output_delta(net: Network, j: int) -> DeltaRule:
    L = net.depth
    chain = _output_chain(net, j)
    raw = _multiply(chain)
    # the mean's 1/N is a common factor: simplify what it multiplies (sum of the targets = 1 stays visible)
    c = net.loss_scale if net.training.reduction == "mean" else sp.Integer(1)
    simplified, note, general = _simplify_output(net, raw / c)
    s = net.profile.delta_sign
    return DeltaRule(L, j, net.delta[L][j - 1], net.v[L][j - 1], True, chain, raw, c * (s * simplified), note,
                     network=net, general=None if general is None else c * (s * general))


def _symbol_for(net: Network, layer: int):
    """Map an indexed role of the general rules to this network's symbol around ``layer``."""
    def lookup(label: str, idx: tuple) -> sp.Symbol:
        r = ix.role(label)
        at = layer + r.layer
        if r.kind == "w":
            src = at - 1 if r.src is None else layer + r.src
            return net.weights[net.graph.weighted_from(at, src)][idx[0] - 1][idx[1] - 1]
        return {"y": net.y, "v": net.v, "delta": net.delta, "b": net.b}[r.kind][at][idx[0] - 1]
    return lookup


def _widths(net: Network, layer: int, rules: ix.LayerRules | None = None) -> dict:
    """The width symbols of the general rules around ``layer`` -> this network's widths."""
    offsets = {-1, 0} | {s for s, _ in (rules.skip_dv_dw if rules else ())}
    if rules is not None and layer < net.depth:
        offsets |= {1} | {p.dst for p in rules.paths}
    return {ix.width(o): net.layers[layer + o] for o in offsets if 0 <= layer + o <= net.depth}


def hidden_rules(net: Network, layer: int) -> ix.LayerRules:
    """The general rules of a layer with this network's consumers (on a chain: layer + 1 alone)."""
    paths = net.graph.paths(layer)
    shapes = tuple(ix.PathShape(p.into.dst - layer, p.into.src - layer, tuple(c.dst - layer for c in p.via))
                   for p in paths)
    via = tuple(tuple(net.activation(c.dst).name for c in p.via) for p in paths)
    return ix.layer_rules(net.activation(layer).name, net.bias, net.bias_sign, shapes or ix.CHAIN_PATHS,
                          via or ((),), not net.graph.is_shortcut_target(layer), _skip_offsets(net, layer))


def input_rules(net: Network, layer: int) -> ix.LayerRules:
    """The general rules of a layer's net input (what its weights' and bias's gradients need)."""
    if layer < net.depth:
        return hidden_rules(net, layer)
    return ix.layer_rules(net.activation(layer).name, net.bias, net.bias_sign, skips=_skip_offsets(net, layer))


def _skip_offsets(net: Network, layer: int) -> tuple[int, ...]:
    return tuple(c.src - layer for c in net.graph.inputs(layer) if c.kind == "skip")


def _hidden_delta(net: Network, layer: int, j: int, deltas: dict) -> DeltaRule:
    """delta_j from the general rule of its layer, instantiated for unit j: one term per path."""
    rules = hidden_rules(net, layer)
    lookup = _symbol_for(net, layer)
    widths = _widths(net, layer, rules)
    s = net.profile.delta_sign
    y, v = net.y[layer][j - 1], net.v[layer][j - 1]
    dy_dv = Factor(y, v, ix.instantiate(rules.dy_dv, {ix.j: j}, widths, lookup), "activation",
                   ix.instantiate(rules.dy_dv_out, {ix.j: j}, widths, lookup))
    chain = []
    for path, _shape, factor in zip(net.graph.paths(layer), rules.paths, rules.path_factors):
        # the shortcuts on the way: y(r) = phi(v(r)) + y(previous), each d/dy SymPy's derivative
        hops, below = [], y
        for c in path.via:
            above = net.y[c.dst][j - 1]
            hops.append(Factor(above, below, sp.diff(net.output(c.dst, j), below), "shortcut"))
            below = above
        for m in net.units(path.into.dst):
            nxt = net.delta[path.into.dst][m - 1]
            dvm = net.v[path.into.dst][m - 1]
            dv_dy = ix.instantiate(factor, {ix.j: j, ix.m: m}, widths, lookup)
            chain.append((Factor(net.loss_symbol, dvm, s * nxt, "delta"), Factor(dvm, below, dv_dy, "net_input"),
                          *reversed(hops), dy_dv))
    raw = _multiply(tuple(chain))
    value = ix.instantiate(rules.hidden_delta, {ix.j: j}, widths, lookup)
    return DeltaRule(layer, j, net.delta[layer][j - 1], v, False, tuple(chain), raw, value, network=net)


def _param_rule_factory(net: Network) -> Callable[[str], ParamRule]:
    """name -> the ParamRule of that weight or bias, from its layer's general factors."""
    s, E, eta = net.profile.delta_sign, net.loss_symbol, net.eta

    # per layer, once: make() runs for every parameter asked for (200,000 on 784-256-10)
    rules_of = {l: input_rules(net, l) for l in net.graph.order}
    lookups = {l: _symbol_for(net, l) for l in net.graph.order}
    widths_of = {l: _widths(net, l, rules_of[l]) for l in net.graph.order}
    # the regulariser is part of E: d/dp of lambda/2 sum q^2 is d/dp of p's own term, the same
    # term for every entry of a params key, so SymPy differentiates it once per key
    decays: dict[str, tuple[sp.Symbol, sp.Expr]] = {}

    def decay_of(key: str, p: sp.Symbol) -> sp.Expr:
        if key not in decays:
            decays[key] = (p, sp.diff(net.regulariser_term(p), p))
        first, g = decays[key]
        return g.xreplace({first: p})

    def make(name: str) -> ParamRule:
        key, layer, index, src = net.positions[name]
        j, k = index[0] + 1, (index[1] + 1 if len(index) == 2 else None)
        rules, lookup, widths = rules_of[layer], lookups[layer], widths_of[layer]
        if k is None:
            p = net.b[layer][j - 1]
            dv_dp = ix.instantiate(rules.dv_db, {}, widths, lookup)
        else:
            conn = net.graph.weighted_from(layer, src)
            p = net.weights[conn][j - 1][k - 1]
            general = rules.dv_dw if conn.kind == "chain" else dict(rules.skip_dv_dw)[src - layer]
            dv_dp = ix.instantiate(general, {ix.j: j, ix.k: k}, widths, lookup)
        v, d = net.v[layer][j - 1], net.delta[layer][j - 1]
        decay = decay_of(key, p)
        grad = s * d * dv_dp + decay
        # the momentum recursion is a rule stated, not derived: Delta p(n) = alpha Delta p(n-1) - eta dE/dp(n)
        prev = net.previous(p) if net.training.momentum > 0 else None
        update = -eta * grad + (net.alpha * prev if prev is not None else 0)
        return ParamRule(name, p, "weight" if k else "bias", layer, j, k,
                         (Factor(E, v, s * d, "delta"), Factor(v, p, dv_dp, "net_input")), grad, update, p + update,
                         src, net, decay, prev)
    return make


def derive(net: Network | Spec | str | Path, check: bool = True, progress: Any = None, force: bool = False,
           **flags: Any) -> Derivation:
    """Derive every delta rule and update equation of ``net`` and check them against sympy.diff.

    Parameters
    ----------
    net : Network, Spec, str or Path
        The network: a Network, a Spec, a TOML spec file or a layer string such as ``"2-3-1"``.
    check : bool
        Check every rule against ``sympy.diff`` of the explicit loss (a rule that fails raises
        SelfCheckError; it is never returned).
    progress : None, True or callable
        Progress on stderr (a bar or a counter), or a callable ``progress(done, total)``.
    force : bool
        Derive a network beyond the parameter budget (``spec.MAX_PARAMS`` weights and biases), as
        ``--force`` does; without it such a network raises SpecError before any work.
    **flags
        With a layer string: ``activation`` (or ``activations``), ``loss``, ``bias``, ``bias_sign``,
        ``notation``, ``numbering``, ``title``, ``skip``, ``residual``, as on the command line.

    Returns
    -------
    Derivation
        Its steps, rules and forms; ``text()``, ``to_dict()`` and ``_repr_latex_`` for Jupyter.

    Examples
    --------
    >>> d = derive("2-3-1", activation="sigmoid,linear")
    >>> d.net.spec.activations
    ('sigmoid', 'linear')
    """
    net = Network.load(net, **flags)
    check_budget(net.spec, force=force)     # the same budget as the command line, before any work
    deltas: dict[sp.Symbol, DeltaRule] = {}
    for j in net.units(net.depth):
        rule = _output_delta(net, j)
        deltas[rule.symbol] = rule
    for layer in reversed(net.graph.order[:-1]):     # reverse topological order: consumers first
        for j in net.units(layer):
            rule = _hidden_delta(net, layer, j, deltas)
            deltas[rule.symbol] = rule
    params = ParamRules([p.name for p in net.params()], _param_rule_factory(net))
    derivation = Derivation(net, deltas, params)
    if check:
        from .progress import reporter
        from .selfcheck import self_check
        derivation.check = self_check(derivation, progress=reporter(progress, "self-check"))
    return derivation
