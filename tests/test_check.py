"""symbp check: derived vs sympy.diff vs the hand-written backprop vs finite differences."""
import importlib
import json
import textwrap

import pytest
import sympy as sp
from corpus import ACTIVATION_ROWS

from symbp import Network, SelfCheckError, derive
from symbp.check import check_table

NETS = [
    ("2-3-1", dict(activation="sigmoid,linear", loss="half_sse")),
    ("2-2-1", dict(activation="sigmoid", loss="sse", bias_sign="-", notation="ont")),
    ("3-4-4-2", dict(activation="tanh,tanh,linear", loss="mse", notation="mitchell")),
    ("4-5-3", dict(activation="relu,softmax", loss="ce", notation="nielsen")),
    ("2-2-2-1", dict(activation="tanh,sigmoid,linear", skip="0:2", residual="1:2", bias_sign="-")),
]


@pytest.mark.parametrize("layers,flags", NETS, ids=[n[0] for n in NETS])
def test_check_table_ok(layers, flags):
    net = Network.from_string(layers, **flags)
    table = check_table(net)
    assert table.ok, table.text()
    assert [r.name for r in table.rows] == [p.name for p in net.params()]
    assert table.sympy_checked and all(r.sympy is not None for r in table.rows)
    data = json.loads(json.dumps(table.to_dict()))
    assert data["ok"] is True and len(data["rows"]) == net.n_params
    assert {"name", "derived", "sympy", "reference", "finite_difference", "max_abs_error", "max_rel_error",
            "verdict"} <= set(data["rows"][0])
    text = table.text()
    assert "FAIL" not in text and all(r.name in text for r in table.rows)


def test_sabotaged_rule_is_flagged(monkeypatch):
    dm = importlib.import_module("symbp.derive")
    real = dm._param_rule_factory

    def factory(net):
        make = real(net)

        def broken(name):   # a factor 2 in one rule
            r = make(name)
            return type(r)(**{**r.__dict__, "gradient": 2 * r.gradient}) if name == "w1_2_1" else r
        return broken
    monkeypatch.setattr(dm, "_param_rule_factory", factory)
    net = Network.from_string("2-3-1", activation="sigmoid,linear", loss="half_sse")
    # The matrix form that the compiled module runs is checked entry by entry against the unit
    # rules: a wrong unit rule cannot even be compiled.
    with pytest.raises(SelfCheckError, match=r"dE/dW1 entry \(2, 1\)"):
        check_table(dm.derive(net, check=False))


def test_sabotaged_delta_sign_is_flagged():
    net = Network.from_string("2-2-1", activation="sigmoid", loss="sse", bias_sign="-", notation="ont")
    d = derive(net, check=False)
    sym = net.delta[2][0]
    rule = d.deltas[sym]
    d.deltas[sym] = type(rule)(**{**rule.__dict__, "value": -rule.value})
    table = check_table(d)
    assert not table.ok and len(table.failures) == net.n_params   # every gradient flows through delta2_1


def test_large_network_skips_sympy():
    net = Network.from_string("6-8-2", activation="tanh,linear", loss="half_sse")
    table = check_table(derive(net, check=False))
    assert table.ok and not table.sympy_checked
    assert all(r.sympy is None for r in table.rows) and table.to_dict()["rows"][0]["sympy"] is None


def test_sabotaged_rule_of_a_wide_network_is_flagged(monkeypatch):
    # Above 400 parameters the matrix form is not expanded entry by entry: the table's own
    # evaluation of every unit rule must catch the wrong one against the other columns.
    dm = importlib.import_module("symbp.derive")
    real = dm._param_rule_factory

    def factory(net):
        make = real(net)

        def broken(name):
            r = make(name)
            return type(r)(**{**r.__dict__, "gradient": -r.gradient}) if name == "w2_3_17" else r
        return broken
    monkeypatch.setattr(dm, "_param_rule_factory", factory)
    net = Network.from_string("10-30-5", activation="tanh,sigmoid", loss="bce")
    assert net.n_params > 400
    table = check_table(dm.derive(net, check=False))
    assert [r.name for r in table.failures] == ["w2_3_17"]
    assert "FAIL" in table.text() and table.to_dict()["ok"] is False


@pytest.mark.parametrize("act", [a for a in ACTIVATION_ROWS if a.elementwise], ids=lambda a: a.name)
def test_kink_is_where_the_derivative_jumps(act):
    """The row's kink (what check leans on to leave a finite difference uncompared) is where SymPy's
    derivative of phi jumps, and only a phi whose derivative has a step has one."""
    z = sp.Symbol("z", real=True)
    slope = sp.diff(act.function(z), z)
    assert slope.has(sp.Heaviside, sp.sign) == (act.kink is not None)
    if act.kink is not None:
        k, h = sp.Float(act.kink), sp.Rational(1, 10**6)
        assert abs(slope.subs(z, k + h) - slope.subs(z, k - h)) > sp.Rational(1, 10)


def test_a_unit_at_its_kink_is_flagged_not_failed(tmp_path):
    """A graph whose relu unit 1 of layer 2 has net input exactly 0 (zero weights on its chain and its
    skip, zero bias): the parameters whose finite difference crosses the kink are shown, not compared."""
    spec = tmp_path / "kink.toml"
    spec.write_text(textwrap.dedent("""
        [network]
        layers = [2, 2, 2, 1]
        activations = ["tanh", "relu", "linear"]
        skip = [[0, 2]]
        residual = [[1, 2]]
        [example]
        inputs = [0.3, -0.7]
        targets = [0.5]
        weights = [[[0.1, -0.2], [0.3, 0.4]], [[0.0, 0.0], [0.7, 0.1]], [[0.0, 0.0], [0.6, -0.5]], [[0.2, -0.4]]]
        biases = [[0.1, -0.1], [0.0, 0.05], [-0.3]]
    """))
    net = Network.from_file(spec)
    table = check_table(net)
    kinked = {r.name for r in table.rows if r.kink}
    below = {p.name for p in net.params() if net.positions[p.name].layer == 1}
    unit1 = {"w2_1_1", "w2_1_2", "w2_0_1_1", "w2_0_1_2", "b2_1"}
    assert kinked == below | unit1
    assert table.ok and all(r.verdict == "ok (kink)" for r in table.rows if r.kink)
    assert any("relu at 0" in note for note in table.notes)
