"""Printers: LaTeX in the profile's letters (w^{(l)}_{jk} or global w_{41}) and plain identifiers."""
from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter


def _sub(*indices: int) -> str:
    """Subscript digits: w_{13}, or w_{10,3} once an index has two digits."""
    sep = "," if any(i > 9 for i in indices) else ""
    return sep.join(str(i) for i in indices)


def _global(net, layer: int, j: int) -> int:
    """Seed 003 numbers the units of all computing layers consecutively."""
    return sum(net.layers[1:layer]) + j


def latex_names(net) -> dict[sp.Symbol, str]:
    """The LaTeX of every symbol of ``net`` in its profile and numbering."""
    p, glob = net.profile, net.spec.numbering == "global"
    names: dict[sp.Symbol, str] = {net.eta: r"\eta", net.batch: "N", net.loss_symbol: p.loss_tex}
    names.update({x: f"x_{{{k}}}" for k, x in enumerate(net.x, start=1)})

    def unit(letter: str, l: int, j: int) -> str:
        return f"{letter}_{{{_global(net, l, j)}}}" if glob else f"{letter}^{{({l})}}_{{{j}}}"

    for l in range(1, net.depth + 1):
        for j in net.units(l):
            names[net.v[l][j - 1]] = unit(p.net_tex, l, j)
            names[net.y[l][j - 1]] = unit(p.out_tex, l, j)
            names[net.delta[l][j - 1]] = unit(r"\delta", l, j)
            if net.bias:
                names[net.b[l][j - 1]] = unit("b", l, j)
            for k in net.units(l - 1):
                src = k if l == 1 or not glob else _global(net, l - 1, k)
                dst = _global(net, l, j) if glob else j
                names[net.W[l][j - 1][k - 1]] = (f"w_{{{_sub(dst, src)}}}" if glob
                                                 else f"w^{{({l})}}_{{{_sub(j, k)}}}")
    for j, t in enumerate(net.t, start=1):
        names[t] = f"{p.target_tex}_{{{j}}}"
    for j, e in enumerate(net.e, start=1):
        names[e] = f"e_{{{j}}}"
    return names


# The general (index-form) rules use these roles; the layer is l, its neighbours l-1 and l+1.
def role_names(profile) -> dict[str, str]:
    p = profile
    return {"w": "w^{(l)}", "w_next": "w^{(l+1)}", "b": "b^{(l)}", "b_next": "b^{(l+1)}",
            "y_prev": f"{p.out_tex}^{{(l-1)}}", "y": f"{p.out_tex}^{{(l)}}", "v": f"{p.net_tex}^{{(l)}}",
            "v_next": f"{p.net_tex}^{{(l+1)}}", "delta": r"\delta^{(l)}", "delta_next": r"\delta^{(l+1)}",
            "t": p.target_tex, "e": "e"}


class NotesLatexPrinter(LatexPrinter):
    """LaTeX in a network's notation: symbol names from the profile, phi' never as Subs(Derivative)."""

    def __init__(self, net=None, settings=None):
        settings = dict(settings or {})
        if net is not None:
            settings.setdefault("symbol_names", latex_names(net))
        settings.setdefault("mul_symbol", None)
        super().__init__(settings)
        self._roles = role_names(net.profile) if net is not None else {}

    def _print_Indexed(self, expr):
        base = self._roles.get(str(expr.base.label), self._print(expr.base.label))
        idx = "".join(self._print(i) for i in expr.indices)
        if "^" in base:
            head, sup = base.split("^", 1)
            return f"{head}^{sup}_{{{idx}}}"
        return f"{base}_{{{idx}}}"

    def _print_Pow(self, expr):
        """An indexed y^{(l)}_j raised to a power is bracketed: no double superscript."""
        if isinstance(expr.base, sp.Indexed) and expr.exp.is_Integer and expr.exp > 0:
            return rf"\left({self._print(expr.base)}\right)^{{{self._print(expr.exp)}}}"
        return super()._print_Pow(expr)

    def _print_MatrixSymbol(self, expr):
        """Our vectors are named letter + layer (y2, W3): bold letter, layer as superscript."""
        name = expr.name
        letters = name.rstrip("0123456789")
        layer = name[len(letters):]
        tex = {"delta": r"\delta", "net": r"net"}.get(letters, letters)
        bold = rf"\mathbf{{{tex}}}" if letters == "W" else rf"\boldsymbol{{{tex}}}"
        return f"{bold}^{{({layer})}}" if layer else bold

    def _print_Heaviside(self, expr, exp=None):
        tex = rf"H\left({self._print(expr.args[0])}\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"

    def _print_OneMatrix(self, expr):
        return r"\boldsymbol{1}"

    _print_Identity = _print_OneMatrix

    def _print_HadamardProduct(self, expr):
        return r" \odot ".join(self.parenthesize(a, 40) for a in expr.args)

    def _print_HadamardPower(self, expr):
        """y^{(2)} squared elementwise: the base braced, so the layer superscript does not clash."""
        return rf"{{{self.parenthesize(expr.base, 1000)}}}^{{\circ {self._print(expr.exp)}}}"


class IdentifierPrinter(StrPrinter):
    """Plain text in canonical identifiers: what `verify` accepts and JSON carries.

    Matrix rules print as NumPy would read them: * elementwise, @ matrix product, .T.
    """

    def _print_Sum(self, expr):
        (var, lo, hi), = expr.limits
        return f"sum_{var}={lo}..{hi}[{self._print(expr.function)}]"

    def _print_HadamardProduct(self, expr):
        return "*".join(self.parenthesize(a, 50) for a in expr.args)

    def _print_HadamardPower(self, expr):
        return f"{self.parenthesize(expr.base, 60)}**{self._print(expr.exp)}"

    def _print_MatMul(self, expr):
        coeff, rest = expr.as_coeff_mmul()
        body = " @ ".join(self.parenthesize(a, 50) for a in rest.args)
        return body if coeff == 1 else ("-" + body if coeff == -1 else f"{self._print(coeff)}*{body}")

    def _print_Transpose(self, expr):
        return f"{self.parenthesize(expr.arg, 60)}.T"

    def _print_ElementwiseApplyFunction(self, expr):
        func = expr.function.expr.func
        name = "step" if func is sp.Heaviside else func.__name__
        return f"{name}({self._print(expr.expr)})"

    def _print_OneMatrix(self, expr):
        return "1"

    _print_Identity = _print_OneMatrix   # a 1x1 vector of ones simplifies to Identity(1)

    def _print_Heaviside(self, expr):
        return f"step({self._print(expr.args[0])})"


def to_latex(expr, net) -> str:
    return NotesLatexPrinter(net).doprint(expr)


# The general rules' indexed roles in text, read as "w(l+1)_mj": layer in parentheses, then indices.
TEXT_ROLES = {"w": ("w", "(l)"), "w_next": ("w", "(l+1)"), "b": ("b", "(l)"), "b_next": ("b", "(l+1)"),
              "y_prev": ("out", "(l-1)"), "y": ("out", "(l)"), "v": ("net", "(l)"), "v_next": ("net", "(l+1)"),
              "delta": ("delta", "(l)"), "delta_next": ("delta", "(l+1)"), "t": ("target", ""), "e": ("e", "")}


def _text_indexed(expr, profile):
    """Indexed role entries -> plain symbols named in the profile's letters (Indexed prints itself)."""
    def name(e):
        letter, layer = TEXT_ROLES.get(str(e.base.label), (str(e.base.label), ""))
        letter = getattr(profile, letter, letter) if profile is not None else letter
        return sp.Symbol(f"{letter}{layer}_{''.join(str(i) for i in e.indices)}")
    return expr.replace(lambda e: isinstance(e, sp.Indexed), name)


def to_text(expr, net=None) -> str:
    if isinstance(expr, sp.Basic) and expr.has(sp.Indexed):
        expr = _text_indexed(expr, net.profile if net is not None else None)
    return IdentifierPrinter({"order": "none"}).doprint(expr)
