"""What a person reads of a derivation: one model of sections that text, Jupyter and the notes render.

Per layer: the general index rule, the matrix form, and representative units. A layer of up
to SHOWN_MAX units is shown in full; a wider one shows its first and last units with a gap
(⋮) between, so what a person reads stays the size of a lecture at any width. ``full=True``
lists every unit and parameter.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sympy as sp

from .derive import DeltaRule, Derivation
from .network import previous_step

SHOWN_MAX = 8          # units (or inputs) shown in full; wider layers show their first and last


def shown(n: int, full: bool = False) -> tuple[int | None, ...]:
    """The 1-based indices to show of n: all of them up to SHOWN_MAX, else 1, 2, None (a gap), n."""
    if full or n <= SHOWN_MAX:
        return tuple(range(1, n + 1))
    return (1, 2, None, n)


@dataclass(frozen=True)
class LayerView:
    """One computing layer as a person reads it."""

    layer: int
    output: bool
    activation: str
    width: int
    general: sp.Expr                        # delta_j of any unit of the layer (index form)
    consumers: tuple[str, ...]              # its successors, one per path (empty on the output layer)
    matrix: object                          # forms.MatrixLayer
    units: tuple[DeltaRule | None, ...]  # the deltas shown; None marks a gap of units
    params: tuple[str | None, ...]       # canonical names of the parameters shown; None marks a gap

    @property
    def complete(self) -> bool:
        return None not in self.units and None not in self.params


@dataclass(frozen=True)
class Presentation:
    """The sections of a derivation, output layer first (the order backpropagation runs)."""

    derivation: Derivation
    layers: tuple[LayerView, ...]
    full: bool

    @property
    def net(self):
        return self.derivation.net

    @property
    def complete(self) -> bool:
        return all(v.complete for v in self.layers)

    def params(self) -> Iterator[str | None]:
        """The parameters shown, layer by layer from the input (the order of net.params()); None: a gap."""
        for view in reversed(self.layers):
            yield from view.params


def consumers(net, layer: int) -> list[str]:
    """The successors of a layer's units, one per path: "layer 2 (W2)", "layer 4 (W4, through the shortcut 1 -> 3)"."""
    out = []
    for path in net.graph.paths(layer):
        via = ", ".join(f"through the shortcut {c.src} -> {c.dst}" for c in path.via)
        out.append(f"layer {path.into.dst} ({path.into.key}{', ' + via if via else ''})")
    return out


def _layer_params(net, layer: int, full: bool) -> tuple[str | None, ...]:
    """W rows of every connection into the layer (unit-major), then the biases; gaps as None."""
    out: list[str | None] = []
    for c in net.graph.inputs(layer):
        for j in shown(net.layers[layer], full):
            for k in shown(net.layers[c.src], full):
                out.append(None if j is None or k is None else net.weights[c][j - 1][k - 1].name)
    out += [None if j is None else net.b[layer][j - 1].name for j in shown(net.layers[layer], full)
            ] if net.bias else []
    return tuple(_squeeze(out))


def shown_params(net, full: bool = False) -> list[str | None]:
    """The parameters shown of a whole network, layer by layer from the input; None marks a gap."""
    return [name for l in net.graph.order for name in _layer_params(net, l, full)]


def _squeeze(items: list) -> Iterator:
    """Consecutive gaps become one."""
    previous = object()
    for item in items:
        if not (item is None and previous is None):
            yield item
        previous = item


def present(d: Derivation, full: bool = False) -> Presentation:
    """The presentation of derivation ``d``: every unit when ``full``, else representative ones."""
    net, idx = d.net, d.index
    matrix = {m.layer: m for m in d.matrix}
    views = []
    for l in reversed(net.graph.order):
        output = l == net.depth
        units = tuple(None if j is None else d.deltas[net.delta[l][j - 1]] for j in shown(net.layers[l], full))
        views.append(LayerView(l, output, net.spec.activations[l - 1], net.layers[l],
                               idx.output.delta if output else idx.hidden[l].hidden_delta,
                               () if output else tuple(consumers(net, l)), matrix[l], units,
                               _layer_params(net, l, full)))
    return Presentation(d, tuple(views), full)


# -- the learning rule ([training]) ---------------------------------------------------------

@dataclass(frozen=True)
class LearningRule:
    """The update equations [training] implies, for any weight w_jk (and bias b_j) of a layer.

    ``gradient`` is dE/dw_jk of the regularised loss: the data term of the index form plus
    sympy.diff of the regulariser lambda/2 w_jk^2 (absent without weight decay). ``update`` is the
    momentum recursion, a rule stated rather than derived: alpha Delta w(n-1) - eta dE/dw(n).
    ``previous`` is the symbol of Delta w_jk(n-1). ``notes`` say in words what the reduction,
    the regulariser's once-per-batch and the momentum do.
    """

    momentum: float
    weight_decay: float
    decay_biases: bool
    reduction: str
    loss: sp.Expr                   # the batch loss: scale * sum_n E(n) + lambda/2 sum w^2
    gradient: sp.Expr               # dE/dw_jk (index form), decay term included
    bias_gradient: sp.Expr | None   # dE/db_j, decay term included when decay_biases
    update: sp.Expr                 # Delta w_jk(n)
    previous: sp.Symbol             # Delta w_jk(n - 1)
    notes: tuple[str, ...]

    @property
    def plain(self) -> bool:
        return not (self.momentum or self.weight_decay or self.reduction != "sum")


class _GeneralPrevious(sp.Symbol):
    """Delta w_jk(n-1) of the general rule, printed in the notes' letters (n: the profile's step letter)."""

    def _latex(self, printer) -> str:
        from . import indexform as ix
        return rf"\Delta {printer._print(ix.B['w'][ix.j, ix.k])}{previous_step(printer)}"


def learning_rule(d: Derivation) -> LearningRule:
    """The learning rule of ``d``'s network: its loss over a batch, gradient and update, in index form."""
    from . import indexform as ix
    net, idx, t = d.net, d.index, d.net.training
    w, b = ix.B["w"][ix.j, ix.k], ix.B["b"][ix.j]
    n = sp.Symbol(net.profile.sample, integer=True, positive=True)     # ont's n is its net input
    En = sp.Function(net.profile.loss)(n)
    # one index over the decayed parameters (the printers take a Sum of one limit)
    weights = sp.Sum(ix.B["w"][ix.i] ** 2, (ix.i, 1, sp.Symbol("W", integer=True, positive=True)))
    # the regulariser's share of w_jk, differentiated by SymPy like the rest of the loss
    reg = net.lam / 2 * w ** 2 if t.weight_decay else sp.Integer(0)
    reg_b = net.lam / 2 * b ** 2 if t.weight_decay and t.decay_biases else sp.Integer(0)
    gradient = idx.weight_gradient + sp.diff(reg, w)
    bias_gradient = idx.bias_gradient + sp.diff(reg_b, b) if net.bias else None
    total = net.loss_scale * sp.Sum(En, (n, 1, net.batch)) + (net.lam / 2 * weights if t.weight_decay else 0)
    previous = _GeneralPrevious("dw_prev", real=True)
    update = -net.eta * gradient + (net.alpha * previous if t.momentum else 0)
    return LearningRule(t.momentum, t.weight_decay, t.decay_biases, t.reduction, total, gradient, bias_gradient,
                        update, previous, _learning_notes(net))


def _learning_notes(net) -> tuple[str, ...]:
    t, out = net.training, []
    if t.reduction == "mean":
        out.append("reduction mean: the batch loss is multiplied by 1/N, so every delta carries 1/N"
                   + (" (mse is a mean already: its 1/N is not applied twice)" if net.loss.mean else ""))
    if t.weight_decay:
        which = "weights and biases" if t.decay_biases else "weights only, not the biases"
        out.append(f"weight decay lambda = {t.weight_decay:g}: E + lambda/2 sum w^2 over the {which}; "
                   "its gradient lambda w is added once per batch, not once per sample")
    if t.momentum:
        out.append(f"momentum alpha = {t.momentum:g}: Delta w(n) = alpha Delta w(n-1) - eta dE/dw(n), "
                   "w(n+1) = w(n) + Delta w(n), with Delta w(0) = 0")
    return tuple(out)
