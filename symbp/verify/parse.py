"""A safe parser for hand-written formulas: Python's ast under a whitelist, built into SymPy directly."""
from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Callable, Mapping
from fractions import Fraction

import sympy as sp

from ..errors import SymbpError
from . import algebra as alg

MAX_LENGTH = 2000
MAX_NODES = 500
MAX_DEPTH = 50          # parentheses, and the depth of the syntax tree below
MAX_EXPONENT = 100
MAX_POWER_DIGITS = 1000  # a number raised to a power may have at most this many digits
MAX_LITERAL = 1e100
MAX_LEAVES = 100_000    # a formula written out in full, matrix products expanded entry by entry

PRIME = "__prime__"
# name'( -> __prime__name( : the apostrophe of phi'(v) is not Python, so it is rewritten
# on the raw text before ast.parse ever sees it; nothing else is rewritten.
_PRIME_RE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)'\s*\(")

_BINOPS = {ast.Add: alg.add, ast.Sub: alg.sub, ast.Mult: alg.hadamard, ast.Div: alg.divide,
           ast.MatMult: alg.matmul, ast.Pow: None}
_PRODUCTS = {ast.Mult: "hadamard", ast.MatMult: "matmul"}
_PRODUCTS_SHOWN = {ast.Mult: "*", ast.MatMult: "@"}
_REFUSED_OPS = {ast.BitXor: "'^' (write powers as **)", ast.Mod: "'%'",
                ast.FloorDiv: "'//'", ast.LShift: "'<<'", ast.RShift: "'>>'",
                ast.BitOr: "'|'", ast.BitAnd: "'&'"}

Functions = Mapping[str, Callable[..., sp.Expr]]
Symbols = Mapping[str, "sp.Symbol | sp.ImmutableMatrix"]


class ExpressionError(SymbpError, ValueError):
    """A formula given to verify is outside the accepted grammar; the message names the token and column."""

    def __init__(self, message: str, column: int | None = None):
        self.column, self.reason = column, message
        where = f" at column {column + 1}" if column is not None else ""
        super().__init__(f"{message}{where}")


def parse_expression(text: str, symbols: Symbols, functions: Functions, repairs: list | None = None) -> alg.Value:
    """Parse ``text`` into a SymPy expression over ``symbols`` and calls of ``functions``.

    Never evaluates Python: the text is checked (length, ASCII, nesting), parsed by
    ``ast.parse`` and every node is rebuilt from a whitelist. A derivative such as
    ``phi'(v1_2)`` calls ``functions["phi'"]``. A symbol may stand for a matrix (``W3_1``,
    ``delta1``): then ``@`` multiplies matrices, ``.T`` transposes, ``*``, ``+`` and ``**``
    work entry by entry as in NumPy and the result is an ImmutableMatrix. Anything else
    raises ExpressionError. With a list ``repairs``, a product of matrices whose shapes do not fit
    is read as the slip it would be (see ``algebra.repaired_product``), noted in the list.
    """
    _check_raw(text)
    rewritten, colmap = _rewrite_primes(text)
    tree = _parse(rewritten, colmap)
    builder = _Builder(symbols, functions, colmap)
    builder.repairs = repairs
    expr = builder.build(tree.body, 0)
    check_built(expr, "expression")
    return expr


def check_built(expr: alg.Value, what: str) -> None:
    """A built formula must be defined and, written out, of a size the checks can walk."""
    if alg.tree_size(expr, MAX_LEAVES) > MAX_LEAVES:
        raise ExpressionError(f"the {what} is too large once its matrix products are written out "
                              f"(more than {MAX_LEAVES} terms)")
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ExpressionError(f"the {what} is undefined (a division by zero or log(0))")


def check_plain(text: str, what: str = "expression", whitespace: str = "", hint: str = "",
                brackets: str = "parentheses", balanced: bool = False) -> None:
    """Size, alphabet and nesting, in one linear pass before anything recursive runs.

    Shared by the text and the LaTeX parser; ``what``, ``hint`` and ``brackets`` word the
    messages, ``whitespace`` lists the control characters a caller allows.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the {what} is {len(text)} characters long; at most {MAX_LENGTH} are accepted")
    if not text.strip():
        raise ExpressionError(f"the {what} is empty")
    depth = 0
    for col, ch in enumerate(text):
        if not (" " <= ch <= "~" or ch in whitespace):
            # Unicode look-alikes (Cyrillic 'е' in 'еta') must never pass as a known name.
            raise ExpressionError(f"character {ch!r} (U+{ord(ch):04X}) is not plain ASCII{hint}", col)
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(f"{brackets} nested deeper than {MAX_DEPTH}", col)
        elif ch in ")]}":
            depth -= 1
            if balanced and depth < 0:
                raise ExpressionError(f"unbalanced {ch!r}", col)
    if balanced and depth:
        raise ExpressionError("unbalanced brackets: some are never closed")


def _check_raw(text: str) -> None:
    """The shared size/alphabet/nesting pass, then no dunder names."""
    check_plain(text)
    for match in re.finditer(r"[A-Za-z0-9_]*__[A-Za-z0-9_]*", text):
        if match.group().startswith("__") or match.group().endswith("__"):
            raise ExpressionError(f"identifier {match.group()!r} is not accepted", match.start())


def _rewrite_primes(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Replace ``name'(`` by ``__prime__name(``; return the text and (new column, shift) marks."""
    marks: list[tuple[int, int]] = []
    out, last, shift, length = [], 0, 0, 0
    for m in _PRIME_RE.finditer(text):
        piece = f"{PRIME}{m.group(1)}("
        out += [text[last:m.start()], piece]
        length += m.start() - last + len(piece)
        shift += len(piece) - (m.end() - m.start())
        marks.append((length, shift))
        last = m.end()
    out.append(text[last:])
    return "".join(out), marks


def _original_column(col: int, marks: list[tuple[int, int]]) -> int:
    """The column in the user's text of a column in the rewritten text."""
    shift = 0
    for new_end, total in marks:
        if col >= new_end:
            shift = total
    return max(col - shift, 0)


def _parse(text: str, marks) -> ast.Expression:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # e.g. invalid escapes in a string it then refuses
            return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        col = None if exc.offset is None else _original_column(exc.offset - 1, marks)
        raise ExpressionError(f"not a formula ({exc.msg})", col) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("the expression is too deeply nested") from None


class _Builder:
    """Rebuild a whitelisted ast as SymPy objects, counting nodes and depth as it goes."""

    def __init__(self, symbols: Symbols, functions: Functions, marks):
        self.symbols, self.functions, self.marks = symbols, functions, marks
        self.nodes = 0
        self.repairs: list | None = None

    def fail(self, message: str, node: ast.AST):
        raise ExpressionError(message, _original_column(getattr(node, "col_offset", 0), self.marks))

    def build(self, node: ast.AST, depth: int) -> sp.Expr:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.fail(f"the expression has more than {MAX_NODES} parts", node)
        if depth > MAX_DEPTH:
            self.fail(f"the expression is nested deeper than {MAX_DEPTH}", node)
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            self.fail(f"{_describe(node)} is not accepted", node)
        return method(node, depth + 1)

    def _Constant(self, node: ast.Constant, depth: int) -> sp.Expr:
        value = node.value
        if type(value) is int:
            return sp.Integer(value)
        if type(value) is float:
            if not math.isfinite(value) or not (value == 0 or 1 / MAX_LITERAL <= abs(value) <= MAX_LITERAL):
                self.fail(f"number {value!r} is out of range", node)
            frac = Fraction(repr(value))       # the decimal the user wrote, exactly
            return sp.Rational(frac.numerator, frac.denominator)
        self.fail(f"{_describe(node)} is not accepted", node)

    def _Name(self, node: ast.Name, depth: int) -> sp.Expr:
        if node.id in self.symbols:
            return self.symbols[node.id]
        if node.id in self.functions:
            self.fail(f"function {node.id!r} must be called, as in {node.id}(...)", node)
        self.fail(f"unknown identifier {node.id!r}", node)

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> sp.Expr:
        operand = self.build(node.operand, depth)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.USub):
            return alg.neg(operand)
        self.fail(f"operator {_describe(node.op)} is not accepted", node)

    def _BinOp(self, node: ast.BinOp, depth: int) -> sp.Expr:
        op = type(node.op)
        if op not in _BINOPS:
            self.fail(f"operator {_REFUSED_OPS.get(op, op.__name__)} is not accepted", node)
        if op is ast.Pow:
            return self._power(node, depth)
        left, right = self.build(node.left, depth), self.build(node.right, depth)
        try:
            if op in _PRODUCTS:
                return alg.repaired_product(_PRODUCTS[op], left, right, _PRODUCTS_SHOWN[op], self.repairs)
            return _BINOPS[op](left, right)
        except alg.ShapeError as exc:
            self.fail(f"{self._source(node)}: {exc}", node)

    def _Attribute(self, node: ast.Attribute, depth: int) -> sp.Expr:
        """``M.T``, the transpose of a matrix: the one attribute there is."""
        if node.attr != "T":
            self.fail(f"{_describe(node)} is not accepted", node)
        value = self.build(node.value, depth)
        if not alg.is_matrix(value):
            self.fail(f"'.T' transposes a matrix or a vector; {self._source(node.value)} is a number", node)
        return alg.transpose(value)

    def _source(self, node: ast.AST) -> str:
        """What the user typed for a node, shortened (column positions are the rewritten text's)."""
        text = ast.unparse(node)
        return text if len(text) <= 40 else text[:37] + "..."

    def _power(self, node: ast.BinOp, depth: int) -> sp.Expr:
        # Towers like 9**9**9**9 would build numbers of astronomic size: no power in an exponent.
        # A power as the base was bracketed, (1 + y**2)**2, and is fine; a number's is bounded below.
        for inner in ast.walk(node.right):
            if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Pow):
                self.fail("nested powers are not accepted in an exponent", inner)
        base, exponent = self.build(node.left, depth), self.build(node.right, depth)
        if alg.is_matrix(exponent) or not exponent.is_Number:
            self.fail("an exponent must be a number", node.right)
        if abs(exponent) > MAX_EXPONENT:
            self.fail(f"exponent {exponent} is larger than {MAX_EXPONENT}", node.right)
        if not alg.is_matrix(base) and base.is_Number and base != 0 and abs(base) != 1:
            digits = abs(float(exponent)) * max(abs(math.log10(abs(float(base)) or 1e-300)), 1)
            if not math.isfinite(digits) or digits > MAX_POWER_DIGITS:
                self.fail(f"the power ({self._source(node.left)})**{exponent} is too large", node)
        return alg.power(base, exponent)

    def _Call(self, node: ast.Call, depth: int) -> sp.Expr:
        if _is_sum(node):
            return self._sum(node, depth)
        if isinstance(node.func, ast.Constant) and type(node.func.value) in (int, float):
            self.fail(f"write {node.func.value!r}*(...): a number before a bracket does not multiply", node)
        if not isinstance(node.func, ast.Name):
            self.fail(f"only named functions can be called, not {_describe(node.func)}", node)
        name = node.func.id
        key = f"{name[len(PRIME):]}'" if name.startswith(PRIME) else name
        if key not in self.functions:
            self.fail(f"unknown function {key!r}", node)
        if node.keywords:
            self.fail(f"keyword arguments are not accepted in {key}(...)", node)
        if any(isinstance(a, ast.Starred) for a in node.args):
            self.fail(f"'*' arguments are not accepted in {key}(...)", node)
        args = [self.build(a, depth) for a in node.args]
        try:
            if any(alg.is_matrix(a) for a in args):
                if len(args) != 1:
                    self.fail(f"{key}(...) applies to one matrix, entry by entry", node)
                return alg.apply(self.functions[key], args[0])
            return self.functions[key](*args)
        except ExpressionError as exc:
            self.fail(f"{key}(...): {exc}", node)
        except TypeError:
            self.fail(f"{key}(...) takes one argument, got {len(args)}", node)


    def _sum(self, node: ast.Call, depth: int) -> alg.Value:
        """``M.sum(axis=1)``, ``np.sum(M, axis=1)``, ``sum(M, 1)``: a matrix summed along one axis."""
        method = isinstance(node.func, ast.Attribute) and not _is_numpy(node.func.value)
        operands = ([node.func.value] if method else []) + list(node.args)
        axes = operands[1:] + [k.value for k in node.keywords if k.arg == "axis"]
        if len(operands) + len(node.keywords) != 2 or len(axes) != 1 or any(k.arg != "axis" for k in node.keywords):
            self.fail("a sum takes a matrix and an axis, as in delta2.sum(axis=1) or sum(delta2, 1)", node)
        axis = axes[0]
        if not (isinstance(axis, ast.Constant) and type(axis.value) is int and axis.value in (0, 1)):
            self.fail("the axis of a sum is 0 (down the columns) or 1 (along the rows)", axis)
        value = self.build(operands[0], depth)
        if not alg.is_matrix(value):
            self.fail(f"a sum over an axis needs a matrix or a vector; {self._source(operands[0])} is a number", node)
        return alg.sum_axis(value, axis.value)


def _is_numpy(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("np", "numpy")


def _is_sum(node: ast.Call) -> bool:
    """sum(...), np.sum(...) or M.sum(...); no other attribute is ever called."""
    f = node.func
    return (isinstance(f, ast.Name) and f.id == "sum") or (isinstance(f, ast.Attribute) and f.attr == "sum")


def _describe(node: ast.AST) -> str:
    """A user's name for an ast node (what they typed, roughly)."""
    names = {ast.Attribute: "attribute access '.'", ast.Subscript: "indexing '[...]'",
             ast.Lambda: "'lambda'", ast.Compare: "a comparison", ast.BoolOp: "'and'/'or'",
             ast.IfExp: "'if ... else'", ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict",
             ast.Set: "a set", ast.ListComp: "a comprehension", ast.GeneratorExp: "a generator",
             ast.NamedExpr: "':='", ast.JoinedStr: "an f-string", ast.Await: "'await'",
             ast.Yield: "'yield'", ast.Starred: "'*'", ast.Slice: "a slice",
             ast.Not: "'not'", ast.Invert: "'~'"}
    if isinstance(node, ast.Constant):
        kind = {str: "a string", bytes: "a bytes literal", bool: "a boolean", complex: "a complex number",
                type(None): "None", type(...): "'...'"}.get(type(node.value), type(node.value).__name__)
        return f"{kind} ({node.value!r})" if not isinstance(node.value, (str, bytes)) else kind
    return names.get(type(node), type(node).__name__)
