"""Export a derivation as a standalone module: NumPy or JAX (one .py file) or C99 (a .c and a .h).

Every expression in the generated code is printed by one of SymPy's code printers from
what the derivation produced: the forward pass from the network's local definitions,
the loss from the loss registry (rewritten in net inputs where log would saturate), the
output delta and the activation derivatives (in terms of the unit's output) from the
derivation's delta rules and chain factors, the gradients from its parameter rules and
matrix form. Nothing here pastes a known formula.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from string import Template

import sympy as sp
from sympy.codegen.ast import float32, real
from sympy.codegen.cfunctions import log1p
from sympy.printing.c import C99CodePrinter
from sympy.printing.numpy import JaxPrinter, NumPyPrinter
from sympy.printing.precedence import PRECEDENCE

from .derive import Derivation, derive
from .errors import SpecError
from .files import write_atomic
from .network import Network
from .printing import to_text

_GENERATOR = "symbp"


# -- shared: the unit rules, written once for a unit of any index ---------------------------

def _derivation(net) -> Derivation:
    if isinstance(net, Derivation):
        return net
    return derive(Network.load(net), check=True)


def _stable_term(net: Network, y: sp.Symbol, v: sp.Symbol, t: sp.Symbol, lse: sp.Symbol) -> sp.Expr:
    """The loss of one output unit, scale included, with log(y) written in the net input.

    The output activation's row knows its logs in v (sigmoid: log y = -softplus(-v),
    log(1 - y) = -softplus(v); softmax: log y = v - logsumexp(v)): exact rewrites of the
    registry's term that never take the log of a rounded 0.
    """
    term = _scale(net) * net.loss.term(y, t)
    logs = net.activation(net.depth).log_output
    return term.xreplace(logs(y, v, lse)) if logs is not None else term


def _unit_symbols(net: Network, layer: int, j: int) -> dict:
    """Unit j's scalar symbols of ``layer`` (v, y and, on the output layer, t and e)."""
    out = {"v": net.v[layer][j - 1], "y": net.y[layer][j - 1]}
    if layer == net.depth:
        out["t"] = net.t[j - 1]
        if net.e:
            out["e"] = net.e[j - 1]
    return out


def _generic(net: Network, layer: int, exprs_by_unit, names: dict) -> sp.Expr:
    """One expression for every unit: unit 1's rule with its symbols renamed (names: role -> Symbol).

    Each unit's own rule is renamed the same way and must give the same expression, so
    the rule printed once is the derived rule of every unit.
    """
    def renamed(j):
        syms = _unit_symbols(net, layer, j)
        return exprs_by_unit(j).xreplace({syms[r]: s for r, s in names.items() if r in syms})

    first = renamed(1)
    for j in net.units(layer):
        if j > 1 and sp.expand(renamed(j) - first) != 0:
            raise ValueError(f"the rule of unit {j} of layer {layer} is not unit 1's rule renamed")
    return first


def _output_delta(d: Derivation, names: dict, total: sp.Symbol | None = None) -> sp.Expr:
    """delta of an output unit (profile sign) for targets of any kind, errors written out, in generic
    names; a sample's sum of targets, where the general rule reads it (softmax + ce), as ``total``."""
    net, L = d.net, d.net.depth
    errors = {e: net.error(j) for j, e in enumerate(net.e, start=1)}
    sums = {sp.Add(*net.t): total} if total is not None else {}
    return _generic(net, L, lambda j: d.deltas[net.delta[L][j - 1]].any_targets.xreplace(errors).subs(sums), names)


def _reads_target_sum(d: Derivation) -> bool:
    """Whether the output delta for any targets reads a sample's sum of targets (softmax + ce)."""
    return d.deltas[d.net.delta[d.net.depth][0]].general is not None


def target_sum(net: Network) -> sp.Symbol:
    """sum_j t_j of one sample, as the general output delta of softmax + ce reads it."""
    return sp.Symbol(f"{net.profile.target}_sum", real=True)


def output_delta_matrix(d: Derivation) -> sp.MatrixExpr:
    """delta(L) over the output layer's vector, for targets of any sum: the matrix form's rule where it
    holds for any targets, else the general unit rule (y_j sum_m t_m - t_j) vectorized."""
    from .forms import _target, _vectors, vectorize
    net, L = d.net, d.net.depth
    if not _reads_target_sum(d):
        return next(m.delta for m in d.matrix if m.layer == L)
    y, t = net.y[L][0], net.t[0]
    rule = _output_delta(d, {"y": y, "t": t}, target_sum(net))
    return vectorize(rule, {y: _vectors(net, L)["y"], t: _target(net)}, net.layers[L])


def _activation_slope(d: Derivation, layer: int, names: dict) -> sp.Expr:
    """dy/dv of a hidden unit as the derivation's chain factor gives it (in y where proved)."""
    net = d.net
    return _generic(net, layer, lambda j: d.deltas[net.delta[layer][j - 1]].chain[0][-1].result, names)


def _equations(d: Derivation) -> list[str]:
    """The equations the module evaluates, as text (matrix form per sample, batch summed)."""
    net, p = d.net, d.net.profile
    sign = "+" if net.bias_sign > 0 else "-"
    out = lambda l: f"{p.out}{l}" if l > 0 else "x"
    lines = []
    for l in net.graph.order:
        inputs = " + ".join(f"{c.key} @ {out(c.src)}" for c in net.graph.inputs(l))
        bias = f" {sign} b{l}" if net.bias else ""
        shortcuts = "".join(f" + {out(c.src)}" for c in net.graph.shortcuts(l))
        lines.append(f"{p.net}{l} = {inputs}{bias}")
        lines.append(f"{p.out}{l} = {net.activation(l).name}({p.net}{l}){shortcuts}")
    L = net.depth
    y, t = sp.Symbol(f"{p.out}{L}_j"), sp.Symbol(f"{p.target}_j")
    lines.append(f"{p.loss} = sum_n sum_j {to_text(net.loss.term(y, t) * _scale(net))}")
    if net.e:
        lines.append(f"{p.error} = {p.target} - {p.out}{L}")
    if _reads_target_sum(d):
        lines.append(f"{target_sum(net)} = sum_j {p.target}_j   (1 where the targets of a sample sum to 1, "
                     f"and then delta{L} = {to_text(next(m.delta for m in d.matrix if m.layer == L))})")
    for m in sorted(d.matrix, key=lambda m: -m.layer):
        lines.append(f"delta{m.layer} = {to_text(output_delta_matrix(d) if m.layer == L else m.delta)}")
    for m in sorted(d.matrix, key=lambda m: m.layer):
        lines += [f"d{p.loss}/d{key} = sum_n {to_text(grad)}" for key, grad in m.weight_grads]
        if m.grad_b is not None:
            lines.append(f"d{p.loss}/db{m.layer} = sum_n {to_text(m.grad_b)}")
    return lines


def _scale(net):
    return net.loss_scale      # 1/N for a mean (mse, or [training] reduction = "mean"), else 1


def param_shapes(net: Network) -> dict[str, tuple[int, ...]]:
    """The shape of every params key, in the network's parameter order: W{l} (n_l, n_{l-1}),
    a skip W{l}_{s} (n_l, n_s), b{l} (n_l,)."""
    n, weights = net.layers, {c.key: c for c in net.graph.weighted}
    return {k: (n[weights[k].dst], n[weights[k].src]) if k in weights else (n[int(k[1:])],)
            for k in net.param_keys()}


def _describe(d: Derivation) -> list[str]:
    net, p = d.net, d.net.profile
    acts = ", ".join(f"layer {l}: {net.activation(l).name}" for l in net.graph.order)
    bias = (f"biases with sign '{net.spec.bias_sign}' ({p.net} = W {p.out} {net.spec.bias_sign} b)"
            if net.bias else "no biases")
    return [
        f"Network {'-'.join(map(str, net.layers))} ({acts}), loss {net.loss.name} "
        f"({net.loss.description}), {bias}.",
        *_connections(net),
        f"Notation '{p.name}': net input {p.net}, output {p.out}, target {p.target}, "
        f"loss {p.loss}, {p.delta_definition}; x is the input.",
    ]


def _connections(net: Network) -> list[str]:
    """The connections beyond the chain, one sentence per kind (none for a chain)."""
    n, out = net.layers, lambda l: f"{net.profile.out}{l}" if l > 0 else "x"
    skips = [f"{c.key} {(n[c.dst], n[c.src])} from layer {c.src} into layer {c.dst}"
             for c in net.graph.connections if c.kind == "skip"]
    shortcuts = [f"{out(c.src)} added to {out(c.dst)}" for c in net.graph.connections if not c.weighted]
    return ([f"Skip connections (weights, shape): {', '.join(skips)}."] if skips else []) + \
        ([f"Residual shortcuts (identity): {', '.join(shortcuts)}."] if shortcuts else [])


def _write(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


# -- Python modules: NumPy and JAX ---------------------------------------------------------

class _ModuleCode:
    """The printing the Python targets share: ``np.``/``jnp.`` names, @ for matrix products, * for Hadamard.

    Column vectors of the per-sample matrix rules become (units, N) arrays, one column per
    sample: delta @ y.T then sums the per-sample outer products over the batch. Mixed into
    SymPy's NumPyPrinter and JaxPrinter; ``alias`` is the name the module imports as.
    """

    alias = "np"

    def __init__(self, rename: dict | None = None):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False})
        self._rename = {str(k): v for k, v in (rename or {}).items()}

    def _module_format(self, fqn, register=True):
        # "numpy." too: the registry's _numpycode speaks NumPy's API, which jax.numpy mirrors.
        name = super()._module_format(fqn, register)
        for module in (self._module, "numpy"):
            if name.startswith(module + "."):
                return f"{self.alias}.{name[len(module) + 1:]}"
        return name

    def _print_Function(self, expr):
        # The registry's activations carry their stable form as _numpycode; a printer whose
        # printmethod is another (JaxPrinter: _jaxcode) reaches them here.
        own = getattr(expr, "_numpycode", None)
        return own(self) if own is not None else super()._print_Function(expr)

    def _print_sigmoid(self, expr):
        """The module's sigmoid(v) (defined in the prelude): one exp per element where the inline form took
        two, and np.maximum where np.where cost more than the exp (bench_train: 784-256-10's loss_and_gradients
        1.06 -> 0.99 of the hand-written backprop, bit-identical results); a call also binds as an atom."""
        return f"sigmoid({self._print(expr.args[0])})"

    def _print_Symbol(self, expr):
        return self._rename.get(expr.name, expr.name)

    def _print_MatrixSymbol(self, expr):
        return self._rename.get(expr.name, expr.name)

    def _print_OneMatrix(self, expr):
        return "1"

    def _print_Identity(self, expr):
        if expr.shape != (1, 1):
            raise NotImplementedError("an identity matrix in a rule: only vectorize's 1 x 1 ones are expected")
        return "1"                        # a 1 x 1 vector of ones simplifies to Identity(1)

    def _operand(self, expr, level):
        if isinstance(expr, sp.MatrixSymbol):
            return self._print(expr)
        return self.parenthesize(expr, level)

    def _print_Transpose(self, expr):
        return f"{self._operand(expr.arg, PRECEDENCE['Atom'])}.T"

    def _print_MatMul(self, expr):
        scalars = [a for a in expr.args if not a.is_Matrix]
        mats = [a for a in expr.args if a.is_Matrix]
        coeff = sp.Mul(*scalars)
        body = " @ ".join(self._operand(a, PRECEDENCE["Mul"] + 1) for a in mats)
        sign = ""
        if coeff.could_extract_minus_sign():
            sign, coeff = "-", -coeff
        if coeff == 1:
            return f"{sign}{body}"
        num, den = sp.fraction(coeff)
        head = body if num == 1 else f"{self.parenthesize(num, PRECEDENCE['Mul'])}*{body}"
        if den != 1:
            head = f"{self._operand(head, 0) if ' ' in head else head}/{self.parenthesize(den, PRECEDENCE['Pow'])}"
        return f"{sign}{head}"

    def _join_terms(self, terms):
        terms = sorted(terms, key=lambda t: t.startswith("-"))
        text = terms[0]
        for t in terms[1:]:
            text += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
        return text

    def _print_MatAdd(self, expr):
        return self._join_terms(self._print(a) for a in expr.args)

    def _print_Add(self, expr, order=None):
        return self._join_terms(self._print(a) for a in self._as_ordered_terms(expr, order=order))

    def _print_HadamardProduct(self, expr):
        flat = []
        for a in expr.args:
            flat.extend(a.args if isinstance(a, sp.HadamardProduct) else [a])
        args = [a for a in flat if not isinstance(a, (sp.OneMatrix, sp.Identity))] or [flat[0]]
        return "*".join(self._operand(a, PRECEDENCE["Mul"]) for a in args)

    def _print_HadamardPower(self, expr):
        return f"{self.parenthesize(expr.base, PRECEDENCE['Pow'] + 1)}**{self._print(expr.exp)}"

    def _print_ElementwiseApplyFunction(self, expr):
        """f applied to a matrix: f's body printed with its variable renamed to the operand."""
        hole = sp.Symbol("_elementwise_argument_")
        outer = self._rename
        self._rename = {**outer, hole.name: self._operand(expr.expr, PRECEDENCE["Atom"])}
        try:
            return self._print(expr.function.expr.xreplace({expr.function.variables[0]: hole}))
        finally:
            self._rename = outer

    def _print_Heaviside(self, expr):
        at0 = expr.args[1] if len(expr.args) > 1 else sp.Rational(1, 2)
        return f"{self._module_format('numpy.heaviside')}({self._print(expr.args[0])}, {self._print(sp.Float(at0))})"

    def _print_Rational(self, expr):
        return repr(float(expr))

    def _print_Pow(self, expr, rational=False):
        # sqrt(2), 1/sqrt(pi) as Python floats: np.sqrt(2) is a float64 scalar, which (NEP 50) would turn
        # float32 arrays into float64 ones; a Python float is weak and keeps the arrays' dtype
        if expr.is_number and expr.is_real:
            return repr(float(expr))
        return super()._print_Pow(expr, rational=rational)

    def _print_Pi(self, expr):
        return repr(float(expr))

    def _print_Piecewise(self, expr):
        # nested where(), cast to the float dtype of the arrays it reads: np.select's nan default and
        # integer branches (elu' = 1 or y + 1) would make float64 of float32
        *pieces, (last, otherwise) = expr.args
        if otherwise != sp.true:
            return super()._print_Piecewise(expr)
        out = self._print(last)
        for value, cond in reversed(pieces):
            out = f"{self._module_format('numpy.where')}({self._print(cond)}, {self._print(value)}, {out})"
        arrays = sorted(expr.free_symbols, key=str)
        if not arrays:
            return out
        return f"{out}.astype({self._module_format('numpy.result_type')}({self._print(arrays[0])}, 0.5))"

    def _print_Half(self, expr):
        return "0.5"


class ModulePrinter(_ModuleCode, NumPyPrinter):
    """NumPy code for the exported module."""

    def __init__(self, rename: dict | None = None):
        super().__init__(rename)
        # The registry's _numpycode is reached through _print_Function, so that this printer's own
        # _print_<Class> (sigmoid) comes first.
        self.printmethod = "_symbp_numpycode"

    def _print_erf(self, expr):
        """NumPy has no erf (gelu): math.erf entry by entry, in the argument's floating dtype."""
        a, f = self._print(expr.args[0]), self._module_format
        return f"{f('numpy.frompyfunc')}({f('math.erf')}, 1, 1)({a}).astype({f('numpy.result_type')}({a}, 0.5))"


class JaxModulePrinter(_ModuleCode, JaxPrinter):
    """jax.numpy code for the exported module."""

    alias = "jnp"

    def _print_erf(self, expr):
        return f"{self._module_format('jax.scipy.special.erf')}({self._print(expr.args[0])})"


@dataclass(frozen=True)
class PythonTarget:
    """What differs between the Python targets; everything else is generated once."""

    name: str
    library: str               # its name in prose
    printer: type
    imports: tuple[str, ...]
    decorator: str             # the line above every public function ("" for none)
    notes: tuple[str, ...]     # a paragraph of the module docstring
    blocks: bool = False       # gradients() walks the batch in blocks of samples (NumPy; XLA fuses instead)
    random: tuple[str, str, str] = ("rng", "rng = np.random.default_rng(rng)", "rng.normal(0.0, std, SHAPES[name])")
    #   init_params: its random argument, how it is prepared, how weight ``key`` (the i-th) is drawn


PYTHON_TARGETS = {
    "numpy": PythonTarget(
        "numpy", "NumPy", ModulePrinter, ("import numpy as np",), "",
        ("gradients() walks a large batch in blocks of BLOCK samples and adds up their sums: the",
         "temporaries of a block stay in cache instead of being faulted in afresh on every call.", ""),
        blocks=True),
    "jax": PythonTarget(
        "jax", "JAX", JaxModulePrinter, ("import jax", "import jax.numpy as jnp"), "@jax.jit",
        ("JAX: every public function is jax.jit-compiled, once per shape of its arguments (shape",
         "errors raise ValueError while tracing); like jax.grad, gradients() returns its dict with",
         "the keys sorted. Arrays are float32 unless JAX runs in 64-bit mode: for float64 call",
         'jax.config.update("jax_enable_x64", True) before the first call. This module never',
         "changes JAX's configuration.", ""),
        random=("key", "keys = jax.random.split(key, len(PARAMETERS))", "std*jax.random.normal(keys[i], SHAPES[name])")),
}

TARGETS = (*PYTHON_TARGETS, "c")

_PRELUDE = Template('''\
def sigmoid(v):
    """1/(1 + exp(-v)) as max(e, [v >= 0])/(1 + e), e = exp(-|v|) <= 1: exp never overflows, and
    sigmoid(v) keeps its relative precision for v << 0 (the tanh form rounds it to 0 below about -37)."""
    e = $np.exp(-abs(v))
    return $np.maximum(e, v >= 0)/(1 + e)


def log_softmax(v):
    """log softmax_j(v) over the units (axis 0) as (v - top) - log(sum_j exp(v_j - top)): exp never
    overflows, and the shifted z = v - top is exact, so equal large net inputs give log(1/n), not 0."""
    z = v - v.max(axis=0, keepdims=True)
    return z - $np.log($np.exp(z).sum(axis=0, keepdims=True))


def _float(a):
    """a as an array of its own floating dtype (float32 stays float32); integers and lists become float64."""
    a = $np.asarray(a)
    return a if $np.issubdtype(a.dtype, $np.floating) else a.astype(float)


def _columns(a, width, name):
    """One sample (width,) or a batch (N, width) -> a (width, N) array, one column per sample."""
    a = _float(a)
    rows = a[None, :] if a.ndim == 1 else a
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ValueError(f"{name} has shape {a.shape}, expected (N, {width}) or ({width},)")
    return rows.T


def _rows(a, X):
    """A (units, N) array back in the caller's layout: (N, units), or (units,) for one sample X."""
    return a[:, 0] if $np.ndim(X) == 1 else a.T


def _param(params, key, name="params"):
    """params[key] as a float array, checked against SHAPES: an error names the key and the shapes."""
    if key not in params:
        raise KeyError(f"{name}[{key!r}] is missing: expected shape {SHAPES[key]}")
    a = _float(params[key])
    if a.shape != SHAPES[key]:
        raise ValueError(f"{name}[{key!r}] has shape {a.shape}, expected {SHAPES[key]}")
    return a


def ravel(params):
    """params as one 1-D vector: the keys in PARAMETERS order, each array row-major."""
    return $np.concatenate([_param(params, key).ravel() for key in PARAMETERS])


def unravel(vector):
    """The inverse of ravel: a vector of N_PARAMS entries -> params, keyed and shaped as SHAPES."""
    vector = _float(vector)
    if vector.shape != (N_PARAMS,):
        raise ValueError(f"vector has shape {vector.shape}, expected ({N_PARAMS},)")
    params, start = {}, 0
    for key in PARAMETERS:
        shape = SHAPES[key]
        size = shape[0] * (shape[1] if len(shape) == 2 else 1)
        params[key] = vector[start:start + size].reshape(SHAPES[key])
        start += size
    return params


def init_params($rng, scheme=None):
    """Random weights, normal with std sqrt(2/fan_in) ("he") or sqrt(2/(fan_in + fan_out)) ("glorot"),
    zero biases. scheme None takes each layer's from its activation (INIT)."""
    if scheme not in (None, "glorot", "he"):
        raise ValueError(f"scheme must be 'glorot', 'he' or None, not {scheme!r}")
    $prepare
    params = {}
    for i, name in enumerate(PARAMETERS):
        if name not in INIT:
            params[name] = $np.zeros(SHAPES[name])
            continue
        fan_in, fan_out = FAN_IN[name], SHAPES[name][0]
        std = $np.sqrt(2.0/fan_in) if (scheme or INIT[name]) == "he" else $np.sqrt(2.0/(fan_in + fan_out))
        params[name] = $draw
    return params
''')


def _learning_constants(net: Network, prefix: str = "") -> dict:
    """lambda and alpha as the module's named constants: WEIGHT_DECAY and MOMENTUM (SYMBP_... in C)."""
    return {net.lam: sp.Symbol(f"{prefix}WEIGHT_DECAY", positive=True),
            net.alpha: sp.Symbol(f"{prefix}MOMENTUM", positive=True)}


def _regulariser_terms(d: Derivation) -> dict[str, sp.Expr]:
    """params key -> its share of the regulariser (lambda/2 P^2) in Symbol(key), for the decayed keys:
    the term of the key's first entry, the same for every entry."""
    net, first = d.net, {}
    for p in net.params():
        first.setdefault(net.positions[p.name].key, p)
    return {key: net.regulariser_term(first[key]).xreplace({first[key]: sp.Symbol(key, real=True)})
            for key in d.matrix_decay}


def _update_rule(net: Network, grad: sp.Symbol, previous: sp.Symbol) -> sp.Expr:
    """Delta p(n) as the derivation states it: alpha Delta p(n-1) - eta dE/dp(n), or -eta dE/dp(n) without momentum."""
    return net.alpha * previous - net.eta * grad if net.training.momentum > 0 else -net.eta * grad


def _tuple(names) -> str:
    names = list(names)
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


class _LearningRule:
    """The module's [training] part: the regulariser in loss() and the gradients, and step()."""

    @property
    def decayed(self) -> dict:
        """params key -> d/dP of the regulariser (lambda*P), for the keys under weight decay."""
        return self.d.matrix_decay

    def _constant(self, expr: sp.Expr) -> sp.Expr:
        return expr.xreplace(_learning_constants(self.net))

    def learning_rule(self) -> list[str]:
        t = self.net.training
        constants = "\n".join([
            f"MOMENTUM = {float(t.momentum)!r}   # alpha: Delta p(n) = alpha Delta p(n-1) - eta dE/dp(n)",
            f"WEIGHT_DECAY = {float(t.weight_decay)!r}   # lambda: E + lambda/2 sum p^2 over DECAYED",
            f"DECAYED = {tuple(self.decayed)!r}",
            f"REDUCTION = {t.reduction!r}   # the batch loss: summed, or times 1/N (mse is a mean already)"]) + "\n"
        parts = [constants]
        if self.decayed:
            parts += [self.regulariser(), self.regularised_loss_and_gradients()]
        return parts + [self.step()]

    def regulariser(self) -> str:
        terms = [f"{self.np}.sum({self.pr(self._constant(term))})" for term in _regulariser_terms(self.d).values()]
        body = self.load(self.decayed) + [f"return {' + '.join(terms)}"]
        return self.define("_regulariser(params)", "lambda/2 sum p^2 over the decayed parameters (DECAYED), "
                           "counted once per batch.", [b.replace("[:, None]", "") for b in body], public=False)

    def regularised_loss_and_gradients(self) -> str:
        E = self.p.loss
        body = [f"{E}, grads = _data_loss_and_gradients(params, X, T)"]
        body += [b.replace("[:, None]", "") for b in self.load(self.decayed)]
        body.append(f"{E} = {E} + _regulariser(params)")
        # each decay term is the derivation's: sympy.diff of lambda/2 p^2, written for the whole array
        body += [f'grads["{key}"] = grads["{key}"] + {self.pr(self._constant(g))}' for key, g in self.decayed.items()]
        body.append(f"return {E}, grads")
        return self.define("loss_and_gradients(params, X, T)",
                           f"({E}, gradients) of the regularised loss: the data loss's from one forward and one "
                           "backward pass, plus the regulariser and its gradient.", body)

    def step(self) -> str:
        rule = _update_rule(self.net, sp.Symbol("grads[key]"), sp.Symbol("state[key]"))
        body = ["grads = gradients(params, X, T)",
                "if state is None:      # Delta p(0) = 0",
                "    state = {key: 0*grads[key] for key in grads}",
                f"delta = {{key: {self.pr(self._constant(rule))} for key in grads}}",
                "return {key: _param(params, key) + delta[key] for key in PARAMETERS}, delta"]
        doc = "\n".join([
            "One step of the learning rule on loss(): Delta p(n) = MOMENTUM*Delta p(n-1) - eta*dE/dp(n),",
            "    p(n+1) = p(n) + Delta p(n) (Haykin's generalized delta rule), for every params key.",
            "",
            "    state holds Delta p(n-1), keyed like params (None on the first call, where Delta p(0) = 0);",
            "    returns (new params, the new state Delta p(n)). With the same constant eta this equals",
            "    torch.optim.SGD(lr=eta, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, dampening=0) step for",
            "    step, the parameters outside DECAYED in a group with weight_decay=0: torch keeps",
            "    buf = MOMENTUM*buf + g and steps p -= eta*buf, so its buf is -Delta p/eta, which equals",
            "    Haykin's recursion only while eta stays the same from step to step.",
            "    "])
        return self.define("step(params, state, X, T, eta)", doc, body)


class _HessianVector:
    """The module's hessian_vector(): the R-operator's rules (symbp.rop), printed like the gradients."""

    def hvp_rules(self) -> list:
        from .rop import r_rules
        if not hasattr(self, "_hvp_rules"):
            self._hvp_rules = r_rules(self.d, output_delta_matrix(self.d))
        return self._hvp_rules

    def hvp_equations(self) -> list[str]:
        from .rop import equations
        lines = ["Hessian-vector product H V (hessian_vector): the R-operator R{f} = d/d(eps) f(params + eps V)",
                 "at eps = 0 (Pearlmutter 1994) applied to the equations above; V{key} is V[key]:"]
        return lines + [f"    {line}" for line in equations(self.hvp_rules(), to_text)]

    def hessian_vector(self) -> str:
        net, rules = self.net, self.hvp_rules()
        exprs = [e for r in rules for e in (r.Rv, r.Ry, r.Rdelta, *(g for _, g in r.grads), *(v for _, v in r.sums))]
        used = {s.name for e in exprs for s in e.atoms(sp.MatrixSymbol)}
        batch = any(e.has(net.batch) for e in exprs) or bool(self.batch_arg)
        head = [f"x, {self.t} = _samples(X, T)"] + (["N = x.shape[1]"] if batch or self.target.blocks else [])
        body = [f"values, {_tuple(self.deltas)} = _backward(params, x, {self.t}{', N' if self.batch_arg else ''})",
                f"{', '.join(self.values)} = values"]
        body += self.load(used)
        body += [f'V{k} = _param(V, "{k}", "V"){"[:, None]" if k[0] == "b" else ""}'
                 for k in self.parameters if f"V{k}" in used or k in self.hvp_decayed()]
        if _reads_target_sum(self.d) and any(e.has(target_sum(net)) for e in exprs):
            body.append(f"{self.pr(target_sum(net))} = {self.t}.sum(axis=0)")
        if net.e and self.p.error in used:      # the error e = t - y, as _backward computes it
            L, p = self.L, self.p
            yL, tL = sp.Symbol(self.out[L], real=True), sp.Symbol(p.target, real=True)
            body.append(f"{p.error} = {self.pr(net.error(1).xreplace({net.t[0]: tL, net.y[L][0]: yL}))}")
        for r in rules:
            body.append(f"R{self.vin[r.layer]} = {self.pr(r.Rv)}")
            body += [f"{s} = ({self.pr(v)}).sum(axis=0)" for s, v in r.sums]    # one sum per sample
            body.append(f"R{self.out[r.layer]} = {self.pr(r.Ry)}")
        for r in reversed(rules):
            body.append(f"Rdelta{r.layer} = {self.pr(r.Rdelta)}")
        out = []
        for r in rules:
            for key, g in r.grads:
                summed = self.target.printer(rename={**self.rename, f"Rdelta{r.layer}": f"Rdelta{r.layer}.sum(axis=1)",
                                                     f"delta{r.layer}": f"delta{r.layer}.sum(axis=1)"})
                body.append(f"h{key} = {(summed if key[0] == 'b' else self.printer).doprint(g)}")
                out.append(f'"{key}": h{key}')
        doc = ("H V: the Hessian of loss() times V (keyed and shaped like params), summed over the samples, by the "
               "R-operator; relu's phi'' is 0 away from its kink.")
        if not self.target.blocks:
            return self.define("hessian_vector(params, X, T, V)", doc,
                               head + body + self.hvp_decay() + ["return {" + ", ".join(out) + "}"])
        # Like loss_and_gradients: a large batch in blocks of BLOCK samples, so the temporaries stay in cache
        # (2-3-1, N = 100000: 3.4x faster); the regulariser's term is added once, to the sum.
        n = ", N" if batch else ""
        block = self.define(f"_block_hessian_vector(params, x, {self.t}, V{n})",
                            f"H V summed over the samples of one block{self.batch_doc}.",
                            body + ["return {" + ", ".join(out) + "}"], public=False)
        decay = self.hvp_decay()
        decayed = list(self.hvp_decayed())
        tail = ([f'V{k} = _param(V, "{k}", "V"){"[:, None]" if k[0] == "b" else ""}' for k in decayed]
                + [f'h{k} = H["{k}"]' for k in decayed] + decay
                + (["H = {**H, " + ", ".join(f'"{k}": h{k}' for k in decayed) + "}"] if decayed else []))
        public = head + [f"H = _block_hessian_vector(params, x[:, :BLOCK], {self.t}[:, :BLOCK], V{n})",
                         "for s in range(BLOCK, N, BLOCK):",
                         f"    more = _block_hessian_vector(params, x[:, s:s + BLOCK], {self.t}[:, s:s + BLOCK], V{n})",
                         "    H = {k: H[k] + more[k] for k in H}"] + tail + ["return H"]
        return block.rstrip("\n") + "\n\n\n" + self.define("hessian_vector(params, X, T, V)", doc, public)

    def hvp_decayed(self) -> dict:
        """params key -> the regulariser's gradient (lambda P) of each decayed key ([training] weight decay)."""
        return getattr(self.d, "matrix_decay", {})

    def hvp_decay(self) -> list[str]:
        """R{lambda P} = lambda V for each decayed key: sympy.diff of its decay term along V."""
        eps, lines = sp.Symbol("epsilon"), []
        for key, g in self.hvp_decayed().items():
            P, VP = sp.Symbol(key, real=True), sp.Symbol(f"V{key}", real=True)
            r = sp.diff(g.xreplace({P: P + eps * VP}), eps).xreplace({eps: 0})
            column = self.target.printer(rename={**self.rename, f"V{key}": f"V{key}[:, 0]"}) if key[0] == "b" else self.printer
            lines.append(f"h{key} = h{key} + {column.doprint(self._constant(r))}")
        return lines


class _PythonModule(_LearningRule, _HessianVector):
    """The source of one exported Python module, section by section, for one target."""

    def __init__(self, d: Derivation, target: PythonTarget):
        self.d, self.net, self.p, self.target = d, d.net, d.net.profile, target
        net, p, L = self.net, self.p, self.net.depth
        self.L = L
        self.np = target.printer.alias
        self.out = {0: "x", **{l: f"{p.out}{l}" for l in range(1, L + 1)}}
        self.vin = {l: f"{p.net}{l}" for l in range(1, L + 1)}
        self.t = p.target if p.target not in self.out.values() else f"{p.target}_"
        self.rename = {p.target: self.t} if self.t != p.target else {}
        self.printer = target.printer(rename=self.rename)
        self.values = [name for l in range(1, L + 1) for name in (self.vin[l], self.out[l])]
        self.deltas = [f"delta{l}" for l in range(1, L + 1)]
        self.matrix = {m.layer: m for m in d.matrix}
        self.parameters = net.param_keys()

    def pr(self, expr) -> str:
        return self.printer.doprint(expr)

    def source(self) -> str:
        body = [self.samples(), self.forward_pass(),
                self.backward_pass(), self.loss_helper(), self.layers(), self.forward(), self.loss(),
                self.local_gradients(), self.loss_and_gradients(), self.gradients(), *self.learning_rule(),
                self.hessian_vector()]
        # the header last: it imports math only where the body printed math.erf (gelu)
        parts = [self.header(), _PRELUDE.substitute(np=self.np, rng=self.target.random[0], prepare=self.target.random[1],
                                                    draw=self.target.random[2]), *body]
        text = "\n\n\n".join(part.rstrip("\n") for part in parts) + "\n"
        # the module must not name SymPy's Dummy symbols or leave anything unprinted
        if "Dummy" in text or "# Not supported" in text:
            raise RuntimeError("code printer left an unsupported expression in the exported module")
        return text

    def define(self, signature: str, doc: str, body: list[str], public: bool = True) -> str:
        head = [self.target.decorator] if public and self.target.decorator else []
        return "\n".join(head + [f"def {signature}:", f'    """{doc}"""'] + [f"    {b}" for b in body]) + "\n\n"

    def load(self, names) -> list[str]:
        """params[name] as arrays, biases as (n_l, 1) columns, for the parameters among ``names``."""
        index = "[:, None]"
        return [f'{k} = _param(params, "{k}"){index if k[0] == "b" else ""}'
                for k in self.parameters if k in names]

    # -- module header ----------------------------------------------------------------------
    def header(self) -> str:
        net, L = self.net, self.L
        doc = [f'"""Forward pass, loss and gradients of a network in {self.target.library}, generated by symbp from its derivation.', ""]
        doc += _describe(self.d)
        doc += ["", "Arrays are laid out one column per sample inside: X (N, n0) is used as x = X.T, and",
                "each per-sample matrix rule below is evaluated for the whole batch at once (the",
                "products delta @ y.T sum the per-sample gradients over the batch).", "",
                *self.target.notes,
                *self.api(),
                "Equations evaluated (per sample; @ matrix product, * elementwise, .T transpose):"]
        doc += [f"    {line}" for line in _equations(self.d)]
        doc += self.hvp_equations()
        skips = ", a skip W{l}_{s} of shape (n_l, n_s)" if net.spec.skip else ""
        doc += ["", f"params maps W1, b1, W2, ... to arrays, W{{l}} of shape (n_l, n_{{l-1}}){skips}, b{{l}} of shape (n_l,).",
                "Generated code: edit the network spec and export again rather than this file.", '"""']
        constants = [f"LAYERS = {tuple(net.layers)!r}",
                     f"ACTIVATIONS = {tuple(net.activation(l).name for l in range(1, L + 1))!r}",
                     f"LOSS = {net.loss.name!r}",
                     f"BIAS_SIGN = {net.bias_sign if net.bias else 0!r}",
                     f"PARAMETERS = {tuple(self.parameters)!r}",
                     f"SHAPES = {param_shapes(net)!r}",
                     f"N_PARAMS = {net.n_params}",
                     f"INIT = {self.init_schemes()!r}   # each weight's default scheme: its layer's activation",
                     f"FAN_IN = {self.fan_in()!r}   # inputs of each weight's layer, over all its connections"]
        if not net.graph.is_chain:      # (s, l) pairs, as in the spec
            constants += [f"SKIP = {tuple(net.spec.skip)!r}", f"RESIDUAL = {tuple(net.spec.residual)!r}"]
        if self.target.blocks:
            constants.append(f"BLOCK = {block_size(net.layers)}   # samples per block of gradients()")
        imports = [*self.target.imports, *(["import math"] if "math" in self.printer.module_imports else [])]
        return "\n".join([*doc, *imports, "", *constants]) + "\n"

    def init_schemes(self) -> dict[str, str]:
        net = self.net
        return {c.key: net.activation(c.dst).init for l in net.graph.order for c in net.graph.inputs(l)}

    def fan_in(self) -> dict[str, int]:
        net, n = self.net, self.net.layers
        return {c.key: sum(n[i.src] for i in net.graph.inputs(l)) for l in net.graph.order for c in net.graph.inputs(l)}

    def api(self) -> list[str]:
        """The public functions, for the header."""
        E = self.p.loss
        return ["Functions (X is (N, n0) or one sample (n0,), T likewise):",
                "    forward(params, X)             the network output",
                "    layers(params, X)              (net input, output) of every layer",
                f"    loss(params, X, T)             {E}",
                "    deltas(params, X, T)           the local gradient of every layer",
                "    gradients(params, X, T)        the gradient of every params key, keyed like params",
                f"    loss_and_gradients(params, X, T)  ({E}, gradients) from one forward and one backward pass",
                "    ravel(params), unravel(vector)  params as one 1-D vector (PARAMETERS order, row-major) and back",
                "    hessian_vector(params, X, T, V)  the Hessian of loss() times V (keyed like params)",
                f"    init_params({self.target.random[0]}, scheme=None)  random weights (\"glorot\" or \"he\"), zero biases",
                "    step(params, state, X, T, eta)  one step of gradient descent with MOMENTUM -> (params, state)",
                "A missing or misshapen params key raises an error naming the key and the shape expected.",
                "The dtype is kept: float32 arguments give float32 results (mixed ones follow NumPy's",
                "promotion; integers and lists compute in float64).", ""]

    # -- internal functions, on (units, N) arrays -------------------------------------------
    def samples(self) -> str:
        n = self.net.layers
        return self.define("_samples(X, T)", f"Inputs and targets as ({n[0]}, N) and ({n[-1]}, N) arrays, one column per sample.", [
            f'x = _columns(X, {n[0]}, "X")',
            f'{self.t} = _columns(T, {n[-1]}, "T")',
            f"if x.shape[1] != {self.t}.shape[1]:",
            '    raise ValueError("X and T have different numbers of samples")',
            f"return x, {self.t}"], public=False)

    def forward_pass(self) -> str:
        net, n = self.net, self.net.layers
        body = self.load(self.parameters)
        for l in net.graph.order:
            terms = [sp.MatrixSymbol(c.key, n[l], n[c.src]) * sp.MatrixSymbol(self.out[c.src], n[c.src], 1)
                     for c in net.graph.inputs(l)]     # chain first, then the skips: the order of the equations
            if net.bias:
                terms.append(net.bias_sign * sp.MatrixSymbol(f"b{l}", n[l], 1))
            vin = sp.MatAdd(*terms) if len(terms) > 1 else terms[0]
            body.append(f"{self.vin[l]} = {self.pr(vin)}")
            act, v = net.activation(l), sp.Symbol(self.vin[l], real=True)
            if act.elementwise:     # plus the outputs that residual shortcuts add
                shortcuts = [self.out[c.src] for c in net.graph.shortcuts(l)]
                body.append(f"{self.out[l]} = {self.printer._join_terms([self.pr(act.function(v)), *shortcuts])}")
            else:  # softmax: exp(v_j - log sum_m exp(v_m)), the identity softmax_j = exp(v_j)/sum exp(v_m)
                lse, log_y = sp.Symbol(f"lse{l}"), sp.Symbol(f"log_{self.out[l]}", real=True)
                y = sp.exp(v - lse).xreplace({lse: v - log_y})     # log_softmax_j = v_j - lse, its definition
                body += [f"{log_y} = log_softmax({self.vin[l]})", f"{self.out[l]} = {self.pr(y)}"]
        body.append(f"return {', '.join(self.values)}")
        return self.define("_forward(params, x)",
                           f"Net inputs and outputs of {'layers 1..' + str(self.L) if self.L > 1 else 'layer 1'}, "
                           "(n_l, N) each, for inputs x of shape (n0, N).",
                           body, public=False)

    def backward_pass(self) -> str:
        net, p, L = self.net, self.p, self.L
        rules = [output_delta_matrix(self.d)] + [self.matrix[l].delta for l in range(L - 1, 0, -1)]
        used = {s.name for r in rules for s in r.atoms(sp.MatrixSymbol)}
        body = self.load(used) + ["values = _forward(params, x)", f"{', '.join(self.values)} = values"]
        if _reads_target_sum(self.d):     # one sum per sample: a (N,) row that broadcasts over the units
            body.append(f"{self.pr(target_sum(net))} = {self.t}.sum(axis=0)")
        if net.e:
            yL, tL = sp.Symbol(self.out[L], real=True), sp.Symbol(p.target, real=True)
            body.append(f"{p.error} = {self.pr(net.error(1).xreplace({net.t[0]: tL, net.y[L][0]: yL}))}")
        body += [f"delta{l} = {self.pr(r)}" for l, r in zip(range(L, 0, -1), rules)]
        body.append(f"return values, {_tuple(self.deltas)}")
        return self.define(f"_backward(params, x, {self.t}{self.batch_arg})",
                           f"The forward values and the local gradients {_span('delta', L)}, (n_l, n) each "
                           f"({p.delta_definition}){self.batch_doc}.", body, public=False)

    @property
    def batch_arg(self) -> str:
        """', N' where a delta rule carries the batch size (mse): a block of samples must use the whole batch's."""
        return ", N" if any(rule.has(self.net.batch) for m in self.matrix.values()
                            for rule in (m.delta, *(g for _, g in m.weight_grads), m.grad_b) if rule is not None) else ""

    @property
    def batch_doc(self) -> str:
        return "; N is the number of samples in the whole batch" if self.batch_arg else ""

    # -- public API ---------------------------------------------------------------------------
    def layers(self) -> str:
        return self.define("layers(params, X)", "(net input, output) of every computing layer, (N, n_l) each (1-D for one sample).", [
            f'values = _forward(params, _columns(X, {self.net.layers[0]}, "X"))',
            "return [(_rows(v, X), _rows(y, X)) for v, y in zip(values[0::2], values[1::2])]"])

    def forward(self) -> str:
        n, yL = self.net.layers, self.out[self.L]
        return self.define("forward(params, X)",
                           f"The network output {yL}, (N, {n[-1]}) for X of shape (N, {n[0]}); one sample ({n[0]},) gives ({n[-1]},).", [
            f'{", ".join(self.values)} = _forward(params, _columns(X, {n[0]}, "X"))',
            f"return _rows({yL}, X)"])

    @property
    def needs_batch(self) -> bool:
        """Whether _loss takes the whole batch's N (mse's 1/N)."""
        return self.loss_total()[1].has(self.net.batch)

    def loss_total(self) -> tuple[list[str], sp.Expr, str]:
        """(lines, coefficient, the summed per-unit term) of E, from the forward values."""
        net, L = self.net, self.L
        yL, vL = sp.Symbol(self.out[L], real=True), sp.Symbol(self.vin[L], real=True)
        tL, lse = sp.Symbol(self.t, real=True), sp.Symbol(f"lse{L}", real=True)
        log_y = sp.Symbol(f"log_{self.out[L]}", real=True)
        term = _generic(net, L, lambda j: _stable_term(net, net.y[L][j - 1], net.v[L][j - 1], net.t[j - 1], lse),
                        {"y": yL, "v": vL, "t": tL}).xreplace({lse: vL - log_y})   # log_softmax_j = v_j - lse
        coeff, per_unit = term.as_independent(yL, vL, tL, log_y, as_Add=False)
        lines = [f"{log_y} = log_softmax({self.vin[L]})"] if per_unit.has(log_y) else []
        return lines, coeff, f"{self.np}.sum({self.pr(per_unit)})"

    def loss_helper(self) -> str:
        """_loss(values, t[, N]): E from the forward values, an array scalar of their dtype."""
        lines, coeff, total = self.loss_total()
        sign = ""
        if coeff.could_extract_minus_sign():
            sign, coeff = "-", -coeff
        num, den = sp.fraction(coeff)
        if num != 1:
            total = f"{self.printer.parenthesize(num, PRECEDENCE['Mul'])}*{total}"
        if den != 1:
            total = f"{total}/{self.printer.parenthesize(den, PRECEDENCE['Pow'])}"
        body = [f"{', '.join(self.values)} = values", *lines, f"return {sign}{total}"]
        n = ", N" if self.needs_batch else ""
        return self.define(f"_loss(values, {self.t}{n})",
                           f"{self.p.loss} of the samples whose forward values are given{self.batch_doc}.",
                           body, public=False)

    def loss(self) -> str:
        net, p = self.net, self.p
        n = ", x.shape[1]" if self.needs_batch else ""
        body = [f"x, {self.t} = _samples(X, T)",
                f"return _loss(_forward(params, x), {self.t}{n}){' + _regulariser(params)' if self.decayed else ''}"]
        mean = " (divided by N)" if net.loss_scale != 1 else ""
        mean += ", plus the regulariser _regulariser(params)" if self.decayed else ""
        return self.define("loss(params, X, T)", f"{p.loss}, the loss summed over the samples and the output units{mean}.", body)

    def local_gradients(self) -> str:
        return self.define("deltas(params, X, T)",
                           f"[{', '.join(self.deltas)}] ({self.p.delta_definition}), (N, n_l) each (1-D for one sample).", [
            f"x, {self.t} = _samples(X, T)",
            f"values, local = _backward(params, x, {self.t}{', x.shape[1]' if self.batch_arg else ''})",
            "return [_rows(delta, X) for delta in local]"])

    def wrt(self) -> str:
        net, p = self.net, self.p
        weights = [f"d{p.loss}/dW{{l}}"] + ([f"d{p.loss}/dW{{l}}_{{s}}"] if net.spec.skip else [])
        return (", ".join(weights) + f" and d{p.loss}/db{{l}}") if net.bias else " and ".join(weights)

    def gradients(self) -> str:
        doc = f"{self.wrt()} summed over the samples, keyed like params (loss_and_gradients without the loss)."
        return self.define("gradients(params, X, T)", doc, ["return loss_and_gradients(params, X, T)[1]"])

    def loss_and_gradients(self) -> str:
        wrt, E = self.wrt(), self.p.loss
        doc = f"({E}, gradients) from one forward and one backward pass: what loss() and gradients() return."
        n = self.batch_arg or (", N" if self.needs_batch else "")
        # under weight decay the public loss_and_gradients (learning_rule) adds the regulariser to these
        name, public = ("_data_loss_and_gradients", False) if self.decayed else ("loss_and_gradients", True)
        if self.decayed:
            doc = f"({E}, gradients) of the data loss alone, without the regulariser."
        if not self.target.blocks:
            body = [f"x, {self.t} = _samples(X, T)"] + self.gradient_lines("x.shape[1]", n)
            return self.define(f"{name}(params, X, T)", doc, body, public)
        block = self.define(f"_block_loss_and_gradients(params, x, {self.t}{n})",
                            f"{E} and {wrt} summed over the samples of one block{self.batch_doc}.",
                            self.gradient_lines("N", n), public=False)
        body = [f"x, {self.t} = _samples(X, T)",
                "N = x.shape[1]",
                f"{E}, grads = _block_loss_and_gradients(params, x[:, :BLOCK], {self.t}[:, :BLOCK]{n})",
                "for s in range(BLOCK, N, BLOCK):",
                f"    more_{E}, more = _block_loss_and_gradients(params, x[:, s:s + BLOCK], {self.t}[:, s:s + BLOCK]{n})",
                f"    {E}, grads = {E} + more_{E}, {{k: grads[k] + more[k] for k in grads}}",
                f"return {E}, grads"]
        return block.rstrip("\n") + "\n\n\n" + self.define(f"{name}(params, X, T)", doc, body, public)

    def gradient_lines(self, batch: str, n: str) -> list[str]:
        """The body that turns (units, n) samples into (E, the summed gradients); ``batch`` is N's expression."""
        net = self.net
        body = [f"values, {_tuple(self.deltas)} = _backward(params, x, {self.t}{self.batch_arg})",
                f"{', '.join(self.values)} = values"]
        if n and batch != "N":
            body.insert(0, f"N = {batch}")
        grads = []
        for l in net.graph.order:
            m = self.matrix[l]
            for key, grad in m.weight_grads:      # W{l}, then its skips W{l}_{s}
                body.append(f"d{key} = {self.pr(grad)}")
                grads.append(f'"{key}": d{key}')
            if net.bias:
                batch_sum = self.target.printer(rename={**self.rename, f"delta{l}": f"delta{l}.sum(axis=1)"})
                body.append(f"db{l} = {batch_sum.doprint(m.grad_b)}")
                grads.append(f'"b{l}": db{l}')
        loss = f"_loss(values, {self.t}{', N' if self.needs_batch else ''})"
        body.append(f"return {loss}, " + "{" + ", ".join(grads) + "}")
        return body


def _span(name: str, L: int) -> str:
    """delta1..delta3, or delta1 alone."""
    return f"{name}1..{name}{L}" if L > 1 else f"{name}1"


def block_size(layers) -> int:
    """Samples per block: at least 1024 (matrix products stay efficient), more for narrow layers
    so that a (units, block) temporary is about 256 KB (it stays in cache, and is not faulted in afresh)."""
    size = 1024
    while size * 2 * max(layers[1:]) * 8 <= 2 ** 18:
        size *= 2
    return size


def module_source(d, target: str = "numpy") -> str:
    """The text of the standalone Python module ("numpy" or "jax") for a derivation.

    ``d`` is a Derivation, or anything ``export`` accepts. The module defines ``layers``,
    ``forward``, ``loss``, ``deltas``, ``gradients`` and ``loss_and_gradients`` and imports only
    its array library.
    """
    if target not in PYTHON_TARGETS:
        raise ValueError(f"module_source target must be one of {', '.join(PYTHON_TARGETS)}, not {target!r}")
    return _PythonModule(_derivation(d), PYTHON_TARGETS[target]).source()


# -- C99 ---------------------------------------------------------------------------------

C_TYPES = {"float64": "double", "float32": "float"}     # --dtype: the C type of every array and value


class CPrinter(C99CodePrinter):
    """C99 for the elementwise pieces: the stable forms of the registry's functions, printed as SymPy
    expressions so that a float32 module's math is float throughout (expf, 0.5F)."""

    def __init__(self, dtype: str = "float64"):
        # no math_macros: M_SQRT2 and M_PI (gelu) are POSIX, not C99; the numbers are printed instead
        super().__init__({"math_macros": {}, **({"type_aliases": {real: float32}} if dtype == "float32" else {})})

    def _print_Pi(self, expr):
        return self._print(sp.Float(sp.pi, 17))

    def _print_Exp1(self, expr):
        return self._print(sp.Float(sp.E, 17))

    def function(self, name: str) -> str:
        """A <math.h> function of the module's type: exp, or expf for float."""
        return name + self._get_func_suffix(real)

    def _print_sigmoid(self, expr):
        """1/(1 + exp(-v)) for v >= 0, exp(v)/(1 + exp(v)) below: the ternary evaluates one side, whose
        exp never overflows, and sigma(v) keeps its relative precision for v << 0."""
        x = expr.args[0]
        return (f"(({self._print(x)} >= 0) ? {self._print(1/(1 + sp.exp(-x)))} : "
                f"{self._print(sp.exp(x)/(1 + sp.exp(x)))})")

    def _print_softplus(self, expr):
        x = expr.args[0]
        return f"({self._print(sp.Max(x, 0) + log1p(sp.exp(-sp.Abs(x))))})"

    def _print_relu(self, expr):
        return self._print(sp.Max(expr.args[0], 0))

    def _print_Heaviside(self, expr):
        at0 = expr.args[1] if len(expr.args) > 1 else sp.Rational(1, 2)
        x = self._print(expr.args[0])
        if at0 == 0:
            return f"(({x} > 0) ? 1 : 0)"
        return f"(({x} > 0) ? 1 : (({x} < 0) ? 0 : {self._print(sp.Float(at0))}))"


def _c_offsets(net: Network) -> dict[str, int]:
    """Where each params key starts in the flat params array, in the network's parameter order."""
    offsets, pos = {}, 0
    for key, shape in param_shapes(net).items():
        offsets[key] = pos
        pos += math.prod(shape)
    return offsets


def _c_header(m: _CModule) -> list[str]:
    d, stem, offsets, n_params, R = m.d, m.stem, m.offsets, m.n_params, m.R
    net, n = d.net, d.net.layers
    guard = "SYMBP_" + "".join(c if c.isascii() and c.isalnum() else "_" for c in stem.upper()) + "_H"
    comment = [f" * {line}" for line in _describe(d)]
    comment += [" *", " * Equations evaluated per sample n (summed over the batch):"]
    comment += [f" *     {line}" for line in _equations(d)]
    comment += m.learning_equations()
    keys = "b1, W2, b2, ..." if net.graph.is_chain else ", ".join(list(offsets)[1:]) + " (skips W{l}_{s} row-major too)"
    layout = [" *", f" * Arrays are flat, row-major, of C type {R}:",
              f" *   X      [N * {n[0]}]   sample n, input k at X[n*{n[0]} + k]",
              f" *   T      [N * {n[-1]}]   targets, like X",
              f" *   Y      [N * {n[-1]}]   outputs of forward(), like T",
              f" *   params [{n_params}]  W1 (row-major, W1[j][k] at j*{n[0]} + k), {keys} at the offsets below",
              f" *   grad   [{n_params}]  gradients(), laid out like params",
              f" *   state  [{n_params}]  step()'s Delta p(n-1), laid out like params"]
    header = ["/* Forward pass, loss and gradients of a network, generated by symbp from its derivation.",
              " *", *comment, *layout, " */",
              f"#ifndef {guard}", f"#define {guard}", "", "#include <stddef.h>", "",
              f"#define SYMBP_N_INPUTS {n[0]}", f"#define SYMBP_N_OUTPUTS {n[-1]}",
              f"#define SYMBP_N_PARAMS {n_params}"]
    header += [f"#define SYMBP_OFFSET_{k.upper()} {v}" for k, v in offsets.items()]
    header += m.learning_constants()
    mean = " (times 1/N)" if net.loss_scale != 1 else ""
    decayed = f", plus the regulariser over {', '.join(m.decayed)}" if m.decayed else ""
    return header + ["",
                     "/* Outputs of the last layer for N samples: Y[n*n_L + j]. */",
                     f"void forward(const {R} *params, const {R} *X, size_t N, {R} *Y);",
                     f"/* The loss summed over the N samples{mean}{decayed}. */",
                     f"{R} loss(const {R} *params, const {R} *X, const {R} *T, size_t N);",
                     "/* dE/dparams summed over the N samples, written to grad (overwritten, not accumulated). */",
                     f"void gradients(const {R} *params, const {R} *X, const {R} *T, size_t N, {R} *grad);",
                     "/* loss() and gradients() from one forward and one backward pass per sample: returns the loss. */",
                     f"{R} loss_and_gradients(const {R} *params, const {R} *X, const {R} *T, size_t N,",
                     f"                          {R} *grad);",
                     "/* One step of the learning rule on loss(), in place: Delta p(n) = SYMBP_MOMENTUM*Delta p(n-1)",
                     " * - eta*dE/dp(n) and p(n+1) = p(n) + Delta p(n) for every entry (Haykin's generalized delta",
                     " * rule). state holds Delta p(n-1) (all zero before the first step: Delta p(0) = 0) and is",
                     " * overwritten by Delta p(n); grad is workspace that ends holding dE/dp(n). params, state and",
                     " * grad must not overlap. Returns the loss at the parameters before the step. With the same",
                     " * eta on every step this is torch.optim.SGD(lr=eta, momentum=SYMBP_MOMENTUM, weight_decay=",
                     " * SYMBP_WEIGHT_DECAY, dampening=0), the undecayed parameters in a group of weight_decay=0:",
                     " * torch's buffer is -Delta p/eta. */",
                     f"{R} step({R} *params, {R} *state, const {R} *X, const {R} *T, size_t N, {R} eta, {R} *grad);",
                     "", f"#endif /* {guard} */", ""]


class _CModule:
    """The C source: a struct of every unit's values, forward_sample(), forward(), loss(), gradients()."""

    def __init__(self, d: Derivation, stem: str, offsets: dict, n_params: int, dtype: str = "float64"):
        self.d, self.net, self.p, self.stem = d, d.net, d.net.profile, stem
        self.n, self.L, self.offsets, self.n_params = d.net.layers, d.net.depth, offsets, n_params
        self.printer = CPrinter(dtype)
        self.pr, self.fn = self.printer.doprint, self.printer.function
        self.R = C_TYPES[dtype]
        self.decayed = d.matrix_decay      # params key -> lambda*P, the regulariser's gradient (derive.py)

    def _constant(self, expr: sp.Expr) -> sp.Expr:
        return expr.xreplace(_learning_constants(self.net, "SYMBP_"))

    def learning_constants(self) -> list[str]:
        """#defines of alpha and lambda, printed in the module's type (0.9F for float)."""
        t, consts = self.net.training, _learning_constants(self.net, "SYMBP_")
        over = ", ".join(self.decayed) or "no parameter"
        return [f"#define {consts[self.net.alpha]} {self.pr(sp.Float(t.momentum))}   /* alpha */",
                f"#define {consts[self.net.lam]} {self.pr(sp.Float(t.weight_decay))}   /* lambda, over {over} */"]

    def learning_equations(self) -> list[str]:
        """The [training] part of the header's equations, from the derived regulariser and update rule."""
        net, E = self.net, self.p.loss
        lines = [" *", f" * Learning rule (reduction \"{net.training.reduction}\"; lam = SYMBP_WEIGHT_DECAY, "
                 "alpha = SYMBP_MOMENTUM):"]
        if self.decayed:
            terms = " + ".join(f"sum {to_text(term)}" for term in _regulariser_terms(self.d).values())
            lines.append(f" *     {E} = ... + {terms}   (over each array's entries, once per batch)")
            lines += [f" *     d{E}/d{key} = ... + {to_text(g)}" for key, g in self.decayed.items()]
        rule = _update_rule(net, sp.Symbol(f"d{E}/dp(n)"), sp.Symbol("Delta p(n-1)"))
        return lines + [f" *     step: Delta p(n) = {to_text(rule)}, p(n+1) = p(n) + Delta p(n)"]

    def entries(self, key: str) -> tuple[str, sp.Symbol]:
        """The loop over the entries of params key and the entry as a symbol: params[offset + i]."""
        size = math.prod(param_shapes(self.net)[key])
        return f"for (size_t i = 0; i < {size}; ++i)", sp.Symbol(f"params[{self.offsets[key]} + i]", real=True)

    def out(self, l: int, unit: str = "u->") -> str:
        """The C array of y(l): x for the input, else the struct's member."""
        return "x" if l == 0 else f"{unit}{self.p.out}{l}"

    def source(self) -> str:
        R = self.R
        src = [f"/* Generated by symbp; see {self.stem}.h for the network, the equations and the array layout. */",
               f'#include "{self.stem}.h"', "", "#include <math.h>", "#include <string.h>", ""]
        src.append("typedef struct {")
        src += [f"    {R} {self.p.net}{l}[{self.n[l]}], {self.p.out}{l}[{self.n[l]}], delta{l}[{self.n[l]}];"
                for l in self.net.graph.order]
        src += ["} units;", ""]
        src += self.forward_sample() + self.regulariser() + self.forward() + self.loss() + self.loss_and_gradients()
        src += self.gradients() + self.step()
        return "\n".join(src) + "\n"

    def regulariser(self) -> list[str]:
        """regulariser(), lambda/2 sum p^2, and add_decay(), its gradient, over the decayed keys: each
        key's derived term printed for every entry. Absent without weight decay."""
        if not self.decayed:
            return []
        R, terms = self.R, _regulariser_terms(self.d)
        src = ["/* lambda/2 sum p^2 over the decayed parameters, counted once per batch. */",
               f"static {R} regulariser(const {R} *params)", "{", f"    {R} r = 0;"]
        for key, term in terms.items():
            loop, entry = self.entries(key)
            src.append(f"    {loop} r += {self.pr(self._constant(term.xreplace({sp.Symbol(key, real=True): entry})))};")
        src += ["    return r;", "}", "",
                "/* d/dp of the regulariser (sympy.diff of lambda/2 p^2), added to grad once per batch. */",
                f"static void add_decay(const {R} *params, {R} *grad)", "{"]
        for key, g in self.decayed.items():
            loop, entry = self.entries(key)
            src.append(f"    {loop} grad[{self.offsets[key]} + i] += "
                       f"{self.pr(self._constant(g.xreplace({sp.Symbol(key, real=True): entry})))};")
        return src + ["}", ""]

    def step(self) -> list[str]:
        """step(): the update rule the derivation states, printed for every entry."""
        R = self.R
        rule = self._constant(_update_rule(self.net, sp.Symbol("grad[i]", real=True), sp.Symbol("state[i]", real=True)))
        return ["", f"{R} step({R} *params, {R} *state, const {R} *X, const {R} *T, size_t N, {R} eta, {R} *grad)",
                "{", f"    const {R} total = loss_and_gradients(params, X, T, N, grad);",
                f"    for (size_t i = 0; i < {self.n_params}; ++i) {{",
                f"        state[i] = {self.pr(rule)};",
                "        params[i] += state[i];", "    }", "    return total;", "}"]

    def forward_sample(self) -> list[str]:
        R = self.R
        net, n, p = self.net, self.n, self.p
        src = [f"static void forward_sample(const {R} *params, const {R} *x, units *u)", "{"]
        for l in net.graph.order:
            v_arr, y_arr = f"u->{p.net}{l}", f"u->{p.out}{l}"
            v_sym = sp.Symbol(f"{v_arr}[j]", real=True)
            sign = ("+" if net.bias_sign > 0 else "-")
            src.append(f"    for (size_t j = 0; j < {n[l]}; ++j) {{")
            for i, c in enumerate(net.graph.inputs(l)):      # the chain, then each skip into the layer
                src.append(f"        {f'const {R} *' if i == 0 else ''}w = params + {self.offsets[c.key]} + j*{n[c.src]};")
                if i == 0:
                    src.append(f"        {R} s = 0;")
                src.append(f"        for (size_t k = 0; k < {n[c.src]}; ++k) s += w[k]*{self.out(c.src)}[k];")
            bias = f" {sign} params[{self.offsets[f'b{l}']} + j]" if net.bias else ""
            src.append(f"        {v_arr}[j] = s{bias};")
            act = net.activation(l)
            if act.elementwise:
                shortcuts = "".join(f" + {self.out(c.src)}[j]" for c in net.graph.shortcuts(l))
                src.append(f"        {y_arr}[j] = {self.pr(act.function(v_sym))}{shortcuts};")
                src.append("    }")
            else:
                src.append("    }")
                src += self.logsumexp(v_arr, n[l], "    ")
                src.append(f"    for (size_t j = 0; j < {n[l]}; ++j) {y_arr}[j] = "
                           f"{self.fn('exp')}({self.log_softmax(v_arr)});")
        return src + ["}", ""]

    def logsumexp(self, v_arr: str, width: int, indent: str) -> list[str]:
        R, fn = self.R, self.fn
        return [f"{indent}{R} top = {v_arr}[0];",
                f"{indent}for (size_t j = 1; j < {width}; ++j) top = {fn('fmax')}(top, {v_arr}[j]);",
                f"{indent}{R} sum = 0;",
                f"{indent}for (size_t j = 0; j < {width}; ++j) sum += {fn('exp')}({v_arr}[j] - top);",
                f"{indent}const {R} log_sum = {fn('log')}(sum);"]

    @staticmethod
    def log_softmax(v_arr: str) -> str:
        """log softmax_j as (v_j - top) - log_sum: C evaluates left to right, and v_j - top is exact."""
        return f"{v_arr}[j] - top - log_sum"

    def forward(self) -> list[str]:
        R = self.R
        n, yL = self.n, f"{self.p.out}{self.L}"
        return [f"void forward(const {R} *params, const {R} *X, size_t N, {R} *Y)", "{", "    units u;",
                "    for (size_t n = 0; n < N; ++n) {",
                f"        forward_sample(params, X + n*{n[0]}, &u);",
                f"        memcpy(Y + n*{n[-1]}, u.{yL}, sizeof u.{yL});",
                "    }", "}", ""]

    def output_symbols(self) -> dict:
        L, p = self.L, self.p
        return {"y": sp.Symbol(f"u.{p.out}{L}[j]", real=True), "v": sp.Symbol(f"u.{p.net}{L}[j]", real=True),
                "t": sp.Symbol("t[j]", real=True)}

    def loss_lines(self, indent: str) -> list[str]:
        """Adds sample n's loss to total, once forward_sample has filled u."""
        R = self.R
        net, n, L = self.net, self.n, self.L
        names, lse = self.output_symbols(), sp.Symbol("lse", real=True)
        term = _generic(net, L, lambda jj: _stable_term(net, net.y[L][jj - 1], net.v[L][jj - 1], net.t[jj - 1], lse),
                        names)
        term = term.xreplace({net.batch: sp.Symbol(f"({R})N")})
        if not term.has(lse):
            return [f"{indent}for (size_t j = 0; j < {n[L]}; ++j) total += {self.pr(term)};"]
        log_y, v_arr = sp.Symbol("log_y", real=True), f"u.{self.p.net}{L}"
        term = term.xreplace({lse: names["v"] - log_y})           # log_softmax_j = v_j - lse
        return self.logsumexp(v_arr, n[L], indent) + [
            f"{indent}for (size_t j = 0; j < {n[L]}; ++j) {{",
            f"{indent}    const {R} log_y = {self.log_softmax(v_arr)};",
            f"{indent}    total += {self.pr(term)};", f"{indent}}}"]

    def loss(self) -> list[str]:
        R = self.R
        n = self.n
        src = [f"{R} loss(const {R} *params, const {R} *X, const {R} *T, size_t N)", "{",
               "    units u;", f"    {R} total = 0;", "    for (size_t n = 0; n < N; ++n) {",
               f"        const {R} *t = T + n*{n[-1]};", f"        forward_sample(params, X + n*{n[0]}, &u);"]
        decay = ["    total += regulariser(params);"] if self.decayed else []
        return src + self.loss_lines("        ") + ["    }", *decay, "    return total;", "}", ""]

    def gradients(self) -> list[str]:
        """gradients() is loss_and_gradients() without the loss."""
        R = self.R
        return [f"void gradients(const {R} *params, const {R} *X, const {R} *T, size_t N, {R} *grad)",
                "{", "    (void)loss_and_gradients(params, X, T, N, grad);", "}"]

    def loss_and_gradients(self) -> list[str]:
        """The loss and, from the derivation's rules, the deltas back to front, then every parameter's gradient."""
        R = self.R
        net, n, L = self.net, self.n, self.L
        src = [f"{R} loss_and_gradients(const {R} *params, const {R} *X, const {R} *T, size_t N, "
               f"{R} *grad)",
               "{", "    units u;", f"    {R} total = 0;", f"    memset(grad, 0, {self.n_params}*sizeof *grad);",
               "    for (size_t n = 0; n < N; ++n) {",
               f"        const {R} *x = X + n*{n[0]};", f"        const {R} *t = T + n*{n[-1]};",
               "        forward_sample(params, x, &u);", *self.loss_lines("        ")]
        total = sp.Symbol("t_sum", real=True) if _reads_target_sum(self.d) else None
        out_delta = _output_delta(self.d, self.output_symbols(), total).xreplace({net.batch: sp.Symbol(f"({R})N")})
        if total is not None:     # sum_m t_m of the sample, which the general output delta reads
            src += [f"        {R} t_sum = 0;", f"        for (size_t j = 0; j < {n[L]}; ++j) t_sum += t[j];"]
        src.append(f"        for (size_t j = 0; j < {n[L]}; ++j) u.delta{L}[j] = {self.pr(out_delta)};")
        for l in reversed(net.graph.order[:-1]):
            src += self.hidden_delta(l)
        for l in net.graph.order:
            src += self.layer_gradients(l)
        src.append("    }")
        if self.decayed:     # the regulariser is no sum over samples: its terms are added once
            src += ["    total += regulariser(params);", "    add_decay(params, grad);"]
        return src + ["    return total;", "}", ""]

    def hidden_delta(self, l: int) -> list[str]:
        R = self.R
        net, n, p = self.net, self.n, self.p
        slope = _activation_slope(self.d, l, {"y": sp.Symbol(f"u.{p.out}{l}[j]", real=True),
                                              "v": sp.Symbol(f"u.{p.net}{l}[j]", real=True)})
        paths = net.graph.paths(l)
        what = ("of the next layer" if len(paths) == 1 else
                "over every path out of the layer: " + ", ".join(_path_name(path) for path in paths))
        src = [f"        for (size_t j = 0; j < {n[l]}; ++j) {{",
               f"            {R} s = 0;   /* sum_m delta_m w_mj {what} */"]
        for path in paths:      # W(into) reads y(into.src), which carries y(l) unit for unit (equal widths)
            c = path.into
            src.append(f"            for (size_t m = 0; m < {n[c.dst]}; ++m) "
                       f"s += u.delta{c.dst}[m]*params[{self.offsets[c.key]} + m*{n[c.src]} + j];")
        src += [f"            u.delta{l}[j] = {self.pr(slope * sp.Symbol('s', real=True))};", "        }"]
        return src

    def layer_gradients(self, l: int) -> list[str]:
        R = self.R
        net, n = self.net, self.n
        delta = sp.Symbol(f"u.delta{l}[j]", real=True)
        src = [f"        for (size_t j = 0; j < {n[l]}; ++j) {{"]
        for i, c in enumerate(net.graph.inputs(l)):
            gw = self.d.params[net.weights[c][0][0].name].loss_gradient.xreplace(
                {net.delta[l][0]: delta, net.y[c.src][0]: sp.Symbol(f"{self.out(c.src, 'u.')}[k]", real=True)})
            src.append(f"            {f'{R} *' if i == 0 else ''}g = grad + {self.offsets[c.key]} + j*{n[c.src]};")
            src.append(f"            for (size_t k = 0; k < {n[c.src]}; ++k) g[k] += {self.pr(gw)};")
        if net.bias:
            gb = self.d.params[net.b[l][0].name].loss_gradient.xreplace({net.delta[l][0]: delta})
            src.append(f"            grad[{self.offsets[f'b{l}']} + j] += {self.pr(gb)};")
        src.append("        }")
        return src


def _path_name(path) -> str:
    """W3, or W4 via the shortcut 1 -> 3."""
    via = "".join(f" via the shortcut {c.src} -> {c.dst}" for c in path.via)
    return f"{path.into.key}{via}"


def _c_sources(d: Derivation, stem: str, dtype: str = "float64") -> tuple[str, str]:
    """The header and the source of the C module."""
    offsets = _c_offsets(d.net)
    n_params = sum(math.prod(shape) for shape in param_shapes(d.net).values())
    module = _CModule(d, stem, offsets, n_params, dtype)
    header, source = _c_header(module), module.source()
    if "Dummy" in source or "Not supported" in source:
        raise RuntimeError("code printer left an unsupported expression in the exported C code")
    return "\n".join(header), source


def _check_param_rules_uniform(d: Derivation) -> None:
    """The C loops print the rule of each connection's first weight (w{l}_1_1, w{l}_{s}_1_1) for
    every j, k: each must be that rule renamed.

    Every rule is instantiated from its layer's general rule; on a wide network (784-256-10
    has 200,704 weights) a fixed random sample of them stands for the rest.
    """
    from .selfcheck import UNIT_RULES_MAX
    net = d.net
    D, Y = sp.Symbol("D"), sp.Symbol("Y")
    cells = [(c, j, k) for c in net.graph.weighted for j in net.units(c.dst) for k in net.units(c.src)]
    if len(cells) > UNIT_RULES_MAX:
        cells = sorted(random.Random(0).sample(cells, UNIT_RULES_MAX))

    def rule(c, j, k):     # the data loss's rule: the decay term is printed per key (_CModule.regulariser)
        return d.params[net.weights[c][j - 1][k - 1].name].loss_gradient.xreplace(
            {net.delta[c.dst][j - 1]: D, net.y[c.src][k - 1]: Y})
    first = {c: rule(c, 1, 1) for c in net.graph.weighted}
    for c, j, k in cells:
        if rule(c, j, k) != first[c]:
            raise ValueError(f"dE/d{net.weights[c][j - 1][k - 1].name} is not the rule of "
                             f"{net.weights[c][0][0].name} renamed")
    for l in (net.graph.order if net.bias else ()):     # and b{l}_1's rule for every unit's bias
        rules = {d.params[b.name].loss_gradient.xreplace({net.delta[l][j]: D}) for j, b in enumerate(net.b[l])}
        if len(rules) != 1:
            raise ValueError(f"the bias rules of layer {l} are not b{l}_1's rule renamed")


# -- entry point ---------------------------------------------------------------------------

def export(net, path, target: str = "numpy", dtype: str | None = None) -> Path:
    """Write the compiled forward pass, loss and gradients of ``net`` to ``path``.

    ``net`` is a Network, Spec, spec file, layer string or a Derivation. ``target`` is
    "numpy" or "jax" (one .py file importing only that library; see ``module_source``) or
    "c" (``path`` with suffix .c and a header .h next to it). Returns the path written
    (the .c file for C). ``dtype`` ("float64", the default, or "float32") is the C module's
    type; the NumPy and JAX modules compute in the dtype of their arguments instead.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    if dtype is not None and dtype not in C_TYPES:
        raise SpecError("dtype", " or ".join(C_TYPES), dtype)
    if dtype not in (None, "float64") and target != "c":
        raise SpecError("dtype", f"no dtype for the {target} target (its module keeps the dtype of its arguments; "
                        f"{dtype} is for the C target)", dtype)
    d = _derivation(net)
    path = Path(path)
    if target in PYTHON_TARGETS:
        _write(path, module_source(d, target))
        return path
    _check_param_rules_uniform(d)
    c_path = path if path.suffix == ".c" else path.with_suffix(".c")
    header, source = _c_sources(d, c_path.stem, dtype or "float64")
    _write(c_path.with_suffix(".h"), header)
    _write(c_path, source)
    return c_path
