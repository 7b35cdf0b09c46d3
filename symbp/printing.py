"""Printers: LaTeX in the profile's letters (w^{(l)}_{jk} or global w_{41}) and plain identifiers."""
from __future__ import annotations

import re
from functools import cmp_to_key, lru_cache

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
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


def _negative(term) -> bool:
    return bool(term.could_extract_minus_sign())


def _positive_first(terms: list) -> list:
    """A two-term sum with one negative term starts with the positive one: 1 - y, d - y, not -y + 1."""
    if len(terms) == 2 and _negative(terms[0]) and not _negative(terms[1]):
        return [terms[1], terms[0]]
    return terms


class NaturalOrder:
    """Terms of a sum in the order SymPy gives them, but with indices compared as numbers.

    SymPy orders symbols by name, which puts w_{1,10} between w_{11} and w_{12}; ordering
    the terms as if every index were zero-padded fixes that and leaves one-digit indices as they were.
    A two-term sum puts its positive term first, as a person writes 1 - y.
    """

    def _as_ordered_terms(self, expr, order=None):
        terms = self._natural_terms(expr, order)
        return terms if (order or self.order) == "none" and not expr.is_Matrix else _positive_first(terms)

    def _natural_terms(self, expr, order=None):
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


# The factors of a product in the order a lecturer writes them: eta delta w y(1 - y) x.
_TIER = {"number": 0, "eta": 1, "error": 2, "delta": 3, "w": 4, "slope": 5, "sum": 6, "input": 7, None: 8}


def _roles(net) -> dict:
    """Each symbol of ``net`` -> its role: eta, error (e, t), delta, w, y, v, x, b."""
    roles = {net.eta: "eta", net.alpha: "eta", net.lam: "eta"}   # the rates lead: eta lambda w, alpha Delta w
    for kind, grid in (("delta", net.delta), ("y", net.y), ("v", net.v)) + ((("b", net.b),) if net.bias else ()):
        roles.update({s: kind for l in range(1, net.depth + 1) for s in grid[l]})
    roles.update({s: "w" for rows in net.weights.values() for row in rows for s in row})
    roles.update({s: "x" for s in net.x})
    roles.update({s: "error" for s in (*net.e, *net.t)})
    return roles


class FactorOrder:
    """Orders the factors of a product: numbers, eta, errors, deltas, weights, then each unit's
    activation slope with its output beside it (y (1 - y)), the backpropagated sum, the input last."""

    _role_of: dict = {}

    def _kinds(self, f) -> set:
        from .indexform import ROLE_TABLE
        kinds = set()
        for a in f.atoms(sp.Indexed):
            r = ROLE_TABLE.get(str(a.base.label))
            kinds.add({"t": "error", "e": "error"}.get(r.kind, r.kind) if r else None)
            f = f.xreplace({a: sp.Integer(1)})
        kinds |= {self._role_of.get(s) for s in f.free_symbols}
        return kinds - {None}

    @staticmethod
    def _units(f) -> list:
        base = f.base if f.is_Pow else f
        return [base] if (base.is_Symbol or isinstance(base, sp.Indexed)) else []

    def _tier(self, f, args) -> tuple:
        kinds = self._kinds(f)
        if f.is_Number:
            return _TIER["number"], ""
        if kinds == {"eta"}:     # eta, then lambda or alpha: eta lambda w
            return _TIER["eta"], "" if getattr(f, "name", "") == "eta" else "~"
        if "error" in kinds:
            return _TIER["error"], ""
        if f.has(sp.Sum) or (f.is_Add and "delta" in kinds):
            return _TIER["sum"], ""
        if kinds == {"delta"}:
            return _TIER["delta"], ""
        if kinds == {"w"}:
            return _TIER["w"], ""
        if (kinds and kinds <= {"y", "v"}) or (not kinds and f.atoms(sp.Function)):
            own = self._units(f)
            if own and not any(g is not f and not self._units(g) and g.has(own[0]) for g in args):
                return _TIER["input"], ""             # y_k alone: the input of the weight, not a slope
            unit = min((_padded(str(s)) for s in f.atoms(sp.Indexed, sp.Symbol) if s.is_Symbol or
                        isinstance(s, sp.Indexed)), default="")
            bare = own or isinstance(f, sp.Function)      # y or sigma(z) before 1 - y or 1 - sigma(z)
            return _TIER["slope"], (unit, 0 if bare else 1)
        if kinds == {"x"}:
            return _TIER["input"], ""
        return _TIER[None], ""

    def _ordered_factors(self, expr) -> list:
        args = list(expr.as_ordered_factors())
        keyed = sorted(enumerate(args), key=lambda p: (*self._tier(p[1], args), p[0]))
        return [a for _, a in keyed]


class NotesLatexPrinter(FactorOrder, NaturalOrder, LatexPrinter):
    """LaTeX in a network's notation: symbol names from the profile, phi' never as Subs(Derivative)."""

    def __init__(self, net=None, settings=None):
        settings = dict(settings or {})
        if net is not None:
            if "symbol_names" not in settings:      # not setdefault: the names of W = 200,000 cost seconds
                settings["symbol_names"] = latex_names(net)
        settings.setdefault("mul_symbol", None)
        super().__init__(settings)
        self._given = settings
        self._profile = net.profile if net is not None else None
        self._role_of = _roles(net) if net is not None else {}

    def _print_Mul(self, expr):
        """A product without a denominator in a lecturer's order (see FactorOrder); others as SymPy prints them."""
        if self.order in ("old", "none") or not isinstance(expr, sp.Mul):
            return super()._print_Mul(expr)
        if expr.could_extract_minus_sign():
            rest = -expr
            flip = self._target_difference(rest)
            if flip is not None:        # -(y - t) x -> (t - y) x: the sign goes into the difference
                return self._print_Mul(sp.Mul(*[-a if a is flip else a for a in rest.args], evaluate=False))
            tex = self._print(rest)
            return "- " + (rf"\left({tex}\right)" if rest.is_Add else tex)
        if sp.fraction(expr, exact=True)[1] != 1:
            return super()._print_Mul(expr)
        args = self._ordered_factors(expr)
        parts = []
        for i, a in enumerate(args):
            tex = self._print(a)
            if self._needs_mul_brackets(a, first=(i == 0), last=(i == len(args) - 1)):
                tex = rf"\left({tex}\right)"
            parts.append(tex)
        return self._settings["mul_symbol_latex"].join(parts)

    def _target_difference(self, product):
        """The factor (y - t) of a product without a denominator, where the minus before the product can go."""
        if not isinstance(product, sp.Mul) or sp.fraction(product, exact=True)[1] != 1:
            return None
        for a in product.args:
            negative = [t for t in a.args if t.could_extract_minus_sign()] if a.is_Add else []
            if len(a.args) == 2 and any(self._is_target(t) for t in negative):
                return a
        return None

    def _is_target(self, term) -> bool:
        """-t_j or -d_1: a target (or error) with a minus sign, concrete or indexed."""
        t = -term
        if isinstance(t, sp.Indexed):
            return str(t.base.label) in ("t", "e")
        return self._role_of.get(t) == "error"

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
        r"""y^{(2)} squared elementwise as y^{(2)} \odot y^{(2)}: no undefined circle power in the notes."""
        if expr.exp.is_Integer and 2 <= expr.exp <= 3:
            return r" \odot ".join([self.parenthesize(expr.base, PRECEDENCE["Mul"], strict=True)] * int(expr.exp))
        raise NotImplementedError(f"an elementwise power {expr.exp} has no notation in the notes")

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
        body, var = expr.function.expr, expr.function.variables[0]
        if not (isinstance(body, sp.Function) and body.args[0] == var):
            # no call of its variable (elu's Piecewise in y, 1/(1 + |v|)^2): the body, the vector in it
            return self._print(body.xreplace({var: sp.Symbol(self._print(expr.expr))}))
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
