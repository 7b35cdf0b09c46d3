"""The network figure's geometry, measured numerically (issue 13 review): skip and shortcut arcs run
monotone in x and in y along each piece (no hook), weight labels sit where no other line of the picture
crosses them. Oracles: the Bezier curves re-evaluated here from the printed TikZ path (Bernstein form,
written in the test), points sampled along every drawn segment, and a hand-made layout worked by hand."""
from __future__ import annotations

import re
from math import atan2, cos, hypot, sin

import pytest

from symbp import Network
from symbp import figure as fg
from symbp.notes import _figure, _Tex

NUMBER = r"(-?\d+(?:\.\d+)?), (-?\d+(?:\.\d+)?)"
GRAPHS = {"skip": ("2-3-3-1", dict(activation="tanh,tanh,linear", skip="1:3")),
          "mixed": ("3-4-4-4-4-2", dict(activation="tanh,sigmoid,relu,softplus,softmax", loss="ce",
                                        skip="0:2,1:4", residual="1:3")),
          # a target (2-2-5) or a source (5-2-2-5) column taller than the columns the lane passes under:
          # units below the lane, where a fixed downward exit turned back up (the hook)
          "tall target": ("2-2-5", dict(skip="0:2")),
          "tall ends": ("5-2-2-5", dict(skip="0:3")),
          "wide middle": ("3-2-6-2", dict(skip="0:2,1:3"))}
CHAINS = {"2-3-1": ("2-3-1", {}),
          "ont": ("2-2-1", dict(activation="sigmoid", loss="sse", notation="ont", bias_sign="-")),
          "mitchell": ("3-4-4-2", dict(activation="tanh", notation="mitchell")),
          "nielsen": ("4-5-3", dict(activation="relu,softmax", loss="ce", notation="nielsen")),
          "20-30-5": ("20-30-5", {}),
          "4-6-5-3": ("4-6-5-3", dict(activation="tanh"))}


def figure(case: tuple[str, dict], highlight: bool = True) -> dict:
    net = Network.from_string(case[0], **case[1])
    T = _Tex(net)
    chosen = {net.W[1][0][0]: None, net.W[net.depth][0][0]: None} if highlight else {}
    return _figure(T, chosen)


def pieces(path: str) -> list[list[tuple[float, float]]]:
    """The cubic pieces of a TikZ path 'p .. controls (a) and (b) .. q ...' as [p, a, b, q] each."""
    points = [(float(x), float(y)) for x, y in re.findall(NUMBER, path)]
    assert (len(points) - 1) % 3 == 0, path
    return [points[n:n + 4] for n in range(0, len(points) - 1, 3)]


def bernstein(p: list[tuple[float, float]], t: float) -> tuple[float, float]:
    u = 1 - t
    w = (u ** 3, 3 * t * u ** 2, 3 * t ** 2 * u, t ** 3)
    return sum(wi * q[0] for wi, q in zip(w, p)), sum(wi * q[1] for wi, q in zip(w, p))


def arcs(fig: dict) -> list[str]:
    return [e["path"] for s in fig["graph"]["skips"] for e in s["edges"]] + [r["path"] for r in fig["graph"]["shortcuts"]]


# -- the arcs --------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(GRAPHS))
def test_arcs_are_monotone_in_x_and_in_y_along_each_piece(case):
    """x never runs back along an arc; y never turns back within a piece (a hook would)."""
    for path in arcs(figure(GRAPHS[case])):
        xs = []
        for p in pieces(path):
            curve = [bernstein(p, i / 400) for i in range(401)]
            dy = [b[1] - a[1] for a, b in zip(curve, curve[1:])]
            assert all(d >= -1e-9 for d in dy) or all(d <= 1e-9 for d in dy), (case, p)
            xs += [x for x, _ in curve]
        assert all(b >= a - 1e-9 for a, b in zip(xs, xs[1:])), (case, path)


@pytest.mark.parametrize("case", sorted(GRAPHS))
def test_arcs_are_smooth_where_pieces_meet(case):
    """Where one piece ends and the next begins, both leave in the same direction (no corner)."""
    for path in arcs(figure(GRAPHS[case])):
        ps = pieces(path)
        for a, b in zip(ps, ps[1:]):
            into = atan2(a[3][1] - a[2][1], a[3][0] - a[2][0])
            out = atan2(b[1][1] - b[0][1], b[1][0] - b[0][0])
            assert abs(into - out) < 1e-3, (case, a, b)


@pytest.mark.parametrize("case", sorted(GRAPHS))
def test_arcs_clear_the_units_they_pass(case):
    fig = figure(GRAPHS[case])
    centres = {n["name"]: (n["x"], n["y"]) for n in fig["nodes"] if n["kind"] != "dots"}
    for path in arcs(fig):
        curve = [bernstein(p, i / 100) for p in pieces(path) for i in range(101)]
        ends = {name for name, c in centres.items() for q in (curve[0], curve[-1]) if hypot(q[0] - c[0], q[1] - c[1]) < 0.8}
        for name, (cx, cy) in centres.items():
            if name not in ends:
                assert min(hypot(x - cx, y - cy) for x, y in curve) > fg.UNIT_RADIUS, (case, name)


def test_a_unit_below_the_lane_climbs_to_it():
    """Hand-made: the source sits 1 cm below the lane; the arc leaves upwards, its controls in order."""
    src, dst = fg.Disc("s", 0.0, -3.0), fg.Disc("d", 6.0, 0.0)
    a = fg.arc(src, dst, lane=-2.0, level=(2.0, 4.0), below=True, angle=35.0)
    assert a.start[1] > -3.0                       # leaves through the upper half of the unit
    p = [a.start, a.segments[0].c1, a.segments[0].c2, a.segments[0].end]
    assert [q[1] for q in p] == sorted(q[1] for q in p) and [q[0] for q in p] == sorted(q[0] for q in p)


# -- the weight labels --------------------------------------------------------------------------------

LABEL = (0.6, 0.42)     # cm: this test's own guess of a \scriptsize w^{(l)}_{jk} with its inner sep


def drawn_segments(fig: dict) -> list[tuple[tuple[float, float], tuple[float, float], str]]:
    """Every straight line of the picture, border to border (units r = 0.45, bias boxes taken as r = 0.2)."""
    where = {n["name"]: (n["x"], n["y"], 0.45 if n["kind"] != "dots" else 0.3) for n in fig["nodes"]}
    where.update({b["name"]: (b["x"], b["y"], 0.2) for b in fig["biases"]})
    out = []
    for e in fig["edges"]:
        (ax, ay, ar), (bx, by, br) = where[e["src"]], where[e["dst"]]
        angle = atan2(by - ay, bx - ax)
        out.append(((ax + ar * cos(angle), ay + ar * sin(angle)), (bx - br * cos(angle), by - br * sin(angle)),
                    e["src"] + ">" + e["dst"]))
    for o in fig["outputs"]:
        x, y, r = where[o["src"]]
        out.append(((x + r, y), (x + 1.2, y), o["src"] + ">out"))
    for path in arcs(fig) if fig["graph"] else []:
        curve = [bernstein(p, i / 40) for p in pieces(path) for i in range(41)]
        out += [(a, b, "arc") for a, b in zip(curve, curve[1:])]
    return out


def inside(box: tuple, point: tuple[float, float]) -> bool:
    (px, py), (ux, uy), (w, h) = box
    dx, dy = point[0] - px, point[1] - py
    along, up = dx * ux + dy * uy, -dx * uy + dy * ux
    return abs(along) <= w / 2 and 0 <= up <= h


@pytest.mark.parametrize("case", sorted(CHAINS) + sorted(GRAPHS))
def test_weight_labels_are_crossed_by_no_other_line(case):
    fig = figure({**CHAINS, **GRAPHS}[case])
    segments = drawn_segments(fig)
    thick = [e for e in fig["edges"] if e["thick"]]
    assert len(thick) == 2
    for e in thick:
        (a, b, name) = next(s for s in segments if s[2] == e["src"] + ">" + e["dst"])
        length = hypot(b[0] - a[0], b[1] - a[1])
        u = ((b[0] - a[0]) / length, (b[1] - a[1]) / length)
        anchor = (a[0] + e["pos"] * (b[0] - a[0]), a[1] + e["pos"] * (b[1] - a[1]))
        box = (anchor, u, LABEL)
        for p, q, other in segments:
            if other == name:
                continue
            hits = [inside(box, (p[0] + i / 60 * (q[0] - p[0]), p[1] + i / 60 * (q[1] - p[1]))) for i in range(61)]
            assert not any(hits), (case, e["label"], other)


def test_label_spot_by_hand():
    """Edge (0,0)-(4,0), a line crossing it at x = 2: the middle (t = 0.5, box x in [1.7, 2.3]) is crossed,
    t = 0.4 (box x in [1.3, 1.9]) is not. A line above the whole edge at y = 0.3 blocks every spot."""
    edge = ((0.0, 0.0), (4.0, 0.0))
    across = [((2.0, -1.0), (2.0, 1.0))]
    assert fg.label_spot(edge, across, [], (0.6, 0.5)).t == 0.4
    assert fg.label_spot(edge, [((-1.0, 0.3), (5.0, 0.3))], [], (0.6, 0.5)) is None
    # below the edge does not count: the label is set above it
    assert fg.label_spot(edge, [((-1.0, -0.3), (5.0, -0.3))], [], (0.6, 0.5)).t == 0.5
    # a node at (2, 0.9), r = 0.45: the boxes at t = 0.5, 0.4, 0.6 come within sqrt(0.1^2 + 0.4^2) = 0.41 of
    # its centre; at t = 0.3 (x in [0.9, 1.5]) the nearest corner is sqrt(0.5^2 + 0.4^2) = 0.64 away
    assert fg.label_spot(edge, [], [fg.Disc("n", 2.0, 0.9, 0.45)], (0.6, 0.5)).t == 0.3


def test_labelled_edges_are_drawn_last():
    """A white-backed label lies over every other line only if its edge comes after them."""
    edges = figure(CHAINS["2-3-1"])["edges"]
    assert [e["thick"] for e in edges][-2:] == [True, True] and not any(e["thick"] for e in edges[:-2])
