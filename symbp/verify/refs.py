r"""A quantity named inside a formula: ``\Delta w_{41}`` or ``\frac{\partial E}{\partial w_{41}}`` in a step.

A derivation written step by step starts from the definition, ``w(n+1) = w(n) + \Delta w(n)``:
the parser reads ``\Delta w_{41}`` as a placeholder symbol (it needs no derivation), and the
check replaces it by the derived rule of that quantity.
"""
from __future__ import annotations

import sympy as sp

from ..derive import Derivation

PREFIXES = {"update": "Delta__", "gradient": "dE_d__"}       # no canonical name starts so


def ref(name: str, quantity: str) -> sp.Symbol:
    """The placeholder of ``quantity`` (update or gradient) of the parameter ``name``."""
    return sp.Symbol(PREFIXES[quantity] + name, real=True)


def read(symbol: sp.Symbol) -> tuple[str, str] | None:
    """(parameter, quantity) of a placeholder, else None."""
    for quantity, prefix in PREFIXES.items():
        if symbol.name.startswith(prefix):
            return symbol.name[len(prefix):], quantity
    return None


def resolve(expr, d: Derivation):
    """``expr`` with every placeholder replaced by the derived rule it names."""
    found = {s: read(s) for s in getattr(expr, "free_symbols", set())}
    table = {s: getattr(d.params[r[0]], r[1]) for s, r in found.items() if r is not None}
    return expr.xreplace(table) if table else expr
