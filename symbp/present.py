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
