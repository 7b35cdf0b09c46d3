"""Routes of the network figure's skip and shortcut arcs: plain geometry in TikZ centimetres.

The units sit in columns, one per layer. An arc leaves its source at a shallow angle, turns in
the gap after the source column, runs level along a lane below (skip) or above (shortcut) the
columns it passes, and climbs back into its target in the gap before the target column. Its
lane is the first one, on a fixed grid, where every arc of the connection misses every other
node: the same network always gets the same picture, and no arc runs through a unit.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import cos, hypot, radians, sin, sqrt

UNIT_RADIUS = 0.45      # minimum size=9mm
MARGIN = 0.3            # free space between an arc and a node it passes
STEP = 0.15             # how far a lane moves per try
TRIES = 80
SPREAD = 0.1            # the lanes of one bundle: one per source unit, this far apart
BIAS_RADIUS = 0.36      # a bias node (a small rounded box) as an obstacle
OUTPUT_ARROW = 1.2      # the output arrows' length from a unit's centre
LABEL_EM = 0.12         # cm per character of a \scriptsize label, as notes.width counts characters


Point = tuple[float, float]


@dataclass(frozen=True)
class Disc:
    """An obstacle: a node's centre and radius."""

    name: str
    x: float
    y: float
    r: float = UNIT_RADIUS


@dataclass(frozen=True)
class Segment:
    """One cubic Bezier piece: controls c1, c2 and its end point."""

    c1: Point
    c2: Point
    end: Point


@dataclass(frozen=True)
class Arc:
    """A path from ``start`` through its segments; TikZ draws it as given."""

    start: Point
    segments: tuple[Segment, ...]

    def pieces(self, n: int = 32) -> list[tuple[Point, Point]]:
        """The curve as short straight pieces."""
        p = self.points(n)
        return list(zip(p, p[1:]))

    def points(self, n: int = 32) -> list[Point]:
        out, p0 = [], self.start
        for s in self.segments:
            out += bezier(p0, s.c1, s.c2, s.end, n)
            p0 = s.end
        return out


def bezier(p0: Point, p1: Point, p2: Point, p3: Point, n: int = 32) -> list[Point]:
    """Points of a cubic Bezier curve."""
    out = []
    for i in range(n + 1):
        t = i / n
        a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
        out.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return out


def _toward(p: Point, degrees: float, distance: float) -> Point:
    return p[0] + distance * cos(radians(degrees)), p[1] + distance * sin(radians(degrees))


def _segment(p: Point, q: Point, out: float, into: float) -> Segment:
    """A curve from p to q leaving at angle ``out`` and arriving from angle ``into``.

    Each control point lies half the horizontal gap away (and no further up or down than the
    other end), so the turn happens between the two columns, not beside either of them.
    """
    gap, rise = abs(q[0] - p[0]) / 2, abs(q[1] - p[1])

    def reach(angle: float) -> float:     # half the gap across, never past the other end's height
        c, s = abs(cos(radians(angle))), abs(sin(radians(angle)))
        return min(gap / c if c > 1e-9 else rise, rise / s if s > 1e-9 else gap / c)
    d1, d2 = reach(out), reach(into)
    return Segment(_round(_toward(p, out, d1)), _round(_toward(q, into, d2)), _round(q))


def _side(a: float, b: float) -> int:
    """+1 when b lies above a, -1 below, 0 level (within a hair)."""
    return 0 if abs(b - a) < 1e-9 else (1 if b > a else -1)


def arc(src: Disc, dst: Disc, lane: float, level: tuple[float, float], below: bool, angle: float) -> Arc:
    """From src's border to the lane at level[0], along it to level[1], into dst's border.

    Each end leaves (or arrives) on the side of the lane: a unit lower than a skip lane climbs to it
    rather than setting off downwards and turning back (the hook of a fixed downward angle); a unit
    level with the lane leaves flat. With that, every piece's control points run in order between its
    ends, in x and in y, so the curve is monotone in both (see _segment).
    """
    out = _side(src.y, lane) * angle
    into = 180 - _side(dst.y, lane) * angle
    start = _round(_toward((src.x, src.y), out, src.r))
    end = _toward((dst.x, dst.y), into, dst.r)
    w1, w2 = (level[0], lane), (level[1], lane)
    segments = [_segment(start, w1, out, 180)]
    if w2[0] > w1[0]:
        segments.append(_segment(w1, w2, 0, 180))
    segments.append(_segment(w2, end, 0, into))
    return Arc(start, tuple(segments))


def _clear(a: Arc, obstacles: list[Disc], ends: set[str]) -> bool:
    return all(hypot(px - o.x, py - o.y) >= o.r + MARGIN
               for o in obstacles if o.name not in ends for px, py in a.points())


@dataclass(frozen=True)
class Bundle:
    """The arcs of one connection (in the order of ``pairs``) and where its label goes."""

    arcs: tuple[Arc, ...]
    label: Point
    extreme: float          # the lowest (below) or highest (above) point of its arcs


def bundle(pairs: list[tuple[Disc, Disc]], obstacles: list[Disc], level: tuple[float, float], start: float,
           below: bool = True, angle: float = 35.0) -> Bundle:
    """Arcs for every (src, dst) pair, one lane per source unit, the first lanes past ``start`` that are clear."""
    sign = -1 if below else 1
    sources = list(dict.fromkeys(s.name for s, _ in pairs))
    for n in range(TRIES):
        lane = start + sign * n * STEP
        arcs = tuple(arc(s, d, lane + sign * SPREAD * sources.index(s.name), level, below, angle) for s, d in pairs)
        if all(_clear(a, obstacles, {s.name, d.name}) for a, (s, d) in zip(arcs, pairs)):
            ys = [y for a in arcs for _, y in a.points()]
            extreme = min(ys) if below else max(ys)
            label = ((level[0] + level[1]) / 2, extreme + sign * 0.28)
            return Bundle(arcs, _round(label), round(extreme, 3))
    raise ValueError("no clear lane for a connection of the figure")   # the grid is deep: a bug, never silent


# -- where a weight's label goes: on its edge, above it, where nothing else is drawn ----------------

LABEL_SPOTS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78)    # along the edge, nearest the middle first


@dataclass(frozen=True)
class Label:
    """A label's box, set above the line p->q and turned with it (TikZ's ``pos=t, above, sloped``)."""

    p: Point
    q: Point
    t: float
    width: float
    height: float

    def frame(self, a: Point) -> Point:
        """a in the box's frame: along the edge from the label's anchor, and up from it (the left normal)."""
        (px, py), (qx, qy) = self.p, self.q
        length = hypot(qx - px, qy - py)
        ux, uy = (qx - px) / length, (qy - py) / length
        cx, cy = px + self.t * (qx - px), py + self.t * (qy - py)
        return (a[0] - cx) * ux + (a[1] - cy) * uy, -(a[0] - cx) * uy + (a[1] - cy) * ux

    def crosses(self, a: Point, b: Point) -> bool:
        """Whether the segment a-b enters the box (Liang-Barsky clipping in the box's frame)."""
        (ax, ay), (bx, by) = self.frame(a), self.frame(b)
        lo, hi = 0.0, 1.0
        for d, near, far in ((bx - ax, -self.width / 2 - ax, self.width / 2 - ax),
                             (by - ay, -ay, self.height - ay)):
            if abs(d) < 1e-12:
                if near > 0 or far < 0:
                    return False
                continue
            t1, t2 = sorted((near / d, far / d))
            lo, hi = max(lo, t1), min(hi, t2)
            if lo > hi:
                return False
        return True

    def touches(self, disc: Disc) -> bool:
        """Whether a node's disc reaches into the box."""
        x, y = self.frame((disc.x, disc.y))
        dx = max(abs(x) - self.width / 2, 0.0)
        dy = max(-y, y - self.height, 0.0)
        return sqrt(dx * dx + dy * dy) < disc.r


def clipped(a: Disc, b: Disc) -> tuple[Point, Point]:
    """The drawn part of a straight edge between two nodes: from border to border, as TikZ draws it."""
    length = hypot(b.x - a.x, b.y - a.y)
    ux, uy = (b.x - a.x) / length, (b.y - a.y) / length
    return (a.x + a.r * ux, a.y + a.r * uy), (b.x - b.r * ux, b.y - b.r * uy)


def label_spot(edge: tuple[Point, Point], lines: list[tuple[Point, Point]], discs: list[Disc],
               size: tuple[float, float]) -> Label | None:
    """The first of LABEL_SPOTS where a label of ``size`` (width, height) above ``edge`` crosses none of
    ``lines`` (every other drawn segment) and no disc; None when every spot is crossed."""
    for t in LABEL_SPOTS:
        box = Label(edge[0], edge[1], t, *size)
        if not any(box.crosses(a, b) for a, b in lines) and not any(box.touches(d) for d in discs):
            return box
    return None


def _round(p: Point) -> Point:
    return round(p[0], 3) + 0.0, round(p[1], 3) + 0.0


# -- the learning curve: a plot in plain TikZ, every coordinate computed here ----------------------

def nice_step(span: float, ticks: int = 5) -> float:
    """A tick spacing of 1, 2 or 5 times a power of ten, giving about ``ticks`` ticks over ``span``."""
    from math import floor, log10
    raw = span / max(ticks, 1)
    power = 10 ** floor(log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


@dataclass(frozen=True)
class Curve:
    """A polyline in a width x height box (cm), with the ticks of both axes as (position, value); on a
    logarithmic y axis the y tick values are powers of ten's exponents."""

    points: tuple[Point, ...]
    xticks: tuple[tuple[float, float], ...]
    yticks: tuple[tuple[float, float], ...]
    width: float
    height: float
    log: bool = False


LOG_SPAN = 100.0       # a curve falling by more than this factor is drawn on a logarithmic axis


def curve(xs: list[float], ys: list[float], width: float = 10.0, height: float = 5.0, log: bool = False) -> Curve:
    """Data -> TikZ coordinates: x from 0 to its largest value; y from 0 to a tick at or above the largest,
    or (``log`` and a fall by more than LOG_SPAN) between the powers of ten around the data."""
    from math import ceil, floor, log10
    x_top = max(xs) or 1.0
    xstep = nice_step(x_top)
    xticks = tuple((round(n * xstep / x_top * width, 3), round(n * xstep, 10))
                   for n in range(int(x_top // xstep) + 1))
    low = min(y for y in ys if y > 0) if any(y > 0 for y in ys) else 0.0
    if log and low > 0 and max(ys) / low > LOG_SPAN:
        bottom, top = floor(log10(low)), ceil(log10(max(ys)))
        top = max(top, bottom + 1)
        every = max(1, ceil((top - bottom) / 6))
        points = tuple((round(x / x_top * width, 3), round((log10(max(y, low)) - bottom) / (top - bottom) * height, 3))
                       for x, y in zip(xs, ys))
        yticks = tuple((round((e - bottom) / (top - bottom) * height, 3), float(e))
                       for e in range(bottom, top + 1, every))
        return Curve(points, xticks, yticks, width, height, True)
    ystep = nice_step(max(ys) or 1.0)
    y_top = ystep * -(-max(ys) // ystep) or ystep
    points = tuple((round(x / x_top * width, 3), round(y / y_top * height, 3)) for x, y in zip(xs, ys))
    yticks = tuple((round(n * ystep / y_top * height, 3), round(n * ystep, 10))
                   for n in range(int(round(y_top / ystep)) + 1))
    return Curve(points, xticks, yticks, width, height)
