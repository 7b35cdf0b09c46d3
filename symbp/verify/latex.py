r"""LaTeX input for verify: a formula in the notation of the notes, read by a lark grammar.

``parse_latex_for(net, r"\eta (d_1 - y_4) w_{41} y_1 (1 - y_1) x_1")`` gives a SymPy
expression in the network's symbols. Nothing here runs TeX or Python: the text is
checked (length, ASCII, nesting, a whitelist of commands) in one linear pass, parsed by
an LALR grammar written for this purpose, and every node is rebuilt into SymPy by hand.
``\input``, ``\def``, ``\csname`` and every command not on the whitelist are refused.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import re
from fractions import Fraction
from functools import lru_cache

import sympy as sp
from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..network import Network
from ..printing import latex_names, to_latex
from . import algebra as alg
from .parse import (
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LITERAL,
    MAX_POWER_DIGITS,
    ExpressionError,
    check_built,
    check_plain,
)
from .symbols import batch_matrices, function_table, matrix_symbols, symbol_table

__all__ = ["parse_latex_expression", "parse_latex_for", "ExpressionError"]

UPDATE_HEAD = "\\Delta"      # a Piece head: \Delta takes the name after it, as a function its argument
SUM_HEAD = "\\sum"          # \sum_{n}: the rest of the product, summed over a batch's samples

MAX_ITEMS = 500          # atoms (numbers, symbols, groups) in one formula

GREEK = frozenset("""alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa
    lambda mu nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega
    Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega""".split())
# Commands that name a function: \sigma(v), \varphi'(v), \exp(-v), \sqrt{x}.
FUNCTION_COMMANDS = {"exp": "exp", "log": "log", "ln": "ln", "tanh": "tanh", "sqrt": "sqrt",
                     "sigma": "sigma", "varphi": "varphi", "phi": "phi"}
# H(v), the step function that ReLU's derivative is printed with in the notes.
LETTER_FUNCTIONS = {"H": lambda arg: sp.Heaviside(arg)}
TEXT_COMMANDS = ("mathit", "mathrm", "mathsf", "operatorname", "text", "textrm", "textit", "mathcal")
BOLD_COMMANDS = ("mathbf", "boldsymbol", "bm")          # vectors and matrices: \mathbf{W}^{(3,1)}
TRANSPOSE_COMMANDS = ("top", "intercal")                # W^{\top}, as well as W^{T}
SIZE_COMMANDS = ("left", "right", "big", "Big", "bigg", "Bigg", "bigl", "Bigl", "biggl", "Biggl",
                 "bigr", "Bigr", "biggr", "Biggr", "bigm", "Bigm", "biggm", "Biggm")
OTHER_COMMANDS = ("frac", "dfrac", "tfrac", "cdot", "times", "prime", "quad", "qquad", "odot", "circ",
                  "partial",                            # \frac{\partial E}{\partial w_{41}} in a step
                  "sum")                                # \sum_{n} over a batch's samples
ALLOWED_COMMANDS = (GREEK | set(FUNCTION_COMMANDS) | set(TEXT_COMMANDS) | set(SIZE_COMMANDS)
                    | set(OTHER_COMMANDS) | set(BOLD_COMMANDS) | set(TRANSPOSE_COMMANDS))
SPACING = set(",;:! ")   # \, \; \: \! and "\ " are thin/medium/negative spaces: ignored
# Profiles whose source writes the layer as a bare superscript (Nielsen's a^{l}_{j}): there a^{2}_{1}
# is unit 1 of layer 2, never a square. (A column of the notation profile, kept here until
# notation.py grows it.)
BARE_LAYER_PROFILES = frozenset({"nielsen"})

GRAMMAR = r"""
start: sum
sum: term ((PLUS | MINUS) term)*
term: factor ((MULOP | DIV | HADAMARD) factor)*
factor: (PLUS | MINUS)* product
product: item+
item: atom script*

script: "^" sup_arg      -> sup
      | "_" sub_arg      -> sub
      | "'"              -> prime

sup_arg: "{" sum "}"          -> sup_group
       | "{" pair (LETTER | CMD | TEXTCMD "{" LETTER "}")? "}"   -> sup_pair
       | "{" HADAMARD sum "}" -> sup_hadamard
       | "{" PRIMECMD+ "}"    -> sup_primes
       | PRIMECMD             -> sup_primes
       | NUMBER               -> sup_token
       | LETTER               -> sup_token
       | CMD                  -> sup_token

sub_arg: "{" (NUMBER | LETTER | CMD | COMMA)+ "}"   -> sub_group
       | NUMBER                                     -> sub_group
       | LETTER                                     -> sub_group
       | CMD                                        -> sub_group

pair: "(" NUMBER COMMA NUMBER ")"
    | "[" NUMBER COMMA NUMBER "]"

atom: NUMBER                                 -> number
    | LETTER                                 -> letter
    | CMD                                    -> command
    | TEXTCMD "{" LETTER+ "}"                -> textname
    | BOLD "{" (LETTER+ | CMD | NUMBER) "}"  -> boldname
    | BOLD (LETTER | CMD)                    -> boldname
    | FRAC "{" sum "}" "{" sum "}"           -> frac
    | "(" sum ")"                            -> paren
    | "[" sum "]"                            -> paren
    | "{" sum "}"                            -> brace

PLUS: "+"
MINUS: "-"
DIV: "/"
COMMA: ","
MULOP.3: "*" | /\\cdot(?![A-Za-z])/ | /\\times(?![A-Za-z])/
HADAMARD.3: /\\(odot|circ)(?![A-Za-z])/
BOLD.3: /\\(mathbf|boldsymbol|bm)(?![A-Za-z])/
FRAC.3: /\\[dt]?frac(?![A-Za-z])/
PRIMECMD.3: /\\prime(?![A-Za-z])/
TEXTCMD.3: /\\(mathit|mathrm|mathsf|operatorname|text|textrm|textit|mathcal)(?![A-Za-z])/
SIZE.3: /\\(left|right|[bB]igg?[lrm]?)(?![A-Za-z])/
SPACE.3: /\\([,;:! ]|q?quad(?![A-Za-z]))/
CMD.1: /\\[A-Za-z]+/
NUMBER: /[0-9]+(\.[0-9]*)?|\.[0-9]+/
LETTER: /[A-Za-z]/
WS: /[ \t\r\n]+/

%ignore WS
%ignore SIZE
%ignore SPACE
"""


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=False)


# -- the raw text -------------------------------------------------------------------------

def _check_raw(text: str) -> str:
    """Size, alphabet, nesting and commands, in linear passes; returns the text with $...$ blanked."""
    text = _blank_phantoms(text)        # first: a phantom's bracket, \Bigl( alone, is not the formula's
    check_plain(text, "formula", whitespace="\t\r\n", hint=r"; write Greek letters as commands (\eta)",
                brackets="brackets", balanced=True)
    text = _strip_math_delimiters(text)
    for m in re.finditer(r"\\([A-Za-z]+|.?)", text, re.S):
        name = m.group(1)
        if name.isalpha():
            if name not in ALLOWED_COMMANDS:
                raise ExpressionError(f"command \\{name} is not accepted", m.start())
        elif name not in SPACING:
            shown = f"\\{name}"
            raise ExpressionError(f"'{shown}' is not accepted", m.start())
    m = re.search(r"\\[dt]?frac(?![A-Za-z])(?!\s*\{)", text)
    if m:
        raise ExpressionError(r"write \frac{...}{...} with braces", m.start())
    m = re.search(r"\(\s*\\cdot\s*\)", text)
    if m:
        raise ExpressionError(r"(\cdot) is a placeholder; apply the function to a net input, "
                              r"as in \varphi(v^{(1)}_{1})", m.start())
    for m in re.finditer(r"[%#&~$]", text):
        what = {"%": "a TeX comment '%'", "$": "'$' inside the formula"}.get(m.group(), repr(m.group()))
        raise ExpressionError(f"{what} is not accepted", m.start())
    return text


def _strip_math_delimiters(text: str) -> str:
    r"""``$...$``, ``$$...$$``, ``\(...\)`` and ``\[...\]`` around the whole formula become spaces."""
    s = text.strip()
    lead = len(text) - len(text.lstrip())
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
            start, end = lead, lead + len(s)
            return (text[:start] + " " * len(left) + text[start + len(left):end - len(right)]
                    + " " * len(right) + text[end:])
    return text


_PHANTOM = re.compile(r"\\h?phantom\s*\{")


def _blank_phantoms(text: str) -> str:
    r"""``\phantom{...}`` (space as wide as its content, as the notes indent a wrapped line) becomes spaces: what
    is inside is not part of the formula. One never closed is left for check_plain to refuse."""
    start = 0
    while (m := _PHANTOM.search(text, start)) is not None:
        depth, k = 1, m.end()
        while depth and k < len(text):
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            k += 1
        if depth:               # never closed: left as it is, for check_plain to name
            return text
        text, start = text[:m.start()] + " " * (k - m.start()) + text[k:], k
    return text


# -- symbols ----------------------------------------------------------------------------------

_NAME_RE = re.compile(r"^(?P<base>\\math(?:it|rm)\{[A-Za-z]+\}|\\[A-Za-z]+|[A-Za-z])"
                      r"(?:\^\{\((?P<layer>\d+(?:,\d+)?)\)\})?(?:_\{(?P<idx>[0-9,]+)\})?$")
# The notes' vectors and matrices: \boldsymbol{\delta}^{(1)}, \mathbf{W}^{(3,1)}, \boldsymbol{x}.
_BOLD_RE = re.compile(r"^\\(?:mathbf|boldsymbol)\{(?P<base>\\?[A-Za-z]+)\}(?:\^\{\((?P<layer>\d+(?:,\d+)?)\)\})?$")

Key = tuple  # (base, layer: a tuple (3,) or (3, 1) for a skip's, or None; indices tuple of digit strings)


def _layer_key(text: str | None) -> tuple[int, ...] | None:
    """The layer of a superscript: "3" -> (3,), "3,1" -> (3, 1) (a skip connection's pair)."""
    return None if text is None else tuple(int(n) for n in text.split(","))


def _base_key(base: str) -> str:
    """\\mathit{net} and \\mathrm{net} -> net; \\eta stays \\eta; a letter stays a letter."""
    m = re.match(r"^\\[A-Za-z]+\{([A-Za-z]+)\}$", base)
    return m.group(1) if m else base


def _net_readings(base: str, idx: str | None) -> tuple:
    """The index tuple of a name printed by latex_names: w_{41} is (4, 1), w_{10,3} is (10, 3), y_{12} is (12,)."""
    if idx is None:
        return ()
    if "," in idx:
        return tuple(str(int(i)) for i in idx.split(","))
    if base == "w" and len(idx) == 2:
        return tuple(idx)
    return (str(int(idx)),)


def _user_readings(groups: list[str]) -> set[tuple]:
    """w_{2,1} and w_{2 1} are (2, 1); w_{21} may be (21,) or (2, 1): both are looked up."""
    if not groups:
        return {()}
    if len(groups) > 1:
        return {tuple(str(int(g)) for g in groups)}
    g = groups[0]
    return {(str(int(g)),), tuple(g)}


class SymbolMap:
    """LaTeX names -> symbols, in the network's numbering and (as a fallback) the other one."""

    def __init__(self, net: Network):
        table = symbol_table(net)
        self.primary = self._build(net, net, table)
        other = "layer" if net.spec.numbering == "global" else "global"
        try:
            twin = Network(dataclasses.replace(net.spec, numbering=other))
            self.secondary = self._build(twin, net, table)
        except Exception:           # a numbering this spec cannot take: no fallback
            self.secondary = {}
        self.matrices = self._matrices(net)
        self.multi_letter = {k[0] for m in (self.primary, self.secondary) for k in m
                             if len(k[0]) > 1 and k[0].isalpha()}
        self.bases = {k[0] for m in (self.primary, self.secondary) for k in m}
        self.bare_layers = net.profile.name in BARE_LAYER_PROFILES
        self.params = frozenset(net.positions)
        self.losses = {"E", net.profile.loss, re.sub(r"\\mathcal\{(\w)\}", r"\1", net.profile.loss_tex)}
        self.layered = {k[0] for m in (self.primary, self.secondary) for k in m if k[1] is not None}
        self.notation = net.profile.name
        self.sample = net.profile.sample      # the index of a training sample: w_{41}(n), o_1(x)
        # a step of gradient descent: w(n), w(n+1), Delta w(n-1); n is read in every profile (earlier notes
        # and the seeds count steps with n), the profile's own letter (ont's \tau, nielsen's t) besides
        self.steps = net.profile.step_letters(latex=True)
        self.previous = net.previous        # Delta p(n-1) of a parameter, made when a formula reads one

    def could_be_layer(self, base: str, layer: int, groups: list[str]) -> bool:
        """Would ^{layer} on this indexed name name a unit of the network's own numbering?"""
        keys = {(base, (layer,), r) for r in _user_readings(groups)}
        return bool(groups) and any(k in self.primary for k in keys)

    batch: int | None = None     # the samples of a batch answer, each vector a matrix of one column per sample

    @staticmethod
    def _matrices(net: Network, batch: int | None = None) -> dict[tuple, sp.ImmutableMatrix]:
        """(base, layer) -> entries of every vector and matrix, keyed as the notes print them."""
        out = {}
        for m, entries in (batch_matrices(net, batch) if batch else matrix_symbols(net)).items():
            found = _BOLD_RE.match(to_latex(m, net))
            if found is not None:
                out[(_base_key(found.group("base")), _layer_key(found.group("layer")))] = entries
        return out

    @staticmethod
    def _build(names_net: Network, net: Network, table) -> dict[Key, set]:
        out: dict[Key, set] = {}
        names = dict(latex_names(names_net))
        # [training]'s rates: lam as \lambda, alpha as \alpha (the previous steps are read by refs)
        names.update({s: rf"\{'lambda' if s.name == 'lam' else s.name}" for s in names_net.training_symbols()
                      if s.name in ("lam", "alpha")})
        p = names_net.profile
        for k, _x in enumerate(names_net.x, start=1):        # y^{(0)}_k is input k
            names[sp.Symbol(f"__in{k}")] = f"{p.out_tex}^{{(0)}}_{{{k}}}"
        for sym, tex in names.items():
            target = table.get(sym.name) if not sym.name.startswith("__in") else net.x[int(sym.name[4:]) - 1]
            if target is None:
                continue            # the loss symbol E: not something a formula may use
            m = _NAME_RE.match(tex)
            if m is None:
                continue
            base = _base_key(m.group("base"))
            key = (base, _layer_key(m.group("layer")), _net_readings(base, m.group("idx")))
            out.setdefault(key, set()).add(target)
        return out

    def lookup(self, base: str, layer: tuple | None, groups: list[str]) -> tuple[list, bool]:
        """The symbols a written name may denote (first in the net's own numbering); known base?"""
        keys = {(base, layer, r) for r in _user_readings(groups)}
        for table in (self.primary, self.secondary):
            found = set().union(*(table.get(k, set()) for k in keys))
            if found:
                return sorted(found, key=lambda s: s.name), True
        return [], base in self.bases

    def in_primary(self, base: str, layer: tuple | None, groups: list[str]) -> bool:
        """Is the name written in the network's own numbering (not read by the fallback)?"""
        return any((base, layer, r) in self.primary for r in _user_readings(groups))


@lru_cache(maxsize=8)
def _symbol_map(net: Network, batch: int | None = None) -> SymbolMap:
    if batch is None:
        return SymbolMap(net)
    smap = copy.copy(_symbol_map(net))
    smap.batch, smap.matrices = batch, SymbolMap._matrices(net, batch)
    return smap


# (n), (n+1), (n-1) with spaces taken out: a sample or step index
_TIME_INDEX = re.compile(r"\((?P<letter>\\?[A-Za-z]+)(?:(?P<sign>[+-])1)?\)")


# -- building SymPy ---------------------------------------------------------------------------

@dataclasses.dataclass
class Piece:
    """One juxtaposed item: a value, or a function head waiting for its argument."""

    value: sp.Expr | None = None
    head: str | None = None          # function_table name, e.g. "varphi"
    primes: int = 0
    head_power: sp.Expr | None = None
    inner: sp.Expr | None = None      # (x)^2 as an argument: f applies to x, then ^2
    power: sp.Expr | None = None
    is_group: bool = False
    chain: int = 0                       # \log\log x: functions applied without brackets
    start: int = 0
    source: str = ""
    ones: bool = False                   # \mathbf{1}: after a batch's matrix, the column of ones that sums it
    previous: bool = False               # (n-1) after \Delta w_{41}: the previous step's update


class _Builder:
    def __init__(self, text: str, smap: SymbolMap | None, functions):
        self.text, self.smap, self.functions = text, smap, functions
        self.items = 0
        self.functions = {**LETTER_FUNCTIONS, **functions}
        self.fn_names = {name.lower(): name for name in functions if not name.endswith("'")}
        self.params = smap.params if smap is not None else None
        self.repairs: list | None = None        # a list: shapes that do not fit are read as a slip
        self.seen: set | None = None            # a set: notes that a name was read in the other numbering

    # positions and messages
    @staticmethod
    def _pos(node) -> int:
        if isinstance(node, Token):
            return node.start_pos or 0
        meta = getattr(node, "meta", None)
        return getattr(meta, "start_pos", 0) if meta is not None and not meta.empty else 0

    def _src(self, node) -> str:
        if isinstance(node, Token):
            return str(node)
        meta = node.meta
        return self.text[meta.start_pos:meta.end_pos] if not meta.empty else ""

    def fail(self, message: str, node) -> None:
        raise ExpressionError(message, self._pos(node))

    # the rules
    def build(self, tree: Tree) -> sp.Expr:
        assert tree.data == "start"
        return self.sum(tree.children[0])

    def combine(self, f, a, b, node):
        """f(a, b) of the algebra; operands whose shapes do not combine are reported at ``node``."""
        try:
            return f(a, b)
        except alg.ShapeError as exc:
            self.fail(str(exc), node)

    def sum(self, tree: Tree) -> sp.Expr:
        kids = tree.children
        total = self.term(kids[0])
        for op, node in zip(kids[1::2], kids[2::2]):
            total = self.combine(alg.add if op.type == "PLUS" else alg.sub, total, self.term(node), op)
        return total

    def term(self, tree: Tree) -> sp.Expr:
        kids = tree.children
        value = self.factor(kids[0])
        for op, node in zip(kids[1::2], kids[2::2]):
            other = self.factor(node)
            if op.type == "DIV":
                if not alg.is_matrix(other) and other == 0:
                    self.fail("division by zero", op)
                value = self.combine(alg.divide, value, other, op)
            elif op.type == "HADAMARD":
                value = self.combine(lambda a, b, op=op: alg.repaired_product("hadamard", a, b, str(op), self.repairs),
                                     value, other, op)
            else:
                value = self.combine(lambda a, b, op=op: alg.repaired_product("product", a, b, str(op), self.repairs),
                                     value, other, op)
        return value

    def factor(self, tree: Tree) -> sp.Expr:
        *signs, product = tree.children
        negative = sum(1 for s in signs if s.type == "MINUS") % 2
        value = self.product(product)
        return alg.neg(value) if negative else value

    def product(self, tree: Tree) -> alg.Value:
        items = self._drop_sample_index(self._merge_words(tree.children))
        pieces = [self._step_piece(node) or self.item(node, i + 1 < len(items) and self._opens_call(items[i + 1]))
                  for i, node in enumerate(items)]
        # Right to left: a function head takes the piece just after it (\log\sigma(v) nests).
        values: list[Piece] = []
        for piece in reversed(pieces):
            if piece.head is None:
                values.insert(0, piece)
                continue
            if not values:
                raise ExpressionError(f"{piece.source} needs an argument, as in {piece.source}(...)", piece.start)
            if piece.head == SUM_HEAD:          # it sums everything after it in the product
                values = [Piece(value=self._over_samples(self._juxtaposed(values, tree), piece), start=piece.start,
                                source=piece.source)]
                continue
            arg = values.pop(0)
            if piece.head == UPDATE_HEAD and values and values[0].previous:
                values[0] = Piece(value=self._previous(arg.value, piece), start=piece.start, source=piece.source)
                continue
            if piece.head == UPDATE_HEAD:
                values.insert(0, Piece(value=self._quantity(arg.value, "update", piece), start=piece.start,
                                       source=piece.source))
                continue
            if arg.chain >= MAX_DEPTH:
                raise ExpressionError(f"functions applied more than {MAX_DEPTH} deep", piece.start)
            values.insert(0, Piece(value=self._call(piece, arg), chain=arg.chain + 1,
                                   start=piece.start, source=piece.source))
        return self._juxtaposed(values, tree)

    def _juxtaposed(self, values: list[Piece], tree) -> alg.Value:
        """Pieces side by side: products; under a batch a matrix times \\mathbf{1} sums its samples."""
        for piece in values:
            if piece.previous:
                raise ExpressionError(f"{piece.source} is the step before: write it after an update, "
                                      f"as in \\Delta w_{{41}}{piece.source}", piece.start)
        value = values[0].value
        for piece in values[1:]:
            if piece.ones and self.smap is not None and self.smap.batch and alg.is_matrix(value):
                value = self.combine(alg.matmul, value, sp.ImmutableMatrix.ones(value.cols, 1), tree)
                continue
            value = self.combine(lambda a, b: alg.repaired_product("product", a, b, "", self.repairs),
                                 value, piece.value, tree)
        return value

    def _over_samples(self, value: alg.Value, head: Piece) -> alg.Value:
        """\\sum_{n} X(n): the batch's matrix X summed over its columns, one per sample."""
        batch = self.smap.batch if self.smap is not None else None
        if not batch:
            raise ExpressionError(f"{head.source} sums over the samples of a batch: check it with --batch N",
                                  head.start)
        if not alg.is_matrix(value) or value.cols != batch:
            raise ExpressionError(f"{head.source} sums a batch's matrix over its {batch} samples (one column "
                                  f"each), not {alg.shape_text(value)}", head.start)
        return alg.sum_axis(value, 1)

    def _drop_sample_index(self, items: list[Tree]) -> list[Tree]:
        """``w_{41}(n)``, ``y_1(n)``: the sample or step index of the lecture notes says nothing more; dropped."""
        return [node for i, node in enumerate(items) if i == 0 or self._time_index(node) != 0]

    def _index_letters(self) -> tuple[str, ...]:
        """The letters of a sample or step index, (n), (x), (\\tau), that name no symbol of the profile."""
        if self.smap is None:
            return ("n",)
        letters = dict.fromkeys((self.smap.sample, *self.smap.steps))
        return tuple(x for x in letters if x.startswith("\\") or not self.smap.lookup(x, None, [])[0])

    def _time_index(self, node: Tree) -> int | None:
        """(n) 0, (n+1) +1, (n-1) -1 for a bracketed sample or step index; None for any other item."""
        if len(node.children) != 1 or node.children[0].data != "paren":
            return None
        m = _TIME_INDEX.fullmatch(re.sub(r"\s+", "", self._src(node)))
        if m is None or m.group("letter") not in self._index_letters():
            return None
        return {None: 0, "+": 1, "-": -1}[m.group("sign")]

    def _step_piece(self, node: Tree) -> Piece | None:
        """(n-1): the mark of a previous step, for the \\Delta before it; (n+1) is refused here."""
        offset = self._time_index(node)
        if offset is None:
            return None
        start, source = self._pos(node), self._src(node).strip()
        if offset > 0:
            raise ExpressionError(f"{source} is the next step: only a left side names it, as in w_{{41}}{source} = ...",
                                  start)
        return Piece(previous=True, start=start, source=source)

    def _previous(self, value, piece) -> sp.Symbol:
        """``\\Delta w_{41}(n-1)``: the previous step of that parameter, [training]'s momentum term."""
        if not isinstance(value, sp.Symbol) or self.smap is None or value.name not in self.smap.params:
            raise ExpressionError(r"\Delta ...(n-1) takes a weight or bias, as in \Delta w_{41}(n-1)", piece.start)
        return self.smap.previous(value)

    def _quantity(self, value, quantity: str, piece) -> alg.Value:
        """``\\Delta w_{41}`` or ``\\partial E/\\partial w_{41}`` inside a formula: the placeholder of that quantity."""
        from .refs import ref
        if not isinstance(value, sp.Symbol) or self.params is None or value.name not in self.params:
            what = r"\Delta" if quantity == "update" else r"\partial E/\partial"
            raise ExpressionError(f"{what} takes a weight or bias, as in {what} w_{{41}}", piece.start)
        return ref(value.name, quantity)

    def _gradient_ref(self, frac: Tree, node) -> sp.Symbol:
        """\\frac{\\partial E}{\\partial w_{41}(n)} inside a formula: the gradient's placeholder."""
        num, den = _single_product(frac.children[1]), _single_product(frac.children[2])
        letters = [self._src(i).strip() for i in num[1:] if self._time_index(i) != 0]
        loss = re.sub(r"\\mathcal\s*\{?\s*(\w)\s*\}?", r"\1", " ".join(letters)).strip()
        if self.smap is None or loss not in self.smap.losses:
            self.fail(f"\\partial {loss}: the loss is {' or '.join(sorted(self.smap.losses if self.smap else {'E'}))}",
                      frac)
        if len(den) == 3 and self._time_index(den[2]) != 0:
            self.fail("\\frac{\\partial E}{\\partial ...} takes one weight or bias below", frac)
        piece = self.item(den[1], False)
        return self._quantity(piece.value, "gradient", Piece(start=self._pos(frac)))

    def _opens_call(self, node: Tree) -> bool:
        atom = node.children[0]
        return atom.data == "paren"

    def _merge_words(self, items: list[Tree]) -> list[Tree]:
        """Bare letters spelling a multi-letter name of the profile (net) form that name."""
        words = self.smap.multi_letter if self.smap else set()
        if not words:
            return items
        out, i = [], 0
        while i < len(items):
            for word in sorted(words, key=len, reverse=True):
                n = len(word)
                chunk = items[i:i + n]
                if len(chunk) == n and all(c.children[0].data == "letter" for c in chunk) \
                        and all(len(c.children) == 1 for c in chunk[:-1]) \
                        and "".join(str(c.children[0].children[0]) for c in chunk) == word:
                    last = chunk[-1]
                    tok = Token("LETTER", word, start_pos=self._pos(chunk[0]))
                    merged = Tree("item", [Tree("word", [tok], meta=chunk[0].children[0].meta)]
                                  + last.children[1:], meta=chunk[0].meta)
                    merged.meta.end_pos = last.meta.end_pos
                    out.append(merged)
                    i += n
                    break
            else:
                out.append(items[i])
                i += 1
        return out

    def item(self, tree: Tree, before_group: bool) -> Piece:
        self.items += 1
        if self.items > MAX_ITEMS:
            self.fail(f"the formula has more than {MAX_ITEMS} parts", tree)
        atom, *scripts = tree.children
        kind = atom.data
        if kind in ("letter", "command", "textname", "word", "boldname"):
            return self._name(tree, atom, scripts, before_group)
        if kind == "number":
            value = self._number(atom.children[0])
            inner, is_group = None, False
        elif kind == "frac" and _partial_pair(atom) is not None:
            value, inner, is_group = self._gradient_ref(atom, tree), None, False
        elif kind == "frac":
            num, den = self.sum(atom.children[1]), self.sum(atom.children[2])
            if not alg.is_matrix(den) and den == 0:
                self.fail("division by zero in \\frac", atom)
            value, inner, is_group = self.combine(alg.divide, num, den, atom), None, False
        else:                           # paren or brace
            inner = self.sum(atom.children[0])
            value, is_group = inner, kind == "paren"
        power = None
        for script in scripts:
            if script.data == "sup" and _is_transpose(script.children[0]) and power is None:
                value = self._transpose(value, script)
                continue
            if script.data != "sup" or power is not None:
                what = {"sub": "a subscript", "prime": "a prime"}.get(script.data, "a second superscript")
                self.fail(f"{what} is not accepted on '{self._src(atom)}'", script)
            power = self._exponent(script, atom)
        if power is not None:
            value = self._pow(value, power, script)
        return Piece(value=value, inner=inner if is_group else None, power=power, is_group=is_group,
                     start=self._pos(tree), source=self._src(tree))

    def _number(self, tok: Token) -> sp.Expr:
        text = str(tok)
        if "." not in text:
            if len(text.lstrip("0")) > 101:
                self.fail(f"number {text[:20]}... is out of range", tok)
            return sp.Integer(int(text))
        frac = Fraction(text if not text.endswith(".") else text[:-1])
        if frac and not (1 / MAX_LITERAL <= abs(frac) <= MAX_LITERAL):
            self.fail(f"number {text} is out of range", tok)
        return sp.Rational(frac.numerator, frac.denominator)

    def _exponent(self, script: Tree, base_node, euler: bool = False) -> sp.Expr:
        arg = script.children[0]
        if arg.data == "sup_primes":
            self.fail("a prime is accepted only on an activation, as in \\varphi'(v)", script)
        if arg.data == "sup_pair":
            self.fail(f"'{self._src(arg)}' names a skip connection's layers; put it on a weight, as in "
                      "w^{(3,1)}_{12}", script)
        if arg.data == "sup_token":
            tok = arg.children[0]
            if tok.type != "NUMBER":
                self.fail(f"exponent '{str(tok)}' is not a number", tok)
            if len(tok) > 1:
                self.fail(f"write ^{{{tok}}}: in TeX ^{tok} means ^{{{tok[0]}}}{tok[1:]}", tok)
            exponent = sp.Integer(int(str(tok)))
        else:
            inner = arg.children[-1]         # ^{...}, or ^{\\circ ...}: the power of each entry
            if not euler and self._contains_power(inner):
                self.fail("nested powers are not accepted", script)
            exponent = self.sum(inner)
        if euler:
            return exponent             # e^{-v} is exp(-v): any exponent
        if alg.is_matrix(exponent) or not exponent.is_Integer:
            self.fail(f"an exponent must be a whole number, not '{self._src(arg)}'", script)
        if abs(exponent) > MAX_EXPONENT:
            self.fail(f"exponent {exponent} is larger than {MAX_EXPONENT}", script)
        # (1 + e^{-v})^{2} and (1 + y^2)^2 are fine: a bracket says what is raised, and the
        # number of digits a power of a number can reach is bounded in _pow.
        if base_node.data != "paren" and self._contains_power(base_node):
            self.fail("nested powers are not accepted (write {y^2}^3 as y^{6})", script)
        return exponent

    def _pow(self, base: sp.Expr, exponent: sp.Expr, node, elementwise: bool = False) -> sp.Expr:
        if alg.is_matrix(base):
            if not (elementwise or 1 in base.shape):
                self.fail("a power of a matrix: write ^{\\circ 2} for the power of each entry", node)
            return alg.power(base, exponent)
        if base.is_Number and base != 0 and abs(base) != 1:
            digits = abs(float(exponent)) * max(abs(math.log10(abs(float(sp.Abs(base))) or 1e-300)), 1)
            if digits > MAX_POWER_DIGITS:
                self.fail(f"the power {base}^{exponent} is too large", node)
        if base == 0 and exponent < 0:
            self.fail("division by zero", node)
        return sp.Pow(base, exponent)

    def _contains_power(self, node) -> bool:
        """Does the subtree raise anything to a non-layer power? (walked without recursion)"""
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, Tree):
                if _is_euler_item(n):
                    continue            # e^{-v} is exp(-v), not a power that can grow
                if n.data == "item" and self._bare_layer_item(n):
                    sups = [c for c in n.children[1:] if c.data == "sup"]
                    layer = sups[0] if sups and _bare_number(sups[0].children[0]) is not None else None
                    stack.extend(c for c in n.children if c is not layer)   # the first bare ^{2} is the layer
                    continue
                if n.data == "sup" and n.children[0].data not in ("sup_primes", "sup_pair") \
                        and _layer_of(n.children[0]) is None and not _is_transpose(n.children[0]):
                    return True
                stack.extend(n.children)
        return False

    def _bare_layer_item(self, item: Tree) -> bool:
        """Is this item a name whose bare superscript is its layer (nielsen's a^{2}_{1})?"""
        atom = item.children[0]
        if self.smap is None or not self.smap.bare_layers or atom.data not in ("letter", "command"):
            return False
        return str(atom.children[0]) in self.smap.layered

    # names: symbols and function heads
    def _name(self, tree: Tree, atom: Tree, scripts: list[Tree], before_group: bool) -> Piece:
        kind = atom.data
        if kind == "boldname":
            return self._bold(tree, atom, scripts)
        if kind == "textname":
            base = "".join(str(t) for t in atom.children[1:])
        elif kind == "command":
            base = str(atom.children[0])
        else:
            base = str(atom.children[0])
        start, source = self._pos(tree), self._src(tree)
        if kind == "command" and base == SUM_HEAD:
            letter = self.smap.sample if self.smap is not None else "n"
            if [self._src(x).strip() for x in scripts] not in (["_{" + letter + "}"], ["_" + letter]):
                self.fail(f"write \\sum_{{{letter}}}: a sum runs over the samples {letter} of a batch", tree)
            return Piece(head=SUM_HEAD, start=start, source=source)
        if kind == "command" and base == "\\Delta" and not scripts:
            return Piece(head=UPDATE_HEAD, start=start, source=source)      # \Delta w_{41}: an update
        head = self._head_name(kind, base, scripts, before_group)
        if head is not None:
            primes, power = 0, None
            for script in scripts:
                if script.data == "prime":
                    primes += 1
                elif script.data == "sup" and script.children[0].data == "sup_primes":
                    primes += len(script.children[0].children)
                elif script.data == "sup" and power is None:
                    power = self._exponent(script, atom)
                else:
                    self.fail(f"'{self._src(script)}' is not accepted on the function {self._src(atom)}", script)
            if primes > 1:
                self.fail(f"only first derivatives are accepted, not {source}", tree)
            return Piece(head=head, primes=primes, head_power=power, start=start, source=self._src(atom))
        groups, seen_sub, plain = [], False, []
        if self._is_euler(base, scripts):
            exponent = self._exponent(scripts[0], atom, euler=True)
            return Piece(value=alg.apply(sp.exp, exponent), start=start, source=source)
        for script in scripts:
            if script.data == "prime":
                self.fail(f"a prime is accepted only on an activation, not on '{self._src(atom)}'", script)
            if script.data == "sub":
                if seen_sub:
                    self.fail("double subscript", script)
                seen_sub = True
                groups = self._indices(script.children[0])
                continue
            plain.append(script)
        bare = self.smap is not None and self.smap.bare_layers and base in self.smap.layered
        layer, transposed, power = self._superscripts(plain, atom, bare)
        self._check_bare(base, layer, power, groups, plain, bare, tree, source)
        value = self._symbol(base, layer, groups, tree, source)
        return Piece(value=self._finish(value, transposed, power, tree), start=start, source=source)

    def _check_bare(self, base, layer, power, groups, scripts, bare: bool, tree, source: str) -> None:
        """A bare ^{2} on an indexed name: nielsen's layer (which must exist), or elsewhere a power that is
        refused where it could as well be a layer (y^{2}_{1} in layer numbering): never guessed."""
        bare_numbers = [_bare_number(s.children[0]) for s in scripts if s.data == "sup"]
        if bare and layer is not None and bare_numbers and layer == (bare_numbers[0],) \
                and not self.smap.lookup(base, layer, groups)[0] \
                and (groups or (base, layer) not in self.smap.matrices):
            self.fail(f"'{source}': in the {self.smap.notation} notation a superscript on {base} is its layer, "
                      f"and this network has no {source}; a power needs brackets around the name, as in "
                      f"({base}^{{l}}_{{j}})^{{{layer[0]}}}", tree)
        if layer is None and power is not None and bare_numbers and bare_numbers[0] is not None \
                and self.smap is not None and self.smap.could_be_layer(base, bare_numbers[0], groups):
            k, sub = bare_numbers[0], ",".join(groups)
            self.fail(f"'{source}': is {k} the layer or a power? write the layer in brackets, "
                      f"{base}^{{({k})}}_{{{sub}}}, or brace the name to raise it, "
                      f"{{{base}^{{(l)}}_{{{sub}}}}}^{{{k}}}", tree)

    def _superscripts(self, scripts: list[Tree], atom, bare: bool = False) -> tuple:
        """(layer, transposed, (exponent, entrywise) or None) of a name's superscripts, before or after
        its subscript: w^{(3,1)}_{12} = w_{12}^{(3,1)}; \\mathbf{W}^{(2)T}, (y^{(1)}_1)^2. With ``bare``
        (nielsen's a^{2}_{1}) a bare whole number is the layer too."""
        layer, transposed, power = None, False, None
        for script in scripts:
            arg = script.children[0]
            lay, marked = self._layer_script(arg)
            if lay is None and bare and layer is None and _bare_number(arg) is not None:
                lay, marked = (_bare_number(arg),), False
            if lay is not None and layer is None and not transposed and power is None:
                layer, transposed = lay, marked
            elif _is_transpose(arg) and not transposed and power is None:
                transposed = True
            elif power is None:
                power = (self._exponent(script, atom), arg.data == "sup_hadamard")
            else:
                self.fail("double superscript: brace the base, as in {y_1}^2", script)
        return layer, transposed, power

    def _finish(self, value, transposed: bool, power, node):
        if transposed:
            value = self._transpose(value, node)
        return value if power is None else self._pow(value, power[0], node, elementwise=power[1])

    def _transpose(self, value, node):
        if not alg.is_matrix(value):
            self.fail(f"'{self._src(node)}': a transpose needs a vector or a matrix, not a number", node)
        return alg.transpose(value)

    def _layer_script(self, arg: Tree) -> tuple[tuple[int, ...] | None, bool]:
        """^{(2)}, ^{(3,1)}, ^{(2)T}, ^{(3,1)\\top}: (the layer, transposed?); else (None, False)."""
        if arg.data == "sup_pair":
            pair, *mark = arg.children
            if mark and not _is_mark(mark):
                self.fail(f"'{self._src(arg)}': after a layer only a transpose T is accepted", arg)
            return tuple(int(str(t)) for t in pair.children if t.type == "NUMBER"), bool(mark)
        lay = _layer_of(arg)
        if lay is not None:
            return (lay,), False
        items = _single_product(arg.children[0]) if arg.data == "sup_group" else None
        if items is not None and len(items) == 2 and all(len(i.children) == 1 for i in items):
            lay = _paren_layer(items[0].children[0])
            if lay is not None and _is_mark_atom(items[1].children[0]):
                return (lay,), True
        return None, False

    def _bold(self, tree: Tree, atom: Tree, scripts: list[Tree]) -> Piece:
        r"""\mathbf{W}^{(3,1)}, oldsymbol{\delta}^{(1)}, m{x}: a vector or matrix; \mathbf{1} the ones."""
        base, source = "".join(str(t) for t in atom.children[1:]), self._src(tree)
        for script in scripts:
            if script.data != "sup":
                what = "a subscript" if script.data == "sub" else "a prime"
                self.fail(f"{what} is not accepted on the vector or matrix '{source}'; write one entry as "
                          "w^{(1)}_{21}", script)
        layer, transposed, power = self._superscripts(scripts, atom)
        if base == "1" and layer is None:
            value = sp.Integer(1)       # a vector of ones, stretched to the shape it meets
            return Piece(value=self._finish(value, transposed, power, tree), start=self._pos(tree), source=source,
                         ones=not transposed and power is None)
        else:
            value = self.smap.matrices.get((_base_key(base), layer)) if self.smap else None
            if value is None:
                self.fail(f"unknown vector or matrix '{source}'; use the notes' names, as in "
                          r"\mathbf{W}^{(2)} or \boldsymbol{\delta}^{(1)}", tree)
        return Piece(value=self._finish(value, transposed, power, tree), start=self._pos(tree), source=source)

    def _is_euler(self, base: str, scripts) -> bool:
        """e^{...} where e names no symbol of the profile is Euler's number."""
        if base != "e" or len(scripts) != 1 or scripts[0].data != "sup":
            return False
        if scripts and (_layer_of(scripts[0].children[0]) is not None
                        or scripts[0].children[0].data in ("sup_primes", "sup_pair")):
            return False
        return self.smap is None or not self.smap.lookup("e", None, [])[0]

    def _head_name(self, kind: str, base: str, scripts, before_group: bool) -> str | None:
        """The function_table name if this name is a function (\\varphi, f, \\operatorname{ReLU})."""
        has_prime = any(s.data == "prime" or (s.data == "sup" and s.children[0].data == "sup_primes")
                        for s in scripts)
        if kind == "command":
            name = FUNCTION_COMMANDS.get(base[1:])
            return name if name in self.functions else None
        if kind == "textname":
            if self.smap and base in self.smap.bases:
                return None
            name = self.fn_names.get(base.lower())
            if name is None:
                return None         # an unknown name: reported as an unknown symbol
            return name
        if kind == "letter" and base in self.functions and (has_prime or before_group) \
                and not (self.smap and base in self.smap.bases):
            return base                 # f(v), f'(v)
        return None

    def _indices(self, arg: Tree) -> list[str]:
        groups = []
        for tok in arg.children:
            if tok.type == "COMMA":
                continue
            if tok.type != "NUMBER" or "." in tok:
                self.fail(f"index '{str(tok)}': write a concrete unit number, as in w^{{(1)}}_{{21}}", tok)
            groups.append(str(tok))
        if len(arg.children) == 1 and len(groups[0]) > 1 and self.text[tok.start_pos - 1] == "_":
            self.fail(f"write _{{{tok}}}: in TeX _{tok} means _{{{tok[0]}}}{tok[1:]}", tok)
        return groups

    def _symbol(self, base: str, layer, groups, tree, source: str) -> sp.Expr:
        if self.smap is None:
            self.fail(f"unknown symbol '{source}'", tree)
        found, known = self.smap.lookup(base, layer, groups)
        if len(found) == 1:
            if self.seen is not None and not self.smap.in_primary(base, layer, groups):
                self.seen.add("other numbering")        # feedback then follows the student's numbering
            return found[0]
        if len(found) > 1:
            names = ", ".join(s.name for s in found)
            self.fail(f"'{source}' is ambiguous ({names}); separate the indices with a comma", tree)
        if base == "\\pi" and layer is None and not groups:
            return sp.pi
        if not groups and (base, layer) in self.smap.matrices:
            return self.smap.matrices[(base, layer)]     # W^{(2)}, \\delta^{(1)}: a layer's, unbolded
        hint = "" if known else "; use the notes' letters"
        self.fail(f"unknown symbol '{source}'{hint}", tree)

    def _call(self, head: Piece, arg: Piece) -> sp.Expr:
        key = head.head + "'" * head.primes
        if key not in self.functions:
            raise ExpressionError(f"unknown function {head.source}{chr(39) * head.primes}", head.start)
        if head.head == "sqrt" and not arg.source.lstrip().startswith("{"):
            raise ExpressionError(r"write \sqrt{...}", head.start)
        operand = arg.inner if arg.is_group and arg.power is not None else arg.value
        try:
            value = alg.apply(self.functions[key], operand)      # entry by entry on a vector
        except ExpressionError as exc:
            raise ExpressionError(f"{head.source}{chr(39) * head.primes}(...): {exc}", head.start) from None
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"{head.source}(...): {exc}", head.start) from None
        if arg.is_group and arg.power is not None:
            value = alg.power(value, arg.power)
        if head.head_power is not None:
            value = alg.power(value, head.head_power)
        return value


def _is_euler_item(node: Tree) -> bool:
    """e^{...}: an item whose atom is the letter e with one superscript and no subscript."""
    if node.data != "item" or len(node.children) != 2:
        return False
    atom, script = node.children
    letters = [str(c) for c in atom.children if isinstance(c, Token) and c.type == "LETTER"]
    is_e = atom.data in ("letter", "textname") and letters == ["e"]      # e, or \mathrm{e}
    return is_e and script.data == "sup" and _layer_of(script.children[0]) is None


def _partial_pair(frac: Tree) -> Tree | None:
    """\\frac{\\partial E}{\\partial w_{41}}: the item of the name differentiated by, else None."""
    num, den = _single_product(frac.children[1]), _single_product(frac.children[2])
    if not num or not den or len(num) < 2 or len(den) < 2:
        return None
    if not all(_is_partial(p[0]) for p in (num, den)) or len(den) > 3:
        return None
    return den[1]


def _is_partial(item: Tree) -> bool:
    atom = item.children[0]
    return len(item.children) == 1 and atom.data == "command" and str(atom.children[0]) == "\\partial"


def _bare_number(arg) -> int | None:
    """^2 or ^{2}: the whole number 2 (a layer in nielsen's a^{2}_{1}); anything else: None."""
    if not isinstance(arg, Tree):
        return None
    if arg.data == "sup_token":
        tok = arg.children[0]
        return int(str(tok)) if tok.type == "NUMBER" and str(tok).isdigit() and len(tok) == 1 else None
    if arg.data != "sup_group":
        return None
    node = _single_item(arg.children[0])
    if node is None or node.data != "number" or not str(node.children[0]).isdigit():
        return None
    return int(str(node.children[0]))


def _layer_of(arg: Tree) -> int | None:
    """^{(2)} or ^{[2]}: the layer 2; anything else: None."""
    if not isinstance(arg, Tree) or arg.data != "sup_group":
        return None
    return _paren_layer(_single_item(arg.children[0]))


def _paren_layer(node) -> int | None:
    """(2) or [2] as an atom: 2."""
    if node is None or node.data != "paren":
        return None
    node = _single_item(node.children[0])
    if node is None or node.data != "number" or not str(node.children[0]).isdigit():
        return None
    return int(str(node.children[0]))


TRANSPOSE_MARKS = ("T", "\\top", "\\intercal")


def _is_mark(tokens: list) -> bool:
    r"""T, \top, \intercal or \mathsf{T} as the tokens after a layer pair: a transpose."""
    text = [str(t) for t in tokens]
    return (len(text) == 1 and text[0] in TRANSPOSE_MARKS) or (len(text) == 2 and text[1] == "T")


def _is_mark_atom(atom) -> bool:
    if not isinstance(atom, Tree):
        return False
    if atom.data in ("letter", "command"):
        return str(atom.children[0]) in TRANSPOSE_MARKS
    return atom.data == "textname" and [str(t) for t in atom.children[1:]] == ["T"]


def _is_transpose(arg: Tree) -> bool:
    r"""^T, ^{T}, ^\top, ^{\top}, ^{\intercal}, ^{\mathsf{T}}: a transpose, not a power."""
    if not isinstance(arg, Tree):
        return False
    if arg.data == "sup_token":
        return str(arg.children[0]) in TRANSPOSE_MARKS
    return arg.data == "sup_group" and _is_mark_atom(_single_item(arg.children[0]))


def _single_product(node) -> list | None:
    """The items of the one product under sum > term > factor (no operators, no signs), else None."""
    for rule in ("sum", "term", "factor"):
        if not isinstance(node, Tree) or node.data != rule or len(node.children) != 1:
            return None
        node = node.children[0]
    return node.children if isinstance(node, Tree) and node.data == "product" else None


def _single_item(node) -> Tree | None:
    """The one item under a chain sum > term > factor > product > item of single children, else None."""
    for rule in ("sum", "term", "factor", "product", "item"):
        if not isinstance(node, Tree) or node.data != rule or len(node.children) != 1:
            return None
        node = node.children[0]
    return node if isinstance(node, Tree) else None


# -- entry points -----------------------------------------------------------------------------

def _parse_tree(text: str) -> tuple[Tree, str]:
    text = _check_raw(text)
    try:
        return _parser().parse(text), text
    except UnexpectedCharacters as exc:
        raise ExpressionError(f"unexpected character {text[exc.pos_in_stream]!r}", exc.pos_in_stream) from None
    except UnexpectedEOF:
        raise ExpressionError("the formula ends too early") from None
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            raise ExpressionError("the formula ends too early") from None
        raise ExpressionError(f"unexpected '{str(tok)}'", tok.start_pos) from None
    except (UnexpectedInput, LarkError) as exc:
        raise ExpressionError(f"not a formula ({exc.__class__.__name__})") from None
    except RecursionError:
        raise ExpressionError("the formula is too deeply nested") from None


def parse_latex_expression(text: str, symbols: SymbolMap | None, functions, repairs: list | None = None,
                           seen: set | None = None) -> alg.Value:
    """Parse LaTeX ``text`` with a symbol map and a function table (see parse_latex_for)."""
    tree, clean = _parse_tree(text)
    try:
        builder = _Builder(clean, symbols, functions)
        builder.repairs, builder.seen = repairs, seen
        expr = builder.build(tree)
    except RecursionError:
        raise ExpressionError("the formula is too deeply nested") from None
    check_built(expr, "formula")
    return expr


def parse_latex_for(net: Network, text: str, repairs: list | None = None, seen: set | None = None,
                    batch: int | None = None) -> alg.Value:
    r"""Parse a LaTeX formula in ``net``'s notation into a SymPy expression in its symbols.

    Accepts the letters of the notes (``w^{(1)}_{21}``, or ``w_{41}`` with global
    numbering; ``\delta^{(2)}_1``, ``\eta``, ``x_1``), ``\frac{}{}``, ``\cdot``,
    ``\times``, juxtaposition, ``\left( \right)``, powers with small whole exponents and
    the activations ``\varphi'(v^{(1)}_2)``, ``\sigma``, ``f``, ``\exp``, ``\log``,
    ``\tanh``, ``\operatorname{ReLU}``. A skip connection's weights carry the layer pair,
    ``w^{(3,1)}_{12}`` or ``w_{12}^{(3,1)}``. Layer-level answers use the notes' vectors and
    matrices (``\mathbf{W}^{(3,1)}``, ``\boldsymbol{\delta}^{(1)}``, ``\mathbf{1}``), side by
    side for the matrix product, ``\odot`` entry by entry, ``^{T}`` or ``^{\top}`` to
    transpose; the result is then an ImmutableMatrix. With ``batch`` (a number of samples) a
    per-sample vector is a matrix of one column per sample; ``\sum_{n} \boldsymbol{\delta}^{(2)}(n)``
    and ``\boldsymbol{\delta}^{(2)} \mathbf{1}`` sum it over the samples. Raises ExpressionError (with
    the column) for anything else, including every TeX command not on the whitelist.
    """
    return parse_latex_expression(text, _symbol_map(net, batch), function_table(net), repairs, seen)
