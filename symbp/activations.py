"""Registry of activations: SymPy functions that know their derivative, LaTeX and NumPy form."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import sympy as sp


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
    derivative_in_output: Optional[Callable]
    latex: str
    description: str
    elementwise: bool = True
    output_only: bool = False
    numpy: str = ""
    kink: Optional[float] = None
    log_output: Optional[Callable] = None
    init: str = "glorot"          # the weight initialisation that suits it: "he" for the relu family


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
)

_BY_NAME = {name: a for a in ACTIVATIONS for name in (a.name, *a.aliases)}


def activation_names() -> list[str]:
    """Every accepted activation name, aliases included."""
    return sorted(_BY_NAME)


def get_activation(name: str) -> Activation:
    """The registry entry for ``name`` or an alias of it (KeyError if unknown)."""
    return _BY_NAME[name]


def derivative(act: Activation, v: sp.Symbol) -> sp.Expr:
    """SymPy's derivative of phi at v (elementwise activations)."""
    return sp.diff(act.function(v), v)


def proves_derivative(act: Activation) -> bool:
    """Check with SymPy that the derivative written in terms of the output is phi'.

    The comparison is made on the exp form (``rewrite(exp)``), so it does not lean on
    the ``fdiff`` of the class under test.
    """
    if not act.elementwise:
        v = sp.symbols("v1:4", real=True)
        y = [softmax_unit(list(v), i) for i in range(3)]
        return all(sp.simplify(sp.diff(y[i], v[j]) - act.derivative_in_output(y[i], y[j], i == j)) == 0
                   for i in range(3) for j in range(3))
    x = sp.Symbol("x", real=True)
    fx = act.function(x)
    true = sp.diff(fx.rewrite(sp.exp), x)
    claimed = act.derivative_in_output(fx, x).rewrite(sp.exp)
    diff = sp.simplify((true - claimed).rewrite(sp.exp))
    if diff == 0:
        return True
    # Piecewise forms (relu): compare on both sides of the kink.
    return all(sp.simplify(diff.subs(x, p)) == 0 for p in (sp.Rational(-3, 2), sp.Rational(5, 7)))
