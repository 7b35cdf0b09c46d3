"""The terms of a hidden delta, one group per path of the graph: what ``missing_path`` leaves out.

A hidden unit's DeltaRule.chain has one product of factors per consumer unit. The graph
path a product belongs to is read off its factors: the net-input factor names the
consumer's v and the y it reads, each "shortcut" factor a residual shortcut on the way.
Leaving out one path is the rule with that path's products dropped, nothing typed.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ..derive import Derivation, Factor
from ..graph import Path
from ..network import Network


@dataclass(frozen=True)
class PathTerm:
    """The part of one delta rule that arrives along one path of the graph."""

    path: Path
    delta: sp.Symbol          # the unit's delta, e.g. delta1_1
    term: sp.Expr             # the path's share of the sum, without phi' (delta3_1*w3_1_1_1)
    without: sp.Expr          # the delta rule with this path left out


def path_terms(d: Derivation, delta: sp.Symbol) -> list[PathTerm]:
    """One PathTerm per graph path of the unit's layer; empty where there is one path or none."""
    rule, net = d.deltas[delta], d.net
    paths = net.graph.paths(rule.layer)
    if rule.output or len(paths) < 2:
        return []
    s, layers = net.profile.delta_sign, _layers(net)
    groups: dict[tuple, list] = {}
    for product in rule.chain:
        groups.setdefault(_route(product, layers), []).append(product)
    out = []
    for path in paths:
        mine = groups.get(route(path), [])
        rest = [p for p in rule.chain if all(p is not q for q in mine)]
        term = s * sp.Add(*[sp.Mul(*[f.result for f in p if f.reason != "activation"]) for p in mine])
        without = s * sp.Add(*[sp.Mul(*[f.result for f in p]) for p in rest])
        out.append(PathTerm(path, delta, term, without))
    return out


def route(path: Path) -> tuple[int, ...]:
    """The layers a path passes after its source: the shortcuts' targets, then the consumer."""
    return tuple(c.dst for c in path.via) + (path.into.dst,)


def _route(product: tuple[Factor, ...], layers: dict) -> tuple[int, ...]:
    return tuple(sorted(layers[f.of] for f in product if f.reason in ("shortcut", "net_input")))


@lru_cache(maxsize=8)
def _layers(net: Network) -> dict[sp.Symbol, int]:
    """Each unit's v and y -> its layer."""
    return {s: l for grid in (net.v, net.y) for l, syms in grid.items() for s in syms}


def describe(path: Path) -> str:
    """In words: "the skip connection W3_1 from layer 1 into layer 3", shortcuts first."""
    c = path.into
    into = (f"the skip connection {c.key} from layer {c.src} into layer {c.dst}" if c.kind == "skip"
            else f"the connection {c.key} from layer {c.src} into layer {c.dst}")
    hops = [f"the residual shortcut from layer {r.src} into layer {r.dst}" for r in path.via]
    return ", then ".join(hops + [into])
