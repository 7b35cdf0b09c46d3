"""Notation profiles (data) and the canonical identifiers of every quantity."""
from __future__ import annotations

from dataclasses import dataclass


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
    sample: str = "n"               # the index of a training sample (ont's n is the net input)
    generic_tex: str = r"\varphi"   # the activation letter where the profile's is the logistic's sigma
    # the four equations of backpropagation in the source's words: output delta, hidden recursion,
    # bias gradient, weight gradient (Nielsen's BP1-BP4)
    equations: tuple[str, str, str, str] = ("output local gradient", "hidden local gradient",
                                            "bias gradient", "weight gradient")

    def activation_letter(self, logistic: bool) -> str:
        """The generic activation's LaTeX: sigma only names the logistic function."""
        return self.activation_tex if logistic or self.activation_tex != r"\sigma" else self.generic_tex

    @property
    def delta_definition(self) -> str:
        """delta = -dE/dv or delta = dE/dv, in words for text output."""
        sign = "-" if self.delta_sign < 0 else ""
        return f"delta = {sign}d{self.loss}/d{self.net}"


PROFILES: tuple[Profile, ...] = (
    Profile("haykin", "v", "y", "d", "E", "e", -1, "phi",
            "v", "y", "d", r"\mathcal{E}", r"\varphi", "Haykin, Neural Networks and Learning Machines, ch. 4",
            equations=("output local gradient", "hidden local gradient", "bias correction", "delta rule")),
    Profile("ont", "n", "o", "t", "E", None, +1, "sigma",
            "n", "o", "t", "E", r"\sigma",
            "o for outputs, n for net inputs, t for targets", sample="p",
            equations=("output delta", "hidden delta", "bias gradient", "weight gradient")),
    Profile("mitchell", "net", "a", "t", "E", None, -1, "f",
            r"\mathrm{net}", "a", "t", "E", "f", "Mitchell, Machine Learning, ch. 4",
            equations=("output unit error term", "hidden unit error term", "bias gradient", "weight gradient")),
    Profile("nielsen", "z", "a", "y", "C", None, +1, "sigma",
            "z", "a", "y", "C", r"\sigma",
            "Nielsen, Neural Networks and Deep Learning, ch. 2", sample="x",
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
