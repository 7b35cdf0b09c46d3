"""Notation profiles (data) and the canonical identifiers of every quantity."""
from __future__ import annotations

from dataclasses import dataclass

# the four equations' names in general words; a profile may name them as its source does (BP1-BP4)
GENERIC_EQUATIONS = ("output local gradient", "hidden local gradient", "bias gradient", "weight gradient")


@dataclass(frozen=True)
class Profile:
    """The letters of one source's notation; ``delta_sign`` is s in delta = s * dE/dv."""

    name: str
    net: str            # identifier letters of the net input
    out: str            # output of a unit
    target: str
    loss: str           # E or C
    error: str | None   # e_j = d_j - y_j, where the profile names it
    delta_sign: int
    activation: str     # identifier of the generic activation (phi, sigma, f)
    net_tex: str
    out_tex: str
    target_tex: str
    loss_tex: str
    activation_tex: str
    source: str
    sample: str = "n"               # the index of a training sample: E(n), sum over n
    # the LaTeX of the step counter of w(n+1) = w(n) + Delta w(n): none of the profile's letters (haykin's n is
    # also its sample, as in Haykin, where sample n is presented at step n)
    step_tex: str = "n"
    generic_tex: str = r"\varphi"   # the activation letter where the profile's is the logistic's sigma
    # the four equations of backpropagation in the source's words: output delta, hidden recursion,
    # bias gradient, weight gradient (Nielsen's BP1-BP4)
    equations: tuple[str, str, str, str] = GENERIC_EQUATIONS

    def activation_letter(self, logistic: bool) -> str:
        """The generic activation's LaTeX: sigma only names the logistic function."""
        return self.activation_tex if logistic or self.activation_tex != r"\sigma" else self.generic_tex

    def at_step(self, offset: int = 0) -> str:
        """The LaTeX step index (n), (n+1) or (n-1) in the profile's letter."""
        return f"({self.step_tex}{offset:+d})" if offset else f"({self.step_tex})"

    def step_letters(self, latex: bool = True) -> tuple[str, ...]:
        """The letters an answer may count steps with: the profile's own (ont's \\tau, or tau in plain
        text; nielsen's t), and n, as earlier notes and the seeds write w(n+1) in every profile."""
        own = self.step_tex if latex else self.step_tex.lstrip("\\")
        return tuple(dict.fromkeys((own, "n")))

    @property
    def delta_definition(self) -> str:
        """delta = -dE/dv or delta = dE/dv, in words for text output."""
        sign = "-" if self.delta_sign < 0 else ""
        return f"delta = {sign}d{self.loss}/d{self.net}"


PROFILES: tuple[Profile, ...] = (
    # the generic names of the four equations: Haykin's "delta rule" and "correction" name the update
    # eta delta y, not the gradients the equations show
    Profile("haykin", "v", "y", "d", "E", "e", -1, "phi",
            "v", "y", "d", r"\mathcal{E}", r"\varphi", "Haykin, Neural Networks and Learning Machines, ch. 4"),
    Profile("ont", "n", "o", "t", "E", None, +1, "sigma",
            "n", "o", "t", "E", r"\sigma",
            # seed 004's samples are x (o_j(x), sums over x), leaving p for a generic parameter; the step is tau
            # (Bishop's iteration letter): n and t are the net input and target, s a skip's source, i a unit
            "o for outputs, n for net inputs, t for targets", sample="x", step_tex=r"\tau",
            equations=("output delta", "hidden delta", "bias gradient", "weight gradient")),
    Profile("mitchell", "net", "a", "t", "E", None, -1, "f",
            # Mitchell's momentum rule (eq. 4.18) counts iterations n: Delta w_ji(n) = ... + alpha Delta w_ji(n-1)
            r"\mathrm{net}", "a", "t", "E", "f", "Mitchell, Machine Learning, ch. 4",
            equations=("output unit error term", "hidden unit error term", "bias gradient", "weight gradient")),
    Profile("nielsen", "z", "a", "y", "C", None, +1, "sigma",
            "z", "a", "y", "C", r"\sigma",
            # Nielsen writes w -> w' with no step index; momentum needs one, and his target is y, so t is free
            # his f of ch. 2's problem "a function other than the sigmoid" is the generic letter, not Haykin's phi
            "Nielsen, Neural Networks and Deep Learning, ch. 2", sample="x", step_tex="t", generic_tex="f",
            equations=("BP1", "BP2", "BP3", "BP4")),
)

_BY_NAME = {p.name: p for p in PROFILES}
NUMBERINGS = ("layer", "global")


def profile_names() -> list[str]:
    """Every notation profile name."""
    return [p.name for p in PROFILES]


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (KeyError if unknown)."""
    return _BY_NAME[name]


# Canonical identifiers (1-based); valid Python names, so they lambdify as arguments.
def weight_id(layer: int, j: int, k: int) -> str:
    return f"w{layer}_{j}_{k}"


def skip_weight_id(layer: int, src: int, j: int, k: int) -> str:
    """The weight into unit j of ``layer`` from unit k of layer ``src`` on a skip connection."""
    return f"w{layer}_{src}_{j}_{k}"


def bias_id(layer: int, j: int) -> str:
    return f"b{layer}_{j}"


def input_id(k: int) -> str:
    return f"x{k}"


def net_id(p: Profile, layer: int, j: int) -> str:
    return f"{p.net}{layer}_{j}"


def out_id(p: Profile, layer: int, j: int) -> str:
    return f"{p.out}{layer}_{j}"


def delta_id(layer: int, j: int) -> str:
    return f"delta{layer}_{j}"


def target_id(p: Profile, j: int) -> str:
    return f"{p.target}{j}"


def error_id(p: Profile, j: int) -> str:
    return f"{p.error}{j}"
