"""Derived rules against oracles that share nothing with the engine, and the seeds' own rules."""
import importlib
import random

import pytest
import sympy as sp
from corpus import ELEMENTWISE, GAUSS, LOSS_NAMES, PLAIN_ACTIVATIONS, PLAIN_LOSSES, PSEUDO_HUBER
from hypothesis import example, given
from hypothesis import strategies as st

from symbp import Network, SelfCheckError, derive
from symbp.activations import get_activation
from symbp.losses import get_loss
from symbp.printing import latex_names

# -- an independent oracle: the loss written from scratch with plain SymPy functions ------------

PLAIN = {
    "sigmoid": lambda v: 1 / (1 + sp.exp(-v)),
    "tanh": lambda v: (sp.exp(v) - sp.exp(-v)) / (sp.exp(v) + sp.exp(-v)),
    "linear": lambda v: v,
    "relu": lambda v: sp.Max(0, v),
    "softplus": lambda v: sp.log(1 + sp.exp(v)),
    "elu": lambda v: sp.Piecewise((v, v > 0), (sp.exp(v) - 1, True)),
    "leaky_relu": lambda v: sp.Max(v, v / 100),
    "silu": lambda v: v / (1 + sp.exp(-v)),
    "gelu": lambda v: v * (1 + sp.erf(v / sp.sqrt(2))) / 2,
    "softsign": lambda v: v / (1 + sp.Abs(v)),
    **PLAIN_ACTIVATIONS,
}


def test_the_oracle_knows_every_registry_row():
    """A new activation must get its textbook definition here, or the corpus below misses it."""
    assert set(ELEMENTWISE) <= set(PLAIN) and GAUSS in ELEMENTWISE


def plain_loss(net, N):
    """E of one sample, from the textbook definitions; symbols looked up by canonical name."""
    S = lambda name: sp.Symbol(name, real=True)
    ys = [S(f"x{k}") for k in range(1, net.layers[0] + 1)]
    for l in range(1, len(net.layers)):
        sign = 1 if net.spec.bias_sign == "+" else -1
        vs = [sum(S(f"w{l}_{j}_{k}") * ys[k - 1] for k in range(1, len(ys) + 1))
              + (sign * S(f"b{l}_{j}") if net.bias else 0) for j in range(1, net.layers[l] + 1)]
        act = net.spec.activations[l - 1]
        if act == "softmax":
            ys = [sp.exp(v) / sum(sp.exp(u) for u in vs) for v in vs]
        else:
            ys = [PLAIN[act](v) for v in vs]
    ts = [S(f"{net.profile.target}{j}") for j in range(1, len(ys) + 1)]
    pairs = list(zip(ys, ts))
    return {
        "half_sse": sum((t - y) ** 2 for y, t in pairs) / 2,
        "sse": sum((t - y) ** 2 for y, t in pairs),
        "mse": sum((y - t) ** 2 for y, t in pairs) / N,
        "bce": -sum(t * sp.log(y) + (1 - t) * sp.log(1 - y) for y, t in pairs),
        "ce": -sum(t * sp.log(y) for y, t in pairs),
        **{name: sum(term(y, t) for y, t in pairs) for name, term in PLAIN_LOSSES.items()},
    }[net.spec.loss]


def random_point(net, rng):
    point = {s: sp.Float(rng.uniform(-1, 1), 30) for s in net.x + net.params()}
    raw = [rng.uniform(0.1, 0.9) for _ in net.t]
    if net.spec.loss == "ce":
        raw = [r / sum(raw) for r in raw]
    point.update({t: sp.Float(r, 30) for t, r in zip(net.t, raw)})
    if net.spec.loss == "ce":   # exactly a distribution, as the softmax + ce rule assumes
        point[net.t[-1]] = 1 - sum(point[t] for t in net.t[:-1])
    return point


def assert_matches_oracle(net, points=2):
    d = derive(net)
    N = sp.Symbol("N", integer=True, positive=True)
    E = plain_loss(net, N)
    rng = random.Random(7)
    for _ in range(points):
        point = random_point(net, rng)
        point[N] = 3
        for name, rule in d.params.items():
            truth = sp.diff(E, sp.Symbol(name, real=True)).xreplace(point).evalf(30)
            ours = d.explicit(rule.gradient).xreplace({net.batch: 3}).xreplace(point).evalf(30)
            assert abs(truth - ours) < 1e-20 * (1 + abs(truth)), name


# -- property tests over random architectures -------------------------------------------------

@st.composite
def networks(draw):
    hidden = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    layers = [n_in, *hidden, n_out]
    acts = [draw(st.sampled_from(ELEMENTWISE)) for _ in hidden]     # the corpus: the registry and formula rows
    loss = draw(st.sampled_from(LOSS_NAMES))
    out = get_loss(loss).needs or draw(st.sampled_from(ELEMENTWISE))
    if not get_activation(out).elementwise and n_out == 1:   # a softmax over one unit is constant
        layers[-1] = 2
    if sum(a * (b + 1) for a, b in zip(layers[1:], layers)) > 24:  # keep the symbolic oracle quick
        layers = [min(w, 2) for w in layers]
        if not get_activation(out).elementwise:
            layers[-1] = 2
    return Network.from_string("-".join(map(str, layers)), activation=",".join(acts + [out]), loss=loss,
                               bias=draw(st.booleans()), bias_sign=draw(st.sampled_from("+-")),
                               notation=draw(st.sampled_from(["haykin", "ont", "mitchell", "nielsen"])))


@given(networks())
@example(Network.from_string("1-2-2", activation=f"{GAUSS},tanh", loss=PSEUDO_HUBER, notation="ont"))
@example(Network.from_string("2-1-1", activation=f"softsign,{GAUSS}", loss="sse", bias_sign="-"))
def test_every_gradient_equals_diff_of_the_loss(net):
    assert_matches_oracle(net, points=1)


@pytest.mark.parametrize("layers,kw", [
    ("2-3-1", dict(activation="sigmoid,linear")),
    ("2-2-1", dict(activation="sigmoid", loss="sse", bias_sign="-", notation="ont")),
    ("3-2-2-2", dict(activation="tanh,tanh,linear", notation="mitchell")),
    ("3-4-3", dict(activation="relu,softmax", loss="ce", notation="nielsen")),
    ("2-2-2", dict(activation="softplus,sigmoid", loss="bce", bias=False)),
])
def test_issue_networks(layers, kw):
    assert_matches_oracle(Network.from_string(layers, **kw))


def test_delta_sign_follows_profile_updates_do_not():
    h = derive(Network.from_string("2-2-1", activation="sigmoid", notation="haykin"))
    o = derive(Network.from_string("2-2-1", activation="sigmoid", notation="ont"))
    rename = {sp.Symbol(a, real=True): sp.Symbol(b, real=True)
              for a, b in [("v2_1", "n2_1"), ("y2_1", "o2_1"), ("y1_1", "o1_1"), ("y1_2", "o1_2"), ("d1", "t1")]}
    for name in h.params:
        assert sp.expand(h.explicit(h.params[name].update).xreplace(rename) - o.explicit(o.params[name].update)) == 0
    dh, do = h.deltas[h.net.delta[2][0]], o.deltas[o.net.delta[2][0]]
    assert sp.expand(h.unrolled(dh.value).xreplace(rename) + o.unrolled(do.value)) == 0


# -- the seeds' own rules ------------------------------------------------------------------------

def S(name):
    return sp.Symbol(name, real=True)


def test_seed_003_per_weight_updates():
    """Seed 003: w_11(n+1) = w_11 + eta (d - y) w_41 f(v_1)(1 - f(v_1)) x_1, and so on."""
    from symbp import builtin_spec
    d = derive(Network(builtin_spec()))
    eta, dd, y = d.net.eta, S("d1"), S("y2_1")
    names = latex_names(d.net)
    for i in (1, 2, 3):
        yh = S(f"y1_{i}")
        assert sp.expand(d.quantity(f"w2_1_{i}", "new", "unrolled") - (S(f"w2_1_{i}") + eta * (dd - y) * yh)) == 0
        assert names[S(f"w2_1_{i}")] == f"w_{{4{i}}}"
        for k in (1, 2):
            seed = S(f"w1_{i}_{k}") + eta * (dd - y) * S(f"w2_1_{i}") * yh * (1 - yh) * S(f"x{k}")
            assert sp.expand(d.quantity(f"w1_{i}_{k}", "new", "unrolled") - seed) == 0
            assert names[S(f"w1_{i}_{k}")] == f"w_{{{i}{k}}}"
        seed_b = S(f"b1_{i}") + eta * (dd - y) * S(f"w2_1_{i}") * yh * (1 - yh)
        assert sp.expand(d.quantity(f"b1_{i}", "new", "unrolled") - seed_b) == 0
    assert sp.expand(d.quantity("b2_1", "new", "unrolled") - (S("b2_1") + eta * (dd - y))) == 0
    assert names[S("b2_1")] == "b_{4}"


def test_seed_002_deltas():
    """Seed 002: delta_j = e_j phi'(v_j) at the output; phi'(v_j) sum_k delta_k w_kj when hidden."""
    d = derive(Network.from_string("2-2-2", activation="tanh,sigmoid"))
    for j in (1, 2):
        y = S(f"y2_{j}")
        assert sp.expand(d.deltas[S(f"delta2_{j}")].value - S(f"e{j}") * y * (1 - y)) == 0
        yh = S(f"y1_{j}")
        seed = (1 - yh**2) * sum(S(f"delta2_{k}") * S(f"w2_{k}_{j}") for k in (1, 2))
        assert sp.expand(d.deltas[S(f"delta1_{j}")].value - seed) == 0
        assert sp.expand(d.params[f"w2_{j}_1"].update - d.net.eta * S(f"delta2_{j}") * S("y1_1")) == 0


def test_seed_004_conventions_and_its_mistake():
    """Seed 004: n = sum w o - b, E = sum (o - t)^2, delta = dE/dn, Delta w_ij = -eta o_i delta_j,
    Delta b_j = eta delta_j. Its hidden delta (sum_l delta_l w_jl) drops sigma'(n_j): we must not."""
    d = derive(Network.from_string("2-2-1", activation="sigmoid", loss="sse", bias_sign="-", notation="ont"))
    o, t = S("o2_1"), S("t1")
    assert sp.expand(d.deltas[S("delta2_1")].value - 2 * (o - t) * o * (1 - o)) == 0
    assert sp.expand(d.params["w2_1_1"].update + d.net.eta * S("o1_1") * S("delta2_1")) == 0
    assert sp.expand(d.params["b2_1"].update - d.net.eta * S("delta2_1")) == 0
    seed_hidden = S("delta2_1") * S("w2_1_1")
    ours = d.deltas[S("delta1_1")].value
    assert sp.expand(ours - seed_hidden) != 0
    assert sp.expand(ours - seed_hidden * S("o1_1") * (1 - S("o1_1"))) == 0


def test_simplifications_are_shown():
    bce = derive(Network.from_string("2-1", activation="sigmoid", loss="bce"))
    rule = bce.deltas[S("delta1_1")]
    assert rule.simplification and sp.expand(rule.value - (S("d1") - S("y1_1"))) == 0
    ce = derive(Network.from_string("2-3", activation="softmax", loss="ce", notation="nielsen"))
    rule = ce.deltas[S("delta1_2")]
    assert "sum to 1" in rule.simplification and sp.expand(rule.value - (S("a1_2") - S("y2"))) == 0


def test_chain_factors_are_local_derivatives():
    d = derive(Network.from_string("2-2-1", activation="tanh,sigmoid"))
    chain = d.deltas[S("delta2_1")].chain[0]
    assert [f.reason for f in chain] == ["loss", "error", "activation"]
    assert chain[0].value == S("e1") and chain[1].value == -1
    assert sp.simplify(chain[2].value.rewrite(sp.exp) - sp.diff(1 / (1 + sp.exp(-S("v2_1"))), S("v2_1"))) == 0
    hidden = d.deltas[S("delta1_2")].chain[0]
    assert hidden[1].value == S("w2_1_2") and hidden[2].result == 1 - S("y1_2") ** 2


def test_matrix_and_index_forms_exist_and_are_checked():
    d = derive(Network.from_string("3-4-4-2", activation="tanh,tanh,linear", notation="mitchell"))
    assert [m.layer for m in d.matrix] == [3, 2, 1]
    assert set(d.index.hidden) == {1, 2}


def sabotage(monkeypatch, pick, transform):
    """derive() with the parameter rules for which pick(name) holds replaced by transform(rule)."""
    dm = importlib.import_module("symbp.derive")   # the module; symbp.derive is the function
    real = dm._param_rule_factory

    def factory(net):
        make = real(net)

        def broken(name):
            r = make(name)
            return r.__class__(**{**r.__dict__, "gradient": transform(r.gradient)}) if pick(name) else r
        return broken
    monkeypatch.setattr(dm, "_param_rule_factory", factory)
    return dm


def test_self_check_catches_a_wrong_rule(monkeypatch):
    dm = sabotage(monkeypatch, lambda n: n == "w1_1_1", lambda g: 2 * g)
    with pytest.raises(SelfCheckError):
        dm.derive(Network.from_string("2-2-1"))


def test_large_network_numeric_check_catches_a_wrong_rule(monkeypatch):
    dm = sabotage(monkeypatch, lambda n: n == "b1_8", lambda g: g * 1.0001)
    with pytest.raises(SelfCheckError, match="b1_8"):
        dm.derive(Network.from_string("6-8-4"))


def test_numeric_check_catches_a_wrong_matrix_form():
    # Above 400 parameters the matrix form is not expanded entry by entry; the numeric
    # self-check evaluates every entry of it (the code export prints) against sympy.diff.
    import dataclasses

    from symbp.selfcheck import self_check
    d = derive(Network.from_string("10-30-5", activation="tanh,sigmoid", loss="bce"), check=False)
    layers = list(d.matrix)
    layers[-1] = dataclasses.replace(layers[-1], grad_W=2 * layers[-1].grad_W)
    d.__dict__["matrix"] = layers
    with pytest.raises(SelfCheckError, match="matrix form"):
        self_check(d)


def test_numeric_check_samples_the_unit_rules_of_a_wide_network(monkeypatch):
    import symbp.selfcheck as sc
    monkeypatch.setattr(sc, "UNIT_RULES_MAX", 50)
    monkeypatch.setattr(sc, "UNIT_RULES_SAMPLE", 20)
    report = derive(Network.from_string("6-8-4")).check
    assert report.total == 92 and 20 < report.checked <= 28       # 20 at random, and 8 edge parameters
    assert f"{report.checked} of the 92 rules (at random, and each layer's first and last)" in str(report)


def test_a_number_common_to_a_sums_terms_comes_out_in_front():
    """ont's sse: delta = dE/dn = 2 o (1 - o)(o - t), as a person writes it, not o (1 - o)(2 o - 2 t)."""
    d = derive("2-2-1", activation="sigmoid", loss="sse", notation="ont")
    o, t = sp.Symbol("o2_1", real=True), sp.Symbol("t1", real=True)
    assert d.deltas[d.net.delta[2][0]].value == 2 * o * (1 - o) * (o - t)     # the same tree, by hand
