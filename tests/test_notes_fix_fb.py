"""The general rules' loss line, merged hidden rules and the generic activation letter (issue 13 review)."""
from __future__ import annotations

import random
import re

import pytest
import sympy as sp

from symbp import Network, derive
from symbp.notes import notes_context, render_tex
from symbp.verify.latex import parse_latex_for


def _ctx(layers: str, **flags) -> tuple[Network, dict]:
    net = Network.from_string(layers, **flags)
    return net, notes_context(derive(net, check=False))


def _same(a: sp.Expr, b: sp.Expr, seed: int = 5) -> bool:
    rng = random.Random(seed)
    free = sorted(a.free_symbols | b.free_symbols, key=str)
    for _ in range(3):
        point = {s: sp.Rational(rng.randint(1, 90), 97) for s in free}      # in (0, 1): the logs exist
        if abs(sp.N((a - b).xreplace(point), 30)) > 1e-20:
            return False
    return True


def _read_loss(net: Network, line: str) -> sp.Expr:
    """The displayed loss line, its sum over q written out for the network's own output layer (test-side only)."""
    lhs, rhs = line.split("&=")
    head, body = rhs.split(r"\sum_{q=1}^{Q}")
    body = body.replace("(L)", f"({net.depth})")
    terms = [parse_latex_for(net, re.sub(r"_\{q\}", f"_{{{q}}}", body)) for q in range(1, net.layers[-1] + 1)]
    scale = {"": 1, "-": -1}.get(head.strip()) or parse_latex_for(net, head)
    return scale * sp.Add(*terms)


# Each loss as a lecturer writes it for this network's outputs, in the test; not the program's loss.
def _half_sse(net):
    return sp.Rational(1, 2) * sum((t - y) ** 2 for t, y in zip(net.t, net.y[net.depth]))


def _sse(net):
    return sum((t - y) ** 2 for t, y in zip(net.t, net.y[net.depth]))


def _ce(net):
    return -sum(t * sp.log(y) for t, y in zip(net.t, net.y[net.depth]))


def _bce(net):
    return -sum(t * sp.log(y) + (1 - t) * sp.log(1 - y) for t, y in zip(net.t, net.y[net.depth]))


@pytest.mark.parametrize("layers, flags, loss", [
    ("2-3-2", {}, _half_sse),
    ("2-2-3", {"loss": "sse", "notation": "ont"}, _sse),
    ("3-4-4-2", {"activation": "tanh", "notation": "mitchell"}, _half_sse),
    ("4-5-3", {"activation": "relu,softmax", "loss": "ce", "notation": "nielsen"}, _ce),
    ("2-2-2", {"loss": "bce"}, _bce),
])
def test_the_loss_line_sums_over_the_output_layer(layers, flags, loss):
    net, ctx = _ctx(layers, **flags)
    line = ctx["index"]["loss"].replace("=", "&=", 1)
    assert "M" not in line and r"\sum_{q=1}^{Q}" in line, line    # never l+1's count, never layer l's units
    if net.e:                   # haykin writes the error e_q = d_q - y_q; put it back in the outputs' terms
        read = _read_loss(net, line).xreplace({e: net.error(n + 1) for n, e in enumerate(net.e)})
    else:
        read = _read_loss(net, line)
    assert _same(read, loss(net)), line


def test_the_output_rules_count_the_outputs_and_the_line_has_no_needless_brackets():
    _, ctx = _ctx("2-3-2")
    assert ctx["index"]["loss"] == r"\mathcal{E} = \frac{1}{2} \sum_{q=1}^{Q} e_{q}^{2}"
    _, soft = _ctx("4-5-3", activation="relu,softmax", loss="ce", notation="nielsen")
    general = soft["index"]["output"][0]
    assert r"\left(\sum_{q=1}^{Q} y_{q}\right) a^{(l)}_{j}" in general and "M" not in general


def test_every_count_is_defined_before_its_first_use():
    net = Network.from_string("3-4-4-4-2", activation="tanh,sigmoid,tanh,linear", skip="0:2", residual="1:3")
    tex = render_tex(derive(net, check=False))
    rules = tex[tex.index(r"\subsection{The general rules}"):tex.index(r"\subsection{Matrix form}")]
    for count in ("Q", "M_{3}"):
        assert count in rules
    said = rules.index(r"$m = 1, \dots, M_{h}$")      # h: the offset (n is a sample or a step)
    assert said < rules.index(r"\sum_{m=1}^{M_{3}}") and rules.index("$q = 1, \\dots, Q$") < rules.index(
        r"\sum_{q=1}^{Q}")


def test_hidden_layers_with_one_rule_share_one_line():
    net = Network.from_string("3-4-4-2", activation="tanh", notation="mitchell")
    tex = render_tex(derive(net, check=False))
    assert tex.count(r"\text{hidden layers 1 and 2 (tanh)}") == 1 and "hidden layer 1 (tanh)" not in tex
    # layers 1 and 3 are tanh, 2 sigmoid: alike rules merge, the other stays on its own line
    _, ctx = _ctx("3-4-4-4-2", activation="tanh,sigmoid,tanh,linear")
    assert [(h["label"], h["activation"]) for h in ctx["index"]["hidden"]] == [
        ("hidden layers 1 and 3", "tanh"), ("hidden layer 2", "sigmoid")]
    # a shortcut into layer 3 keeps its slope in v: its rule differs from layer 1's, so nothing merges
    _, graph = _ctx("3-4-4-4-2", activation="tanh,sigmoid,tanh,linear", skip="0:2", residual="1:3")
    assert [h["layers"] for h in graph["index"]["hidden"]] == [[1], [2], [3]]


def test_the_generic_letter_is_the_profiles_and_names_no_single_activation():
    nielsen = render_tex(derive(Network.from_string("4-5-3", activation="relu,softmax", loss="ce",
                                                    notation="nielsen"), check=False))
    assert r"a^{(l)}_{j} = f(z^{(l)}_{j})" in nielsen and r"\varphi" not in nielsen and r"\sigma" not in nielsen
    logistic = render_tex(derive(Network.from_string("2-2-1", notation="nielsen"), check=False))
    assert r"a^{(l)}_{j} = \sigma(z^{(l)}_{j})" in logistic
    graph = render_tex(derive(Network.from_string("3-4-4-4-2", activation="tanh,sigmoid,tanh,linear",
                                                  skip="0:2", residual="1:3"), check=False))
    assert r"\emph{linear}: $z \mapsto z$." in graph and r"\varphi(z) = z" not in graph
