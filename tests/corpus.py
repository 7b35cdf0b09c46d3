"""The rows every property test draws from: the registries, plus one activation and one loss of your own.

The two formula rows are defined through the public spec path ([activation.NAME] and [loss.NAME] in a
spec that symbp parses), so the corpus meets them as a user's spec makes them. Their oracles are
written here by hand and share nothing with the symbolic side: the textbook definitions in plain SymPy
(for sympy.diff of the explicit loss) and the NumPy forms the hand-written reference is given by name.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from symbp import reference
from symbp.activations import ACTIVATIONS, get_activation
from symbp.losses import LOSSES, get_loss
from symbp.spec import spec_from_dict

GAUSS = "gauss"               # a Gaussian activation exp(-z^2): smooth, bounded, no form in its own output
PSEUDO_HUBER = "pseudo_huber"  # sqrt(1 + (y - t)^2) - 1, a loss in the error alone
OWN = {"activation": {GAUSS: {"formula": "exp(-z**2)", "latex": r"\operatorname{gauss}"}},
       "loss": {PSEUDO_HUBER: {"formula": "sqrt(1 + (y - t)**2) - 1"}}}

# the public path: a spec that defines both rows registers them by name for the whole session
spec_from_dict({"network": {"layers": [1, 1, 1], "activations": [GAUSS, "linear"], "loss": PSEUDO_HUBER}, **OWN})

# by hand: d/dv exp(-v^2) = -2 v exp(-v^2); d/dy sqrt(1 + (y - t)^2) = (y - t)/sqrt(1 + (y - t)^2)
reference.define("activation", GAUSS, lambda v: np.exp(-v * v), lambda v: -2.0 * v * np.exp(-v * v))
reference.define("loss", PSEUDO_HUBER, lambda y, t: np.sqrt(1.0 + (y - t) ** 2) - 1.0,
                 lambda y, t: (y - t) / np.sqrt(1.0 + (y - t) ** 2))

# textbook definitions in plain SymPy, for the oracle that differentiates the explicit loss
PLAIN_ACTIVATIONS = {GAUSS: lambda v: sp.exp(-v ** 2)}
PLAIN_LOSSES = {PSEUDO_HUBER: lambda y, t: sp.sqrt(1 + (y - t) ** 2) - 1}

ACTIVATION_ROWS = (*ACTIVATIONS, get_activation(GAUSS))
LOSS_ROWS = (*LOSSES, get_loss(PSEUDO_HUBER))
ELEMENTWISE = tuple(a.name for a in ACTIVATION_ROWS if a.elementwise)
LOSS_NAMES = tuple(loss.name for loss in LOSS_ROWS)

# XOR written out by hand: the task the notes' training run learns when a 2-input network has no samples
XOR = ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [[0.0], [1.0], [1.0], [0.0]])
