"""Your own activation or loss: a formula in the spec -> a registry row like any other.

``[activation.NAME] formula = "z/(1 + abs(z))"`` and ``[loss.NAME] formula = "(y - t)**4/4"``
are read by verify's whitelist parser (never sympify or eval, the same size, depth and
exponent bounds), differentiated by SymPy, probed on the real line, and registered by name.
"""
from __future__ import annotations

import itertools
import re
from typing import Any

import sympy as sp

from . import activations, losses
from .errors import SpecError
from .printing import to_text

FUNCTIONS = {"exp": sp.exp, "log": sp.log, "tanh": sp.tanh, "abs": sp.Abs, "sqrt": sp.sqrt, "erf": sp.erf}
ALLOWED = "+ - * / **, " + " ".join(FUNCTIONS) + ", numbers"
ACTIVATION_KEYS = ("formula", "latex")
LOSS_KEYS = ("formula",)
# Names a row may not take: the parser's functions, and those verify reads in a student's answer.
RESERVED = {*FUNCTIONS, "ln", "sech", "cosh", "sinh", "step", "phi", "f", "sigma", "max", "min"}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
# The LaTeX of a name: letters, digits, braces, sub/superscripts and a few font and Greek commands.
_TEX_COMMANDS = {"operatorname", "mathrm", "mathit", "mathsf", "mathbf", "mathcal", "text", "alpha", "beta",
                 "gamma", "delta", "epsilon", "zeta", "eta", "theta", "kappa", "lambda", "mu", "nu", "xi", "pi",
                 "rho", "sigma", "tau", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Phi", "Psi", "Omega"}
_TEX = re.compile(r"(\\[A-Za-z]+|[A-Za-z0-9{}_^ ,.'()+\-])*")
# Where a formula is probed: both signs, small and large, and 0 (zero biases put net inputs there).
PROBES = tuple(sp.Rational(p) for p in ("-30", "-3", "-1", "-1/2", "-1/7", "0", "1/7", "1/2", "1", "3", "30"))
_Z = sp.Symbol("z", real=True)
_Y, _T = sp.Symbol("y", real=True), sp.Symbol("t", real=True)


def definitions(raw: dict) -> tuple[set[str], set[str]]:
    """Build and register every [activation.NAME] and [loss.NAME] with a formula: (activation names, loss names)."""
    # a built-in activation's table holds its parameters ([activation.leaky_relu] slope = 0.2): spec reads it
    acts = {_name("activation", n): activation_row(n, _table(f"activation.{n}", t))
            for n, t in _section(raw, "activation").items() if n not in activations.PARAMETERS}
    loss = {_name("loss", n): loss_row(n, _table(f"loss.{n}", t)) for n, t in _section(raw, "loss").items()}
    return set(acts), set(loss)


def check_used(defined: tuple[set[str], set[str]], used_activations, used_loss: str) -> None:
    """A defined activation or loss that the network does not use is most likely a typo: refuse it."""
    for name in sorted(defined[0] - set(used_activations)):
        raise SpecError(f"activation.{name}", "an activation that network.activations uses", "defined, not used")
    # a loss that is not a name is refused where network.loss is validated; it uses no table
    used = {used_loss} if isinstance(used_loss, str) else set()
    for name in sorted(defined[1] - used):
        raise SpecError(f"loss.{name}", "the loss network.loss names", "defined, not used")


def activation_row(name: str, table: dict) -> activations.Activation:
    """[activation.NAME] -> a registered Activation (the same row for the same definition)."""
    fld = f"activation.{name}"
    _keys(fld, table, ACTIVATION_KEYS)
    expr = _parse(f"{fld}.formula", table, {"z": _Z}, "z")
    slope = _derivative(f"{fld}.formula", expr, _Z)
    _probe(f"{fld}.formula", [expr, slope], {_Z: PROBES}, "z", table["formula"])
    kink = _kink(f"{fld}.formula", slope)
    tex = _latex(f"{fld}.latex", table.get("latex"), name)
    cls = activations.formula_function(name, _Z, expr, tex)
    pair = (sp.lambdify(_Z, expr, "numpy"), sp.lambdify(_Z, slope, "numpy"))
    row = activations.Activation(name, (), cls, None, tex, f"{name}(z) = {sp.sstr(expr)}", numpy=sp.sstr(expr),
                                 kink=kink, reference=pair)
    return _register(fld, activations.register, row)


def loss_row(name: str, table: dict) -> losses.Loss:
    """[loss.NAME] -> a registered Loss of one output unit, summed over the units and samples."""
    fld = f"loss.{name}"
    _keys(fld, table, LOSS_KEYS)
    expr = _parse(f"{fld}.formula", table, {"y": _Y, "t": _T}, "y and t")
    if _Y not in expr.free_symbols:
        raise SpecError(f"{fld}.formula", "a loss of the output y (and the target t)", table["formula"])
    slope = _derivative(f"{fld}.formula", expr, _Y)
    outputs = tuple(sp.Rational(p) for p in ("1/10", "7/20", "4/5"))
    _probe(f"{fld}.formula", [expr, slope], {_Y: outputs, _T: (sp.Integer(0), sp.Rational(3, 10), sp.Integer(1))},
           "y and t", table["formula"])
    term = _substitute(expr, _Y, _T)
    pair = (sp.lambdify((_Y, _T), expr, "numpy"), sp.lambdify((_Y, _T), slope, "numpy"))
    row = losses.Loss(name, term, _error_term(expr), False, f"{name}(y, t) = {to_text(expr)}", reference=pair)
    return _register(fld, losses.register, row)


# -- the pieces -------------------------------------------------------------------------------

def _section(raw: dict, key: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(key, f"tables [{key}.NAME] with a formula", value)
    return value


def _table(fld: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise SpecError(fld, "a table with formula = \"...\"", value)
    return value


def _name(kind: str, name: str) -> str:
    if kind == "activation" and activations.is_builtin(name):
        raise SpecError(f"{kind}.{name}", "a name of your own, not that of a built-in activation (a built-in's "
                                          "table holds parameters, which only " + ", ".join(activations.PARAMETERS)
                                          + " takes)", name)
    if not _NAME.fullmatch(name) or name in RESERVED:
        raise SpecError(f"{kind}.{name}", "a name of lower-case letters, digits and _ (at most 32, starting with "
                                          "a letter) that is no function of a formula: not "
                                          + ", ".join(sorted(RESERVED)), name)
    return name


def _keys(fld: str, table: dict, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(f"{fld}.{key}", "a known key: one of " + ", ".join(allowed), "unknown key")
    if "formula" not in table:
        raise SpecError(f"{fld}.formula", "a formula (a string)", "missing")


def _parse(fld: str, table: dict, symbols: dict, variables: str) -> sp.Expr:
    from .verify.parse import ExpressionError, parse_expression  # verify imports the network: late

    text = table["formula"]
    if not isinstance(text, str):
        raise SpecError(fld, "a formula (a string)", text)
    try:
        expr = parse_expression(text, symbols, FUNCTIONS)
    except ExpressionError as exc:
        raise SpecError(fld, f"a formula in {variables} of {ALLOWED} ({exc})", text) from None
    if not isinstance(expr, sp.Expr) or expr.is_Matrix:
        raise SpecError(fld, f"a formula in {variables} of {ALLOWED}", text)
    if not expr.free_symbols & set(symbols.values()):
        raise SpecError(fld, f"a formula that depends on {variables}", text)
    return expr


def _derivative(fld: str, expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    slope = sp.diff(expr, x)
    if slope.has(sp.Derivative, sp.Subs):
        raise SpecError(fld, "a formula SymPy can differentiate", sp.sstr(expr))
    return slope


def _probe(fld: str, exprs: list[sp.Expr], points: dict, variables: str, text: str) -> None:
    """The formula and its derivative are real and finite at every probe point (log z and sqrt z are not)."""
    names = list(points)
    for values in itertools.product(*points.values()):
        at = dict(zip(names, values))
        for expr, what in zip(exprs, ("it", "its derivative")):
            value = sp.N(expr.subs(at), 30)
            if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or not value.is_real or not value.is_finite:
                where = ", ".join(f"{k} = {v}" for k, v in at.items())
                raise SpecError(fld, f"a formula differentiable on the whole real line of {variables} (at {where} "
                                     f"{what} is {sp.sstr(value, full_prec=False)}, not a real number)", text)


def _kink(fld: str, slope: sp.Expr) -> float | None:
    """The one point where phi' jumps (abs(z) at 0: sign(z)), None where it is continuous."""
    args = {a.args[0] for a in slope.atoms(sp.sign, sp.Heaviside)}
    roots = set()
    for a in args:
        found = sp.solveset(a, _Z, sp.S.Reals)
        if not isinstance(found, sp.FiniteSet):
            raise SpecError(fld, "a formula whose derivative jumps at finitely many points", sp.sstr(a))
        roots |= set(found)
    h = sp.Rational(1, 10**12)
    jumps = sorted(r for r in roots
                   if abs(sp.N(slope.subs(_Z, r + h) - slope.subs(_Z, r - h), 30)) > sp.Rational(1, 10**6))
    if len(jumps) > 1:
        raise SpecError(fld, "a formula whose derivative jumps at one point at most",
                        "jumps at " + ", ".join(sp.sstr(r) for r in jumps))
    return float(jumps[0]) if jumps else None


def _latex(fld: str, tex: Any, name: str) -> str:
    if tex is None:
        return rf"\operatorname{{{name}}}".replace("_", r"\_")
    if not isinstance(tex, str) or not tex.strip() or len(tex) > 100 or not _TEX.fullmatch(tex):
        raise SpecError(fld, r"LaTeX of at most 100 characters such as \operatorname{ss} (letters, digits, "
                             "braces, _ and ^, font and Greek commands)", tex)
    unknown = [c for c in re.findall(r"\\([A-Za-z]+)", tex) if c not in _TEX_COMMANDS]
    depth = 0
    for ch in tex:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            break
    if unknown or depth != 0:
        raise SpecError(fld, "balanced braces and only the commands " + ", ".join(sorted(_TEX_COMMANDS)), tex)
    return tex


def _substitute(expr: sp.Expr, y: sp.Symbol, t: sp.Symbol):
    return lambda yy, tt: expr.xreplace({y: yy, t: tt})


def _error_term(expr: sp.Expr):
    """The same loss written in the error e = t - y where it is a function of the error alone, else None."""
    e = sp.Symbol("e", real=True)
    in_e = expr.xreplace({_Y: _T - e})
    if _T in in_e.free_symbols:
        in_e = sp.simplify(in_e)
    if _T in in_e.free_symbols:
        return None
    return lambda err: in_e.xreplace({e: err})


def _register(fld: str, register, row):
    try:
        return register(row)
    except ValueError as exc:
        raise SpecError(fld, str(exc), row.name) from None

