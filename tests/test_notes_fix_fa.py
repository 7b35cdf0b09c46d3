"""The four equations and the activations' derivatives claim only what holds for every layer they speak of:
hidden layers with different slopes (different activations, or a shortcut that adds to y) get phi'(v_j), each
layer's slope listed; a layer a shortcut reaches has its slope in v, since its y is not phi(v) there."""
from __future__ import annotations

import pytest
import sympy as sp

from symbp import Network, derive
from symbp import indexform as ix
from symbp.notes import _Tex, notes_context, render_tex

v, y, ys = sp.symbols("v y y_s", real=True)
# each activation and its slope in its own output, worked by hand; checked against sympy.diff below
FUNCTIONS = {"tanh": sp.tanh(v), "sigmoid": 1 / (1 + sp.exp(-v)), "linear": v}
SLOPE_IN_Y = {"tanh": 1 - y ** 2, "sigmoid": y * (1 - y), "linear": sp.Integer(1)}

GRAPH = dict(layers="3-4-4-4-2", activation="tanh,sigmoid,tanh,linear", skip="0:2", residual="1:3")
MIXED = {
    "graph": GRAPH,
    "chain": dict(layers="3-4-4-2", activation="tanh,sigmoid,linear"),
    "ont": dict(layers="2-3-3-1", activation="sigmoid,tanh,linear", notation="ont", bias_sign="-"),
    "mitchell": dict(layers="2-3-3-1", activation="sigmoid,linear,sigmoid", notation="mitchell"),
    # one activation, but the shortcut makes layer 3's y = tanh(v) + y(1): its slope is not 1 - y^2
    "shortcut": dict(layers="2-2-2-2-1", activation="tanh,tanh,tanh,linear", residual="1:3"),
    "linear": dict(layers="2-2-2-2-1", activation="sigmoid,tanh,linear,linear", residual="1:3"),
}


def _context(args: dict):
    args = dict(args)
    net = Network.from_string(args.pop("layers"), **args)
    return net, notes_context(derive(net, check=False))


def test_hand_slopes_are_sympys_derivatives():
    for name, f in FUNCTIONS.items():
        assert sp.simplify(SLOPE_IN_Y[name].subs(y, f) - sp.diff(f, v)) == 0
        # with a shortcut adding y_s, the slope in y is no longer the derivative (linear's constant excepted)
        if name != "linear":
            assert sp.simplify(SLOPE_IN_Y[name].subs(y, f + ys) - sp.diff(f + ys, v)) != 0


@pytest.mark.parametrize("case", sorted(MIXED))
def test_hidden_rule_holds_for_every_hidden_layer(case):
    net, ctx = _context(MIXED[case])
    T, alg = _Tex(net), ctx["algorithm"]
    yj, vj = ix.B["y"][ix.j], ix.B["v"][ix.j]
    phi = ctx["letters"]["phi"]
    hidden_rule = next(e["tex"] for e in alg["four"] if e["where"] == "hidden layer")
    total = sp.Sum(ix.B["delta_next"][ix.m] * ix.B["w_next"][ix.m, ix.j], (ix.m, 1, ix.M))
    assert hidden_rule == rf"{T(ix.B['delta'][ix.j])} = {phi}'\left({T(vj)}\right) {T(total)}"
    assert alg["proof"][-1].endswith(rf"{phi}'\left({T(vj)}\right) {T(total)}")
    assert r"\sigma\left(" not in "".join(alg["proof"])       # no one activation's derivative in the proof
    listed = {}
    for group in alg["slopes"]:
        for layer in map(int, group["layers"].split("~")[1].replace(",", " and").split(" and ")):
            listed[layer] = group
    hidden = [l for l in range(1, net.depth) if l in listed]
    assert hidden == list(range(1, net.depth))
    for l in hidden:
        name = net.activation(l).name
        target = net.graph.is_shortcut_target(l)
        in_v = T(sp.diff(FUNCTIONS[name].subs(v, vj), vj))
        in_y = T(SLOPE_IN_Y[name].subs(y, yj))
        assert listed[l]["activation"] == name
        assert listed[l]["slope"] == (in_v if target and name != "linear" else in_y), l
        assert listed[l]["shortcut"] == (target and name != "linear")     # linear's slope 1 is the same in v
    notes = {a["name"]: [c["layer"] for c in a["shortcuts"]] for a in ctx["activations"]}
    assert notes == {a["name"]: [l for l in range(1, net.depth) if net.activation(l).name == a["name"]
                                 and net.graph.is_shortcut_target(l) and a["name"] != "linear"]
                     for a in ctx["activations"]}


@pytest.mark.parametrize("args", [dict(layers="3-4-4-2", activation="tanh,tanh,linear", notation="mitchell"),
                                  dict(layers="2-3-1", activation="sigmoid")])
def test_one_slope_keeps_its_own_rule(args):
    """Where every hidden layer has the same slope, the rule is written with it, as derived."""
    net, ctx = _context(args)
    T, alg = _Tex(net), ctx["algorithm"]
    yj = ix.B["y"][ix.j]
    name = net.activation(1).name
    total = sp.Sum(ix.B["delta_next"][ix.m] * ix.B["w_next"][ix.m, ix.j], (ix.m, 1, ix.M))
    hidden_rule = next(e["tex"] for e in alg["four"] if e["where"] == "hidden layer")
    assert hidden_rule == f"{T(ix.B['delta'][ix.j])} = {T(SLOPE_IN_Y[name].subs(y, yj) * total)}"
    assert alg["slopes"] == [] and alg["phi_prime"] == ""


def test_activation_section_says_where_y_is_not_phi_of_v():
    net, ctx = _context(GRAPH)
    acts = {a["name"]: a for a in ctx["activations"]}
    assert acts["sigmoid"]["shortcuts"] == [] and acts["linear"]["shortcuts"] == []
    (layer3,) = acts["tanh"]["shortcuts"]
    assert layer3["layer"] == 3 and layer3["sources"] == "layer~1"
    assert layer3["output"] == r"y^{(3)} = \tanh{\left(v^{(3)} \right)} + y^{(1)}"
    assert layer3["slope"] == r"1 - \tanh^{2}{\left(v^{(3)} \right)}"
    tex = render_tex(derive(net, check=False))
    section = tex.split(r"\subsection{Derivatives of the activations}")[1].split(r"\subsection{The loss}")[0]
    assert "In layer~3 an identity shortcut adds the output of layer~1" in section
    assert r"slope is written in the net input: $1 - \tanh^{2}{\left(v^{(3)} \right)}$" in section
    four = tex.split(r"\subsection{The four equations}")[1].split(r"\subsection{Why backpropagation")[0]
    assert r"y^{(l)}_{j} \left(1 - y^{(l)}_{j}\right) \sum" not in four       # the sigmoid's slope for all


def test_chain_activation_section_unchanged():
    _, ctx = _context(dict(layers="3-4-4-2", activation="tanh,tanh,linear"))
    assert all(a.get("shortcuts", []) == [] for a in ctx["activations"])


def test_a_slope_in_v_anyway_needs_no_shortcut_note():
    """relu's slope H(v) is in v with or without the shortcut into its layer: nothing is said about it."""
    _, ctx = _context(dict(layers="3-4-4-4-2", activation="tanh,sigmoid,relu,linear", residual="1:3"))
    (relu,) = [g for g in ctx["algorithm"]["slopes"] if g["activation"] == "relu"]
    assert relu["layers"] == "layer~3" and not relu["shortcut"]
    assert all(a["shortcuts"] == [] for a in ctx["activations"] if a["name"] == "relu")
