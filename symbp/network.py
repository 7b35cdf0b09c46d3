"""Network: the symbols of a spec'd network, its local definitions and its explicit loss."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import sympy as sp

from . import notation as nt
from .activations import Activation, get_activation
from .errors import SymbpError
from .graph import Connection, Graph
from .losses import Loss, get_loss
from .spec import Spec, load_spec, looks_like_layer_string, spec_from_layer_string


def _activation_names(options: dict) -> Any:
    """``activation`` and ``activations`` are one option (either spelling), never both."""
    if "activation" in options and "activations" in options:
        raise TypeError("pass activation= or activations=, not both")
    return options.pop("activations", options.pop("activation", "sigmoid"))


def _layer_flags(options: dict) -> dict:
    """Options for spec_from_layer_string: activations as one comma-joined string."""
    options = dict(options)
    names = _activation_names(options)
    return {**options, "activation": names if isinstance(names, str) else ",".join(names)}


def _keyword_spec(layers: Sequence[int], options: dict) -> Spec:
    options = dict(options)
    names = _activation_names(options)
    if isinstance(names, str):
        names = names.split(",") if "," in names else [names] * max(len(layers) - 1, 1)
    pairs = {k: tuple(tuple(p) for p in options.pop(k)) for k in ("skip", "residual") if k in options}
    return Spec(layers=tuple(layers), activations=tuple(n.strip() for n in names), **pairs, **options)


class DecaySymbol(sp.Symbol):
    """lambda, the weight decay: identifier ``lam`` (``lambda`` is a Python keyword), printed as \\lambda."""

    def _latex(self, printer) -> str:
        return r"\lambda"


class PreviousStep(sp.Symbol):
    """Delta p(n-1) of parameter p, identifier ``d{p}_prev`` (``dw2_1_1_prev``), printed as \\Delta p(n-1).

    n is the step letter of the notes printer's profile (ont's n is the net input); n without one.
    """

    def _latex(self, printer) -> str:
        return rf"\Delta {printer._print(sp.Symbol(self.name[1:-len('_prev')], real=True))}{previous_step(printer)}"


def previous_step(printer) -> str:
    """(n-1) in the letter of the printer's profile, where it prints in one (NotesLatexPrinter)."""
    profile = getattr(printer, "_profile", None)
    return profile.at_step(-1) if profile is not None else "(n-1)"


class Position(NamedTuple):
    """Where a weight or bias sits: params[key][index], key "W{layer}", "W{layer}_{src}" or "b{layer}".

    ``src`` is the layer a weight reads (layer - 1 on the chain), None for a bias.
    """

    key: str
    layer: int
    index: tuple[int, ...]
    src: int | None = None

    @property
    def is_weight(self) -> bool:
        return self.key[0] == "W"


@dataclass(frozen=True, eq=False)
class Network:
    """A layered feedforward network with a SymPy symbol for every quantity.

    Layer 0 is the input (its outputs are the inputs x_k); layers 1..L compute
    v_j = sum over weighted connections into the layer of sum_k w_jk y_k (+/-) b_j and
    y_j = phi(v_j) (+ y_j of a residual shortcut's source). Symbols are named by their
    canonical identifiers (w2_1_3, w3_1_2_1, v2_1, delta2_1, ...), 1-based.
    """

    spec: Spec

    # -- construction ----------------------------------------------------------------
    def __init__(self, spec: Spec | str | Path | None = None, *, layers: Sequence[int] | str | None = None,
                 **options: Any) -> None:
        """A network from a Spec, a spec file, a layer string, or keyword arguments.

        Parameters
        ----------
        spec : Spec, str or Path, optional
            A validated Spec, a TOML spec file or a layer string such as ``"2-3-1"``.
        layers : sequence of int or str, optional
            Instead of ``spec``: the layer widths, input first (``[2, 3, 1]`` or ``"2-3-1"``).
        **options
            ``activations`` (or ``activation``): one name for all computing layers, a list with
            one per layer, or ``"sigmoid,linear"``; ``loss``, ``bias``, ``bias_sign``, ``notation``,
            ``numbering``, ``title``, ``skip``, ``residual`` as in a spec's [network] table.
            With a layer string as ``spec`` they are its flags.

        Examples
        --------
        >>> Network(layers=[2, 3, 1], activations=["sigmoid", "linear"]).name
        '2-3-1 sigmoid/linear half_sse'
        >>> Network("2-3-1", activation="tanh,linear", loss="sse").spec.loss
        'sse'
        """
        if spec is None and layers is None:
            raise TypeError("Network(spec) or Network(layers=[2, 3, 1], activations=[...], ...)")
        if spec is not None and layers is not None:
            raise TypeError("Network takes a spec or layers=..., not both")
        if isinstance(spec, Spec):
            if options:
                raise TypeError(f"Network(spec) takes no options; got {', '.join(options)}")
        elif spec is not None:
            spec = Network.load(spec, **options).spec
        elif isinstance(layers, str):
            spec = spec_from_layer_string(layers, **_layer_flags(options))
        else:
            spec = _keyword_spec(layers, options)
        object.__setattr__(self, "spec", spec)

    @classmethod
    def from_file(cls, path: str | Path) -> Network:
        return cls(load_spec(path))

    @classmethod
    def from_string(cls, layers: str, **flags) -> Network:
        return cls(spec_from_layer_string(layers, **_layer_flags(flags)))

    @classmethod
    def build(cls, layers, activations="sigmoid", **options) -> Network:
        """From keyword arguments: Network.build(layers=[2, 3, 1], activations=["sigmoid", "linear"])."""
        return cls(layers=layers, activations=activations, **options)

    @classmethod
    def load(cls, net: str | Path | Spec | Network, **flags) -> Network:
        """A Network from whatever a user hands over: a spec file, a layer string, a Spec.

        ``flags`` (activation, loss, notation, ...) apply to a layer string only.
        """
        if isinstance(net, (Network, Spec)) or not looks_like_layer_string(str(net)) or Path(str(net)).exists():
            if flags:
                raise SymbpError(f"{', '.join(flags)}: layer-string flags apply to a layer string such as "
                                 "2-3-1; a spec file or a Spec sets them in its [network] table")
            if isinstance(net, Network):
                return net
            return cls(net) if isinstance(net, Spec) else cls.from_file(net)
        return cls.from_string(str(net), **flags)

    # -- architecture ----------------------------------------------------------------
    @property
    def layers(self) -> tuple[int, ...]:
        return self.spec.layers

    @cached_property
    def graph(self) -> Graph:
        return self.spec.graph

    @property
    def depth(self) -> int:
        """L, the number of computing layers."""
        return len(self.layers) - 1

    @cached_property
    def activations(self) -> tuple[Activation, ...]:
        """activations[l - 1] is the activation of layer l."""
        return tuple(get_activation(a) for a in self.spec.activations)

    def activation(self, layer: int) -> Activation:
        return self.activations[layer - 1]

    @cached_property
    def loss(self) -> Loss:
        return get_loss(self.spec.loss)

    @cached_property
    def profile(self) -> nt.Profile:
        return nt.get_profile(self.spec.notation)

    @property
    def bias(self) -> bool:
        return self.spec.bias

    @property
    def bias_sign(self) -> int:
        return 1 if self.spec.bias_sign == "+" else -1

    @property
    def n_params(self) -> int:
        """W, the number of weights and biases."""
        weights = sum(self.layers[c.dst] * self.layers[c.src] for c in self.graph.weighted)
        return weights + self.bias * sum(self.layers[1:])

    @property
    def name(self) -> str:
        acts = "/".join(self.spec.activations)
        extra = "".join(f" {kind} " + ",".join(f"{s}:{l}" for s, l in getattr(self.spec, kind))
                        for kind in ("skip", "residual") if getattr(self.spec, kind))
        return f"{'-'.join(map(str, self.layers))} {acts} {self.spec.loss}{extra}"

    def units(self, layer: int) -> range:
        """1-based unit indices of a layer."""
        return range(1, self.layers[layer] + 1)

    # -- symbols -----------------------------------------------------------------------
    @cached_property
    def eta(self) -> sp.Symbol:
        return sp.Symbol("eta", positive=True)

    @cached_property
    def batch(self) -> sp.Symbol:
        return sp.Symbol("N", integer=True, positive=True)

    # -- the learning rule ([training]) -------------------------------------------------
    @property
    def training(self):
        return self.spec.training

    @cached_property
    def lam(self) -> sp.Symbol:
        """lambda, the weight decay (``lam``: ``lambda`` is a Python keyword)."""
        return DecaySymbol("lam", positive=True)

    @cached_property
    def alpha(self) -> sp.Symbol:
        """alpha, the momentum constant."""
        return sp.Symbol("alpha", positive=True)

    def previous(self, p: sp.Symbol) -> sp.Symbol:
        """Delta p(n-1), the previous step of parameter p: ``dw2_1_1_prev``."""
        return PreviousStep(f"d{p.name}_prev", real=True)

    def decayed(self, p: sp.Symbol) -> bool:
        """Whether the regulariser counts p: every weight when lambda > 0, biases only with decay_biases."""
        t = self.training
        return t.weight_decay > 0 and (self.positions[p.name].is_weight or t.decay_biases)

    def regulariser_term(self, p: sp.Symbol) -> sp.Expr:
        """lambda/2 p^2 for a decayed parameter, else 0: p's share of the regulariser."""
        return self.lam / 2 * p ** 2 if self.decayed(p) else sp.Integer(0)

    def regulariser(self) -> sp.Expr:
        """lambda/2 sum p^2 over the decayed parameters (0 without weight decay), counted once per batch."""
        return sp.Add(*[self.regulariser_term(p) for p in self.params()])

    def training_symbols(self) -> list[sp.Symbol]:
        """The symbols [training] adds to the rules: lam (weight decay), alpha and every Delta p(n-1) (momentum)."""
        t = self.training
        out = [self.lam] if t.weight_decay else []
        return out + ([self.alpha] + [self.previous(p) for p in self.params()] if t.momentum else [])

    @property
    def loss_scale(self) -> sp.Expr:
        """1/N under reduction = "mean" or for a loss that is a mean already (mse: never 1/N twice), else 1."""
        return 1 / self.batch if self.loss.mean or self.training.reduction == "mean" else sp.Integer(1)

    @cached_property
    def loss_symbol(self) -> sp.Symbol:
        return sp.Symbol(self.profile.loss, real=True)

    def _grid(self, make) -> dict[int, list]:
        return {l: [make(l, j) for j in self.units(l)] for l in range(1, len(self.layers))}

    @cached_property
    def x(self) -> list[sp.Symbol]:
        return [sp.Symbol(nt.input_id(k), real=True) for k in self.units(0)]

    @cached_property
    def W(self) -> dict[int, list[list[sp.Symbol]]]:
        """W[l][j-1][k-1] is w{l}_{j}_{k}."""
        return {l: [[sp.Symbol(nt.weight_id(l, j, k), real=True) for k in self.units(l - 1)]
                    for j in self.units(l)] for l in range(1, len(self.layers))}

    @cached_property
    def weights(self) -> dict[Connection, list[list[sp.Symbol]]]:
        """The weight matrix of every weighted connection (the chain's are W[l] itself)."""
        out = {}
        for c in self.graph.weighted:
            if c.kind == "chain":
                out[c] = self.W[c.dst]
            else:
                out[c] = [[sp.Symbol(nt.skip_weight_id(c.dst, c.src, j, k), real=True) for k in self.units(c.src)]
                          for j in self.units(c.dst)]
        return out

    @cached_property
    def b(self) -> dict[int, list[sp.Symbol]]:
        if not self.bias:
            return {}
        return self._grid(lambda l, j: sp.Symbol(nt.bias_id(l, j), real=True))

    @cached_property
    def v(self) -> dict[int, list[sp.Symbol]]:
        return self._grid(lambda l, j: sp.Symbol(nt.net_id(self.profile, l, j), real=True))

    @cached_property
    def y(self) -> dict[int, list[sp.Symbol]]:
        """y[0] are the inputs x; y[l] the outputs of layer l."""
        return {0: self.x, **self._grid(lambda l, j: sp.Symbol(nt.out_id(self.profile, l, j), real=True))}

    @cached_property
    def delta(self) -> dict[int, list[sp.Symbol]]:
        return self._grid(lambda l, j: sp.Symbol(nt.delta_id(l, j), real=True))

    @cached_property
    def t(self) -> list[sp.Symbol]:
        """Targets of the output units."""
        return [sp.Symbol(nt.target_id(self.profile, j), real=True) for j in self.units(self.depth)]

    @cached_property
    def e(self) -> list[sp.Symbol]:
        """Error signals e_j = t_j - y_j, where the profile names them (else empty)."""
        if self.profile.error is None or self.loss.error_term is None:
            return []
        return [sp.Symbol(nt.error_id(self.profile, j), real=True) for j in self.units(self.depth)]

    @cached_property
    def positions(self) -> dict[str, Position]:
        """canonical name -> where the parameter sits: params key ("W2", "b1"), layer, 0-based index."""
        out = {}
        for l in self.graph.order:
            for c in self.graph.inputs(l):
                for j, row in enumerate(self.weights[c]):
                    out.update({w.name: Position(c.key, l, (j, k), c.src) for k, w in enumerate(row)})
            out.update({b.name: Position(f"b{l}", l, (j,)) for j, b in enumerate(self.b.get(l, []))})
        return out

    def params(self) -> list[sp.Symbol]:
        """Every weight and bias, layer by layer: W1 row-major, b1, W2, (skips into 2 by source), b2, ..."""
        out = []
        for l in self.graph.order:
            for c in self.graph.inputs(l):
                out += [w for row in self.weights[c] for w in row]
            out += self.b.get(l, [])
        return out

    def param_keys(self) -> list[str]:
        """The params keys in the order of ``params()``: W1, b1, W2, W2_0, b2, ..."""
        out = []
        for l in self.graph.order:
            out += [c.key for c in self.graph.inputs(l)]
            out += [f"b{l}"] if self.bias else []
        return out

    # -- local definitions -------------------------------------------------------------
    def net_input(self, layer: int, j: int) -> sp.Expr:
        """v_j = sum_k w_jk y_k (+/-) b_j (j 1-based), over every weighted connection into the layer."""
        total = sp.Add(*[w * yk for c in self.graph.inputs(layer)
                         for w, yk in zip(self.weights[c][j - 1], self.y[c.src])])
        if self.bias:
            total += self.bias_sign * self.b[layer][j - 1]
        return total

    def output(self, layer: int, j: int) -> sp.Expr:
        """y_j = phi(v_j), in the layer's net input symbols, plus y_j of each residual shortcut's source."""
        act = self.activation(layer)
        phi = act.function(self.v[layer][j - 1]) if act.elementwise else act.function(self.v[layer], j - 1)
        return phi + sp.Add(*[self.y[c.src][j - 1] for c in self.graph.shortcuts(layer)])

    def error(self, j: int) -> sp.Expr:
        """e_j = t_j - y_j."""
        return self.t[j - 1] - self.y[self.depth][j - 1]

    def loss_in_errors(self) -> sp.Expr:
        """E of one sample through the error signals (profiles that name e_j)."""
        return self.loss_scale * sp.Add(*[self.loss.error_term(ej) for ej in self.e])

    def loss_in_outputs(self) -> sp.Expr:
        """E of one sample n, in the output symbols (the batch total sums this over n)."""
        return self.loss_scale * sp.Add(*[self.loss.term(yj, tj) for yj, tj in zip(self.y[self.depth], self.t)])

    # -- the explicit forward pass -------------------------------------------------------
    def forward_substitution(self, upto: int | None = None) -> dict[sp.Symbol, sp.Expr]:
        """{v_j, y_j: explicit expression in x, w, b} for every unit of layers 1..upto."""
        upto = self.depth if upto is None else upto
        sub: dict[sp.Symbol, sp.Expr] = {}
        for l in range(1, upto + 1):
            for j in self.units(l):
                sub[self.v[l][j - 1]] = self.net_input(l, j).xreplace(sub)
            for j in self.units(l):
                sub[self.y[l][j - 1]] = self.output(l, j).xreplace(sub)
        return sub

    def explicit_loss(self) -> sp.Expr:
        """E of one sample as an explicit function of x, w, b and the targets, plus the regulariser
        lambda/2 sum w^2 under weight decay (one sample: online learning; a batch counts it once)."""
        return self.loss_in_outputs().xreplace(self.forward_substitution()) + self.regulariser()

    def target_constraint(self) -> dict[sp.Symbol, sp.Expr]:
        """With a softmax + ce output the targets form a distribution: t_last = 1 - sum of the others."""
        if self.activation(self.depth).elementwise:
            return {}
        return {self.t[-1]: 1 - sp.Add(*self.t[:-1])}

    def __repr__(self) -> str:
        return f"Network({self.name!r}, notation={self.spec.notation!r})"
