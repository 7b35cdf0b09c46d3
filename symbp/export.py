"""Export a derivation as a standalone module: NumPy or JAX (one .py file) or C99 (a .c and a .h).

Every expression in the generated code is printed by one of SymPy's code printers from
what the derivation produced: the forward pass from the network's local definitions,
the loss from the loss registry (rewritten in net inputs where log would saturate), the
output delta and the activation derivatives (in terms of the unit's output) from the
derivation's delta rules and chain factors, the gradients from its parameter rules and
matrix form. Nothing here pastes a known formula.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Optional

import sympy as sp
from sympy.printing.c import C99CodePrinter
from sympy.printing.numpy import JaxPrinter, NumPyPrinter
from sympy.printing.precedence import PRECEDENCE

from .files import write_atomic
from .activations import softplus
from .derive import Derivation, derive
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

    sigmoid + bce: log y = -softplus(-v), log(1 - y) = -softplus(v); softmax + ce:
    log y = v - logsumexp(v). Both are exact rewrites of the registry's term.
    """
    from .losses import scale
    term = scale(net.loss, net.batch) * net.loss.term(y, t)
    if net.loss.name == "bce":
        return term.xreplace({sp.log(y): -softplus(-v), sp.log(1 - y): -softplus(v)})
    if net.loss.name == "ce":
        return term.xreplace({sp.log(y): v - lse})
    return term


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


def _output_delta(d: Derivation, names: dict) -> sp.Expr:
    """delta of an output unit (profile sign), errors written out, in generic names."""
    net, L = d.net, d.net.depth
    errors = {e: net.error(j) for j, e in enumerate(net.e, start=1)}
    return _generic(net, L, lambda j: d.deltas[net.delta[L][j - 1]].value.xreplace(errors), names)


def _activation_slope(d: Derivation, layer: int, names: dict) -> sp.Expr:
    """dy/dv of a hidden unit as the derivation's chain factor gives it (in y where proved)."""
    net = d.net
    return _generic(net, layer, lambda j: d.deltas[net.delta[layer][j - 1]].chain[0][-1].result, names)


def _equations(d: Derivation) -> list[str]:
    """The equations the module evaluates, as text (matrix form per sample, batch summed)."""
    net, p = d.net, d.net.profile
    sign = "+" if net.bias_sign > 0 else "-"
    lines = []
    for l in range(1, net.depth + 1):
        prev = "x" if l == 1 else f"{p.out}{l - 1}"
        bias = f" {sign} b{l}" if net.bias else ""
        lines.append(f"{p.net}{l} = W{l} @ {prev}{bias}")
        lines.append(f"{p.out}{l} = {net.activation(l).name}({p.net}{l})")
    L = net.depth
    y, v, t = (sp.Symbol(f"{p.out}{L}_j"), sp.Symbol(f"{p.net}{L}_j"), sp.Symbol(f"{p.target}_j"))
    lines.append(f"{p.loss} = sum_n sum_j {to_text(net.loss.term(y, t) * _scale(net))}")
    if net.e:
        lines.append(f"{p.error} = {p.target} - {p.out}{L}")
    for m in sorted(d.matrix, key=lambda m: -m.layer):
        lines.append(f"delta{m.layer} = {to_text(m.delta)}")
    for m in sorted(d.matrix, key=lambda m: m.layer):
        lines.append(f"d{p.loss}/dW{m.layer} = sum_n {to_text(m.grad_W)}")
        if m.grad_b is not None:
            lines.append(f"d{p.loss}/db{m.layer} = sum_n {to_text(m.grad_b)}")
    return lines


def _scale(net):
    from .losses import scale
    return scale(net.loss, net.batch)


def _describe(d: Derivation) -> list[str]:
    net, p = d.net, d.net.profile
    acts = ", ".join(f"layer {l}: {net.activation(l).name}" for l in range(1, net.depth + 1))
    bias = (f"biases with sign '{net.spec.bias_sign}' ({p.net} = W {p.out} {net.spec.bias_sign} b)"
            if net.bias else "no biases")
    return [
        f"Network {'-'.join(map(str, net.layers))} ({acts}), loss {net.loss.name} "
        f"({net.loss.description}), {bias}.",
        f"Notation '{p.name}': net input {p.net}, output {p.out}, target {p.target}, "
        f"loss {p.loss}, {p.delta_definition}; x is the input.",
    ]


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

    def __init__(self, rename: Optional[dict] = None):
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

    def _print_Half(self, expr):
        return "0.5"


class ModulePrinter(_ModuleCode, NumPyPrinter):
    """NumPy code for the exported module."""


class JaxModulePrinter(_ModuleCode, JaxPrinter):
    """jax.numpy code for the exported module."""

    alias = "jnp"


@dataclass(frozen=True)
class PythonTarget:
    """What differs between the Python targets; everything else is generated once."""

    name: str
    library: str               # its name in prose
    printer: type
    imports: tuple[str, ...]
    decorator: str             # the line above every public function ("" for none)
    scalar: str                # how loss() returns its total, {} the array expression
    notes: tuple[str, ...]     # a paragraph of the module docstring
    blocks: bool = False       # gradients() walks the batch in blocks of samples (NumPy; XLA fuses instead)


PYTHON_TARGETS = {
    "numpy": PythonTarget(
        "numpy", "NumPy", ModulePrinter, ("import numpy as np",), "", "float({})",
        ("gradients() walks a large batch in blocks of BLOCK samples and adds up their sums: the",
         "temporaries of a block stay in cache instead of being faulted in afresh on every call.", ""),
        blocks=True),
    "jax": PythonTarget(
        "jax", "JAX", JaxModulePrinter, ("import jax", "import jax.numpy as jnp"), "@jax.jit", "{}",
        ("JAX: every public function is jax.jit-compiled, once per shape of its arguments (shape",
         "errors raise ValueError while tracing); like jax.grad, gradients() returns its dict with",
         "the keys sorted. Arrays are float32 unless JAX runs in 64-bit mode: for float64 call",
         'jax.config.update("jax_enable_x64", True) before the first call. This module never',
         "changes JAX's configuration.", "")),
}

TARGETS = (*PYTHON_TARGETS, "c")

_PRELUDE = Template('''\
def logsumexp(v):
    """log(sum_j exp(v_j)) over the units (axis 0), shifted by the maximum: exp never overflows."""
    top = v.max(axis=0, keepdims=True)
    return top + $np.log($np.exp(v - top).sum(axis=0, keepdims=True))


def _columns(a, width, name):
    """One sample (width,) or a batch (N, width) -> a (width, N) array, one column per sample."""
    a = $np.asarray(a, dtype=float)
    rows = a[None, :] if a.ndim == 1 else a
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ValueError(f"{name} has shape {a.shape}, expected (N, {width}) or ({width},)")
    return rows.T


def _rows(a, X):
    """A (units, N) array back in the caller's layout: (N, units), or (units,) for one sample X."""
    return a[:, 0] if $np.ndim(X) == 1 else a.T
''')


def _tuple(names) -> str:
    names = list(names)
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


class _PythonModule:
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
        self.parameters = [k for l in range(1, L + 1) for k in ((f"W{l}", f"b{l}") if net.bias else (f"W{l}",))]

    def pr(self, expr) -> str:
        return self.printer.doprint(expr)

    def source(self) -> str:
        parts = [self.header(), _PRELUDE.substitute(np=self.np), self.samples(), self.forward_pass(),
                 self.backward_pass(), self.layers(), self.forward(), self.loss(), self.local_gradients(),
                 self.gradients()]
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
        return [f'{k} = {self.np}.asarray(params["{k}"], dtype=float){index if k[0] == "b" else ""}'
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
                "Equations evaluated (per sample; @ matrix product, * elementwise, .T transpose):"]
        doc += [f"    {line}" for line in _equations(self.d)]
        doc += ["", "params maps W1, b1, W2, ... to arrays, W{l} of shape (n_l, n_{l-1}), b{l} of shape (n_l,).",
                "Generated code: edit the network spec and export again rather than this file.", '"""']
        constants = [f"LAYERS = {tuple(net.layers)!r}",
                     f"ACTIVATIONS = {tuple(net.activation(l).name for l in range(1, L + 1))!r}",
                     f"LOSS = {net.loss.name!r}",
                     f"BIAS_SIGN = {net.bias_sign if net.bias else 0!r}",
                     f"PARAMETERS = {tuple(self.parameters)!r}"]
        if self.target.blocks:
            constants.append(f"BLOCK = {block_size(net.layers)}   # samples per block of gradients()")
        return "\n".join([*doc, *self.target.imports, "", *constants]) + "\n"

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
        for l in range(1, self.L + 1):
            vin = sp.MatrixSymbol(f"W{l}", n[l], n[l - 1]) * sp.MatrixSymbol(self.out[l - 1], n[l - 1], 1)
            if net.bias:
                vin = vin + net.bias_sign * sp.MatrixSymbol(f"b{l}", n[l], 1)
            body.append(f"{self.vin[l]} = {self.pr(vin)}")
            act, v = net.activation(l), sp.Symbol(self.vin[l], real=True)
            if act.elementwise:
                body.append(f"{self.out[l]} = {self.pr(act.function(v))}")
            else:  # softmax: exp(v_j - log sum_m exp(v_m)), the identity softmax_j = exp(v_j)/sum exp(v_m)
                lse = sp.Symbol(f"lse{l}")
                body += [f"{lse} = logsumexp({self.vin[l]})", f"{self.out[l]} = {self.pr(sp.exp(v - lse))}"]
        body.append(f"return {', '.join(self.values)}")
        return self.define("_forward(params, x)",
                           f"Net inputs and outputs of {'layers 1..' + str(self.L) if self.L > 1 else 'layer 1'}, "
                           "(n_l, N) each, for inputs x of shape (n0, N).",
                           body, public=False)

    def backward_pass(self) -> str:
        net, p, L = self.net, self.p, self.L
        rules = [self.matrix[l].delta for l in range(L, 0, -1)]
        used = {s.name for r in rules for s in r.atoms(sp.MatrixSymbol)}
        body = self.load(used) + ["values = _forward(params, x)", f"{', '.join(self.values)} = values"]
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
        return ", N" if any(m.delta.has(self.net.batch) or m.grad_W.has(self.net.batch)
                            or (m.grad_b is not None and m.grad_b.has(self.net.batch))
                            for m in self.matrix.values()) else ""

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

    def loss(self) -> str:
        net, p, L = self.net, self.p, self.L
        yL, vL = sp.Symbol(self.out[L], real=True), sp.Symbol(self.vin[L], real=True)
        tL, lse = sp.Symbol(self.t, real=True), sp.Symbol(f"lse{L}", real=True)
        term = _generic(net, L, lambda j: _stable_term(net, net.y[L][j - 1], net.v[L][j - 1], net.t[j - 1], lse),
                        {"y": yL, "v": vL, "t": tL})
        coeff, per_unit = term.as_independent(yL, vL, tL, lse, as_Add=False)
        body = [f"x, {self.t} = _samples(X, T)", f"{', '.join(self.values)} = _forward(params, x)"]
        if coeff.has(net.batch):
            body.append("N = x.shape[1]")
        if per_unit.has(lse):
            body.append(f"{lse} = logsumexp({self.vin[L]})")
        total = f"{self.np}.sum({self.pr(per_unit)})"
        sign = ""
        if coeff.could_extract_minus_sign():
            sign, coeff = "-", -coeff
        num, den = sp.fraction(coeff)
        if num != 1:
            total = f"{self.printer.parenthesize(num, PRECEDENCE['Mul'])}*{total}"
        if den != 1:
            total = f"{total}/{self.printer.parenthesize(den, PRECEDENCE['Pow'])}"
        body.append(f"return {self.target.scalar.format(sign + total)}")
        mean = " (divided by N)" if net.loss.mean else ""
        return self.define("loss(params, X, T)", f"{p.loss}, the loss summed over the samples and the output units{mean}.", body)

    def local_gradients(self) -> str:
        return self.define("deltas(params, X, T)",
                           f"[{', '.join(self.deltas)}] ({self.p.delta_definition}), (N, n_l) each (1-D for one sample).", [
            f"x, {self.t} = _samples(X, T)",
            f"values, local = _backward(params, x, {self.t}{', x.shape[1]' if self.batch_arg else ''})",
            "return [_rows(delta, X) for delta in local]"])

    def gradients(self) -> str:
        net, p = self.net, self.p
        wrt = f"d{p.loss}/dW{{l}} and d{p.loss}/db{{l}}" if net.bias else f"d{p.loss}/dW{{l}}"
        doc = f"{wrt} summed over the samples, keyed like params."
        if not self.target.blocks:
            body = [f"x, {self.t} = _samples(X, T)"] + self.gradient_lines("x.shape[1]")
            return self.define("gradients(params, X, T)", doc, body)
        block = self.define(f"_block_gradients(params, x, {self.t}{self.batch_arg})",
                            f"{wrt} summed over the samples of one block{self.batch_doc}.",
                            self.gradient_lines("N"), public=False)
        body = [f"x, {self.t} = _samples(X, T)",
                "N = x.shape[1]",
                f"grads = _block_gradients(params, x[:, :BLOCK], {self.t}[:, :BLOCK]{self.batch_arg})",
                "for s in range(BLOCK, N, BLOCK):",
                f"    more = _block_gradients(params, x[:, s:s + BLOCK], {self.t}[:, s:s + BLOCK]{self.batch_arg})",
                "    grads = {k: grads[k] + more[k] for k in grads}",
                "return grads"]
        return block.rstrip("\n") + "\n\n\n" + self.define("gradients(params, X, T)", doc, body)

    def gradient_lines(self, batch: str) -> list[str]:
        """The body that turns (units, n) samples into the summed gradients; ``batch`` is N's expression."""
        net = self.net
        body = [f"{_tuple(self.values)}, {_tuple(self.deltas)} = _backward(params, x, {self.t}{self.batch_arg})"]
        if self.batch_arg and batch != "N":
            body.insert(0, f"N = {batch}")
        grads = []
        for l in range(1, self.L + 1):
            m = self.matrix[l]
            body.append(f"dW{l} = {self.pr(m.grad_W)}")
            grads.append(f'"W{l}": dW{l}')
            if net.bias:
                batch_sum = self.target.printer(rename={**self.rename, f"delta{l}": f"delta{l}.sum(axis=1)"})
                body.append(f"db{l} = {batch_sum.doprint(m.grad_b)}")
                grads.append(f'"b{l}": db{l}')
        body.append("return {" + ", ".join(grads) + "}")
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
    ``forward``, ``loss``, ``deltas`` and ``gradients`` and imports only its array library.
    """
    if target not in PYTHON_TARGETS:
        raise ValueError(f"module_source target must be one of {', '.join(PYTHON_TARGETS)}, not {target!r}")
    return _PythonModule(_derivation(d), PYTHON_TARGETS[target]).source()


# -- C99 ---------------------------------------------------------------------------------

class CPrinter(C99CodePrinter):
    """C99 for the elementwise pieces: the stable forms of the registry's functions."""

    def _print_sigmoid(self, expr):
        return f"(0.5 + 0.5*tanh(0.5*{self.parenthesize(expr.args[0], PRECEDENCE['Mul'])}))"

    def _print_softplus(self, expr):
        x = self.parenthesize(expr.args[0], PRECEDENCE["Atom"])
        return f"(fmax({self._print(expr.args[0])}, 0.0) + log1p(exp(-fabs({x}))))"

    def _print_relu(self, expr):
        return f"fmax({self._print(expr.args[0])}, 0.0)"

    def _print_Heaviside(self, expr):
        at0 = expr.args[1] if len(expr.args) > 1 else sp.Rational(1, 2)
        x = self._print(expr.args[0])
        if at0 == 0:
            return f"(({x} > 0) ? 1.0 : 0.0)"
        return f"(({x} > 0) ? 1.0 : (({x} < 0) ? 0.0 : {self._print(sp.Float(at0))}))"


def _c_sources(d: Derivation, stem: str) -> tuple[str, str]:
    net, p = d.net, d.net.profile
    L, n = net.depth, net.layers
    cp = CPrinter()
    pr = cp.doprint
    offsets, pos = {}, 0
    for l in range(1, L + 1):
        offsets[f"W{l}"] = pos
        pos += n[l] * n[l - 1]
        if net.bias:
            offsets[f"b{l}"] = pos
            pos += n[l]
    n_params = pos
    guard = "".join(c if c.isalnum() else "_" for c in stem.upper()) + "_H"
    comment = [f" * {line}" for line in _describe(d)]
    comment += [" *", " * Equations evaluated per sample n (summed over the batch):"]
    comment += [f" *     {line}" for line in _equations(d)]
    layout = [" *", " * Arrays are flat, row-major doubles:",
              f" *   X      [N * {n[0]}]   sample n, input k at X[n*{n[0]} + k]",
              f" *   T      [N * {n[-1]}]   targets, like X",
              f" *   Y      [N * {n[-1]}]   outputs of forward(), like T",
              f" *   params [{n_params}]  W1 (row-major, W1[j][k] at j*{n[0]} + k), b1, W2, b2, ... at the offsets below",
              f" *   grad   [{n_params}]  gradients(), laid out like params"]
    header = ["/* Forward pass, loss and gradients of a network, generated by symbp from its derivation.",
              " *", *comment, *layout, " */",
              f"#ifndef {guard}", f"#define {guard}", "", "#include <stddef.h>", "",
              f"#define SYMBP_N_INPUTS {n[0]}", f"#define SYMBP_N_OUTPUTS {n[-1]}",
              f"#define SYMBP_N_PARAMS {n_params}"]
    header += [f"#define SYMBP_OFFSET_{k.upper()} {v}" for k, v in offsets.items()]
    header += ["",
               "/* Outputs of the last layer for N samples: Y[n*n_L + j]. */",
               "void forward(const double *params, const double *X, size_t N, double *Y);",
               "/* The loss summed over the N samples (divided by N for mse). */",
               "double loss(const double *params, const double *X, const double *T, size_t N);",
               "/* dE/dparams summed over the N samples, written to grad (overwritten, not accumulated). */",
               "void gradients(const double *params, const double *X, const double *T, size_t N, double *grad);",
               "", f"#endif /* {guard} */", ""]

    # -- the per-sample forward pass
    src = [f"/* Generated by symbp; see {stem}.h for the network, the equations and the array layout. */",
           f'#include "{stem}.h"', "", "#include <math.h>", "#include <string.h>", ""]
    src.append("typedef struct {")
    for l in range(1, L + 1):
        src.append(f"    double {p.net}{l}[{n[l]}], {p.out}{l}[{n[l]}], delta{l}[{n[l]}];")
    src.append("} units;")
    src.append("")
    src.append("static void forward_sample(const double *params, const double *x, units *u)")
    src.append("{")
    for l in range(1, L + 1):
        prev = "x" if l == 1 else f"u->{p.out}{l - 1}"
        v_arr, y_arr = f"u->{p.net}{l}", f"u->{p.out}{l}"
        v_sym = sp.Symbol(f"{v_arr}[j]", real=True)
        sign = ("+" if net.bias_sign > 0 else "-")
        src.append(f"    for (size_t j = 0; j < {n[l]}; ++j) {{")
        src.append(f"        const double *w = params + {offsets[f'W{l}']} + j*{n[l - 1]};")
        src.append("        double s = 0.0;")
        src.append(f"        for (size_t k = 0; k < {n[l - 1]}; ++k) s += w[k]*{prev}[k];")
        bias = f" {sign} params[{offsets[f'b{l}']} + j]" if net.bias else ""
        src.append(f"        {v_arr}[j] = s{bias};")
        act = net.activation(l)
        if act.elementwise:
            src.append(f"        {y_arr}[j] = {pr(act.function(v_sym))};")
            src.append("    }")
        else:
            src.append("    }")
            src.append(f"    double top = {v_arr}[0];")
            src.append(f"    for (size_t j = 1; j < {n[l]}; ++j) top = fmax(top, {v_arr}[j]);")
            src.append("    double sum = 0.0;")
            src.append(f"    for (size_t j = 0; j < {n[l]}; ++j) sum += exp({v_arr}[j] - top);")
            src.append("    const double lse = top + log(sum);")
            src.append(f"    for (size_t j = 0; j < {n[l]}; ++j) {y_arr}[j] = {pr(sp.exp(v_sym - sp.Symbol('lse')))};")
    src.append("}")
    src.append("")
    src.append("void forward(const double *params, const double *X, size_t N, double *Y)")
    src.append("{")
    src.append("    units u;")
    src.append("    for (size_t n = 0; n < N; ++n) {")
    src.append(f"        forward_sample(params, X + n*{n[0]}, &u);")
    src.append(f"        memcpy(Y + n*{n[-1]}, u.{p.out}{L}, sizeof u.{p.out}{L});")
    src.append("    }")
    src.append("}")
    src.append("")

    # -- the loss
    vS, yS = sp.Symbol(f"u.{p.net}{L}[j]", real=True), sp.Symbol(f"u.{p.out}{L}[j]", real=True)
    tS, lse = sp.Symbol(f"t[j]", real=True), sp.Symbol("lse", real=True)
    term = _generic(net, L, lambda jj: _stable_term(net, net.y[L][jj - 1], net.v[L][jj - 1], net.t[jj - 1], lse),
                    {"y": yS, "v": vS, "t": tS})
    term = term.xreplace({net.batch: sp.Symbol("(double)N")})
    lse_lines = []
    if net.loss.name == "ce":
        lse_lines = [f"        double top = u.{p.net}{L}[0];",
                     f"        for (size_t j = 1; j < {n[L]}; ++j) top = fmax(top, u.{p.net}{L}[j]);",
                     "        double sum = 0.0;",
                     f"        for (size_t j = 0; j < {n[L]}; ++j) sum += exp(u.{p.net}{L}[j] - top);",
                     "        const double lse = top + log(sum);"]
    src.append("double loss(const double *params, const double *X, const double *T, size_t N)")
    src.append("{")
    src.append("    units u;")
    src.append("    double total = 0.0;")
    src.append("    for (size_t n = 0; n < N; ++n) {")
    src.append(f"        const double *t = T + n*{n[-1]};")
    src.append(f"        forward_sample(params, X + n*{n[0]}, &u);")
    src.extend(lse_lines)
    src.append(f"        for (size_t j = 0; j < {n[L]}; ++j) total += {pr(term)};")
    src.append("    }")
    src.append("    return total;")
    src.append("}")
    src.append("")

    # -- the gradients: deltas from the derivation's rules, back to front
    src.append("void gradients(const double *params, const double *X, const double *T, size_t N, double *grad)")
    src.append("{")
    src.append("    units u;")
    src.append(f"    memset(grad, 0, {n_params}*sizeof *grad);")
    src.append("    for (size_t n = 0; n < N; ++n) {")
    src.append(f"        const double *x = X + n*{n[0]};")
    src.append(f"        const double *t = T + n*{n[-1]};")
    src.append("        forward_sample(params, x, &u);")
    out_delta = _output_delta(d, {"y": yS, "v": vS, "t": tS}).xreplace({net.batch: sp.Symbol("(double)N")})
    src.append(f"        for (size_t j = 0; j < {n[L]}; ++j) u.delta{L}[j] = {pr(out_delta)};")
    for l in range(L - 1, 0, -1):
        slope = _activation_slope(d, l, {"y": sp.Symbol(f"u.{p.out}{l}[j]", real=True),
                                         "v": sp.Symbol(f"u.{p.net}{l}[j]", real=True)})
        src.append(f"        for (size_t j = 0; j < {n[l]}; ++j) {{")
        src.append("            double s = 0.0;   /* sum_m delta_m w_mj of the next layer */")
        src.append(f"            for (size_t m = 0; m < {n[l + 1]}; ++m) "
                   f"s += u.delta{l + 1}[m]*params[{offsets[f'W{l + 1}']} + m*{n[l]} + j];")
        src.append(f"            u.delta{l}[j] = {pr(slope * sp.Symbol('s', real=True))};")
        src.append("        }")
    for l in range(1, L + 1):
        prev = "x" if l == 1 else f"u.{p.out}{l - 1}"
        delta = sp.Symbol(f"u.delta{l}[j]", real=True)
        gw = d.params[net.W[l][0][0].name].gradient.xreplace(
            {net.delta[l][0]: delta, net.y[l - 1][0]: sp.Symbol(f"{prev}[k]", real=True)})
        src.append(f"        for (size_t j = 0; j < {n[l]}; ++j) {{")
        src.append(f"            double *g = grad + {offsets[f'W{l}']} + j*{n[l - 1]};")
        src.append(f"            for (size_t k = 0; k < {n[l - 1]}; ++k) g[k] += {pr(gw)};")
        if net.bias:
            gb = d.params[net.b[l][0].name].gradient.xreplace({net.delta[l][0]: delta})
            src.append(f"            grad[{offsets[f'b{l}']} + j] += {pr(gb)};")
        src.append("        }")
    src.append("    }")
    src.append("}")
    source = "\n".join(src) + "\n"
    if "Dummy" in source or "Not supported" in source:
        raise RuntimeError("code printer left an unsupported expression in the exported C code")
    return "\n".join(header), source




def _check_param_rules_uniform(d: Derivation) -> None:
    """The C loops print w{l}_1_1's rule for every j, k: each must be that rule renamed.

    Every rule is instantiated from its layer's general rule; on a wide network (784-256-10
    has 200,704 weights) a fixed random sample of them stands for the rest.
    """
    from .selfcheck import UNIT_RULES_MAX
    net = d.net
    D, Y = sp.Symbol("D"), sp.Symbol("Y")
    cells = [(l, j, k) for l in range(1, net.depth + 1) for j in net.units(l) for k in net.units(l - 1)]
    if len(cells) > UNIT_RULES_MAX:
        cells = sorted(random.Random(0).sample(cells, UNIT_RULES_MAX))
    first = {l: d.params[net.W[l][0][0].name].gradient.xreplace({net.delta[l][0]: D, net.y[l - 1][0]: Y})
             for l in range(1, net.depth + 1)}
    for l, j, k in cells:
        g = d.params[net.W[l][j - 1][k - 1].name].gradient.xreplace({net.delta[l][j - 1]: D, net.y[l - 1][k - 1]: Y})
        if g != first[l]:
            raise ValueError(f"dE/dw{l}_{j}_{k} is not the rule of w{l}_1_1 renamed")
    for l in range(1, net.depth + 1 if net.bias else 1):     # and b{l}_1's rule for every unit's bias
        rules = {d.params[b.name].gradient.xreplace({net.delta[l][j]: D}) for j, b in enumerate(net.b[l])}
        if len(rules) != 1:
            raise ValueError(f"the bias rules of layer {l} are not b{l}_1's rule renamed")


# -- entry point ---------------------------------------------------------------------------

def export(net, path, target: str = "numpy") -> Path:
    """Write the compiled forward pass, loss and gradients of ``net`` to ``path``.

    ``net`` is a Network, Spec, spec file, layer string or a Derivation. ``target`` is
    "numpy" or "jax" (one .py file importing only that library; see ``module_source``) or
    "c" (``path`` with suffix .c and a header .h next to it). Returns the path written
    (the .c file for C).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    d = _derivation(net)
    path = Path(path)
    if target in PYTHON_TARGETS:
        _write(path, module_source(d, target))
        return path
    _check_param_rules_uniform(d)
    c_path = path if path.suffix == ".c" else path.with_suffix(".c")
    header, source = _c_sources(d, c_path.stem)
    _write(c_path.with_suffix(".h"), header)
    _write(c_path, source)
    return c_path
