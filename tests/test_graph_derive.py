"""Graphs of layers: derived rules against a loss written from scratch, and the self-check's teeth."""
import random

import pytest
import sympy as sp
from corpus import ELEMENTWISE, GAUSS, PLAIN_ACTIVATIONS, PLAIN_LOSSES, PSEUDO_HUBER
from corpus import LOSS_ROWS as LOSSES
from hypothesis import example, given
from hypothesis import strategies as st

from symbp import Network, SelfCheckError, derive
from symbp.selfcheck import self_check
from symbp.spec import SpecError, spec_from_layer_string

# -- an independent oracle: the graph's loss from the textbook definitions, plain SymPy ------------

PLAIN = {
    "sigmoid": lambda v: 1 / (1 + sp.exp(-v)),
    "tanh": sp.tanh,     # SymPy's own, not symbp's
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
PLAIN_LOSS = {
    "half_sse": lambda ys, ts, N: sum((t - y) ** 2 for y, t in zip(ys, ts)) / 2,
    "sse": lambda ys, ts, N: sum((t - y) ** 2 for y, t in zip(ys, ts)),
    "mse": lambda ys, ts, N: sum((y - t) ** 2 for y, t in zip(ys, ts)) / N,
    "bce": lambda ys, ts, N: -sum(t * sp.log(y) + (1 - t) * sp.log(1 - y) for y, t in zip(ys, ts)),
    "ce": lambda ys, ts, N: -sum(t * sp.log(y) for y, t in zip(ys, ts)),
    **{name: lambda ys, ts, N, term=term: sum(term(y, t) for y, t in zip(ys, ts)) for name, term in PLAIN_LOSSES.items()},
}
ORIGINAL = ("sigmoid", "tanh", "linear", "relu", "softplus")


def test_the_oracle_knows_every_registry_row():
    """A new activation or loss must get its textbook definition here, or this corpus misses it."""
    assert set(ELEMENTWISE) <= set(PLAIN)
    assert {lo.name for lo in LOSSES} <= set(PLAIN_LOSS)


def plain_loss(spec, profile_target, N):
    """E of one sample: v(l) = sum over incoming connections W y(s) +/- b, y(l) = phi(v(l)) + y(shortcut)."""
    S = lambda name: sp.Symbol(name, real=True)
    widths, sign = spec.layers, (1 if spec.bias_sign == "+" else -1)
    y = {0: [S(f"x{k}") for k in range(1, widths[0] + 1)]}
    for l in range(1, len(widths)):
        vs = []
        for j in range(1, widths[l] + 1):
            v = sum(S(f"w{l}_{j}_{k}") * y[l - 1][k - 1] for k in range(1, widths[l - 1] + 1))
            for s, dst in spec.skip:
                if dst == l:
                    v += sum(S(f"w{l}_{s}_{j}_{k}") * y[s][k - 1] for k in range(1, widths[s] + 1))
            vs.append(v + (sign * S(f"b{l}_{j}") if spec.bias else 0))
        act = spec.activations[l - 1]
        if act == "softmax":
            out = [sp.exp(v) / sum(sp.exp(u) for u in vs) for v in vs]
        else:
            out = [PLAIN[act](v) for v in vs]
        for s, dst in spec.residual:
            if dst == l:
                out = [o + ys for o, ys in zip(out, y[s])]
        y[l] = out
    ts = [S(f"{profile_target}{j}") for j in range(1, widths[-1] + 1)]
    return PLAIN_LOSS[spec.loss](y[len(widths) - 1], ts, N)


def assert_matches_oracle(net, points=2):
    d = derive(net, check=False)     # the rules alone, against the oracle (the self-check is tested below)
    N = sp.Symbol("N", integer=True, positive=True)
    E = plain_loss(net.spec, net.profile.target, N)
    rng = random.Random(11)
    for _ in range(points):
        point = {s: sp.Float(rng.uniform(-1, 1), 30) for s in net.x + net.params()}
        raw = [rng.uniform(0.1, 0.9) for _ in net.t]
        if net.loss.targets == "distribution":
            raw = [r / sum(raw) for r in raw]
        point.update({t: sp.Float(r, 30) for t, r in zip(net.t, raw)})
        if net.loss.targets == "distribution":
            point[net.t[-1]] = 1 - sum(point[t] for t in net.t[:-1])
        point[N] = 3
        for name, rule in d.params.items():
            p = sp.Symbol(name, real=True)
            # every other symbol at its value first: sympy.diff then works on a small expression in p
            truth = sp.diff(E.xreplace({s: v for s, v in point.items() if s != p}), p).xreplace(point).evalf(30)
            ours = d.explicit(rule.gradient).xreplace({net.batch: 3}).xreplace(point).evalf(30)
            assert abs(truth - ours) < 1e-20 * (1 + abs(truth)), name


@st.composite
def graphs(draw):
    """Depth 2-5, widths 1-3, random skips and residuals (between hidden layers of one width)."""
    depth = draw(st.integers(2, 5))
    loss = draw(st.sampled_from([lo.name for lo in LOSSES]))
    needs = next(lo.needs for lo in LOSSES if lo.name == loss)
    width = draw(st.integers(1, 2))
    layers = [draw(st.integers(1, 2))] + [draw(st.sampled_from([width, width, 1, 3]))
                                          for _ in range(depth - 1)] + [draw(st.integers(1, 2))]
    if needs == "softmax":
        layers[-1] = 2
    # the oracle evaluates sympy.diff of the whole nested loss to 30 digits: nested Piecewise (elu) and erf
    # (gelu) take minutes beyond three layers, so the newer rows are drawn into shallower graphs only
    pool = ELEMENTWISE if depth <= 3 else [a for a in ELEMENTWISE if a in ORIGINAL]
    acts = [draw(st.sampled_from(pool)) for _ in range(depth - 1)]
    acts.append(needs or draw(st.sampled_from(pool)))
    skip_pairs = [(s, l) for l in range(2, depth + 1) for s in range(0, l - 1)]
    skips = draw(st.lists(st.sampled_from(skip_pairs), unique=True, max_size=3)) if skip_pairs else []
    res_pairs = [(s, l) for l in range(2, depth) for s in range(1, l) if layers[s] == layers[l]]
    residuals = draw(st.lists(st.sampled_from(res_pairs), unique=True, max_size=2)) if res_pairs else []
    return Network.from_string("-".join(map(str, layers)), activation=",".join(acts), loss=loss,
                               bias=draw(st.booleans()), bias_sign=draw(st.sampled_from("+-")),
                               notation=draw(st.sampled_from(["haykin", "ont", "mitchell", "nielsen"])),
                               skip=",".join(f"{s}:{l}" for s, l in skips),
                               residual=",".join(f"{s}:{l}" for s, l in residuals))


@given(graphs())
@example(Network.from_string("1-2-2-1", activation=f"{GAUSS},tanh,linear", loss=PSEUDO_HUBER, skip="0:2",
                             residual="1:2", notation="nielsen"))
def test_random_graphs_match_the_plain_sympy_loss(net):
    if net.n_params > 45:   # the oracle differentiates the expanded loss: keep it small
        return
    assert_matches_oracle(net)


@pytest.mark.parametrize("layers, flags", [
    ("2-3-3-1", dict(activation="tanh,tanh,linear", skip="1:3")),
    ("2-2-2-2-2-1", dict(activation="tanh,sigmoid,relu,softplus,linear", skip="0:2,1:4", residual="1:3,2:4")),
    ("2-2-2-2", dict(activation="sigmoid,tanh,softmax", loss="ce", residual="1:2", notation="ont")),
    ("1-1-1-1-1", dict(activation="tanh", residual="1:2,2:3,1:3", bias_sign="-")),   # y1 reaches y3 twice
])
def test_named_graphs_match_the_plain_sympy_loss(layers, flags):
    assert_matches_oracle(Network.from_string(layers, **flags))


def test_a_unit_collects_one_term_from_each_successor():
    """Seed 000: delta of a unit sums over its successors. Layer 1 of 2-3-3-1 --skip 1:3 feeds 2 and 3."""
    net = Network.from_string("2-3-3-1", activation="tanh,tanh,linear", skip="1:3")
    d = derive(net)
    rule = d.deltas[sp.Symbol("delta1_2", real=True)]
    S = lambda n: sp.Symbol(n, real=True)
    # by hand: (1 - y1_2^2) (sum_m delta2_m w2_m_2 + delta3_1 w3_1_1_2)
    by_hand = (1 - S("y1_2") ** 2) * (sum(S(f"delta2_{m}") * S(f"w2_{m}_2") for m in (1, 2, 3))
                                      + S("delta3_1") * S("w3_1_1_2"))
    assert sp.expand(rule.value - by_hand) == 0
    assert len(rule.chain) == 4                     # three units of layer 2, one of layer 3
    assert {f.reason for f in rule.chain[-1]} == {"delta", "net_input", "activation"}


def test_a_shortcut_path_carries_a_factor_one():
    net = Network.from_string("2-2-2-2-1", activation="tanh,sigmoid,tanh,linear", residual="1:3")
    d = derive(net)
    rule = d.deltas[sp.Symbol("delta1_1", real=True)]
    hops = [f for path in rule.chain for f in path if f.reason == "shortcut"]
    assert hops and all(f.value == 1 for f in hops)
    assert {f.wrt.name for f in hops} == {"y1_1"} and {f.of.name for f in hops} == {"y3_1"}
    # y3 = tanh(v3) + y1: tanh' must stay in v3, since 1 - y3^2 is no longer tanh'(v3)
    d3 = d.deltas[sp.Symbol("delta3_1", real=True)].value
    assert sp.Symbol("v3_1", real=True) in d3.free_symbols and sp.Symbol("y3_1", real=True) not in d3.free_symbols


def _drop_last_path(d, layer: int):
    """A sabotaged derivation: each delta of ``layer`` loses its last successor's term."""
    net = d.net
    for sym in net.delta[layer]:
        rule = d.deltas[sym]
        kept = [p for p in rule.chain if p[0].of != rule.chain[-1][0].of]
        value = net.profile.delta_sign * sp.Add(*[sp.Mul(*[f.result for f in p]) for p in kept])
        d.deltas[sym] = type(rule)(**{**rule.__dict__, "value": value})
    d.__dict__.pop("_unrolled_deltas", None)
    d.__dict__.pop("matrix", None)


@pytest.mark.parametrize("layers, flags", [
    ("2-3-3-1", dict(activation="tanh,tanh,linear", skip="1:3")),                  # symbolic check
    ("4-6-6-6-3", dict(activation="tanh,sigmoid,softplus,linear", skip="0:2,1:4", residual="1:3")),  # numeric
])
def test_the_self_check_catches_a_missing_path(layers, flags):
    d = derive(Network.from_string(layers, **flags))
    _drop_last_path(d, 1)
    with pytest.raises(SelfCheckError):
        self_check(d)


def test_a_chain_as_a_graph_is_the_chain():
    chain = derive(Network.from_string("3-4-2", activation="tanh,sigmoid"))
    net = Network.from_string("3-4-2", activation="tanh,sigmoid", skip="", residual="")
    assert net.graph.is_chain and [p.name for p in net.params()] == [p.name for p in chain.net.params()]
    assert derive(net).text() == chain.text()


def test_skip_weights_are_parameters_in_canonical_order():
    net = Network.from_string("2-3-3-1", skip="0:2,1:3,0:3")
    assert net.param_keys() == ["W1", "b1", "W2", "W2_0", "b2", "W3", "W3_0", "W3_1", "b3"]
    # by hand: chain 6 + 9 + 3, skips 6 + 2 + 3, biases 3 + 3 + 1
    assert net.n_params == len(net.params()) == 36
    assert net.positions["w3_1_1_2"] == ("W3_1", 3, (0, 1), 1)


@pytest.mark.parametrize("flags, field", [
    (dict(skip="3:1"), "network.skip[0]"),            # backwards
    (dict(skip="2:2"), "network.skip[0]"),            # onto itself
    (dict(skip="1:2"), "network.skip[0]"),            # that is the chain
    (dict(skip="0:2,0:2"), "network.skip[1]"),        # duplicated
    (dict(skip="0:9"), "network.skip[0]"),            # no such layer
    (dict(residual="0:2"), "network.residual[0]"),    # out of the input
    (dict(residual="1:4"), "network.residual[0]"),    # into the output layer
    (dict(residual="2:3"), "network.residual[0]"),    # widths 3 and 2
    (dict(residual="1:2,1:2"), "network.residual[1]"),
    (dict(skip="0-2"), "skip[0]"),                    # not FROM:TO
])
def test_bad_graphs_name_the_field(flags, field):
    with pytest.raises(SpecError) as err:
        spec_from_layer_string("2-3-3-2-1", **flags)
    assert err.value.field == field


def test_graph_from_toml(tmp_path):
    f = tmp_path / "net.toml"
    f.write_text('[network]\nlayers = [2, 3, 3, 1]\nactivations = ["tanh", "tanh", "linear"]\n'
                 'skip = [[1, 3]]\nresidual = [[1, 2]]\n')
    net = Network.from_file(f)
    assert net.spec.skip == ((1, 3),) and net.spec.residual == ((1, 2),)
    f.write_text('[network]\nlayers = [2, 3, 1]\nskip = [[0, "2"]]\n')
    with pytest.raises(SpecError, match=r"network\.skip\[0\]"):
        Network.from_file(f)
