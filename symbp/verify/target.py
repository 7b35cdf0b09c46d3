"""What a verify request asks for: one unit's quantity, or a whole layer's as a vector or matrix.

``--param w3_1_1_2`` names one weight; ``--param W3_1`` the skip matrix it sits in,
``--param delta1`` the local gradients of layer 1 as a column. A layer-level target is
the unit-level targets of its entries, laid out in its shape, so every check and every
diagnosis works on the entries of the same per-unit rules.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ..derive import QUANTITIES, Derivation
from ..errors import SymbpError
from ..network import Network
from .symbols import matrix_symbols


class VerifyError(SymbpError, ValueError):
    """A verify request names an unknown parameter or quantity."""


@dataclass(frozen=True)
class Target:
    """The quantity of one unit (``shape`` None) or of a layer's vector or matrix."""

    name: str                       # w3_1_1_2, delta1_1, W3_1, delta1, b1
    quantity: str                   # gradient, update, new or delta
    kind: str                       # "delta", "weight" or "bias"
    layer: int
    names: tuple[str, ...]          # the unit-level names of its entries, row by row
    shape: tuple[int, int] | None = None

    @property
    def layer_level(self) -> bool:
        return self.shape is not None

    def build(self, make: Callable[[str], sp.Expr]):
        """``make(unit name)`` for each entry: a scalar, or a matrix of this target's shape."""
        values = [make(n) for n in self.names]
        return values[0] if self.shape is None else sp.ImmutableMatrix(*self.shape, values)

    @property
    def what(self) -> str:
        """A few words for messages: "the gradient dE/dW3_1", "the local gradient delta1"."""
        if self.kind == "delta":
            return f"the local gradient {self.name}"
        return {"gradient": f"the gradient dE/d{self.name}", "update": f"the update Delta {self.name}",
                "new": f"the new value {self.name} + Delta {self.name}"}[self.quantity]


@dataclass(frozen=True)
class _Layered:
    kind: str
    layer: int
    shape: tuple[int, int]
    names: tuple[str, ...]


@lru_cache(maxsize=8)
def layer_names(net: Network) -> dict[str, _Layered]:
    """Every layer-level name: the delta vectors, the weight matrices (skips too) and bias vectors."""
    out: dict[str, _Layered] = {}
    for m, entries in matrix_symbols(net).items():
        layer = next((l for l, ds in net.delta.items() if list(entries) == ds), None)
        if layer is not None:
            out[m.name] = _Layered("delta", layer, m.shape, tuple(e.name for e in entries))
    grouped: dict[str, list] = {}
    for name, pos in net.positions.items():
        grouped.setdefault(pos.key, []).append((pos.index, name, pos))
    for key, cells in grouped.items():
        cells.sort()
        *_, pos = cells[-1]
        rows, cols = pos.index[0] + 1, (pos.index[1] + 1 if pos.is_weight else 1)
        out[key] = _Layered("weight" if pos.is_weight else "bias", pos.layer, (rows, cols),
                            tuple(n for _, n, _ in cells))
    return out


def target(net: Network | Derivation, param: str, quantity: str) -> Target:
    """The target of ``--param`` with ``--quantity`` (a delta's name implies the delta quantity).

    Needs only the network, so a request for an unknown name is refused before any derivation.
    """
    net = net.net if isinstance(net, Derivation) else net
    if quantity not in QUANTITIES:
        raise VerifyError(f"quantity: expected one of {', '.join(QUANTITIES)}, got {quantity!r}")
    layered = layer_names(net).get(param)
    if layered is not None:
        quantity = _quantity(net, param, quantity, layered.kind == "delta")
        return Target(param, quantity, layered.kind, layered.layer, layered.names, layered.shape)
    layer = next((l for l, ds in net.delta.items() if any(s.name == param for s in ds)), None)
    quantity = _quantity(net, param, quantity, layer is not None)
    if quantity == "delta":
        return Target(param, quantity, "delta", layer, (param,))
    pos = net.positions[param]
    return Target(param, quantity, "weight" if pos.is_weight else "bias", pos.layer, (param,))


def _quantity(net: Network, param: str, quantity: str, is_delta: bool) -> str:
    if is_delta and quantity == "gradient":
        return "delta"          # a local gradient has no gradient of its own: the name says what is meant
    if quantity == "delta" and not is_delta:
        names = ", ".join(s.name for ds in net.delta.values() for s in ds)
        raise VerifyError(f"param: expected a local gradient ({names}, or a layer's: "
                          f"{_layer_list(net, 'delta')}), got {param!r}")
    if quantity != "delta" and param not in net.positions and param not in layer_names(net):
        names = ", ".join(p.name for p in net.params())
        raise VerifyError(f"param: expected a weight or bias ({names}; or a layer's matrix: "
                          f"{_layer_list(net, 'weight', 'bias')}), got {param!r}")
    return quantity


def _layer_list(net: Network, *kinds: str) -> str:
    return ", ".join(n for n, t in layer_names(net).items() if t.kind in kinds)


def matrix_rule(d: Derivation, t: Target, quantity: str | None = None) -> sp.MatrixExpr:
    """The matrix form of a layer-level target: delta1 = phi' * (W2.T @ delta2 + ...), dE/dW3_1 = ..."""
    quantity = quantity or t.quantity
    layer = next(m for m in d.matrix if m.layer == t.layer)
    if t.kind == "delta":
        return layer.delta
    grad = layer.grad_b if t.kind == "bias" else dict(layer.weight_grads)[t.name]
    decay = d.matrix_decay.get(t.name)       # lambda*P of the regulariser, where P is decayed
    if decay is not None:
        grad = grad + decay.xreplace({sp.Symbol(t.name, real=True): sp.MatrixSymbol(t.name, *t.shape)})
    if quantity == "gradient":
        return grad
    if d.net.training.momentum:
        raise VerifyError(f"param: a layer's {quantity} under momentum reads every entry's previous step; "
                          f"verify one entry such as {t.names[0]} (with d{t.names[0]}_prev), got {t.name!r}")
    update = -d.net.eta * grad
    return update if quantity == "update" else sp.MatrixSymbol(t.name, *t.shape) + update
