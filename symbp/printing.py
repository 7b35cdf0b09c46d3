"""Printers: LaTeX in the profile's letters (w^{(l)}_{jk} or global w_{41}) and plain identifiers."""
from __future__ import annotations

import re
from functools import cmp_to_key, lru_cache

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter


def _sub(*indices: int) -> str:
    """Subscript digits: w_{13}, or w_{10,3} once an index has two digits."""
    sep = "," if any(not isinstance(i, int) or i > 9 for i in indices) else ""
    return sep.join(str(i) for i in indices)


def global_number(net, layer: int, j: int) -> int:
    """Seed 003 numbers the units of all computing layers consecutively."""
    return sum(net.layers[1:layer]) + j


def latex_names(net) -> dict[sp.Symbol, str]:
    """The LaTeX of every symbol of ``net`` in its profile and numbering."""
    p, glob = net.profile, net.spec.numbering == "global"
    names: dict[sp.Symbol, str] = {net.eta: r"\eta", net.batch: "N", net.loss_symbol: p.loss_tex}
    names.update({x: f"x_{{{k}}}" for k, x in enumerate(net.x, start=1)})

    def unit(letter: str, l: int, j: int) -> str:
        return f"{letter}_{{{global_number(net, l, j)}}}" if glob else f"{letter}^{{({l})}}_{{{j}}}"

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
                    src = k if c.src == 0 or not glob else global_number(net, c.src, k)
                    if glob and c.src == 0 and l > 1:     # w_{5,x_1}: not hidden unit 1's w_{51}
                        src = f"x_{{{k}}}"
                    dst = global_number(net, l, j) if glob else j
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


# The order a lecturer writes a product in follows the backward pass: numbers, eta, the error, then layer by
# layer from the output down (a delta, a unit's slope y (1 - y), the weight into it), the backpropagated sum,
# the input last: eta e y2 (1 - y2) w2 y1 (1 - y1) x, delta2 w2 y1 (1 - y1), phi' (sum delta w).
_TIER = {"number": 0, "eta": 1, "error": 2, "chain": 3, "sum": 4, "input": 5, None: 6}
_CHAIN = {"delta": 0, "slope": 1, "w": 2}


def _roles(net) -> dict:
    """Each symbol of ``net`` -> (its role, its layer): eta, error (e, t), delta, w, y, v, x, b."""
    roles = {s: ("eta", None) for s in (net.eta, net.alpha, net.lam)}   # the rates lead: eta lambda w
    for kind, grid in (("delta", net.delta), ("y", net.y), ("v", net.v)) + ((("b", net.b),) if net.bias else ()):
        roles.update({s: (kind, l) for l in range(1, net.depth + 1) for s in grid[l]})
    roles.update({s: ("w", c.dst) for c, rows in net.weights.items() for row in rows for s in row})
    roles.update({s: ("x", 0) for s in net.x})
    roles.update({s: ("error", net.depth) for s in (*net.e, *net.t)})
    return roles


def _matrix_name(name: str) -> tuple[str, list[str]]:
    """A layer vector's or matrix's letters and layers, as forms names them: W3_1 -> ('W', ['3', '1'])."""
    letters = name.rstrip("0123456789_")
    return letters, [n for n in name[len(letters):].split("_") if n]


def _matrix_role(profile, name: str) -> tuple:
    """(role, layer) of a vector or matrix of the matrix form: y2 an output, W3 a weight, t the targets."""
    letters, layers = _matrix_name(name)
    if profile is None:
        return None, None
    if not layers:
        roles = {"x": "x", profile.target: "error", profile.error: "error"}
        return roles.get(letters), 0 if letters == "x" else None
    roles = {"W": "w", "delta": "delta", "b": "b", profile.out: "y", profile.net: "v"}
    return roles.get(letters), int(layers[0])


def _negated(a):
    """-a, a difference of vectors term by term: -(y - t) is t - y, not -1 times (y - t)."""
    return sp.MatAdd(*[-t for t in a.args]) if a.is_Matrix and isinstance(a, sp.MatAdd) else -a


class FactorOrder:
    """The order a lecturer writes: the factors of a product (see _TIER), the terms of a sum with the bias
    last (v = sum w y + b), and a product's minus sign inside a difference that then leads with a number
    or a target: -(y - t) x is (t - y) x, -(d - 1) is 1 - d."""

    _role_of: dict = {}
    _profile = None

    def _role(self, s) -> tuple:
        """(role, layer) of a symbol, of an indexed role of the general rules, or of a layer vector."""
        from .indexform import ROLE_TABLE
        if isinstance(s, sp.Indexed):
            r = ROLE_TABLE.get(str(s.base.label))
            return ({"t": "error", "e": "error"}.get(r.kind, r.kind), r.layer) if r else (None, None)
        if isinstance(s, sp.MatrixSymbol):
            return _matrix_role(self._profile, s.name)
        return self._role_of.get(s, (None, None))

    @staticmethod
    def _atoms(f) -> list:
        """The symbols, indexed entries and vectors of ``f`` (an entry's label and indices not apart)."""
        indexed = f.atoms(sp.Indexed)
        rest = f.xreplace({a: sp.Integer(1) for a in indexed}) if indexed else f
        return [*indexed, *rest.atoms(sp.Symbol, sp.MatrixSymbol)]

    def _kinds(self, f) -> set:
        return {self._role(s)[0] for s in self._atoms(f)} - {None}

    def _layer(self, f) -> int:
        return max((self._role(s)[1] or 0 for s in self._atoms(f)), default=0)

    @staticmethod
    def _units(f) -> list:
        base = f.base if f.is_Pow or isinstance(f, sp.HadamardPower) else f
        return [base] if isinstance(base, (sp.Symbol, sp.Indexed, sp.MatrixSymbol)) else []

    def _key(self, f, args) -> tuple:
        kinds = self._kinds(f)
        if f.is_Number:
            return (_TIER["number"],)
        if kinds == {"eta"}:     # eta, then lambda or alpha: eta lambda w
            return _TIER["eta"], "" if getattr(f, "name", "") == "eta" else "~"
        if "error" in kinds:
            return (_TIER["error"],)
        if f.has(sp.Sum) or ("delta" in kinds and isinstance(f, (sp.Add, sp.MatMul))):   # sum_m delta_m w_mj, W^T delta
            return (_TIER["sum"],)
        if kinds in ({"delta"}, {"w"}):
            # beside a unit's slope, the next layer's delta and weight are the recursion's sum: slope first,
            # y (1 - y) delta w, as phi'(v) sum delta w reads (a lone delta, eta delta x, keeps its place)
            tier = "sum" if any(self._kinds(g) == {"delta"} for g in args) else "chain"
            return _TIER[tier], -self._layer(f), _CHAIN[next(iter(kinds))], "", 0
        if (kinds and kinds <= {"y", "v"}) or (not kinds and f.atoms(sp.Function)):
            own = self._units(f)
            if own and not any(g is not f and not self._units(g) and g.has(own[0]) for g in args):
                return (_TIER["input"],)             # y_k alone: the input of the weight, not a slope
            unit = min((_padded(str(s)) for s in self._atoms(f)), default="")
            bare = own or isinstance(f, (sp.Function, ElementwiseApplyFunction))   # y before 1 - y
            return _TIER["chain"], -self._layer(f), _CHAIN["slope"], unit, 0 if bare else 1
        if kinds == {"x"}:
            return (_TIER["input"],)
        return (_TIER[None],)

    def _ordered(self, args: list) -> list:
        keyed = sorted(enumerate(args), key=lambda p: (self._key(p[1], args), p[0]))
        return [a for _, a in keyed]

    def _rank(self, term) -> int:
        """What a difference leads with: a number (1 - y) before a target (t - y) before anything else."""
        if term.is_Number or isinstance(term, (sp.OneMatrix, sp.Identity)):
            return 2
        return int(self._units(term) == [term] and self._role(term)[0] == "error")

    def _flip(self, factors: list):
        """The difference among ``factors`` that a product's minus sign should go into, or None."""
        for a in factors:
            if isinstance(a, sp.Add) and len(a.args) == 2:
                neg = [t for t in a.args if _negative(t)]
                pos = [t for t in a.args if not _negative(t)]
                if len(neg) == 1 and pos and self._rank(-neg[0]) > self._rank(pos[0]):
                    return a
        return None

    @staticmethod
    def _pulled(expr) -> list:
        """The factors of a product, a whole number common to a sum's terms moved to the front:
        (2 o - 2 t) o is 2 (o - t) o, as the output delta reads."""
        coeff, factors = sp.Integer(1), []
        for a in (expr.as_ordered_factors() if isinstance(expr, sp.Mul) else [expr]):
            content, rest = a.primitive() if a.is_Add and not a.is_Matrix else (sp.Integer(1), a)
            if content.is_Integer and content > 1:
                coeff, a = coeff * content, rest
            if a.is_Number:
                coeff *= a
            else:
                factors.append(a)
        return ([coeff] if coeff != 1 else []) + factors

    def split_inputs(self, factors: list) -> tuple[list, list]:
        """Ordered factors split before the input a weight reads (x, y_k alone), which a product prints last:
        what stands before a wrapped sum, and what after it."""
        tiers = [self._key(f, factors)[0] for f in factors]
        return ([f for f, t in zip(factors, tiers) if t < _TIER["input"]],
                [f for f, t in zip(factors, tiers) if t >= _TIER["input"]])

    def _absorb_minus(self, negative: bool, factors: list) -> tuple[bool, list]:
        """(negative, factors) with a product's minus sign moved into the difference it goes into, if any:
        (True, [y - t, x]) is (False, [t - y, x])."""
        flip = self._flip(factors) if negative else None
        if flip is None:
            return negative, factors
        return False, [_negated(a) if a is flip else a for a in factors]

    def absorbs_minus(self, term) -> bool:
        """A negative product whose minus goes into a difference: it prints as + (t - y) x in a sum."""
        rest = -term
        return (not term.is_Matrix and isinstance(rest, sp.Mul) and sp.fraction(rest, exact=True)[1] == 1
                and self._flip(self._pulled(rest)) is not None)

    def _is_bias(self, term) -> bool:
        t = -term if _negative(term) else term
        return self._units(t) == [t] and self._role(t)[0] == "b"

    def _as_ordered_terms(self, expr, order=None):
        terms = super()._as_ordered_terms(expr, order)
        if (order or self.order) in ("none", "old"):
            return terms
        if len(terms) == 2 and all(t.is_Mul and not _negative(t) for t in terms):
            terms = sorted(terms, key=sp.count_ops)       # the shorter product first: t log y + (1 - t) log(1 - y)
        return [t for t in terms if not self._is_bias(t)] + [t for t in terms if self._is_bias(t)]


def _sum_constant(f) -> sp.Expr:
    """The number a summand is a multiple of, its sign included: -1 for -y log a, 1/2 for e^2/2."""
    c, g = f.primitive() if f.is_Add else f.as_coeff_Mul()
    return -c if g.could_extract_minus_sign() else c


def _numbers_out_of_sums(expr):
    """Sum(c f) as c Sum(f): a person writes the number before the sum, C = -sum_j y_j log a_j, E = 1/2 sum e^2."""
    if not isinstance(expr, sp.Basic) or not expr.has(sp.Sum):
        return expr
    return expr.replace(lambda e: isinstance(e, sp.Sum) and _sum_constant(e.function) != 1,
                        lambda e: _sum_constant(e.function) * sp.Sum(e.function / _sum_constant(e.function), *e.limits))


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

    def doprint(self, expr):
        return super().doprint(_numbers_out_of_sums(expr))

    def _ordering(self) -> bool:
        return self.order not in ("old", "none")

    def _print_Add(self, expr, order=None):
        """Terms in a lecturer's order (see FactorOrder), a whole number common to all of them in front."""
        if not self._ordering():
            return super()._print_Add(expr, order)
        pulled = self._pulled(expr)     # [content, rest] when a whole number content > 1 is common to the terms
        if len(pulled) == 2 and pulled[1].is_Add:      # 2 o - 2 t -> 2 (o - t)
            content, rest = pulled
            if all(_negative(t) for t in rest.args):
                return "- " + self._product([content, -rest])
            return self._product(pulled)
        tex = ""
        for i, term in enumerate(self._as_ordered_terms(expr, order=order)):
            if i:
                minus = _negative(term) and not self.absorbs_minus(term)
                tex += " - " if minus else " + "
                term = -term if minus else term
            term_tex = self._print(term)
            tex += rf"\left({term_tex}\right)" if self._needs_add_brackets(term) else term_tex
        return tex

    def _print_Mul(self, expr):
        """A product without a denominator in a lecturer's order (see FactorOrder); others as SymPy prints them."""
        if not self._ordering() or not isinstance(expr, sp.Mul):
            return super()._print_Mul(expr)
        whole = sp.fraction(expr, exact=True)[1] == 1
        if expr.could_extract_minus_sign():
            rest = -expr
            factors = self._pulled(rest) if whole and isinstance(rest, sp.Mul) else []
            negative, factors = self._absorb_minus(True, factors)
            if not negative:        # -(y - t) x -> (t - y) x: the sign goes into the difference
                return self._product(factors)
            tex = self._print(rest)
            return "- " + (rf"\left({tex}\right)" if rest.is_Add else tex)
        return self._product(self._pulled(expr)) if whole else self._fraction(expr)

    def ordered_factors(self, expr) -> tuple[bool, list]:
        """(negative, factors) of a product without a denominator, as _print_Mul prints it: its minus sign
        moved into a difference where it goes, -(y - t) x is (False, [t - y, x])."""
        negative = expr.could_extract_minus_sign()
        negative, factors = self._absorb_minus(negative, self._pulled(-expr if negative else expr))
        return negative, self._ordered(factors)

    def _fraction(self, expr) -> str:
        """A product of the network's quantities, or a sum, over numbers and symbols: its number in front of the
        rest, in order, (2/N) e y (1 - y), (1/2N) sum e^2; any other fraction (sqrt(2) v/2, a quotient of sums)
        as SymPy prints it."""
        num, den = sp.fraction(expr, exact=True)
        coeff, rest = num.as_coeff_Mul()
        quantities = [a for a in sp.Mul.make_args(rest) if self._kinds(a)]
        simple = den != 1 and all(a.is_Number or a.is_Symbol for a in sp.Mul.make_args(den))      # 2, N, 2 N
        # a function's value after its number, (4/5) H(z) as a slope a + (1 - a) H(z) reads, not 4 H(z)/5
        applied = den.is_Integer and rest.is_Function and not isinstance(rest, sp.Abs)
        if not (simple and (rest.has(sp.Sum) or len(quantities) > 1 or applied)):
            return super()._print_Mul(expr)
        return rf"\frac{{{self._print(coeff)}}}{{{self._print(den)}}} " + self.parenthesize(rest, PRECEDENCE["Mul"],
                                                                                         strict=True)

    def _product(self, factors: list) -> str:
        args = self._ordered(factors)
        parts = []
        for i, a in enumerate(args):
            tex = self._print(a)
            if self._needs_mul_brackets(a, first=(i == 0), last=(i == len(args) - 1)):
                tex = rf"\left({tex}\right)"
            parts.append(tex)
        return self._settings["mul_symbol_latex"].join(parts)

    def _print_MatMul(self, expr):
        r"""A number times a Hadamard product as c a \odot b, its minus sign inside a difference as in a scalar
        product: -(1 - a \odot a) \odot (a - t) is (t - a) \odot (1 - a \odot a). Matrix products keep their order."""
        coeff, rest = expr.as_coeff_mmul()
        body = rest.args[0] if len(rest.args) == 1 else None
        if not self._ordering() or not isinstance(body, sp.HadamardProduct):
            return super()._print_MatMul(expr)
        minus = coeff.could_extract_minus_sign()
        negative, factors = self._absorb_minus(minus, self._hadamard_factors(body))
        coeff = -coeff if minus else coeff
        head = "" if coeff == 1 else self.parenthesize(coeff, PRECEDENCE["Mul"], strict=True) + " "   # (1 + eta) y
        return ("- " if negative else "") + head + self._hadamard(factors)

    def _print_Indexed(self, expr):
        label = str(expr.base.label)
        base = (self._profile and role_tex(self._profile, label)) or self._print(expr.base.label)
        idx = "".join(self._print(i) for i in expr.indices)
        if "^" in base:
            head, sup = base.split("^", 1)
            return f"{head}^{sup}_{{{idx}}}"
        return f"{base}_{{{idx}}}"

    def _print_Pow(self, expr):
        """An indexed y^{(l)}_j raised to a power is bracketed: no double superscript (e_m^2 needs none)."""
        if isinstance(expr.base, sp.Indexed) and expr.exp.is_Integer and expr.exp > 0:
            base, exp = self._print(expr.base), self._print(expr.exp)
            return rf"\left({base}\right)^{{{exp}}}" if "^" in base else f"{base}^{{{exp}}}"
        return super()._print_Pow(expr)

    def _print_MatrixSymbol(self, expr):
        """Our vectors are named letter + layer (y2, W3): bold letter, layer as superscript."""
        letters, layers = _matrix_name(expr.name)
        layer = ",".join(layers)    # W3_1: the skip matrix W^{(3,1)}
        tex = {"delta": r"\delta"}.get(letters, letters)
        # W and Mitchell's net (a word, upright as \mathrm{net} is) in upright bold; vectors' letters bold italic
        bold = rf"\mathbf{{{tex}}}" if letters in ("W", "net") else rf"\boldsymbol{{{tex}}}"
        return f"{bold}^{{({layer})}}" if layer else bold

    def _print_Heaviside(self, expr, exp=None):
        tex = rf"H\left({self._print(expr.args[0])}\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"

    def _print_OneMatrix(self, expr):
        return r"\boldsymbol{1}"

    _print_Identity = _print_OneMatrix

    @classmethod
    def _hadamard_factors(cls, expr) -> list:
        """The factors of a Hadamard product, nested ones flattened (it is associative and commutative)."""
        return [f for a in expr.args
                for f in (cls._hadamard_factors(a) if isinstance(a, sp.HadamardProduct) else [a])]

    def _hadamard(self, factors: list) -> str:
        ordered = self._ordered(factors) if self._ordering() else factors
        # a matrix product inside a Hadamard product is bracketed: y \odot (W^T delta), since the two products'
        # precedence is a convention the reader may not share (Nielsen brackets it too)
        return r" \odot ".join(rf"\left({self._print(a)}\right)" if isinstance(a, sp.MatMul)
                                else self.parenthesize(a, 40) for a in ordered)

    def _print_HadamardProduct(self, expr):
        return self._hadamard(self._hadamard_factors(expr))

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
