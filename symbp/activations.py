"""Registry of activations: SymPy functions that know their derivative, LaTeX and NumPy form."""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache

import sympy as sp
from sympy.codegen.cfunctions import expm1


class sigmoid(sp.Function):
    """The logistic function 1 / (1 + exp(-x))."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.Rational(1, 2)

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_evalf(self, prec):
        return (1 / (1 + sp.exp(-self.args[0])))._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        tex = rf"\sigma\left({arg}\right)"
        return tex if exp is None else rf"\sigma^{{{exp}}}\left({arg}\right)"

    def _numpycode(self, printer):
        # 1/(1+exp(-x)) overflows for x << 0; the tanh form is exact and stable.
        x = printer._print(self.args[0])
        return f"(0.5 + 0.5*{printer._module_format('numpy.tanh')}(0.5*({x})))"


class softplus(sp.Function):
    """log(1 + exp(x))."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_evalf(self, prec):
        return sp.log(1 + sp.exp(self.args[0]))._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        tex = rf"\operatorname{{softplus}}\left({arg}\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy.logaddexp')}(0, {printer._print(self.args[0])})"


class relu(sp.Function):
    """max(0, x); its derivative is the step H(x) with H(0) = 0."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0], 0)

    def _eval_rewrite_as_Max(self, x, **kwargs):
        return sp.Max(0, x)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sp.Max(0, x)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_evalf(self, prec):
        return sp.Max(0, self.args[0])._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        tex = rf"\operatorname{{ReLU}}\left({arg}\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy.maximum')}(0, {printer._print(self.args[0])})"


class _Explicit(sp.Function):
    """An activation given by an explicit formula in SymPy's own functions (``_formula``).

    Its derivative is SymPy's derivative of that formula (``_slope`` may only rewrite it into
    an equal, tidier form); the exp rewrite, evalf and the C form all come from the formula.
    Parameters, if any, are the arguments after the net input (leaky_relu's slope).
    """

    nargs = 1
    tex = ""
    _x = sp.Symbol("x", real=True)

    @classmethod
    def _formula(cls, x, *params):
        raise NotImplementedError

    @classmethod
    def _slope(cls, x, *params):
        return sp.diff(cls._formula(x, *params), x)

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return _slope_of(type(self), self.args[1:]).xreplace({self._x: self.args[0]})

    def explicit(self) -> sp.Expr:
        return self._formula(*self.args)

    def _eval_rewrite_as_exp(self, x, *params, **kwargs):
        return self._formula(x, *params)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_evalf(self, prec):
        return self.explicit()._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        tex = rf"{self.tex}\left({printer._print(self.args[0])}\right)"
        return tex if exp is None else rf"{self.tex}^{{{exp}}}\left({printer._print(self.args[0])}\right)"

    def _numpycode(self, printer):
        return printer._print(self.explicit())

    def _ccode(self, printer):
        return printer._print(self.explicit())


_SLOPES: dict = {}


def _slope_of(cls, params: tuple) -> sp.Expr:
    """phi' of a class (and parameters) in the variable _Explicit._x, derived once."""
    key = (cls, params)
    if key not in _SLOPES:
        _SLOPES[key] = cls._slope(_Explicit._x, *params)
    return _SLOPES[key]


class elu(_Explicit):
    """v for v > 0, exp(v) - 1 below (alpha = 1)."""

    tex = r"\operatorname{ELU}"

    @classmethod
    def _formula(cls, x):
        return sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True))

    def fdiff(self, argindex=1):
        # Written in elu itself (as sigmoid's is), so a rule that uses elu' = 1 for y > 0, y + 1 below
        # is this derivative term for term; proves_derivative checks it against diff of the formula.
        y = elu(self.args[0])
        return sp.Piecewise((1, y > 0), (y + 1, True))

    def _numpycode(self, printer):
        # exp(v) - 1 loses every digit for |v| << 1 and overflows for v >> 0 in the branch
        # where() discards: expm1 of min(v, 0) does neither.
        x = printer._print(self.args[0])
        f = printer._module_format
        return f"{f('numpy.where')}({x} > 0, {x}, {f('numpy.expm1')}({f('numpy.minimum')}({x}, 0)))"

    def _ccode(self, printer):
        x = self.args[0]
        return printer._print(sp.Piecewise((x, x > 0), (expm1(x), True)))   # the ternary evaluates one side


class leaky_relu(_Explicit):
    """v for v > 0, a v below; the slope a is the second argument. Its derivative jumps at 0 (H(0) = 0)."""

    nargs = 2

    @classmethod
    def _formula(cls, x, a):
        return a * x + (1 - a) * relu(x)

    @staticmethod
    def _cases(x, a):
        # as a lecturer defines it (x for x > 0, a x otherwise), not a x + (1 - a) max(0, x)
        return sp.Piecewise((x, x > 0), (a * x, True))

    @classmethod
    def eval(cls, x, a):
        # a number in, a number out: a 50-digit check substitutes numbers into nests of these, and evalf of
        # an unevaluated nest re-evaluates every level at every precision it tries
        return cls._cases(x, a) if x.is_Number and a.is_Number else None

    def _eval_rewrite_as_exp(self, x, a, **kwargs):
        return self._cases(x, a)

    def _eval_evalf(self, prec):
        return self.rewrite(sp.exp)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        tex = rf"\operatorname{{LReLU}}_{{{_decimal(self.args[1])}}}\left({printer._print(self.args[0])}\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"

    def _numpycode(self, printer):
        x, a = printer._print(self.args[0]), printer._print(self.args[1])
        return f"{printer._module_format('numpy.where')}({x} > 0, {x}, {a}*{x})"

    def _ccode(self, printer):
        x, a = self.args
        return printer._print(sp.Piecewise((x, x > 0), (a * x, True)))


class silu(_Explicit):
    """v sigmoid(v) (swish with beta = 1)."""

    tex = r"\operatorname{SiLU}"

    @classmethod
    def _formula(cls, x):
        return x * sigmoid(x)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return x / (1 + sp.exp(-x))


class gelu(_Explicit):
    """v Phi(v) with Phi the standard normal CDF, in its erf form (not tanh's approximation)."""

    tex = r"\operatorname{GELU}"

    @classmethod
    def _formula(cls, x):
        return x * (1 + sp.erf(x / sp.sqrt(2))) / 2


class softsign(_Explicit):
    """v / (1 + |v|)."""

    tex = r"\operatorname{softsign}"

    @classmethod
    def _formula(cls, x):
        return x / (1 + sp.Abs(x))

    def fdiff(self, argindex=1):
        # In softsign itself (as sigmoid's is), so rules in the output are this derivative term for term.
        return (1 - sp.Abs(softsign(self.args[0]))) ** 2


def formula_function(name: str, z: sp.Symbol, formula: sp.Expr, tex: str) -> type:
    """A SymPy Function ``name`` that is ``formula`` (in ``z``): an activation defined in a spec.

    Everything it knows comes from the formula: phi' is SymPy's derivative of it, and the code
    printers print the formula itself.
    """
    return type(name, (_Explicit,), {"tex": tex, "__module__": __name__, "__doc__": f"{name}(z) = {formula}",
                                     "_formula": classmethod(lambda cls, x: formula.xreplace({z: x}))})


def _decimal(a: sp.Expr) -> str:
    """A parameter as the decimal it was written as (1/5 -> 0.2)."""
    return repr(float(a))


def _identity(x):
    return x


def softmax_unit(v: list, j: int) -> sp.Expr:
    """Output j (0-based) of a softmax over the net inputs v: exp(v_j) / sum_m exp(v_m)."""
    return sp.exp(v[j]) / sp.Add(*[sp.exp(vm) for vm in v])


@dataclass(frozen=True)
class Activation:
    """One activation: the function of a net input, and its derivative in terms of its output.

    ``derivative_in_output(y, v)`` is what the notes write for phi'(v) once y = phi(v);
    it is an identity that ``proves_derivative`` checks with SymPy, never an assumption.
    For softmax (``elementwise=False``) it is ``(y_i, y_j, i == j) -> dy_i/dv_j``.
    ``kink`` is the net input where phi' jumps (relu: 0), None for a smooth phi.
    ``log_output(y, v, lse)`` maps log y (and log(1 - y)) to the same value written in the
    net input v (lse = log sum_m exp v_m), so a loss that takes logs never meets log(0).
    """

    name: str
    aliases: tuple[str, ...]
    function: Callable[[sp.Expr], sp.Expr]
    derivative_in_output: Callable | None
    latex: str
    description: str
    elementwise: bool = True
    output_only: bool = False
    numpy: str = ""
    kink: float | None = None
    log_output: Callable | None = None
    init: str = "glorot"          # the weight initialisation that suits it: "he" for the relu family
    # (phi, phi') as NumPy callables for symbp.reference, for a row defined by a formula (symbp.formula);
    # the built-in rows are written out in reference.py by hand instead.
    reference: tuple | None = field(default=None, compare=False)
    title: str = ""               # the activation in prose where its name is an identifier: leaky ReLU

    @property
    def prose(self) -> str:
        """What the notes call it in a sentence or a heading: its title, else its name (sigmoid, tanh)."""
        return self.title or self.name

    @property
    def slope_in_output(self) -> bool:
        """phi' is written in the unit's output alone: sigmoid's y (1 - y), tanh's 1 - y^2, linear's 1; not relu's
        H(v), which needs the net input, nor silu's, which has no such form (nor softmax's, not elementwise)."""
        if self.derivative_in_output is None or not self.elementwise:
            return False
        v = sp.Symbol("v", real=True)
        return not self.derivative_in_output(sp.Symbol("y", real=True), v).has(v)


LEAKY_DEFAULT = sp.Rational(1, 100)
_LEAKY = re.compile(r"leaky_relu\(\s*([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*\)")


@cache
def _leaky_row(a: sp.Rational) -> Activation:
    """leaky_relu with slope a below 0: the registry row is the default slope, others are made on demand."""
    name = "leaky_relu" if a == LEAKY_DEFAULT else f"leaky_relu({_decimal(a)})"
    return Activation(name, (), lambda v: leaky_relu(v, a), lambda y, v: a + (1 - a) * sp.Heaviside(v, 0),
                      rf"\operatorname{{LReLU}}_{{{_decimal(a)}}}", f"leaky ReLU: v for v > 0, {_decimal(a)} v below",
                      numpy=f"where(v > 0, v, {_decimal(a)}*v)", kink=0.0, init="he",
                      title="leaky ReLU")            # its slope is in its symbol, LReLU_0.2, and its cases


def parametrised(name: str) -> Activation | None:
    """The row of ``leaky_relu(a)`` (0 < a < 1, the slope below 0), None for a name of another form.

    A malformed or out-of-range slope raises ValueError saying what is expected.
    """
    if not name.startswith("leaky_relu("):
        return None
    match = _LEAKY.fullmatch(name)
    a = sp.Rational(Fraction(match[1])) if match else None
    if a is None or not 0 < a < 1:
        raise ValueError("leaky_relu(a) with a slope 0 < a < 1 written as a decimal, such as leaky_relu(0.2)")
    return _leaky_row(a)


# The parameters a built-in activation takes by name, as a spec's table gives them
# ([activation.leaky_relu] slope = 0.2): name -> {key: what its value must be}.
PARAMETERS: dict[str, dict[str, str]] = {"leaky_relu": {"slope": "a number with 0 < slope < 1 (the slope below 0)"}}


def with_parameters(name: str, values: dict) -> Activation:
    """The row of ``name`` (a key of PARAMETERS) with its parameters by key: leaky_relu with slope 0.2 is
    the row of leaky_relu(0.2), the decimal read as written (0.2 is 1/5).

    A missing, unknown or out-of-range value raises ValueError(key, what is expected, what was given).
    """
    keys = PARAMETERS[name]
    for key in values:
        if key not in keys:
            raise ValueError(key, "a known key: " + ", ".join(keys), "unknown key")
    for key, expected in keys.items():
        if key not in values:
            raise ValueError(key, expected, "missing")
    a = values["slope"]
    if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a) or not 0 < a < 1:
        raise ValueError("slope", PARAMETERS[name]["slope"], a)
    return _leaky_row(sp.Rational(Fraction(repr(a))))


ACTIVATIONS: tuple[Activation, ...] = (
    Activation("sigmoid", ("logsig", "logistic"), sigmoid,
               lambda y, v: y * (1 - y), r"\sigma", "logistic sigmoid 1/(1+e^{-v})",
               numpy="0.5 + 0.5*tanh(0.5*v)",
               log_output=lambda y, v, lse: {sp.log(y): -softplus(-v), sp.log(1 - y): -softplus(v)}),
    Activation("tanh", ("tansig",), sp.tanh,
               lambda y, v: 1 - y**2, r"\tanh", "hyperbolic tangent",
               numpy="tanh(v)"),
    Activation("linear", ("purelin", "identity"), _identity,
               lambda y, v: sp.Integer(1), r"\mathrm{id}", "identity (linear output)",
               numpy="v"),
    Activation("relu", (), relu,
               lambda y, v: sp.Heaviside(v, 0), r"\operatorname{ReLU}", "rectified linear max(0, v)",
               numpy="maximum(0, v)", kink=0.0, init="he"),
    Activation("softplus", (), softplus,
               lambda y, v: sigmoid(v), r"\operatorname{softplus}", "softplus log(1+e^{v})",
               numpy="logaddexp(0, v)"),
    Activation("softmax", (), softmax_unit,
               lambda yi, yj, same: yi * ((1 if same else 0) - yj),
               r"\operatorname{softmax}", "softmax over the output layer",
               elementwise=False, output_only=True, numpy="exp(v - max(v)) / sum(...)",
               log_output=lambda y, v, lse: {sp.log(y): v - lse}),
    Activation("elu", (), elu,
               lambda y, v: sp.Piecewise((1, y > 0), (y + 1, True)), r"\operatorname{ELU}",
               "exponential linear unit: v for v > 0, e^{v} - 1 below (alpha = 1)",
               numpy="where(v > 0, v, expm1(minimum(v, 0)))", init="he"),
    # y > 0 exactly where v > 0, so elu' is written in y alone. phi' is continuous at 0 for alpha = 1
    # (only phi'' jumps, which a central difference sees as an O(h) error): no kink for check to avoid.
    _leaky_row(sp.Rational(1, 100)),
    Activation("silu", ("swish",), silu, None, r"\operatorname{SiLU}", "sigmoid-weighted linear unit v sigma(v)",
               numpy="v*sigmoid(v)", init="he"),
    Activation("gelu", (), gelu, None, r"\operatorname{GELU}",
               "Gaussian error linear unit v Phi(v) = v (1 + erf(v/sqrt 2))/2", numpy="0.5*v*(1 + erf(v/sqrt(2)))",
               init="he"),
    Activation("softsign", (), softsign, lambda y, v: (1 - sp.Abs(y)) ** 2, r"\operatorname{softsign}",
               "softsign v/(1 + |v|)", numpy="v/(1 + abs(v))"),
)

_BY_NAME = {name: a for a in ACTIVATIONS for name in (a.name, *a.aliases)}
_DEFINED: dict[str, Activation] = {}     # rows built from a spec's [activation.NAME] formula


def activation_names() -> list[str]:
    """Every accepted activation name, aliases and rows defined by a formula included."""
    return sorted({*_BY_NAME, *_DEFINED})


def get_activation(name: str) -> Activation:
    """The registry entry for ``name``, an alias of it, leaky_relu(a) or a defined row (KeyError if unknown)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name in _DEFINED:
        return _DEFINED[name]
    try:
        row = parametrised(name)
    except ValueError:
        row = None
    if row is None:
        raise KeyError(name)
    return row


def is_builtin(name: str) -> bool:
    """Whether ``name`` is a registry row or an alias of one (a defined row may not shadow it)."""
    return name in _BY_NAME or name.startswith("leaky_relu(")


def register(row: Activation) -> Activation:
    """Make a row defined by a formula known by its name; the same definition again gives the same row.

    Rules derived for a name are cached, so one name keeps one definition for the whole process:
    another formula under a name already defined raises ValueError.
    """
    if is_builtin(row.name):
        raise ValueError(f"a name of your own, not the built-in activation {row.name!r}")
    known = _DEFINED.setdefault(row.name, row)
    if (known.description, known.latex) != (row.description, row.latex):
        raise ValueError(f"one definition per name: {row.name!r} is already defined as {known.description!r} "
                         "in this session (give the new formula a new name)")
    return known


def derivative(act: Activation, v: sp.Symbol) -> sp.Expr:
    """SymPy's derivative of phi at v (elementwise activations)."""
    return sp.diff(act.function(v), v)


def proves_derivative(act: Activation) -> bool:
    """Check with SymPy that phi' as the row gives it is SymPy's derivative of phi's exp form.

    Both the class's own derivative (fdiff) and, where the row has one, the derivative written in
    terms of the output are compared with ``diff(phi.rewrite(exp))``, so the proof does not lean on
    the ``fdiff`` of the class under test. Piecewise forms are compared on both sides of the kink.
    """
    if not act.elementwise:
        v = sp.symbols("v1:4", real=True)
        y = [softmax_unit(list(v), i) for i in range(3)]
        return all(sp.simplify(sp.diff(y[i], v[j]) - act.derivative_in_output(y[i], y[j], i == j)) == 0
                   for i in range(3) for j in range(3))
    x = sp.Symbol("x", real=True)
    fx = act.function(x)
    true = sp.diff(fx.rewrite(sp.exp), x)
    claims = [sp.diff(fx, x)]
    if act.derivative_in_output is not None:
        claims.append(act.derivative_in_output(fx, x))
    return all(_equal(true, claim.rewrite(sp.exp), x, act.kink) for claim in claims)


def _equal(a: sp.Expr, b: sp.Expr, x: sp.Symbol, kink: float | None) -> bool:
    diff = sp.simplify((a - b).rewrite(sp.exp))
    if diff == 0:
        return True
    # Piecewise forms (relu, elu): compare at points on both sides of the kink, and away from it.
    k = sp.Rational(kink or 0)
    points = [k + d for d in (sp.Rational(-3, 2), sp.Rational(-1, 7), sp.Rational(5, 7), sp.Rational(13, 4))]
    return all(abs(sp.N(diff.subs(x, p), 30)) < 1e-25 for p in points)
