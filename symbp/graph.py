"""The graph of layers: layers are nodes, connections (chain, skip, residual) are edges.

A chain is the simplest graph: one weighted connection from each layer into the next.
Every other stage walks this graph (forward in topological order, backward in reverse)
instead of assuming that layer l feeds layer l + 1 alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

CHAIN, SKIP, RESIDUAL = "chain", "skip", "residual"


@dataclass(frozen=True, order=True)
class Connection:
    """An edge from layer ``src`` into layer ``dst``.

    chain and skip connections are weighted (they add W y(src) to v(dst)); a residual
    shortcut adds y(src) itself to y(dst), with no weights.
    """

    dst: int
    src: int
    kind: str

    @property
    def weighted(self) -> bool:
        return self.kind != RESIDUAL

    @property
    def key(self) -> str:
        """The params key of its weight matrix: W{l} on the chain, W{l}_{s} on a skip."""
        if self.kind == CHAIN:
            return f"W{self.dst}"
        if self.kind == SKIP:
            return f"W{self.dst}_{self.src}"
        raise ValueError("a residual shortcut has no weights")


@dataclass(frozen=True)
class Path:
    """One way the output y(s) of a layer reaches a weighted connection.

    ``via`` are the residual shortcuts passed on the way (y(s) is added to y(r) of each),
    ``into`` the weighted connection that finally reads it. Its delta term is
    W(into)^T delta(into.dst): one term per path (seed 000: one per successor).
    """

    into: Connection
    via: tuple[Connection, ...] = ()


@dataclass(frozen=True)
class Graph:
    """Widths n_0..n_L and every connection between layers."""

    widths: tuple[int, ...]
    skips: tuple[tuple[int, int], ...] = ()
    residuals: tuple[tuple[int, int], ...] = ()

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def order(self) -> range:
        """Computing layers in topological order: every connection runs from a lower layer to a higher one."""
        return range(1, self.depth + 1)

    @cached_property
    def connections(self) -> tuple[Connection, ...]:
        chain = [Connection(l, l - 1, CHAIN) for l in self.order]
        skip = [Connection(l, s, SKIP) for s, l in self.skips]
        res = [Connection(l, s, RESIDUAL) for s, l in self.residuals]
        return tuple(sorted(chain + skip + res, key=lambda c: (c.dst, c.kind != CHAIN, c.kind == RESIDUAL, c.src)))

    @property
    def is_chain(self) -> bool:
        return not self.skips and not self.residuals

    @cached_property
    def _into(self) -> dict[int, tuple[Connection, ...]]:
        # asked for once per parameter and unit: index the connections once
        return {l: tuple(c for c in self.connections if c.dst == l) for l in range(self.depth + 1)}

    def inputs(self, layer: int) -> tuple[Connection, ...]:
        """Weighted connections into a layer: its chain connection first, then skips by source."""
        return tuple(c for c in self._into[layer] if c.weighted)

    def shortcuts(self, layer: int) -> tuple[Connection, ...]:
        """Residual shortcuts into a layer."""
        return tuple(c for c in self._into[layer] if not c.weighted)

    def weighted_from(self, dst: int, src: int) -> Connection:
        """The weighted connection from layer ``src`` into layer ``dst`` (KeyError if there is none)."""
        for c in self._into[dst]:
            if c.weighted and c.src == src:
                return c
        raise KeyError((dst, src))

    def outgoing(self, layer: int) -> tuple[Connection, ...]:
        """Every connection out of a layer (its consumers), by target layer."""
        return tuple(sorted((c for c in self.connections if c.src == layer), key=lambda c: (c.dst, c.kind)))

    @property
    def weighted(self) -> tuple[Connection, ...]:
        """Every weighted connection, layer by layer: the order of the parameters."""
        return tuple(c for c in self.connections if c.weighted)

    def paths(self, layer: int) -> tuple[Path, ...]:
        """Every path by which y(layer) reaches a weighted connection: direct ones first,
        then those through residual shortcuts (y(layer) is part of y(r), so it reaches r's consumers)."""
        out: list[Path] = []

        def walk(r: int, via: tuple[Connection, ...]) -> None:
            out.extend(Path(c, via) for c in self.outgoing(r) if c.weighted)
            for c in self.outgoing(r):
                if not c.weighted:
                    walk(c.dst, via + (c,))

        walk(layer, ())
        return tuple(out)

    def is_shortcut_target(self, layer: int) -> bool:
        """y(layer) = phi(v(layer)) + y(s): its output is not phi(v) alone."""
        return bool(self.shortcuts(layer))
