"""Registry of losses: each the total over a batch of N samples, written per output unit."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class Loss:
    """E = scale * sum_n sum_j term(y_j, t_j).

    ``error_term(e)`` writes the same term through the error signal e_j = t_j - y_j for
    profiles that name it (Haykin's e_j = d_j - y_j); None when the loss is not a function
    of the error alone.
    """

    name: str
    term: Callable[[sp.Expr, sp.Expr], sp.Expr]
    error_term: Callable[[sp.Expr], sp.Expr] | None
    mean: bool
    description: str
    needs: str | None = None   # activation the output layer must use, if any
    targets: str = "any"          # "probability": each t_j in [0, 1]; "distribution": a sample's t_j sum to 1
    # (term, dterm/dy) as NumPy callables for symbp.reference, for a loss defined by a formula (symbp.formula);
    # the built-in losses are written out in reference.py by hand instead.
    reference: tuple | None = field(default=None, compare=False)

    def targets_ok(self, row) -> bool:
        """Whether one sample's targets are of the kind the loss is defined for."""
        if self.targets == "distribution":
            return abs(sum(row) - 1) <= 1e-9 and all(t >= 0 for t in row)
        if self.targets == "probability":
            return all(0 <= t <= 1 for t in row)
        return True


LOSSES: tuple[Loss, ...] = (
    Loss("half_sse", lambda y, t: (t - y) ** 2 / 2, lambda e: e ** 2 / 2, False,
         "half the sum of squared errors"),
    Loss("sse", lambda y, t: (t - y) ** 2, lambda e: e ** 2, False,
         "sum of squared errors"),
    Loss("mse", lambda y, t: (y - t) ** 2, lambda e: e ** 2, True,
         "mean (over the N samples) of the summed squared errors"),
    Loss("bce", lambda y, t: -(t * sp.log(y) + (1 - t) * sp.log(1 - y)), None, False,
         "binary cross-entropy", needs="sigmoid", targets="probability"),
    Loss("ce", lambda y, t: -t * sp.log(y), None, False,
         "cross-entropy", needs="softmax", targets="distribution"),
)

_BY_NAME = {loss.name: loss for loss in LOSSES}
_DEFINED: dict[str, Loss] = {}     # rows built from a spec's [loss.NAME] formula


def loss_names() -> list[str]:
    """Every accepted loss name (the registry's, then those defined by a formula)."""
    return [loss.name for loss in LOSSES] + sorted(_DEFINED)


def get_loss(name: str) -> Loss:
    """The registry entry for ``name``, or a loss defined by a formula (KeyError if unknown)."""
    return _BY_NAME[name] if name in _BY_NAME else _DEFINED[name]


def register(row: Loss) -> Loss:
    """Make a loss defined by a formula known by its name; the same definition again gives the same row.

    One name keeps one definition for the whole process (derived rules are cached by name).
    """
    if row.name in _BY_NAME:
        raise ValueError(f"a name of your own, not the built-in loss {row.name!r}")
    known = _DEFINED.setdefault(row.name, row)
    if known.description != row.description:
        raise ValueError(f"one definition per name: {row.name!r} is already defined as {known.description!r} "
                         "in this session (give the new formula a new name)")
    return known


def defined(row: Loss) -> bool:
    """Whether ``row`` is a loss of your own (a [loss.NAME] formula), not a built-in one."""
    return _DEFINED.get(row.name) is row


def scale(loss: Loss, batch: sp.Symbol) -> sp.Expr:
    """The factor in front of the double sum: 1/N for a mean, else 1."""
    return 1 / batch if loss.mean else sp.Integer(1)
