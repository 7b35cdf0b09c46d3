"""Wrapped rules read back: the pieces of every displayed delta row, joined, parse to the derived rule."""
from __future__ import annotations

import random

import pytest
import sympy as sp

from symbp import Network, derive
from symbp.notes import _deltas, _summary, _Tex
from symbp.verify.latex import parse_latex_for

NETS = {
    "tanh_4653": lambda: Network.from_string("4-6-5-3", activation="tanh"),
    "wide_16": lambda: Network.from_string("16-32-16-8"),
    "mitchell_3442": lambda: Network.from_string("3-4-4-2", activation="tanh", notation="mitchell"),
    "skip_2331": lambda: Network.from_string("2-3-3-1", skip="1:3"),
}


def equations(lines: list[str]) -> list[tuple[str, str]]:
    r"""``lhs &= rhs`` rows (two to a row when paired) with their ``&\qquad`` continuations joined."""
    out: list[list[str]] = []
    for line in lines:
        if line.startswith(r"&\qquad"):
            out[-1][1] += " " + line[len(r"&\qquad"):]
        elif not line.startswith("&"):
            cells = [c.strip() for c in line.split("&")]
            out += [[lhs, rhs.removeprefix("=")] for lhs, rhs in zip(cells[::2], cells[1::2])]
    return [(lhs, rhs) for lhs, rhs in out]


def same(a: sp.Expr, b: sp.Expr, rng: random.Random) -> bool:
    free = sorted(a.free_symbols | b.free_symbols, key=str)
    for _ in range(3):
        point = {s: sp.Rational(rng.randint(-90, 90), 37) for s in free}
        if abs(sp.N((a - b).xreplace(point), 30)) > 1e-20:
            return False
    return True


@pytest.mark.parametrize("case", sorted(NETS))
def test_displayed_deltas_mean_the_derived_rules(case):
    net = NETS[case]()
    d = derive(net, check=False)
    T, rng = _Tex(net), random.Random(13)
    lines = [r for layer in _deltas(T, d) for r in layer["rows"]]
    lines += [r for layer in _summary(T, d)["layers"] for r in layer["deltas"]]
    eqs = equations(lines)
    assert len(eqs) >= sum(min(len(net.delta[l]), 2) for l in range(1, net.depth + 1))
    wrapped = 0
    for lhs, rhs in eqs:
        sym = parse_latex_for(net, lhs)
        assert sym in d.deltas, lhs
        assert same(parse_latex_for(net, rhs), d.deltas[sym].value, rng), f"{lhs} = {rhs}"
        wrapped += r"\bigl(" in rhs
    if case in ("tanh_4653", "wide_16"):
        assert wrapped, "no wrapped row was checked"


def _tex(layers: str, **flags) -> str:
    from symbp.notes import render_tex
    return render_tex(derive(Network.from_string(layers, **flags), check=False))


def test_rules_read_in_a_persons_order():
    """Positive term first, eta delta x, the slope's factors side by side, w - eta delta x (issue 13)."""
    tanh = _tex("4-6-5-3", activation="tanh")
    assert r"\boldsymbol{1} - \boldsymbol{y}^{(1)} \odot \boldsymbol{y}^{(1)}" in tanh
    assert r"e_{j} \left(1 - \left(y^{(l)}_{j}\right)^{2}\right)" in tanh
    sig = _tex("2-3-1", activation="sigmoid,linear")
    assert r"\boldsymbol{y}^{(1)} \odot \left(\boldsymbol{1} - \boldsymbol{y}^{(1)}\right)" in sig
    assert r"y^{(l)}_{j} \left(1 - y^{(l)}_{j}\right) \sum_{m=1}^{M}" in sig
    assert r"\eta \left(d_{1} - y^{(2)}_{1}\right) w^{(2)}_{11} y^{(1)}_{1} \left(1 - y^{(1)}_{1}\right) x_{1}" in sig
    ont = _tex("4-5-3", activation="relu,sigmoid", loss="bce", notation="ont", bias_sign="-")
    assert r"w^{(1)}_{11} &\leftarrow w^{(1)}_{11} - \eta \delta^{(1)}_{1} x_{1}" in ont
    for tex in (tanh, sig, ont):
        assert r"\eta \left(-" not in tex and r"+ \boldsymbol{1}" not in tex


def test_formulas_use_defined_notation():
    """No circle power, a defined unit step, tanh' as SymPy writes it before any rewriting (issue 13)."""
    tanh = _tex("4-6-5-3", activation="tanh")
    assert r"\circ" not in tanh
    assert r"\frac{d}{dz} \tanh{\left(z \right)} &= 1 - \tanh^{2}{\left(z \right)}" in tanh
    assert r"\left(e^{z} + e^{- z}\right)^{2}" not in tanh          # the raw exponential quotient
    relu = _tex("2-3-1", activation="relu,linear")
    assert "Here $H$ is the unit step" in relu and "$H(0) = 0$" in relu
    assert "H\\left(z\\right) \\\\\n&= H\\left(z\\right)" not in relu
