"""Printers: LaTeX in the profile's letters (w^{(l)}_{jk} or global w_{41}) and plain identifiers."""
from __future__ import annotations

import re
from functools import cmp_to_key, lru_cache

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter


def _sub(*indices: int) -> str:
    """Subscript digits: w_{13}, or w_{10,3} once an index has two digits."""
    sep = "," if any(not isinstance(i, int) or i > 9 for i in indices) else ""
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
            for c in net.graph.inputs(l):
                layer = f"{l}" if c.kind == "chain" else f"{l},{c.src}"
                for k in net.units(c.src):
                    src = k if c.src == 0 or not glob else _global(net, c.src, k)
                    if glob and c.src == 0 and l > 1:     # w_{5,x_1}: not hidden unit 1's w_{51}
                        src = f"x_{{{k}}}"
                    dst = _global(net, l, j) if glob else j
                    names[net.weights[c][j - 1][k - 1]] = (f"w_{{{_sub(dst, src)}}}" if glob
                                                           else f"w^{{({layer})}}_{{{_sub(j, k)}}}")
    for j, t in enumerate(net.t, start=1):
        names[t] = f"{p.target_tex}_{{{j}}}"
    for j, e in enumerate(net.e, start=1):
        names[e] = f"e_{{{j}}}"
    return names


def _offset(n: int) -> str:
    """A layer relative to l: l, l+1, l-2."""
    return "l" if n == 0 else f"l{n:+d}"


def role_layer(role) -> str:
    """The layer label of a role of the general rules: (l+1), or (l+2,l) for a skip weight."""
    if role.kind in ("t", "e"):
        return ""
    if role.kind == "w" and role.src is not None:
        return f"({_offset(role.layer)},{_offset(role.src)})"
    return f"({_offset(role.layer)})"


# The general (index-form) rules use indexed roles around a layer l (w_next: the weights of l+1).
def role_tex(profile, label: str) -> str | None:
    """The LaTeX of an indexed role's base in a profile's letters (None for a label no rule uses)."""
    from .indexform import ROLE_TABLE
    r, p = ROLE_TABLE.get(label), profile
    if r is None:
        return None
    letters = {"w": "w", "b": "b", "y": p.out_tex, "v": p.net_tex, "delta": r"\delta", "t": p.target_tex, "e": "e"}
    return letters[r.kind] + (f"^{{{role_layer(r)}}}" if role_layer(r) else "")


def _padded(name: str) -> str:
    """A name whose digit runs are zero-padded, so that string order is numeric order (w2_10 after w2_9)."""
    return re.sub(r"\d+", lambda m: m.group().zfill(6), name)


class NaturalOrder:
    """Terms of a sum in the order SymPy gives them, but with indices compared as numbers.

    SymPy orders symbols by name, which puts w_{1,10} between w_{11} and w_{12}; ordering
    the terms as if every index were zero-padded fixes that and leaves one-digit indices as they were.
    """

    def _as_ordered_terms(self, expr, order=None):
        symbols = [s for s in expr.free_symbols if isinstance(s, sp.Symbol)]
        pad = {s: sp.Symbol(_padded(s.name), **s.assumptions0) for s in symbols if _padded(s.name) != s.name}
        if not pad or len({_padded(s.name) for s in symbols}) != len(symbols):
            return super()._as_ordered_terms(expr, order)
        back = {v: k for k, v in pad.items()}
        renamed = {a.xreplace(pad): a for a in expr.args}
        if (order or self.order) == "none":
            ordered = sorted(renamed, key=cmp_to_key(sp.Basic.compare))
        else:
            ordered = sp.Add(*renamed, evaluate=False).as_ordered_terms(order=order or self.order)
        return [renamed.get(t, t.xreplace(back)) for t in ordered]


class NotesLatexPrinter(NaturalOrder, LatexPrinter):
    """LaTeX in a network's notation: symbol names from the profile, phi' never as Subs(Derivative)."""

    def __init__(self, net=None, settings=None):
        settings = dict(settings or {})
        if net is not None:
            settings.setdefault("symbol_names", latex_names(net))
        settings.setdefault("mul_symbol", None)
        super().__init__(settings)
        self._given = settings
        self._profile = net.profile if net is not None else None

    def _print_Indexed(self, expr):
        label = str(expr.base.label)
        base = (self._profile and role_tex(self._profile, label)) or self._print(expr.base.label)
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
        letters = name.rstrip("0123456789_")
        layer = ",".join(name[len(letters):].split("_"))    # W3_1: the skip matrix W^{(3,1)}
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

    def _print_ElementwiseApplyFunction(self, expr):
        """sigma applied to every entry of v^{(4)} prints as sigma(v^{(4)}), as a lecturer writes it."""
        arg = sp.Dummy("arg", real=True)
        body = expr.function.expr.xreplace({expr.function.variables[0]: arg})
        names = {**self._given.get("symbol_names", {}), arg: self._print(expr.expr)}
        inner = type(self)(None, {**self._given, "symbol_names": names})
        inner._profile = self._profile
        return inner._print(body)


class IdentifierPrinter(NaturalOrder, StrPrinter):
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


@lru_cache(maxsize=4)
def _latex_printer(net) -> NotesLatexPrinter:
    # one printer per network: its symbol table has an entry per parameter (O(W) to build)
    return NotesLatexPrinter(net)


def to_latex(expr, net) -> str:
    return _latex_printer(net).doprint(expr)


# The general rules' indexed roles in text, read as "w(l+1)_mj": layer in parentheses, then indices.
TEXT_LETTERS = {"w": "w", "b": "b", "y": "out", "v": "net", "delta": "delta", "t": "target", "e": "e"}


def _text_indexed(expr, profile):
    """Indexed role entries -> plain symbols named in the profile's letters (Indexed prints itself)."""
    from .indexform import ROLE_TABLE

    def name(e):
        r = ROLE_TABLE.get(str(e.base.label))
        letter, layer = (TEXT_LETTERS[r.kind], role_layer(r)) if r else (str(e.base.label), "")
        letter = getattr(profile, letter, letter) if profile is not None else letter
        return sp.Symbol(f"{letter}{layer}_{''.join(str(i) for i in e.indices)}")
    return expr.replace(lambda e: isinstance(e, sp.Indexed), name)


def to_text(expr, net=None) -> str:
    if isinstance(expr, sp.Basic) and expr.has(sp.Indexed):
        expr = _text_indexed(expr, net.profile if net is not None else None)
    return IdentifierPrinter({"order": "none"}).doprint(expr)
