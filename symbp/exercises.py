"""Exercises: a lecturer's ranges -> one checked network per student (seeded by the id) -> questions and their key.

The ranges are a TOML file (see README, "Exercises and grading"). Each student's variant is drawn
from a stream of sha256 digests of (seed, student id, counter), so it is the same on every machine
and Python version, and it is redrawn until no unit sits near a kink, no unit is saturated and no
gradient or local gradient is too small to survive a hand calculation.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from .activations import Activation, derivative, get_activation
from .compile import CompiledNetwork, compile_network
from .derive import Derivation, derive
from .errors import SpecError
from .example import example_params
from .files import MAX_SPEC_BYTES, read_text
from .losses import get_loss, loss_names
from .network import Network
from .notation import NUMBERINGS, profile_names
from .spec import Spec, spec_from_dict
from .texchars import untypesettable

TOP_KEYS = ("title", "seed", "tolerance", "digits", "min_gradient", "max_tries", "network", "numbers", "question")
NETWORK_KEYS = ("layers", "activations", "losses", "notations", "numberings", "bias", "bias_sign")
NUMBER_KEYS = ("inputs", "weights", "biases", "targets", "learning_rate", "decimals")
QUESTION_KEYS = ("param", "quantity", "answer", "points")
ANSWER_KINDS = ("number", "formula")
QUANTITIES = ("gradient", "update", "new", "delta")
# what a question's param may name instead of one canonical name: drawn per student
ROLES = {"output_weight": "weight", "hidden_weight": "weight", "output_bias": "bias", "hidden_bias": "bias",
         "output_unit": "unit", "hidden_unit": "unit"}
MAX_WIDTH = 6             # a sheet is worked by hand
MAX_LAYERS = 5
KINK_MARGIN = 0.1         # |v - kink| below this: the unit is on the kink, for a hand calculation
SATURATION = 0.07         # phi'(v) / phi'(0) below this is saturated (sigmoid: |v| > 4.0, tanh: |v| > 2.0)
UPDATE_MARGIN = 2.0       # a "new" answer must move p by this many tolerances, or "forgot the update" passes
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")   # also a file name: no '/' or leading '.'

Range = tuple[float, float]


@dataclass(frozen=True)
class Question:
    """One question of the sheet: a quantity of a parameter (or a role drawn per student), number or formula."""

    id: str
    param: str
    quantity: str
    answer: str
    points: float = 1.0


@dataclass(frozen=True)
class ExerciseSpec:
    """A lecturer's ranges: every variant is drawn from these."""

    title: str
    seed: str
    layers: tuple[tuple[int, int], ...]
    activations: tuple[tuple[str, ...], ...]      # the choices for each computing layer
    losses: tuple[str, ...]
    notations: tuple[str, ...]
    numberings: tuple[str, ...]
    bias: bool
    bias_sign: str
    inputs: Range
    weights: Range
    biases: Range
    targets: Range
    learning_rate: Range
    decimals: int
    questions: tuple[Question, ...]
    tolerance: float = 0.01
    digits: int = 4
    min_gradient: float = 1e-3
    max_tries: int = 500


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""


@dataclass(frozen=True)
class Posed:
    """A question as one student gets it: the canonical name drawn and the key."""

    id: str
    param: str
    quantity: str
    answer: str
    points: float
    value: float | None           # the key of a number question
    formula: sp.Expr | None       # the derived rule (in deltas) of a formula question


@dataclass(frozen=True)
class Variant:
    """One student's network, its numbers, what they give, and the questions with their key."""

    student: Student
    spec: Spec
    network: dict                 # the spec as a TOML-like dict (what grade rebuilds it from)
    values: dict[str, float]      # every net input, output, local gradient, error, gradient, update, new value
    questions: tuple[Posed, ...]
    tries: int                    # draws it took (1: the first was fine)

    @property
    def derivation(self) -> Derivation:
        return _compiled(self.spec).derivation


# -- reading the lecturer's ranges ---------------------------------------------------------------

def load_exercise_spec(path: str | Path) -> ExerciseSpec:
    """A TOML file of ranges -> ExerciseSpec; every problem raises SpecError naming the field."""
    text = read_text(path, "exercise spec", MAX_SPEC_BYTES)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(path), "valid TOML", str(exc)) from None
    return exercise_spec_from_dict(raw)


def exercise_spec_from_dict(raw: dict) -> ExerciseSpec:
    _unknown("", raw, TOP_KEYS)
    net, num = _table("network", raw.get("network")), _table("numbers", raw.get("numbers", {}))
    _unknown("network", net, NETWORK_KEYS)
    _unknown("numbers", num, NUMBER_KEYS)
    layers = _layers(net.get("layers"))
    spec = ExerciseSpec(
        title=_title(raw.get("title", "Backpropagation exercise")),
        seed=_seed(raw.get("seed", 0)),
        layers=layers,
        activations=_activations(net.get("activations", "sigmoid"), len(layers) - 1),
        losses=_names("network.losses", net.get("losses", ["half_sse"]), loss_names()),
        notations=_names("network.notations", net.get("notations", ["haykin"]), profile_names()),
        numberings=_names("network.numberings", net.get("numberings", ["layer"]), list(NUMBERINGS)),
        bias=_bool("network.bias", net.get("bias", True)),
        bias_sign=_names("network.bias_sign", [net.get("bias_sign", "+")], ["+", "-"])[0],
        inputs=_range("numbers.inputs", num.get("inputs", [-1.0, 1.0])),
        weights=_range("numbers.weights", num.get("weights", [-1.0, 1.0])),
        biases=_range("numbers.biases", num.get("biases", [-0.5, 0.5])),
        targets=_range("numbers.targets", num.get("targets", [0.0, 1.0])),
        learning_rate=_range("numbers.learning_rate", num.get("learning_rate", [0.1, 0.9]), positive=True),
        decimals=_integer("numbers.decimals", num.get("decimals", 2), 0, 4),
        questions=_questions(raw.get("question"), len(layers) - 1, net.get("bias", True)),
        tolerance=_positive("tolerance", raw.get("tolerance", 0.01), 0.5),
        digits=_integer("digits", raw.get("digits", 4), 2, 10),
        min_gradient=_positive("min_gradient", raw.get("min_gradient", 1e-3), 1.0),
        max_tries=_integer("max_tries", raw.get("max_tries", 500), 1, 100_000),
    )
    _check_losses(spec)
    return spec


def _unknown(section: str, table: dict, allowed) -> None:
    for key in table:
        if key not in allowed:
            where = f"{section}.{key}" if section else key
            raise SpecError(where, "a known key: one of " + ", ".join(allowed), "unknown key")


def _table(fld: str, value: Any) -> dict:
    if value is None:
        raise SpecError(fld, f"a [{fld}] table", "missing")
    if not isinstance(value, dict):
        raise SpecError(fld, f"a [{fld}] table", value)
    return value


def _title(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 200 or untypesettable(value):
        raise SpecError("title", "at most 200 characters LaTeX can typeset", value)
    return value


def _seed(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SpecError("seed", "a whole number or a string", value)
    return str(value)


def _bool(fld: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecError(fld, "true or false", value)
    return value


def _integer(fld: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SpecError(fld, f"a whole number from {lo} to {hi}", value)
    return value


def _positive(fld: str, value: Any, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= hi:
        raise SpecError(fld, f"a number above 0 and at most {hi:g}", value)
    return float(value)


def _layers(value: Any) -> tuple[tuple[int, int], ...]:
    """[2, [2, 4], [1, 2]]: a width, or [min, max], per layer, input first."""
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_LAYERS:
        raise SpecError("network.layers", f"a list of 2 to {MAX_LAYERS} widths, each a number or [min, max], "
                                          "input first, such as [2, [2, 3], 1]", value)
    out = []
    for i, w in enumerate(value):
        pair = w if isinstance(w, list) else [w, w]
        ok = (len(pair) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
              and 1 <= pair[0] <= pair[1] <= MAX_WIDTH)
        if not ok:
            raise SpecError(f"network.layers[{i}]", f"a width from 1 to {MAX_WIDTH}, or [min, max] with "
                                                    "min <= max", w)
        out.append((pair[0], pair[1]))
    return tuple(out)


def _activations(value: Any, n: int) -> tuple[tuple[str, ...], ...]:
    """One name for all; a list with one entry (a name or a list of choices) per computing layer;
    or a table {hidden = [...], output = [...]}."""
    if isinstance(value, str):
        value = [value] * n
    if isinstance(value, dict):
        _unknown("network.activations", value, ("hidden", "output"))
        hidden, output = value.get("hidden", "sigmoid"), value.get("output", "linear")
        value = [hidden] * (n - 1) + [output]
    if not isinstance(value, list) or len(value) != n:
        raise SpecError("network.activations", f"one name for all, a list of {n} (one per computing layer, each "
                                               "a name or a list of choices), or {hidden = [...], output = [...]}",
                        value)
    out = []
    for i, choices in enumerate(value):
        fld = f"network.activations[{i}]"
        names = _names(fld, choices if isinstance(choices, list) else [choices], None)
        for name in names:
            try:
                act = get_activation(name)
            except KeyError:
                raise SpecError(fld, "activation names (see symbp derive --help)", name) from None
            if act.output_only and i != n - 1:
                raise SpecError(fld, f"an elementwise activation on a hidden layer, not {name}", name)
        out.append(tuple(get_activation(a).name for a in names))
    return tuple(out)


def _names(fld: str, value: Any, allowed: list[str] | None) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SpecError(fld, "a non-empty list of names", value)
    for v in value:
        if allowed is not None and v not in allowed:
            raise SpecError(fld, "names from: " + ", ".join(allowed), v)
    return tuple(dict.fromkeys(value))


def _range(fld: str, value: Any, positive: bool = False) -> Range:
    ok = (isinstance(value, list) and len(value) == 2
          and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and abs(x) <= 100
                  for x in value)
          and value[0] <= value[1] and (not positive or value[0] > 0))
    if not ok:
        what = "above 0" if positive else "of magnitude at most 100"
        raise SpecError(fld, f"[min, max]: two numbers {what} with min <= max", value)
    return float(value[0]), float(value[1])


def _questions(value: Any, depth: int, bias: bool) -> tuple[Question, ...]:
    if not isinstance(value, list) or not value:
        raise SpecError("question", "one or more [[question]] tables (param, quantity, answer, points)", value)
    return tuple(_question(i, q, depth, bias) for i, q in enumerate(value))


def _question(i: int, raw: Any, depth: int, bias: bool) -> Question:
    where = f"question[{i}]"
    if not isinstance(raw, dict):
        raise SpecError(where, "a table with param, quantity, answer", raw)
    _unknown(where, raw, QUESTION_KEYS)
    param, quantity = raw.get("param"), raw.get("quantity", "gradient")
    if quantity not in QUANTITIES:
        raise SpecError(f"{where}.quantity", "one of " + ", ".join(QUANTITIES), quantity)
    if not isinstance(param, str) or not (param in ROLES or re.fullmatch(r"[wb]\d+(_\d+)+|delta\d+_\d+", param)):
        raise SpecError(f"{where}.param", "a role (" + ", ".join(ROLES) + ") or a canonical name such as "
                                          "w2_1_1, b1_2, delta1_1", param)
    unit = param.startswith("delta") or ROLES.get(param) == "unit"
    if unit != (quantity == "delta"):
        raise SpecError(f"{where}.quantity", "delta for a unit (hidden_unit, output_unit, delta1_2), and "
                                             "gradient, update or new for a weight or a bias", quantity)
    if param.startswith("hidden") and depth < 2:
        raise SpecError(f"{where}.param", "a role the network has: it has no hidden layer", param)
    if (ROLES.get(param) == "bias" or param.startswith("b")) and not bias:
        raise SpecError(f"{where}.param", "a weight or a unit: network.bias is false", param)
    answer = raw.get("answer", "number")
    if answer not in ANSWER_KINDS:
        raise SpecError(f"{where}.answer", "number or formula", answer)
    points = raw.get("points", 1)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 < points <= 100:
        raise SpecError(f"{where}.points", "a number above 0 and at most 100", points)
    return Question(f"q{i + 1}", param, quantity, answer, float(points))


def _check_losses(spec: ExerciseSpec) -> None:
    """Every output activation that may be drawn has a loss among the choices, and targets fit the losses."""
    for out in spec.activations[-1]:
        if not _losses_for(spec, out):
            raise SpecError("network.losses", f"at least one loss that fits the output activation {out} "
                                              "(bce needs sigmoid, ce needs softmax, softmax needs ce)",
                            list(spec.losses))
    if any(get_loss(lo).targets == "probability" for lo in spec.losses) and not (
            0 <= spec.targets[0] and spec.targets[1] <= 1):
        raise SpecError("numbers.targets", "a range inside [0, 1] (bce's targets are probabilities)",
                        list(spec.targets))


def _losses_for(spec: ExerciseSpec, out: str) -> tuple[str, ...]:
    act = get_activation(out)
    fits = []
    for name in spec.losses:
        loss = get_loss(name)
        if (loss.needs is None or loss.needs == out) and (act.elementwise or loss.needs == out):
            fits.append(name)
    return tuple(fits)


# -- the roster ----------------------------------------------------------------------------------

def load_roster(path: str | Path) -> list[Student]:
    """A CSV with a header naming at least an ``id`` column (and optionally ``name``)."""
    text = read_text(path, "roster", MAX_SPEC_BYTES).removeprefix("\ufeff")   # a spreadsheet's byte-order mark
    first = text.partition("\n")[0]
    # a spreadsheet in a comma-decimal locale writes ';' between columns
    rows = list(csv.reader(io.StringIO(text), delimiter=";" if first.count(";") > first.count(",") else ","))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "id" not in header:
        raise SpecError(f"{path}: header", "a first row naming the columns, with an id column (and name)",
                        rows[0] if rows else "an empty file")
    i, n = header.index("id"), header.index("name") if "name" in header else None
    students, seen = [], set()
    for row_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        sid = row[i].strip() if i < len(row) else ""
        if not STUDENT_ID.fullmatch(sid):
            raise SpecError(f"{path}: row {row_no}: id", "1 to 64 letters, digits, '.', '_' or '-' (it names "
                                                         "the student's files), starting with a letter or digit",
                            sid)
        if sid in seen:
            raise SpecError(f"{path}: row {row_no}: id", "each id once", sid)
        name = row[n].strip() if n is not None and n < len(row) else ""
        if untypesettable(name) or len(name) > 200:
            raise SpecError(f"{path}: row {row_no}: name", "at most 200 characters LaTeX can typeset", name)
        seen.add(sid)
        students.append(Student(sid, name))
    if not students:
        raise SpecError(f"{path}", "at least one student row below the header", "none")
    return students


# -- drawing ------------------------------------------------------------------------------------

class Draw:
    """Uniform numbers from sha256(seed, id, counter): the same stream on every machine and Python."""

    def __init__(self, *key: str):
        self.key, self.count = "\x00".join(key).encode(), 0

    def unit(self) -> float:
        self.count += 1
        digest = hashlib.sha256(self.key + b"\x00" + str(self.count).encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0 ** 64

    def integer(self, lo: int, hi: int) -> int:
        return lo + min(int(self.unit() * (hi - lo + 1)), hi - lo)

    def choice(self, options):
        return options[self.integer(0, len(options) - 1)]

    def number(self, r: Range, decimals: int) -> float:
        return round(r[0] + (r[1] - r[0]) * self.unit(), decimals) + 0.0     # + 0.0: no -0.0 on a sheet


def draw_variant(spec: ExerciseSpec, student: Student) -> Variant:
    """The student's network: drawn from the ranges, seeded by the id, redrawn while it is degenerate."""
    draw, reason = Draw(spec.seed, student.id), ""
    for attempt in range(1, spec.max_tries + 1):
        network = _draw_network(spec, draw)
        net_spec = spec_from_dict(network)
        questions = [_pose(q, draw, net_spec) for q in spec.questions]
        values = _values(net_spec)
        reason = _degenerate(spec, net_spec, values, questions)
        if reason is None:
            posed = tuple(_key(q, values, net_spec) for q in questions)
            return Variant(student, net_spec, network, values, posed, attempt)
    raise SpecError("network", f"ranges that give student {student.id} a network without degenerate units in "
                               f"{spec.max_tries} draws (max_tries); the last draw had {reason}", None)


def _draw_network(spec: ExerciseSpec, draw: Draw) -> dict:
    widths = [draw.integer(lo, hi) for lo, hi in spec.layers]
    acts = [draw.choice(choices) for choices in spec.activations]
    loss = draw.choice(_losses_for(spec, acts[-1]))
    d = spec.decimals
    weights = [[[draw.number(spec.weights, d) for _ in range(widths[l - 1])] for _ in range(widths[l])]
               for l in range(1, len(widths))]
    network = {"layers": widths, "activations": acts, "loss": loss, "bias": spec.bias, "bias_sign": spec.bias_sign,
               "notation": draw.choice(spec.notations), "numbering": draw.choice(spec.numberings)}
    example = {"inputs": [draw.number(spec.inputs, d) for _ in range(widths[0])],
               "targets": _targets(spec, draw, loss, widths[-1]), "weights": weights,
               "learning_rate": draw.number(spec.learning_rate, d)}
    if spec.bias:
        example["biases"] = [[draw.number(spec.biases, d) for _ in range(w)] for w in widths[1:]]
    return {"title": spec.title, "network": network, "example": example}


def _targets(spec: ExerciseSpec, draw: Draw, loss: str, n: int) -> list[float]:
    if get_loss(loss).targets == "distribution":     # one class, one-hot
        k = draw.integer(0, n - 1)
        return [1.0 if j == k else 0.0 for j in range(n)]
    return [draw.number(spec.targets, spec.decimals) for _ in range(n)]


def _pose(q: Question, draw: Draw, spec: Spec) -> Question:
    """The question with its role replaced by one canonical name of this network."""
    net = _compiled(spec).net
    if q.param not in ROLES:
        known = set(net.positions) | {d.name for l in net.graph.order for d in net.delta[l]}
        if q.param not in known:
            raise SpecError(f"question[{int(q.id[1:]) - 1}].param",
                            f"a name every drawn network has ({q.param} is not in {net.name}; use a role such as "
                            "hidden_weight)", q.param)
        return q
    out = q.param.startswith("output")
    layers = [l for l in net.graph.order if (l == net.depth) == out]
    kind = ROLES[q.param]
    if kind == "unit":
        names = [d.name for l in layers for d in net.delta[l]]
    else:
        names = [n for n, p in net.positions.items() if p.layer in layers and p.is_weight == (kind == "weight")]
    return Question(q.id, draw.choice(names), q.quantity, q.answer, q.points)


def _fields(spec: Spec) -> dict:
    from dataclasses import fields
    return {f.name: getattr(spec, f.name) for f in fields(spec)}


def _structure(spec: Spec) -> Spec:
    return spec.__class__(**{**_fields(spec), "example": None, "title": None})


def _compiled(spec: Spec) -> CompiledNetwork:
    return _compile(_structure(spec))


@lru_cache(maxsize=256)
def _compile(structure: Spec) -> CompiledNetwork:
    # one derivation (with its self-check) per structure; the numbers of each student are evaluated on it
    return compile_network(derive(Network(structure)))


def _values(spec: Spec) -> dict[str, float]:
    """Every unit's v, y, delta (and e), the loss, and per parameter its value, gradient, update and new value."""
    compiled = _compiled(spec)
    net = compiled.net
    ex = spec.example
    params = example_params(net, ex)
    X, T = np.array(ex.inputs, dtype=float), np.array(ex.targets, dtype=float)
    with np.errstate(all="ignore"):
        units = compiled.unit_values(params, X, T)
        grads = compiled.gradients(params, X, T)
        loss = compiled.loss(params, X, T)
    out = {s.name: float(np.asarray(v).reshape(-1)[0]) for s, v in units.items()}
    out["loss"] = loss
    eta = float(ex.learning_rate)
    for name, p in net.positions.items():
        value, g = float(np.asarray(params[p.key])[p.index]), float(np.asarray(grads[p.key])[p.index])
        out.update({f"{name}": value, f"gradient:{name}": g, f"update:{name}": -eta * g,
                    f"new:{name}": value - eta * g})
    return out


@lru_cache(maxsize=32)
def _slope(act: Activation):
    x = sp.Symbol("x", real=True)
    f = sp.lambdify(x, derivative(act, x).rewrite(sp.exp), "math")
    return lambda v: float(f(v)) / float(f(0.0))


def _degenerate(spec: ExerciseSpec, net_spec: Spec, values: dict, questions: list[Question]) -> str | None:
    """Why this draw is no good for a hand calculation, or None."""
    net = _compiled(net_spec).net
    if not all(math.isfinite(v) for v in values.values()):
        return "a value that is not finite"
    for l in net.graph.order:
        act = net.activation(l)
        for v in net.v[l]:
            x = values[v.name]
            if act.kink is not None and abs(x - act.kink) < KINK_MARGIN:
                return f"{v.name} = {x:.3g} within {KINK_MARGIN} of {act.name}'s kink at {act.kink:g}"
            if act.kink is None and act.elementwise and _slope(act)(x) < SATURATION:
                return f"{v.name} = {x:.3g}: {act.name} saturated (slope below {SATURATION} of its slope at 0)"
        for d in net.delta[l]:
            if abs(values[d.name]) < spec.min_gradient:
                return f"{d.name} = {values[d.name]:.2g}, below min_gradient {spec.min_gradient:g} in magnitude"
    for name in net.positions:
        g = values[f"gradient:{name}"]
        if abs(g) < spec.min_gradient:
            return f"dE/d{name} = {g:.2g}, below min_gradient {spec.min_gradient:g} in magnitude"
    for q in questions:
        if q.quantity == "new" and q.answer == "number":
            new, step = values[f"new:{q.param}"], values[f"update:{q.param}"]
            if abs(step) <= UPDATE_MARGIN * spec.tolerance * abs(new):
                return (f"an update of {q.param} ({step:.2g}) within the tolerance of its new value, so an answer "
                        "without the update would pass")
    return None


def _key(q: Question, values: dict, spec: Spec) -> Posed:
    if q.answer == "number":
        value = values[q.param] if q.quantity == "delta" else values[f"{q.quantity}:{q.param}"]
        return Posed(q.id, q.param, q.quantity, q.answer, q.points, value, None)
    d = _compiled(spec).derivation
    return Posed(q.id, q.param, q.quantity, q.answer, q.points, None, d.quantity(q.param, q.quantity))


def draw_class(spec: ExerciseSpec, students: list[Student]) -> list[Variant]:
    return [draw_variant(spec, s) for s in students]
