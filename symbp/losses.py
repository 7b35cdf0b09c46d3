"""Registry of losses: each the total over a batch of N samples, written per output unit."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


def loss_names() -> list[str]:
    """Every accepted loss name."""
    return [loss.name for loss in LOSSES]


def get_loss(name: str) -> Loss:
    """The registry entry for ``name`` (KeyError if unknown)."""
    return _BY_NAME[name]


def scale(loss: Loss, batch: sp.Symbol) -> sp.Expr:
    """The factor in front of the double sum: 1/N for a mean, else 1."""
    return 1 / batch if loss.mean else sp.Integer(1)
