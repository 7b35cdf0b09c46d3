"""Network specs: a TOML file or a layer string with flags -> a validated, frozen Spec."""
from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .activations import PARAMETERS, activation_names, get_activation, parametrised, with_parameters
from .errors import SpecError
from .files import MAX_SPEC_BYTES, STDIN, read_text
from .graph import Graph
from .losses import LOSSES, get_loss, loss_names
from .notation import NUMBERINGS, profile_names
from .texchars import MAX_TITLE, untypesettable

Matrix = tuple[tuple[float, ...], ...]

# [activation.NAME]: a formula of your own, or a built-in activation's parameters (leaky_relu's slope)
TOP_KEYS = ("title", "network", "example", "training", "activation", "loss")
NETWORK_KEYS = ("layers", "activations", "loss", "bias", "bias_sign", "notation", "numbering", "skip", "residual")
EXAMPLE_KEYS = ("inputs", "targets", "weights", "biases", "learning_rate")
TRAINING_KEYS = ("momentum", "weight_decay", "decay_biases", "reduction")
REDUCTIONS = ("sum", "mean")
MAX_WIDTH = 4096
MAX_LAYERS = 64
MAX_VALUE = 1e6            # |x| of every number in [example]
MAX_PARAMS = 2_000_000     # W above this is refused unless forced (--force)
WARN_PARAMS = 250_000      # W above this is slow to derive: a warning on stderr

LIMITS = (f"Limits: at most {MAX_LAYERS} layers of 1 to {MAX_WIDTH:,} units; at most {MAX_PARAMS:,} weights "
          f"and biases (W) without --force, a warning above {WARN_PARAMS:,}; numbers in [example] of magnitude "
          f"at most {MAX_VALUE:g}; a title of at most {MAX_TITLE} characters; spec and answers files of at most "
          f"{MAX_SPEC_BYTES:,} bytes.")


@dataclass(frozen=True)
class Example:
    """Numbers for a worked example: samples are rows; weights[l-1] is W^{(l)}."""

    inputs: Matrix
    targets: Matrix
    weights: tuple[Matrix, ...] | None = None
    biases: Matrix | None = None
    learning_rate: float = 0.5


@dataclass(frozen=True)
class Training:
    """The learning rule: momentum alpha, L2 weight decay lambda (E + lambda/2 sum w^2), the batch reduction.

    ``reduction = "mean"`` multiplies the batch loss by 1/N; a loss that is already a mean (mse)
    keeps its single 1/N, so mean never divides twice.
    """

    momentum: float = 0.0
    weight_decay: float = 0.0
    decay_biases: bool = False
    reduction: str = "sum"

    def __post_init__(self):
        _check_training(self)

    @property
    def plain(self) -> bool:
        """Plain gradient descent on the summed loss (the engine's behaviour before [training])."""
        return self == Training()


def _check_training(t: Training) -> None:
    for key, ok, expected in (("momentum", lambda a: 0 <= a < 1, "a number alpha with 0 <= alpha < 1"),
                              ("weight_decay", lambda a: 0 <= a <= MAX_VALUE,
                               f"a number lambda with 0 <= lambda <= {MAX_VALUE:g}")):
        value = getattr(t, key)
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not ok(value)):
            raise SpecError(f"training.{key}", expected, value)
    if not isinstance(t.decay_biases, bool):
        raise SpecError("training.decay_biases", "true or false", t.decay_biases)
    if t.reduction not in REDUCTIONS:
        raise SpecError("training.reduction", "one of " + ", ".join(repr(a) for a in REDUCTIONS), t.reduction)


@dataclass(frozen=True)
class Spec:
    """A validated network: widths, one activation per computing layer, a loss, a notation."""

    layers: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str = "half_sse"
    bias: bool = True
    bias_sign: str = "+"
    notation: str = "haykin"
    numbering: str = "layer"
    title: str | None = None
    example: Example | None = field(default=None, compare=False)
    skip: tuple[tuple[int, int], ...] = ()        # (s, l): W(l,s) y(s) is added to v(l)
    residual: tuple[tuple[int, int], ...] = ()    # (s, l): y(s) is added to y(l)
    training: Training = field(default_factory=Training)

    def __post_init__(self):
        _check_network(self)
        _check_graph(self)
        object.__setattr__(self, "skip", tuple(sorted(self.skip, key=lambda p: (p[1], p[0]))))
        object.__setattr__(self, "residual", tuple(sorted(self.residual, key=lambda p: (p[1], p[0]))))
        # aliases (logsig, tansig, purelin, ...) are stored under their canonical names
        object.__setattr__(self, "activations", tuple(get_activation(a).name for a in self.activations))
        if self.example is not None:
            _check_example(self, self.example)


# -- checks on a constructed Spec --------------------------------------------------

    @property
    def graph(self) -> Graph:
        """The layers and their connections (a chain unless skip or residual say otherwise)."""
        return Graph(self.layers, self.skip, self.residual)

    @property
    def n_params(self) -> int:
        """W, the number of weights and biases."""
        weights = sum(self.layers[c.dst] * self.layers[c.src] for c in self.graph.weighted)
        return weights + self.bias * sum(self.layers[1:])


def check_budget(spec: Spec, force: bool = False) -> str | None:
    """Refuse W > MAX_PARAMS unless ``force``; above WARN_PARAMS return a warning to print, else None."""
    W = spec.n_params
    if W > MAX_PARAMS and not force:
        raise SpecError("network.layers", f"at most {MAX_PARAMS:,} weights and biases (pass --force, or force=True "
                                          "in Python, to derive a larger network anyway)", f"W = {W:,}")
    if W > WARN_PARAMS:
        return (f"{W:,} weights and biases: deriving, checking and printing take time and memory that grow "
                "with W")
    return None


def _check_network(s: Spec) -> None:
    if len(s.layers) < 2:
        raise SpecError("network.layers", "at least 2 layers (an input and an output layer)", list(s.layers))
    if len(s.layers) > MAX_LAYERS:
        raise SpecError("network.layers", f"at most {MAX_LAYERS} layers", len(s.layers))
    for i, width in enumerate(s.layers):
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_WIDTH:
            raise SpecError(f"network.layers[{i}]", f"a whole number of units from 1 to {MAX_WIDTH}", width)
    if len(s.activations) != len(s.layers) - 1:
        raise SpecError("network.activations",
                        f"one activation per computing layer ({len(s.layers) - 1}), or one name for all",
                        list(s.activations))
    for i, name in enumerate(s.activations):
        act = _activation(f"network.activations[{i}]", name)
        if act.output_only and i != len(s.activations) - 1:
            raise SpecError(f"network.activations[{i}]",
                            f"{name} only on the output layer; a hidden layer needs an elementwise activation", name)
    if not isinstance(s.loss, str):
        raise SpecError("network.loss", "a loss name (a string): one of " + ", ".join(loss_names()), s.loss)
    try:
        loss = get_loss(s.loss)
    except KeyError:
        raise SpecError("network.loss", "one of " + ", ".join(loss_names()) + _did_you_mean(s.loss, loss_names()),
                        s.loss) from None
    out = get_activation(s.activations[-1]).name
    if loss.needs and out != loss.needs:
        raise SpecError("network.loss", f"{s.loss} with a {loss.needs} output layer (the output activation is {out})",
                        s.loss)
    # A layer-wide activation (softmax) is derived only with the loss made for it.
    partners = [lo.name for lo in LOSSES if lo.needs == out]
    if not get_activation(out).elementwise and s.loss not in partners:
        raise SpecError("network.loss", f"{' or '.join(partners)} with a {out} output layer", s.loss)
    _choice("network.bias_sign", s.bias_sign, ("+", "-"))
    _choice("network.notation", s.notation, tuple(profile_names()))
    _choice("network.numbering", s.numbering, NUMBERINGS)
    if not isinstance(s.bias, bool):
        raise SpecError("network.bias", "true or false", s.bias)
    _check_title(s.title)


def _check_title(title: Any) -> None:
    """A string of at most MAX_TITLE characters that LaTeX can typeset (Greek and math symbols are)."""
    if title is None:
        return
    if not isinstance(title, str):
        raise SpecError("title", "a string", title)
    if len(title) > MAX_TITLE:
        raise SpecError("title", f"at most {MAX_TITLE} characters", len(title))
    bad = untypesettable(title)
    if bad:
        raise SpecError("title", f"text LaTeX can typeset (letters, accents, Greek, math symbols), not {bad}",
                        title)


def _check_graph(s: Spec) -> None:
    """Connections run forward, once each; a residual joins hidden layers of equal width."""
    L = len(s.layers) - 1
    for kind in ("skip", "residual"):
        pairs = getattr(s, kind)
        if not isinstance(pairs, tuple):
            raise SpecError(f"network.{kind}", "a list of [from, to] layer pairs such as [[0, 2], [1, 3]]", pairs)
        seen = set()
        for i, pair in enumerate(pairs):
            fld = f"network.{kind}[{i}]"
            if (not isinstance(pair, tuple) or len(pair) != 2
                    or not all(isinstance(x, int) and not isinstance(x, bool) for x in pair)):
                raise SpecError(fld, "a pair [from, to] of layer numbers", pair)
            src, dst = pair
            if not (0 <= src <= L and 0 <= dst <= L):
                raise SpecError(fld, f"layer numbers from 0 (the input) to {L} (the output)", list(pair))
            if src == dst:
                raise SpecError(fld, "a connection between two different layers, not onto itself", list(pair))
            if src > dst:
                raise SpecError(fld, "a connection forward, from a lower layer to a higher one", list(pair))
            if pair in seen:
                raise SpecError(fld, f"each {kind} connection once", list(pair))
            seen.add(pair)
            if kind == "skip" and src == dst - 1:
                raise SpecError(fld, f"a skip over at least one layer (layer {src} already feeds layer {dst})",
                                list(pair))
            if kind == "residual":
                if src == 0:
                    raise SpecError(fld, "a shortcut out of a hidden layer, not out of the input", list(pair))
                if dst == L:
                    raise SpecError(fld, "a shortcut into a hidden layer, not into the output layer", list(pair))
                if s.layers[src] != s.layers[dst]:
                    raise SpecError(fld, f"layers of equal width (layer {src} has {s.layers[src]} units, "
                                         f"layer {dst} has {s.layers[dst]})", list(pair))


def _activation(fld: str, name: Any):
    if not isinstance(name, str):
        raise SpecError(fld, "an activation name (a string): one of " + ", ".join(activation_names()), name)
    try:
        return get_activation(name)
    except KeyError:
        try:
            parametrised(name)
        except ValueError as exc:           # leaky_relu(2): say what the parameter must be
            raise SpecError(fld, str(exc), name) from None
        raise SpecError(fld, "one of " + ", ".join(activation_names()) + _did_you_mean(name, activation_names()),
                        name) from None


def _did_you_mean(name: str, names: Sequence[str]) -> str:
    near = difflib.get_close_matches(name, list(names), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _choice(fld: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise SpecError(fld, "one of " + ", ".join(repr(a) for a in allowed), value)


def _check_example(s: Spec, ex: Example) -> None:
    n_in, n_out = s.layers[0], s.layers[-1]
    for n, row in enumerate(ex.inputs):
        if len(row) != n_in:
            raise SpecError(f"example.inputs[{n}]", f"{n_in} numbers (the input layer's width)", len(row))
    if len(ex.targets) != len(ex.inputs):
        raise SpecError("example.targets", f"one target vector per sample ({len(ex.inputs)})", len(ex.targets))
    for n, row in enumerate(ex.targets):
        if len(row) != n_out:
            raise SpecError(f"example.targets[{n}]", f"{n_out} numbers (the output layer's width)", len(row))
        loss = get_loss(s.loss)
        if not loss.targets_ok(row):
            expected = {"distribution": "targets that sum to 1 (a distribution over classes)",
                        "probability": "targets between 0 and 1"}[loss.targets]
            raise SpecError(f"example.targets[{n}]", expected, list(row))
    if ex.weights is not None:
        conns = s.graph.weighted
        if len(ex.weights) != len(conns):
            raise SpecError("example.weights", f"{len(conns)} matrices, " + ", ".join(c.key for c in conns),
                            len(ex.weights))
        for i, (c, w) in enumerate(zip(conns, ex.weights)):
            shape = (s.layers[c.dst], s.layers[c.src])
            if len(w) != shape[0] or any(len(r) != shape[1] for r in w):
                raise SpecError(f"example.weights[{i}]",
                                f"{c.key} of shape {shape[0]}x{shape[1]} (units of layer {c.dst} x units of layer "
                                f"{c.src})", _shape(w))
    if ex.biases is not None:
        if not s.bias:
            raise SpecError("example.biases", "no biases, since network.bias is false", "biases")
        if len(ex.biases) != len(s.layers) - 1:
            raise SpecError("example.biases", f"{len(s.layers) - 1} vectors, b1..b{len(s.layers) - 1}",
                            len(ex.biases))
        for l, b in enumerate(ex.biases, start=1):
            if len(b) != s.layers[l]:
                raise SpecError(f"example.biases[{l - 1}]", f"b{l} with {s.layers[l]} numbers", len(b))
    if not ex.learning_rate > 0:
        raise SpecError("example.learning_rate", "a number greater than 0", ex.learning_rate)


def _shape(w) -> str:
    return f"{len(w)}x" + "/".join(sorted({str(len(r)) for r in w}) or ["0"])


# -- raw values -> typed values ----------------------------------------------------------

def _number(fld: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(fld, "a number", value)
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(fld, "a finite number (not NaN or inf)", value)
    if abs(value) > MAX_VALUE:     # a 400-digit integer or 1e308 would overflow the worked example
        raise SpecError(fld, f"a number of magnitude at most {MAX_VALUE:g}",
                        value if isinstance(value, float) else f"an integer of {len(str(abs(value)))} digits")
    return float(value)


def _vector(fld: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise SpecError(fld, "a non-empty list of numbers", value)
    return tuple(_number(f"{fld}[{i}]", x) for i, x in enumerate(value))


def _matrix(fld: str, value: Any) -> Matrix:
    if not isinstance(value, list) or not value:
        raise SpecError(fld, "a non-empty list of rows", value)
    return tuple(_vector(f"{fld}[{i}]", row) for i, row in enumerate(value))


def _samples(fld: str, value: Any) -> Matrix:
    """One sample ([0.1, 0.2]) or several ([[0.1, 0.2], [0.3, 0.4]])."""
    if isinstance(value, list) and value and all(isinstance(r, list) for r in value):
        return _matrix(fld, value)
    return (_vector(fld, value),)


def _unknown_keys(section: str, table: dict, allowed: Sequence[str]) -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            where = f"{section}.{key}" if section else key
            raise SpecError(where, "a known key: one of " + ", ".join(allowed) + hint, "unknown key")


def _table(fld: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise SpecError(fld, "a table", value)
    return value


def example_from_dict(raw: dict) -> Example:
    """The [example] table -> Example (shapes are checked against the network by Spec)."""
    _unknown_keys("example", raw, EXAMPLE_KEYS)
    for key in ("inputs", "targets"):
        if key not in raw:
            raise SpecError(f"example.{key}", "a list of numbers (one sample) or a list of samples", "missing")
    weights = raw.get("weights")
    biases = raw.get("biases")
    if weights is not None and not isinstance(weights, list):
        raise SpecError("example.weights", "a list of matrices W1, W2, ...", weights)
    if biases is not None and not isinstance(biases, list):
        raise SpecError("example.biases", "a list of vectors b1, b2, ...", biases)
    return Example(
        inputs=_samples("example.inputs", raw["inputs"]),
        targets=_samples("example.targets", raw["targets"]),
        weights=None if weights is None else tuple(_matrix(f"example.weights[{i}]", w) for i, w in enumerate(weights)),
        biases=None if biases is None else tuple(_vector(f"example.biases[{i}]", b) for i, b in enumerate(biases)),
        learning_rate=_number("example.learning_rate", raw.get("learning_rate", 0.5)),
    )


def spec_from_dict(raw: dict) -> Spec:
    """A parsed TOML document -> Spec; every problem raises SpecError naming the field."""
    from . import formula  # verify's parser, which formula uses, imports the network: late
    _unknown_keys("", raw, TOP_KEYS)
    defined = formula.definitions(raw)      # rows of your own, registered before any name is looked up
    if "network" not in raw:
        raise SpecError("network", "a [network] table with at least `layers`", "missing")
    net = _table("network", raw["network"])
    _unknown_keys("network", net, NETWORK_KEYS)
    if "layers" not in net:
        raise SpecError("network.layers", "a list of layer widths such as [2, 3, 1]", "missing")
    layers = net["layers"]
    if not isinstance(layers, list):
        raise SpecError("network.layers", "a list of layer widths such as [2, 3, 1]", layers)
    acts = net.get("activations", "sigmoid")
    if isinstance(acts, str):
        acts = [acts] * max(len(layers) - 1, 1)
    if not isinstance(acts, list) or not all(isinstance(a, str) for a in acts):
        raise SpecError("network.activations", "a list of activation names, or one name for all", acts)
    given = _parameter_rows(raw)
    for name in sorted(given.keys() - set(acts)):
        raise SpecError(f"activation.{name}", f"parameters of an activation network.activations uses (as {name})",
                        "defined, not used")
    acts = [given.get(a, a) for a in acts]           # leaky_relu with [activation.leaky_relu] -> leaky_relu(0.2)
    example = raw.get("example")
    formula.check_used(defined, [_canonical_activation(i, a) for i, a in enumerate(acts)],
                       net.get("loss", "half_sse"))
    return Spec(
        skip=_pairs("network.skip", net.get("skip", [])),
        residual=_pairs("network.residual", net.get("residual", [])),
        layers=tuple(layers),
        activations=tuple(_canonical_activation(i, a) for i, a in enumerate(acts)),
        loss=net.get("loss", "half_sse"),
        bias=net.get("bias", True),
        bias_sign=net.get("bias_sign", "+"),
        notation=net.get("notation", "haykin"),
        numbering=net.get("numbering", "layer"),
        title=raw.get("title"),
        example=None if example is None else example_from_dict(_table("example", example)),
        training=training_from_dict(_table("training", raw.get("training", {}))),
    )


def _parameter_rows(raw: dict) -> dict[str, str]:
    """[activation.leaky_relu] slope = 0.2 -> {"leaky_relu": "leaky_relu(0.2)"}: the row of the call form.

    Such a table holds parameters only; a formula there is refused (a formula takes a name of its own).
    """
    tables = raw.get("activation", {})          # a table of tables: formula.definitions checked that
    rows = {}
    for name in sorted(PARAMETERS.keys() & tables.keys()):
        fld, table = f"activation.{name}", _table(f"activation.{name}", tables[name])
        if "formula" in table:
            raise SpecError(f"{fld}.formula", f"no formula: {name} is built in and its table holds its parameters ("
                                              + ", ".join(PARAMETERS[name]) + "); a formula of your own takes a "
                                              f"name of your own, such as [activation.my_{name}]", table["formula"])
        try:
            rows[name] = with_parameters(name, table).name
        except ValueError as exc:
            key, expected, got = exc.args
            raise SpecError(f"{fld}.{key}", expected, got) from None
    return rows


def training_from_dict(raw: dict) -> Training:
    """The [training] table -> Training (every value checked, naming training.KEY)."""
    _unknown_keys("training", raw, TRAINING_KEYS)
    return Training(**raw)


def with_training(spec: Spec, **values: Any) -> Spec:
    """``spec`` with some [training] values replaced (the command line's --momentum etc.); None keeps one."""
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        return spec
    _unknown_keys("training", given, TRAINING_KEYS)
    return replace(spec, training=replace(spec.training, **given))


def _pairs(fld: str, value: Any) -> tuple:
    """[[0, 2], [1, 3]] -> ((0, 2), (1, 3)); the pairs themselves are checked by Spec."""
    if not isinstance(value, list):
        raise SpecError(fld, "a list of [from, to] layer pairs such as [[0, 2], [1, 3]]", value)
    return tuple(tuple(p) if isinstance(p, list) else p for p in value)


def parse_pairs(fld: str, text: str) -> tuple[tuple[int, int], ...]:
    """'0:2,1:3' -> ((0, 2), (1, 3))."""
    out = []
    for i, part in enumerate(p for p in text.split(",") if p.strip()):
        ends = [e.strip() for e in part.split(":")]
        if len(ends) != 2 or not all(e.isascii() and e.isdigit() for e in ends):
            raise SpecError(f"{fld}[{i}]", "FROM:TO layer numbers joined by ',', such as 0:2,1:3", part)
        out.append((int(ends[0]), int(ends[1])))
    return tuple(out)


def _canonical_activation(i: int, name: str) -> str:
    return _activation(f"network.activations[{i}]", name).name


def load_spec(path: str | Path) -> Spec:
    """Read and validate a TOML spec file (``-`` reads stdin), a regular file of at most 1 MB."""
    text = read_text(path, "spec file", MAX_SPEC_BYTES,
                     missing="no such file (expected a TOML spec file or a layer string such as 2-3-1)")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError("<stdin>" if str(path) == STDIN else str(path), "valid TOML", str(exc)) from None
    return spec_from_dict(raw)


def parse_layers(text: str) -> tuple[int, ...]:
    """'2-3-1' -> (2, 3, 1)."""
    parts = text.split("-")
    widths = []
    for i, part in enumerate(parts):
        if not (part.strip().isascii() and part.strip().isdigit()):
            raise SpecError(f"layers[{i}]", "a layer string of whole numbers joined by '-', such as 2-3-1", part)
        widths.append(int(part))
    return tuple(widths)


def spec_from_layer_string(text: str, activation: str = "sigmoid", loss: str = "half_sse", bias: bool = True,
                           bias_sign: str = "+", notation: str = "haykin", numbering: str = "layer",
                           title: str | None = None, skip: str = "", residual: str = "",
                           training: Training | None = None) -> Spec:
    """'2-3-1' with --activation sigmoid,linear etc. (and --skip 0:2 --residual 1:3) -> Spec."""
    layers = parse_layers(text)
    names = [a.strip() for a in activation.split(",")]
    if len(names) == 1:
        names = names * max(len(layers) - 1, 1)
    return Spec(layers=layers, activations=tuple(_canonical_activation(i, a) for i, a in enumerate(names)),
                loss=loss, bias=bias, bias_sign=bias_sign, notation=notation, numbering=numbering, title=title,
                skip=parse_pairs("skip", skip), residual=parse_pairs("residual", residual),
                training=training or Training())


def looks_like_layer_string(text: str) -> bool:
    """True for '2-3-1'-like arguments (digits and dashes only; '2-²-1' too, so parse_layers names its '²')."""
    return bool(text) and all(c.isdigit() or c == "-" for c in text) and any(c.isdigit() for c in text)


BUILTIN_TOML = """\
title = "Backpropagation for a 2-3-1 network"
[network]
layers = [2, 3, 1]
activations = ["sigmoid", "linear"]
loss = "half_sse"
bias = true
bias_sign = "+"
notation = "haykin"
numbering = "global"

[example]
inputs = [0.05, 0.10]
targets = [0.01]
weights = [[[0.15, 0.20], [0.25, 0.30], [0.35, 0.40]], [[0.40, 0.45, 0.50]]]
biases = [[0.35, 0.35, 0.35], [0.60]]
learning_rate = 0.5
"""


def builtin_spec() -> Spec:
    """Seed 003's network: 2-3-1, sigmoid hidden layer, linear output, global numbering."""
    return spec_from_dict(tomllib.loads(BUILTIN_TOML))
