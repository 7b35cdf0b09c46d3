"""Export a derivation as a standalone module: NumPy (one .py file) or C99 (a .c and a .h).

Every expression in the generated code is printed by one of SymPy's code printers from
what the derivation produced: the forward pass from the network's local definitions,
the loss from the loss registry (rewritten in net inputs where log would saturate), the
output delta and the activation derivatives (in terms of the unit's output) from the
derivation's delta rules and chain factors, the gradients from its parameter rules and
matrix form. Nothing here pastes a known formula.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import sympy as sp
from sympy.printing.c import C99CodePrinter
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE

from .files import write_atomic
from .activations import softplus
from .derive import Derivation, derive
from .network import Network
from .printing import to_text

TARGETS = ("numpy", "c")

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


# -- NumPy -------------------------------------------------------------------------------

class ModulePrinter(NumPyPrinter):
    """NumPy code for the exported module: ``np.`` names, @ for matrix products, * for Hadamard.

    Column vectors of the per-sample matrix rules become (units, N) arrays, one column per
    sample: delta @ y.T then sums the per-sample outer products over the batch.
    """

    def __init__(self, rename: Optional[dict] = None):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False})
        self._rename = {str(k): v for k, v in (rename or {}).items()}

    def _module_format(self, fqn, register=True):
        name = super()._module_format(fqn, register)
        return "np." + name[len("numpy."):] if name.startswith("numpy.") else name

    def _print_Symbol(self, expr):
        return self._rename.get(expr.name, expr.name)

    def _print_MatrixSymbol(self, expr):
        return self._rename.get(expr.name, expr.name)

    def _print_OneMatrix(self, expr):
        return "1"

    _print_Identity = _print_OneMatrix   # a 1 x 1 vector of ones simplifies to Identity(1)

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

    def _print_MatAdd(self, expr):
        terms = sorted((self._print(a) for a in expr.args), key=lambda t: t.startswith("-"))
        text = terms[0]
        for t in terms[1:]:
            text += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
        return text

    def _print_HadamardProduct(self, expr):
        flat = []
        for a in expr.args:
            flat.extend(a.args if isinstance(a, sp.HadamardProduct) else [a])
        args = [a for a in flat if not isinstance(a, (sp.OneMatrix, sp.Identity))] or [flat[0]]
        return "*".join(self._operand(a, PRECEDENCE["Mul"]) for a in args)

    def _print_Add(self, expr, order=None):
        terms = sorted((self._print(a) for a in self._as_ordered_terms(expr, order=order)),
                       key=lambda t: t.startswith("-"))
        text = terms[0]
        for t in terms[1:]:
            text += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
        return text

    def _print_HadamardPower(self, expr):
        return f"{self.parenthesize(expr.base, PRECEDENCE['Pow'] + 1)}**{self._print(expr.exp)}"

    def _print_ElementwiseApplyFunction(self, expr):
        z = expr.function.variables[0]
        hole = sp.Symbol("_hole_")
        inner = self._print(expr.function.expr.xreplace({z: hole}))
        return inner.replace("_hole_", self._operand(expr.expr, PRECEDENCE["Atom"]))

    def _print_Heaviside(self, expr):
        at0 = expr.args[1] if len(expr.args) > 1 else sp.Rational(1, 2)
        return f"{self._module_format('numpy.heaviside')}({self._print(expr.args[0])}, {self._print(sp.Float(at0))})"

    def _print_Rational(self, expr):
        return repr(float(expr))

    def _print_Half(self, expr):
        return "0.5"


_PRELUDE = '''\
def logsumexp(v):
    """log(sum_j exp(v_j)) over the units (axis 0), shifted by the maximum: exp never overflows."""
    top = v.max(axis=0, keepdims=True)
    return top + np.log(np.exp(v - top).sum(axis=0, keepdims=True))


def _columns(a, width, name):
    """One sample (width,) or a batch (N, width) -> a (width, N) view, one column per sample."""
    a = np.asarray(a, dtype=float)
    rows = a[None, :] if a.ndim == 1 else a
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ValueError(f"{name} has shape {a.shape}, expected (N, {width}) or ({width},)")
    return rows.T

'''


def _numpy_source(d: Derivation) -> str:
    net, p = d.net, d.net.profile
    L = net.depth
    printer = ModulePrinter()
    pr = printer.doprint
    out_name = {l: f"{p.out}{l}" for l in range(0, L + 1)}
    out_name[0] = "x"
    net_name = {l: f"{p.net}{l}" for l in range(1, L + 1)}
    target = p.target if p.target not in (out_name.values()) else f"{p.target}_"
    lines: list[str] = []
    emit = lines.append

    doc = ['"""Forward pass, loss and gradients of a network, generated by symbp from its derivation.', ""]
    doc += _describe(d)
    doc += ["", "Arrays are laid out one column per sample inside: X (N, n0) is used as x = X.T, and",
            "each per-sample matrix rule below is evaluated for the whole batch at once (the",
            "products delta @ y.T sum the per-sample gradients over the batch).", "",
            "Equations evaluated (per sample; @ matrix product, * elementwise, .T transpose):"]
    doc += [f"    {line}" for line in _equations(d)]
    doc += ["", "params maps W1, b1, W2, ... to arrays, W{l} of shape (n_l, n_{l-1}), b{l} of shape (n_l,).",
            "Generated code: edit the network spec and export again rather than this file.", '"""']
    emit("\n".join(doc))
    emit("import numpy as np")
    emit("")
    emit(f"LAYERS = {tuple(net.layers)!r}")
    emit(f"ACTIVATIONS = {tuple(net.activation(l).name for l in range(1, L + 1))!r}")
    emit(f"LOSS = {net.loss.name!r}")
    emit(f"BIAS_SIGN = {net.bias_sign if net.bias else 0!r}")
    emit(f"PARAMETERS = {tuple(k for l in range(1, L + 1) for k in ((f'W{l}', f'b{l}') if net.bias else (f'W{l}',)))!r}")
    emit("")
    emit("")
    emit(_PRELUDE)

    # -- the forward pass -----------------------------------------------------------
    def param_lines(indent="    "):
        body = []
        for l in range(1, L + 1):
            body.append(f'{indent}W{l} = np.asarray(params["W{l}"], dtype=float)')
            if net.bias:
                body.append(f'{indent}b{l} = np.asarray(params["b{l}"], dtype=float)[:, None]')
        return body

    names_out = ", ".join(f"{net_name[l]}, {out_name[l]}" for l in range(1, L + 1))
    emit("def _forward(params, x):")
    emit(f'    """Net inputs and outputs of layers 1..{L}, (n_l, N) each, for inputs x of shape (n0, N)."""')
    lines.extend(param_lines())
    for l in range(1, L + 1):
        W = sp.MatrixSymbol(f"W{l}", net.layers[l], net.layers[l - 1])
        prev = sp.MatrixSymbol(out_name[l - 1], net.layers[l - 1], 1)
        vin = W * prev
        if net.bias:
            vin = vin + net.bias_sign * sp.MatrixSymbol(f"b{l}", net.layers[l], 1)
        emit(f"    {net_name[l]} = {pr(vin)}")
        act = net.activation(l)
        v = sp.Symbol(net_name[l], real=True)
        if act.elementwise:
            emit(f"    {out_name[l]} = {pr(act.function(v))}")
        else:  # softmax: exp(v_j - log sum_m exp(v_m)), the identity softmax_j = exp(v_j)/sum exp(v_m)
            lse = sp.Symbol(f"lse{l}")
            emit(f"    {lse} = logsumexp({net_name[l]})")
            emit(f"    {out_name[l]} = {pr(sp.exp(v - lse))}")
    emit(f"    return {names_out}")
    emit("")
    emit("")

    # -- public API --------------------------------------------------------------------
    emit("def layers(params, X):")
    emit('    """(net input, output) of every computing layer, (N, n_l) each (1-D for one sample)."""')
    emit(f'    x = _columns(X, {net.layers[0]}, "X")')
    emit(f"    values = _forward(params, x)")
    emit("    pairs = [(values[i].T, values[i + 1].T) for i in range(0, len(values), 2)]")
    emit("    return [(v[0], y[0]) for v, y in pairs] if np.ndim(X) == 1 else pairs")
    emit("")
    emit("")
    emit("def forward(params, X):")
    emit(f'    """The network output {out_name[L]}, (N, {net.layers[-1]}) for X of shape (N, {net.layers[0]}); one sample (n0,) gives ({net.layers[-1]},)."""')
    emit(f'    x = _columns(X, {net.layers[0]}, "X")')
    emit(f"    {names_out} = _forward(params, x)")
    emit(f"    return {out_name[L]}[:, 0] if np.ndim(X) == 1 else {out_name[L]}.T")
    emit("")
    emit("")

    def data_lines():
        return [f'    x = _columns(X, {net.layers[0]}, "X")',
                f'    {target} = _columns(T, {net.layers[-1]}, "T")',
                "    if x.shape[1] != " + target + ".shape[1]:",
                '        raise ValueError("X and T have different numbers of samples")',
                f"    {names_out} = _forward(params, x)"]

    # Generic (whole-layer) symbols for the loss and the output rules.
    yL, vL = sp.Symbol(out_name[L], real=True), sp.Symbol(net_name[L], real=True)
    tL, lse = sp.Symbol(target, real=True), sp.Symbol(f"lse{L}", real=True)
    term = _generic(net, L, lambda j: _stable_term(net, net.y[L][j - 1], net.v[L][j - 1], net.t[j - 1], lse),
                    {"y": yL, "v": vL, "t": tL})
    coeff, per_unit = term.as_independent(yL, vL, tL, lse, as_Add=False)
    emit("def loss(params, X, T):")
    emit(f'    """{p.loss}, the loss summed over the samples and the output units{" (divided by N)" if net.loss.mean else ""}."""')
    lines.extend(data_lines())
    if coeff.has(net.batch):
        emit(f"    N = x.shape[1]")
    if per_unit.has(lse):
        emit(f"    {lse} = logsumexp({net_name[L]})")
    total = f"np.sum({pr(per_unit)})"
    sign = ""
    if coeff.could_extract_minus_sign():
        sign, coeff = "-", -coeff
    num, den = sp.fraction(coeff)
    if num != 1:
        total = f"{printer.parenthesize(num, PRECEDENCE['Mul'])}*{total}"
    if den != 1:
        total = f"{total}/{printer.parenthesize(den, PRECEDENCE['Pow'])}"
    emit(f"    return float({sign}{total})")
    emit("")
    emit("")

    # -- gradients: the matrix rules, deltas from the output back -------------------------
    gprinter = ModulePrinter(rename={p.target: target} if target != p.target else {})
    gp = gprinter.doprint
    emit("def gradients(params, X, T):")
    emit(f'    """d{p.loss}/dW{{l}} and d{p.loss}/db{{l}} summed over the samples, keyed like params."""')
    lines.extend(param_lines())
    lines.extend(data_lines())
    matrix = {m.layer: m for m in d.matrix}
    needs_N = any(m.delta.has(net.batch) for m in matrix.values())
    if needs_N:
        emit("    N = x.shape[1]")
    if net.e:
        err = net.error(1).xreplace({net.t[0]: tL, net.y[L][0]: yL})
        emit(f"    {p.error} = {gp(err)}")
    for l in range(L, 0, -1):
        emit(f"    delta{l} = {gp(matrix[l].delta)}")
    grads = []
    for l in range(1, L + 1):
        m = matrix[l]
        emit(f"    dW{l} = {gp(m.grad_W)}")
        grads.append(f'"W{l}": dW{l}')
        if net.bias:
            batch_sum = ModulePrinter(rename={f"delta{l}": f"delta{l}.sum(axis=1)",
                                              **({p.target: target} if target != p.target else {})})
            emit(f"    db{l} = {batch_sum.doprint(m.grad_b)}")
            grads.append(f'"b{l}": db{l}')
    emit("    return {" + ", ".join(grads) + "}")
    text = "\n".join(lines) + "\n"
    # the module must not name SymPy's Dummy symbols or leave anything unprinted
    if "Dummy" in text or "_hole_" in text or "# Not supported" in text:
        raise RuntimeError("code printer left an unsupported expression in the exported module")
    return text


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
    """The C loops print w{l}_1_1's and b{l}_1's rule for every j, k: each must be that rule renamed."""
    net = d.net
    for l in range(1, net.depth + 1):
        D, Y = sp.Symbol("D"), sp.Symbol("Y")
        ref_w = d.params[net.W[l][0][0].name].gradient.xreplace({net.delta[l][0]: D, net.y[l - 1][0]: Y})
        for j in net.units(l):
            for k in net.units(l - 1):
                g = d.params[net.W[l][j - 1][k - 1].name].gradient.xreplace(
                    {net.delta[l][j - 1]: D, net.y[l - 1][k - 1]: Y})
                if g != ref_w:
                    raise ValueError(f"dE/dw{l}_{j}_{k} is not the rule of w{l}_1_1 renamed")


# -- entry point ---------------------------------------------------------------------------

def export(net, path, target: str = "numpy") -> Path:
    """Write the compiled forward pass, loss and gradients of ``net`` to ``path``.

    ``net`` is a Network, Spec, spec file, layer string or a Derivation. ``target`` is
    "numpy" (one .py file importing only NumPy) or "c" (``path`` with suffix .c and a
    header .h next to it). Returns the path written (the .c file for C).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    d = _derivation(net)
    path = Path(path)
    if target == "numpy":
        text = _numpy_source(d)
        _write(path, text)
        return path
    _check_param_rules_uniform(d)
    c_path = path if path.suffix == ".c" else path.with_suffix(".c")
    header, source = _c_sources(d, c_path.stem)
    _write(c_path.with_suffix(".h"), header)
    _write(c_path, source)
    return c_path
