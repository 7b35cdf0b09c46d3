"""Lecture notes: a derivation -> a template context (all maths printed here) -> LaTeX -> PDF."""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import jinja2
import numpy as np
import sympy as sp
from jinja2.sandbox import SandboxedEnvironment
from sympy.printing.precedence import PRECEDENCE

from . import figure as fg
from . import forms as fm
from . import indexform as ix
from . import losses
from .activations import proves_derivative, softmax_unit
from .derive import Derivation, Factor, derive
from .descent import STALL, TRAIN_MAX_PARAMS, TRAIN_STEPS, curve_steps, rate_facts, rise, search
from .errors import SymbpError
from .files import write_atomic, write_many
from .network import Network
from .notation import GENERIC_EQUATIONS
from .present import shown
from .present import shown_params as present_params
from .printing import NotesLatexPrinter, global_number, latex_names
from .progress import reporter
from .selfcheck import DIGITS
from .texchars import tex_char

TEX_PACKAGES = "texlive-latex-base texlive-latex-recommended texlive-fonts-recommended texlive-pictures latexmk"
BUDGET = 52          # estimated width of one display line, in characters of math
MAX_SUMMARY = 40     # more parameters than this: the summary gives index forms and a few rows
MAX_UNITS = 8        # wider layers are elided in the figure and the forward pass
SIG_DIGITS = 6


class NotesError(Exception):
    """LaTeX failed; ``log_line`` is the first error line of its log, the .tex is kept."""

    def __init__(self, message: str, log_line: str = "", tex: Path | None = None):
        super().__init__(message)
        self.log_line = log_line
        self.tex = tex


class TexMissing(Exception):
    """No pdflatex on PATH."""

    def __init__(self):
        super().__init__("pdflatex was not found; install TeX Live (Debian: sudo apt-get install "
                         f"{TEX_PACKAGES}) or pass --no-pdf to write only the .tex")


# -- Jinja2 ---------------------------------------------------------------------------------

_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
            "^": r"\textasciicircum{}", "_": r"\_", "~": r"\textasciitilde{}", "%": r"\%",
            "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


def tex_escape(text: object) -> str:
    """Prose -> LaTeX that prints it literally (titles and other user text); Greek and math symbols typeset."""
    return "".join(_ESCAPES.get(c) or (c if c.isascii() else tex_char(c) or c) for c in str(text))


def template_dirs(explicit: str | Path | None = None) -> list[Path]:
    """Where templates are looked for: an explicit directory, the repository's, the installed copy."""
    here = Path(__file__).resolve().parent
    dirs = [Path(explicit)] if explicit is not None else []
    return dirs + [here.parent / "templates", here / "_templates"]


def make_env(template_dir: str | Path | None = None) -> jinja2.Environment:
    """A Jinja2 environment with LaTeX-safe delimiters (\\BLOCK{}, \\VAR{}, \\#{}) and a ``tex`` filter."""
    if template_dir is not None and not Path(template_dir).is_dir():
        raise FileNotFoundError(f"template directory not found: {template_dir}")
    found = [str(d) for d in template_dirs(template_dir) if d.is_dir()]
    # Sandboxed: a --templates directory is user input, and a plain Environment lets a template
    # reach Python's globals (lipsum.__globals__['os']).
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(found),
        block_start_string=r"\BLOCK{", block_end_string="}",
        variable_start_string=r"\VAR{", variable_end_string="}",
        comment_start_string=r"\#{", comment_end_string="}",
        line_statement_prefix=None, line_comment_prefix="%#",
        trim_blocks=True, lstrip_blocks=True, autoescape=False,
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters["tex"] = tex_escape
    env.filters["rows"] = join_rows
    return env


# -- printing helpers -------------------------------------------------------------------------

class _Tex:
    """The printers of one network: ``p`` in SymPy's order, ``raw`` keeping the order given."""

    times = ""      # between a factor and a wrapped sum: nothing for symbols, a dot between numbers

    def __init__(self, net: Network):
        self.net = net
        self.names = latex_names(net)
        # the general rules' widths of layers below l - 1: K_2 for l - 2 (K is l - 1's, M_2 is l + 2's)
        widths = {ix.width(-n): f"K_{{{n}}}" for n in range(2, net.depth + 1)}
        self.p = NotesLatexPrinter(net, {"symbol_names": {**self.names, **widths}})
        self.raw = NotesLatexPrinter(net, {"order": "none", "symbol_names": {**self.names, **widths}})

    def __call__(self, expr) -> str:
        return self.p.doprint(expr)

    def partial(self, of, wrt) -> str:
        return rf"\frac{{\partial {self(of)}}}{{\partial {self(wrt)}}}"

    def plus(self, p, term) -> str:
        """p + term, or p - (-term) when the term is negative: w - eta delta x, not w + eta(-delta x)."""
        negative = term.could_extract_minus_sign() or (      # a matrix product keeps its sign in its scalar
            isinstance(term, sp.MatMul) and term.as_coeff_mmul()[0].could_extract_minus_sign())
        return f"{self(p)} - {self(-term)}" if negative else f"{self(p)} + {self(term)}"

    def factor(self, expr) -> str:
        """A factor of a product: parenthesized unless it is an atom."""
        tex = self(expr)
        plain = expr.is_Symbol or expr.is_Function or (expr.is_Indexed if hasattr(expr, "is_Indexed") else False)
        # a function's value H(z) needs no more brackets than a letter; a bare (1) would read as a reference
        # to equation (1): a positive number stands as it is, after a dot
        return tex if plain or (expr.is_Number and expr > 0) else rf"\left({tex}\right)"

    def signed(self, terms: list, first: bool = True) -> list[str]:
        """Terms of a sum, each printed with its sign ("- a", "+ b"); the first bare unless ``first`` is False."""
        out = []
        for n, term in enumerate(terms):
            if n == 0 and first:
                out.append(self(term))
            elif term.could_extract_minus_sign() and not self.p.absorbs_minus(term):    # + (t - y) x, as inline
                out.append("- " + self(-term))
            else:
                out.append("+ " + self(term))
        return out

    def terms(self, expr) -> list[str]:
        """Breakable pieces of an expression: the signed terms of a sum, or of the sum in a product."""
        expr = sp.sympify(expr)
        if expr.is_Add:
            return self.signed(self.p._as_ordered_terms(expr))
        if expr.is_Mul:
            sums = sorted((a for a in expr.args if a.is_Add), key=lambda a: -width(self(a)))
            if sums and width(self(expr)) > BUDGET:
                return self._wrapped_product(expr, sums[0])
        return [self(expr)]

    def _wrapped_product(self, expr, wrapped) -> list[str]:
        """The pieces of a product whose sum ``wrapped`` is too long for a line: the factors the printer puts
        before it, the bracketed sum's terms (lines inside the bracket indented past it), the factors after:
        eta (1 - y^2) ((t - y) w + ...) x, as the unwrapped product prints."""
        rest = expr / wrapped
        negative, before, after = rest.as_coeff_Mul()[0].is_negative, rest, sp.Integer(1)
        if negative:
            before = -rest
        if sp.fraction(rest, exact=True)[1] == 1 and rest.is_Mul:
            # the printer's order of the other factors, the sum placed where it prints a sum: after the
            # slopes and weights, before the input the weight reads (its tier in printing.FactorOrder)
            negative, order = self.p.ordered_factors(rest)
            before, after = (sp.Mul(*part) for part in self.p.split_inputs(order))
        # the factors before the wrapped sum keep their parentheses: (1 - y^2)(...), not 1 - y^2(...)
        head = ("-" if negative else "") + ("" if before == 1 else
                                             self.p.parenthesize(before, PRECEDENCE["Mul"], strict=True) + self.times)
        inner = self.terms(wrapped)
        # a bracket taller than the brackets inside it, so x((t - y) ... does not read as two of a kind
        size = ("bigg" if any(_nested_brackets(t) for t in inner) else
                "Big" if any(r"\left(" in t for t in inner) else "big")
        tail = "" if after == 1 else self.times + self.p.parenthesize(after, PRECEDENCE["Mul"], strict=True)
        opening = _Opening(head + rf"\{size}l(", inner[0])
        inner[-1] = inner[-1] + rf"\{size}r)" + tail
        return [opening] + [_Inner(t) for t in inner[1:]]


def _nested_brackets(tex: str) -> bool:
    """A \\left( inside another: (1 - (y)^2), whose outer bracket is already as tall as a \\Bigl(."""
    depth = 0
    for m in re.finditer(r"\\left\(|\\right\)", tex):
        depth += 1 if m.group(0) == r"\left(" else -1
        if depth > 1:
            return True
    return False


class _Opening(str):
    """The piece that opens a wrapped bracket; ``before`` is its text up to and including the bracket."""
    before = ""

    def __new__(cls, before: str, rest: str = ""):
        out = super().__new__(cls, before + rest)
        out.before = before
        return out


def _extended(piece: str, before: str = "", after: str = "") -> str:
    """A piece with text put before and after it, of the same kind (a wrapped bracket's opening piece, whose
    text up to the bracket then starts with ``before`` too, or one inside it)."""
    if isinstance(piece, _Opening):
        return _Opening(before + piece.before, piece[len(piece.before):] + after)
    return type(piece)(before + piece + after)


class _Inner(str):
    """A piece inside a wrapped bracket: a line that starts with it is indented past the bracket."""


_SCRIPT = re.compile(r"[_^]")


def width(tex: str) -> float:
    """An estimate of printed width in characters: scripts count 0.6, commands one, fractions their wider part."""
    total, scale, stack, i = 0.0, 1.0, [], 0
    pending = None
    while i < len(tex):
        c = tex[i]
        if c == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
            name = m.group(1)
            i += len(m.group(0))
            if name in ("left", "right", "bigl", "bigr", "mathit", "mathbf", "boldsymbol", "mathcal",
                        "operatorname", "mathrm", "text", "quad", "qquad", ","):
                total += {"quad": 1.5, "qquad": 3, ",": 0.3}.get(name, 0) * scale
                continue
            if name == "frac":
                scale *= 0.8 if scale == 1 else 1
                total += 0.0
                continue
            total += scale * (2 if name in ("sum", "cdots", "leftarrow", "odot") else 1)
            continue
        if c in "_^":
            pending = scale * 0.6
            i += 1
            if i < len(tex) and tex[i] != "{":
                total += pending
                pending = None
                i += 1
            continue
        if c == "{":
            stack.append(scale)
            if pending is not None:
                scale, pending = pending, None
            i += 1
            continue
        if c == "}":
            scale = stack.pop() if stack else 1.0
            i += 1
            continue
        if c in "+-=":
            total += 2 * scale
        elif c != " ":
            total += scale
        i += 1
    return total


def pack(pieces: list[str], first: float = 0.0, budget: float = BUDGET) -> list[str]:
    """Greedy line filling: pieces -> lines no wider than ``budget`` (the first line has ``first`` used).

    A line inside a wrapped bracket starts under the bracket's first term: a phantom of its line up to
    the bracket (or a quad, where that would leave too little room)."""
    lines, current, used, opener = [], "", first, ""
    for piece in pieces:
        w = width(piece)
        if current and used + w > budget:
            lines.append(current)
            inner = isinstance(piece, _Inner)
            indent = opener if inner and opener and width(opener) <= budget / 2 else ""
            current = rf"\phantom{{{indent}}}" if indent else (r"\quad" if inner else "")
            used = 4.0 + width(indent or current)
        if isinstance(piece, _Opening):
            opener = f"{current} {piece.before}".strip()
        current = f"{current} {piece}".strip()
        used += w
    lines.append(current)
    return lines


def join_rows(rows: list[str]) -> str:
    """The rows of an ``align*``, with ``\\\\*`` (no page break) where a break would orphan part of an equation.

    ``\\allowdisplaybreaks`` lets a page end between any two rows; a person breaks only between
    equations, or inside a long derivation between two steps, never before a wrapped line
    (``&\\qquad``), never leaving one line of an equation (or of the block) alone, and never inside a short
    one."""
    starts = [k for k, r in enumerate(rows) if not r.lstrip().startswith("&")] + [len(rows)]
    # nor after a block's first row or before its last: one row alone at a page foot or top
    breakable = set(starts) - {1, len(rows) - 1}
    for a, b in zip(starts, starts[1:]):
        if b - a >= 4:                  # a derivation of four rows or more: between steps, two rows each side
            breakable |= {k for k in range(a + 2, b - 1) if not rows[k].lstrip().startswith(r"&\qquad")}
    out = rows[:1]
    for k in range(1, len(rows)):
        out.append((" \\\\\n" if k in breakable else " \\\\*\n") + rows[k])
    return "".join(out)


def rows(lhs: str, rhs_pieces: list[str], rel: str = "=", budget: float = BUDGET) -> list[str]:
    """Aligned rows ``lhs &= ...`` with continuation rows ``&\\quad ...``."""
    lines = pack(rhs_pieces, first=width(lhs) + 2, budget=budget)
    out = [f"{lhs} &{rel} {lines[0]}"]
    out += [rf"&\qquad {line}" for line in lines[1:]]
    return out


def continued(expr_pieces: list[str], rel: str = "=") -> list[str]:
    """Rows of a further step ``&= ...`` of an aligned derivation."""
    lines = pack(expr_pieces, first=4)
    return [f"&{rel} {lines[0]}"] + [rf"&\qquad {line}" for line in lines[1:]]


def steps(lhs: str, stages: Iterable[list[str]], rel: str = "=", note: str = "") -> list[str]:
    """An aligned derivation ``lhs = stage = stage ...``, each stage the breakable pieces of one step;
    ``note`` (LaTeX) says beside the last row why it follows.

    A stage printed exactly as the one before is left out: both come from one printer, so equal LaTeX is
    what the reader would see twice, and the step says nothing (equal expressions printed differently,
    (-delta) x then -delta x, are a step and stay)."""
    out, last = [], None
    for pieces in stages:
        text = " ".join(pieces)
        if text == last:
            continue
        out += continued(pieces, rel) if out else rows(lhs, pieces, rel)
        last = text
    if note:
        out[-1] += rf" \qquad \text{{({note})}}"
    return out


def number(x, digits: int = SIG_DIGITS) -> str:
    """A number in math mode with ``digits`` significant digits (lists: one per sample)."""
    if isinstance(x, (list, tuple)):
        return r",\allowbreak\ ".join(number(v, digits) for v in x)
    x = float(x)
    if x == 0:
        return "0"
    text = f"{x:.{digits}g}"
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant} \times 10^{{{int(exp)}}}"
    return text


# -- the context, section by section -----------------------------------------------------------

def _phi(net: Network) -> str:
    """The generic activation's letter: the profile's, except that sigma names only the logistic."""
    return net.profile.activation_letter(all(net.activation(l).name == "sigmoid" for l in range(1, net.depth + 1)))


def _check_words(check) -> str:
    """How the rules were checked, in words for a footnote (LaTeX: its numbers are typeset)."""
    if check is None:
        return ""
    if check.method == "symbolic":
        # an exact zero is said as such, not as "largest difference 0.0e+00"
        gap = ("with no difference at all" if check.max_rel_error == 0 else
               f"to within a relative difference of ${number(check.max_rel_error, 2)}$")
        at = f"{check.points} random points evaluated to {DIGITS} digits"
        rest = check.checked - check.proved
        if not check.proved:
            how = (f"their exponentials do not cancel term by term, so simplifying the difference cannot show it is "
                   f"zero; instead each rule and the derivative were compared at {at}, where they agree {gap}")
        elif rest:
            how = (f"for {check.proved} of them the difference simplifies to zero; the other {rest}, whose "
                   f"exponentials do not cancel term by term, were compared at {at}, where they agree {gap}")
        else:
            how = f"the difference of each simplifies to zero, and at {at} they agree {gap}"
        return (f"Each of the {check.checked} rules was compared with SymPy's derivative of the loss written out "
                f"in full: {how}.")
    rules = (f"All {check.checked} rules" if check.checked == check.total else
             f"{check.checked} of the {check.total} rules (chosen at random, with each layer's first and last)")
    return (f"{rules} and every entry of the matrix form were compared with SymPy's derivative of the loss "
            f"written out in full, along random directions at {check.points} random points computed to {DIGITS} "
            f"digits (largest relative difference ${number(check.max_rel_error, 2)}$).")


def _delta_definition(T: _Tex, v_tex: str) -> str:
    sign = "-" if T.net.profile.delta_sign < 0 else ""
    return rf"{sign}\frac{{\partial {T(T.net.loss_symbol)}}}{{\partial {v_tex}}}"


def _notation(T: _Tex) -> dict:
    net, p = T.net, T.net.profile
    glob_numbers = net.spec.numbering == "global"
    # every quantity in general, unit j of layer l (global numbering: unit j, the layer implied by its number)
    at = "" if glob_numbers else "^{(l)}"
    v, y, w = f"{p.net_tex}{at}_{{j}}", f"{p.out_tex}{at}_{{j}}", f"w{at}_{{jk}}"
    unit = "unit $j$" if glob_numbers else "unit $j$ of layer $l$"
    rows_ = [("input $k$ of a sample", "x_{k}"),
             (f"net input of {unit}", v),
             (f"output of {unit}", rf"{y} = {_phi(net)}({v})"),
             # under global numbering j numbers every unit, but targets count the output layer's units from 1
             ("target of the $j$-th unit of the output layer" if glob_numbers else "target of output unit $j$",
              f"{p.target_tex}_{{j}}"),
             (f"weight into {unit} from unit $k$ of the layer before", w),
             ("learning rate", r"\eta"),
             *([("momentum constant", r"\alpha")] if net.training.momentum else []),
             *([("weight decay (the loss adds $\\lambda/2$ times each decayed parameter squared)", r"\lambda")]
               if net.training.weight_decay else []),
             (rf"a weight at step ${p.step_tex}$ of gradient descent", rf"{w}{p.at_step()}"),
             ("loss of one sample", T(net.loss_symbol)),
             (f"local gradient (delta) of {unit}", rf"\delta{at}_{{j}} = {_delta_definition(T, v)}")]
    if net.bias:
        rows_.insert(5, (f"bias of {unit}", f"b{at}_{{j}}"))
    skip = next((c for c in net.graph.weighted if c.kind == "skip"), None)
    if skip is not None:       # an instance: its superscript names the two layers it joins
        rows_.insert(5, ("weight of a skip connection, from a unit of an earlier layer", T(net.weights[skip][0][0])))
    if net.e and glob_numbers:      # an instance: under global numbering output unit 1 is not unit 1 (e_1 = d_1 - y_4)
        first = global_number(net, net.depth, 1)
        rows_.insert(4, (f"error signal of the first unit of the output layer (unit~{first})",
                         rf"{T(net.e[0])} = {T(net.error(1))}"))
    elif net.e:                     # in general, as the other rows: L is the output layer
        rows_.insert(4, ("error signal of output unit $j$",
                         rf"{p.error}_{{j}} = {p.target_tex}_{{j}} - {p.out_tex}^{{(L)}}_{{j}}"))
    glob = None
    if glob_numbers and net.depth > 1:      # the general rules' w^{(l)}_{jk}, by example
        layered = _Tex(Network(dataclasses.replace(net.spec, numbering="layer")))
        w = net.W[net.depth][0][0]
        glob = rf"{T(w)} = {layered(w)}"
    return {"rows": [{"what": w, "tex": t} for w, t in rows_], "profile": p.name, "source": p.source,
            "global": glob_numbers, "skip": skip is not None, "layered": glob}


def _figure(T: _Tex, highlight: dict) -> dict:
    """Node positions (cm) and edges of the TikZ drawing; labels are printed symbols."""
    net = T.net
    L = net.depth
    dx = min(3.2, 13.0 / max(L, 1))
    nodes, edges, biases = [], [], []
    placed = {}
    for l in range(L + 1):
        units = list(shown(net.layers[l]))
        top = (len(units) - 1) / 2 * 1.3
        for n, j in enumerate(units):
            y = round(top - n * 1.3, 3)
            name = f"n{l}x{j}" if j is not None else f"n{l}dots"
            if j is None:
                nodes.append({"name": name, "x": round(l * dx, 3), "y": y, "label": r"\vdots", "kind": "dots"})
                continue
            label = T(net.x[j - 1]) if l == 0 else T(net.y[l][j - 1])
            nodes.append({"name": name, "x": round(l * dx, 3), "y": y, "label": label,
                          "kind": "input" if l == 0 else "unit"})
            placed.setdefault(l, []).append((j, name))
        if l < L and net.bias:
            biases.append({"name": f"bias{l + 1}", "x": round(l * dx + dx / 2, 3),
                           "y": round(top + 1.3, 3), "layer": l + 1})
    for l in range(1, L + 1):
        for j, dst in placed[l]:
            for k, src in placed[l - 1]:
                w = net.W[l][j - 1][k - 1]
                edges.append({"src": src, "dst": dst, "label": T(w) if w in highlight else "",
                              "thick": w in highlight})
            if net.bias:
                edges.append({"src": f"bias{l}", "dst": dst, "label": "", "thick": False, "bias": True})
    for e in edges:
        e.setdefault("bias", False)
    outputs = [{"src": name, "label": T(net.y[L][j - 1])} for j, name in placed[L]]
    discs = {n["name"]: fg.Disc(n["name"], n["x"], n["y"], 0.3 if n["kind"] == "dots" else fg.UNIT_RADIUS)
             for n in nodes}
    discs.update({b["name"]: fg.Disc(b["name"], b["x"], b["y"], fg.BIAS_RADIUS) for b in biases})
    graph = None if net.graph.is_chain else _figure_graph(T, highlight, discs, biases, placed)
    # a weight's label goes where no other line of the picture crosses it
    segments = [fg.clipped(discs[e["src"]], discs[e["dst"]]) for e in edges]
    lines = segments + [((d.x + d.r, d.y), (d.x + fg.OUTPUT_ARROW, d.y)) for d in (discs[o["src"]] for o in outputs)]
    lines += graph["lines"] if graph else []
    for n, (e, seg) in enumerate(zip(edges, segments)):
        if e["thick"]:
            others = [d for name, d in discs.items() if name not in (e["src"], e["dst"])]
            spot = fg.label_spot(seg, lines[:n] + lines[n + 1:], others, (fg.LABEL_EM * width(e["label"]) + 0.2, 0.5))
            e["pos"] = spot.t if spot else 0.5
    edges.sort(key=lambda e: e["thick"])    # drawn last, a thick edge's white-backed label lies over the rest
    return {"nodes": nodes, "edges": edges, "biases": biases, "outputs": outputs, "arrow": fg.OUTPUT_ARROW,
            "width": round(L * dx, 3), "thin": len(edges) > 60, "graph": graph}


def bias_input(net: Network) -> str:
    """The constant input a bias weighs: +1 for v = sum w y + b, -1 for v = sum w y - b (seed 004)."""
    return "+1" if net.bias_sign > 0 else "-1"


def network_figure(net: Network) -> dict:
    """The notes' drawing of ``net`` with no weight singled out (templates/network_tikz.tex.j2's ``figure``)."""
    return _figure(_Tex(net), {})


def _figure_graph(T: _Tex, highlight: dict, discs: dict, biases: list, placed: dict) -> dict:
    """Skip connections as bundles of arcs below the columns, shortcuts as identity arcs above them;
    ``lines``, the arcs as short straight pieces, for placing the weights' labels clear of them."""
    net = T.net
    obstacles = list(discs.values())
    columns = {l: [d for name, d in discs.items() if name.startswith((f"n{l}x", f"n{l}dots"))]
               for l in range(net.depth + 1)}
    x = {l: col[0].x for l, col in columns.items()}
    skips, floors, lines = [], [], []
    for c in sorted((c for c in net.graph.weighted if c.kind == "skip"), key=lambda c: (c.dst - c.src, c.dst, c.src)):
        start = min(d.y for l in range(c.src + 1, c.dst) for d in columns[l]) - fg.UNIT_RADIUS - fg.MARGIN
        start = min([start] + [low for span, low in floors if span[0] < c.dst and c.src < span[1]])
        pairs = [(k, j, discs[s], discs[d]) for j, d in placed[c.dst] for k, s in placed[c.src]]
        b = fg.bundle([(s, d) for _, _, s, d in pairs], obstacles, (x[c.src + 1], x[c.dst - 1]), start)
        floors.append(((c.src, c.dst), b.label[1] - 0.35))
        edges = [{"path": _tikz_path(a), "thick": net.weights[c][j - 1][k - 1] in highlight}
                 for a, (k, j, _, _) in zip(b.arcs, pairs)]
        lines += [seg for a in b.arcs for seg in a.pieces()]
        skips.append({"edges": sorted(edges, key=lambda e: e["thick"]), "label": _xy(b.label),
                      "matrix": T(fm.weight_matrix(net, c))})
    ceiling = max(d.y + d.r for d in discs.values()) + fg.MARGIN
    shortcuts = []
    for c in (c for c in net.graph.connections if c.kind == "residual"):
        box = {l: _column_box(columns[l]) for l in (c.src, c.dst)}
        # the arc runs from frame to frame; the top unit under each end is not in its way
        ends = tuple(fg.Disc(columns[l][0].name, x[l], box[l][3], 0) for l in (c.src, c.dst))
        b = fg.bundle([ends], obstacles, (x[c.src + 1], x[c.dst - 1]), ceiling, below=False, angle=70)
        ceiling = b.label[1] + 0.35
        lines += b.arcs[0].pieces()
        shortcuts.append({"boxes": [box[c.src], box[c.dst]], "path": _tikz_path(b.arcs[0]), "label": _xy(b.label),
                          "y": T(_vector(net, c.src))})
    return {"skips": skips, "shortcuts": shortcuts, "lines": lines}


def _xy(p) -> str:
    return f"{p[0]}, {p[1]}"


def _tikz_path(a: fg.Arc) -> str:
    """(x, y) .. controls (c1) and (c2) .. (end) ...: the arc exactly as it was checked."""
    return f"({_xy(a.start)})" + "".join(f" .. controls ({_xy(s.c1)}) and ({_xy(s.c2)}) .. ({_xy(s.end)})"
                                         for s in a.segments)


def _column_box(column: list) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of a dashed frame around the units of one layer."""
    pad = fg.UNIT_RADIUS + 0.17
    return (round(column[0].x - pad, 3) + 0.0, round(min(d.y for d in column) - pad, 3) + 0.0,
            round(column[0].x + pad, 3) + 0.0, round(max(d.y for d in column) + pad, 3) + 0.0)


def _vector(net: Network, l: int) -> sp.MatrixSymbol:
    """The output vector of a layer (x for the input), as the matrix form names it."""
    name = "x" if l == 0 else f"{net.profile.out}{l}"
    return sp.MatrixSymbol(name, net.layers[l], 1)


def _forward(T: _Tex) -> dict:
    net, layers = T.net, []
    for l in range(1, net.depth + 1):
        eqs = []
        for j in shown(net.layers[l]):
            if j is None:
                eqs.append(r"&\;\;\vdots")
                continue
            v, y = net.v[l][j - 1], net.y[l][j - 1]
            eqs += rows(T(v), _input_terms(T, l, j))
            eqs += rows(T(y), _output_terms(T, l, j))
        act = net.activation(l)
        layers.append({"layer": l, "activation": act.prose, "rows": eqs, "links": _links(T, l),
                       "kind": "output" if l == net.depth else "hidden", "elided": net.layers[l] > MAX_UNITS})
    general = rf"{T(ix.B['v'][ix.j])} = {T(_net_input(net))}"
    return {"layers": layers, "general": general, "graph": None if net.graph.is_chain else _forward_graph(T)}


def _net_input(net: Network, skips: tuple[int, ...] = ()) -> sp.Expr:
    """The general net input summed over k, the letter of every rule: the derivation sums over i, since it
    differentiates by w_jk and a sum over k would bind that k."""
    return ix.net_input(net.bias_sign, net.bias, skips=skips).xreplace({ix.i: ix.k})


def _layer_name(l: int) -> str:
    return "the input" if l == 0 else f"layer~{l}"


def _links(T: _Tex, l: int) -> str:
    """What feeds a layer besides the layer before it, in words ('' on a chain)."""
    net, out = T.net, []
    for c in net.graph.inputs(l)[1:]:
        out.append(rf"also fed by {_layer_name(c.src)} through the skip weights ${T(fm.weight_matrix(net, c))}$")
    for c in net.graph.shortcuts(l):
        out.append(rf"with an identity shortcut from {_layer_name(c.src)}")
    return ", ".join(out)


def _forward_graph(T: _Tex) -> dict:
    """The connections beyond the chain, and the general net input and output of the layers they reach."""
    net = T.net
    skips = [c for c in net.graph.weighted if c.kind == "skip"]
    residuals = [c for c in net.graph.connections if c.kind == "residual"]
    offsets = sorted({tuple(sorted((c.src - l for c in net.graph.inputs(l)[1:]), reverse=True))
                      for l in net.graph.order} - {()}, key=lambda o: (len(o), [-x for x in o]))
    chain = _net_input(net)
    v, y = T(ix.B["v"][ix.j]), T(ix.B["y"][ix.j])
    sums, bias = (T.terms(chain)[:-1], T.terms(chain)[-1:]) if net.bias else (T.terms(chain), [])
    general = [row for o in offsets for row in rows(v, sums + [     # the bias after every sum
        f"+ {T(_net_input(net, skips=(s,)) - chain)}" for s in o] + bias)]
    general += [rf"{y} &= {_phi(net)}\left({v}\right) + {T(ix.base('y', o)[ix.j])}"
                for o in sorted({c.src - c.dst for c in residuals}, reverse=True)]
    first = offsets[0][0] if offsets else None
    note = "" if first is None else (rf"the weights ${T(ix.base('w', 0, first)[ix.j, ix.k])}$ read the outputs "
                                     rf"${T(ix.base('y', first)[ix.k])}$ of layer $l{first:+d}$, "
                                     rf"and $K_{{{-first}}}$ is its width")
    said = [rf"{_layer_name(c.src)} also feeds layer~{c.dst} directly, through a skip connection with weights "
            rf"${T(fm.weight_matrix(net, c))}$ (entries ${T(net.weights[c][0][0])}, \dots$)" for c in skips]
    said += [rf"layer~{c.dst} adds the outputs of layer~{c.src} to its own through an identity shortcut, "
             rf"${T(_vector(net, c.dst))} = {_phi(net)}({T(_vector_v(net, c.dst))}) + {T(_vector(net, c.src))}$"
             for c in residuals]
    return {"said": said, "general": general, "note": note, "skips": bool(skips), "shortcuts": bool(residuals)}


def _vector_v(net: Network, l: int) -> sp.MatrixSymbol:
    return sp.MatrixSymbol(f"{net.profile.net}{l}", net.layers[l], 1)


def _input_terms(T: _Tex, l: int, j: int) -> list[str]:
    """The printed terms of v_j: in SymPy's order on one connection, connection by connection (chain first)."""
    net = T.net
    if any(net.layers[c.src] > MAX_UNITS for c in net.graph.inputs(l)):
        return _wide_input_terms(T, l, j)
    if len(net.graph.inputs(l)) == 1:
        return T.terms(net.net_input(l, j))
    return T.signed(_input_parts(T, l, j))


def _wide_input_terms(T: _Tex, l: int, j: int) -> list[str]:
    """v_j over a wide layer: its first and last terms with \\cdots between, inputs in numeric order."""
    net, pieces = T.net, []
    for c in net.graph.inputs(l):
        for k in shown(net.layers[c.src]):
            term = r"\cdots" if k is None else T(net.weights[c][j - 1][k - 1] * net.y[c.src][k - 1])
            pieces.append(term if not pieces else f"+ {term}")
    if net.bias:
        pieces += T.signed([net.bias_sign * net.b[l][j - 1]], first=False)
    return pieces


def _input_parts(T: _Tex, l: int, j: int) -> list[sp.Expr]:
    """The terms of v_j as expressions, in the order ``_input_terms`` prints them: the chain's sum in
    SymPy's order, each skip's sum after its weights (before the bias where SymPy puts the bias last)."""
    net = T.net
    sums = [sp.Add(*[w * y for w, y in zip(net.weights[c][j - 1], net.y[c.src])]) for c in net.graph.inputs(l)]
    chain = sums[0] + (net.bias_sign * net.b[l][j - 1] if net.bias else 0)
    out = T.p._as_ordered_terms(chain) if chain.is_Add else [chain]
    at = len(out) - 1 if net.bias and out[-1].has(net.b[l][j - 1]) else len(out)
    skips = [t for part in sums[1:] for t in (T.p._as_ordered_terms(part) if part.is_Add else [part])]
    return out[:at] + skips + out[at:]


def _output_terms(T: _Tex, l: int, j: int) -> list[str]:
    """y_j = phi(v_j), then + y_j of each shortcut's source."""
    net = T.net
    v, out = net.v[l][j - 1], net.output(l, j)
    carried = [net.y[c.src][j - 1] for c in net.graph.shortcuts(l)]
    phi = out - sp.Add(*carried)
    return [T(phi) if phi != v else T(v)] + [f"+ {T(y)}" for y in carried]


def _activations(T: _Tex) -> list[dict]:
    """phi, SymPy's derivative of its exponential form, and the same in terms of phi itself."""
    out, seen = [], set()
    z = sp.Symbol("z", real=True)
    for l in range(1, T.net.depth + 1):
        act = T.net.activation(l)
        if act.name in seen:
            continue
        seen.add(act.name)
        if not act.elementwise:
            out.append({**_softmax_proof(T, act), "shortcuts": []})     # an output layer: no shortcut reaches it
            continue
        f = act.function(z)
        # linear: z -> z; the generic letter names every layer's activation, never one of them
        named = rf"{T(f)}" if f.is_Function else rf"z \mapsto {T(f)}"
        steps = [named + (rf" = {T(f.rewrite(sp.exp))}" if f.rewrite(sp.exp) != f else "")]
        if not proves_derivative(act):
            raise ValueError(f"the derivative of {act.name} in its own output is not SymPy's derivative")
        given = sp.diff(f, z)            # SymPy's derivative before any rewriting: 1 - tanh^2(z), not exponentials
        in_output = act.derivative_in_output     # None (silu, gelu): no form in y, phi'(v) is used
        own = in_output(f, z) if in_output is not None else given
        d_rows = [rf"\frac{{d}}{{dz}} {T(f)} &= {T(given)}"]
        if T(own) != T(given):
            d_rows.append(rf"&= {T(own)}")
        written = in_output(sp.Symbol(T.net.profile.out_tex), z) if in_output is not None else None
        output_form = T(written) if written is not None else ""
        in_y = act.slope_in_output          # relu's H(z) is in z, not y
        out.append({"name": act.name, "description": act.prose, "definition": steps[0],
                    "rows": d_rows, "output_form": output_form, "in_output": in_y,
                    "shortcuts": _shortcut_slopes(T, act, given, z) if in_y else [],
                    "step": _unit_step(T, given, own)})
    return out


def _shortcut_slopes(T: _Tex, act, given: sp.Expr, z: sp.Symbol) -> list[dict]:
    """Where an identity shortcut adds an earlier output, y = phi(v) + y^(s) is not phi(v): the slope in the
    unit's output does not hold there, and the layer's rules keep phi'(v) in v, as SymPy gives it."""
    net, p = T.net, T.net.profile
    out = []
    for l in range(1, net.depth + 1):
        sources = [c.src for c in net.graph.shortcuts(l)]
        if net.activation(l).name != act.name or not sources or not given.has(z):     # linear's 1 holds anywhere
            continue
        v = sp.Symbol("v", real=True)
        carried = [sp.Symbol(f"y{s}", real=True) for s in sources]
        names = {v: f"{p.net_tex}^{{({l})}}", **{y: f"{p.out_tex}^{{({s})}}" for y, s in zip(carried, sources)}}
        P = NotesLatexPrinter(None, {"symbol_names": names})
        summands = " + ".join(P.doprint(e) for e in [act.function(v), *carried])    # phi(v) first, as forward
        out.append({"layer": l, "sources": and_list(f"layer~{s}" for s in sources),
                    "output": rf"{p.out_tex}^{{({l})}} = {summands}",
                    "phi": P.doprint(act.function(v)), "slope": P.doprint(given.subs(z, v))})
    return out


def _unit_step(T: _Tex, *exprs) -> str:
    """What H means, once, where a derivative uses the unit step; its value at 0 read off the expression."""
    steps = {h for e in exprs for h in e.atoms(sp.Heaviside)}
    if not steps:
        return ""
    at_zero = {h.func(0, *h.args[1:]) for h in steps}
    if len(at_zero) != 1:
        raise ValueError("unit steps with different values at 0 in one derivative")
    return (r"Here $H$ is the unit step: $H(z) = 1$ for $z > 0$ and $H(z) = 0$ for $z < 0$, with "
            rf"$H(0) = {T(at_zero.pop())}$ here (there is no derivative at $0$; any value between the two one-sided "
            "slopes would do).")


def _softmax_proof(T: _Tex, act) -> dict:
    """Softmax's two partial derivatives, in the profile's letters (nielsen: a = softmax(z))."""
    p = T.net.profile
    V, Y = p.net_tex, p.out_tex
    n = min(T.net.layers[-1], 3)        # the output layer's own units (three stand for a wider one)
    v = list(sp.symbols(f"v1:{n + 1}", real=True))
    y = [softmax_unit(v, i) for i in range(n)]
    ys = list(sp.symbols(f"y1:{n + 1}", real=True))
    names = {**{a: f"{V}_{{{i}}}" for i, a in enumerate(v, 1)}, **{a: f"{Y}_{{{i}}}" for i, a in enumerate(ys, 1)}}
    P = NotesLatexPrinter(None, {"symbol_names": names})
    # over the squared sum, e^{v_1} e^{v_2} as the chain rule's factors elsewhere print it (not e^{v_1 + v_2})
    same = sp.factor(sp.together(sp.diff(y[0], v[0])))
    other = sp.factor(sp.together(sp.diff(y[0], v[1])))
    d_rows = [rf"\frac{{\partial {Y}_{{1}}}}{{\partial {V}_{{1}}}} &= {P.doprint(same)} = "
              rf"{P.doprint(act.derivative_in_output(ys[0], ys[0], True))}",
              rf"\frac{{\partial {Y}_{{1}}}}{{\partial {V}_{{2}}}} &= {P.doprint(other)} = "
              rf"{P.doprint(act.derivative_in_output(ys[0], ys[1], False))}"]
    definition = P.doprint(y[0])
    P = NotesLatexPrinter(None, {"symbol_names": {ys[0]: f"{Y}_{{i}}", ys[1]: f"{Y}_{{j}}"}})
    both = (rf"\partial {Y}_{{i}} / \partial {V}_{{j}} = {P.doprint(act.derivative_in_output(ys[0], ys[0], True))}"
            rf"\text{{ for }} i = j \text{{ and }} {P.doprint(act.derivative_in_output(ys[0], ys[1], False))}"
            rf"\text{{ for }} i \ne j")
    return {"name": act.name, "description": act.name,
            "definition": rf"{Y}_{{1}} = {definition}",
            "rows": d_rows, "output_form": both, "step": "", "in_output": True}


def _simplification_rows(T: _Tex, r) -> list[str]:
    """A matched loss and output activation, every step shown: softmax + ce collects the unit's output
    (y_j times the sum of the targets, which is 1); sigmoid + bce writes dE/dy over one denominator, which
    is the slope y (1 - y) it multiplies."""
    definition = _delta_definition(T, T(r.net))
    if len(r.chain) == 1:
        loss, slope = r.chain[0]
        scale, rest = loss.result.as_independent(loss.wrt, as_Add=False)     # a mean's 1/N stays in front
        num, den = sp.fraction(sp.together(rest))
        if sp.expand(den - slope.result) == 0:      # the fraction's denominator is the slope: they cancel
            return _cancelled_rows(T, r, scale, num, den)
    # in the remark itself, only softmax's reason: the pointer to the remark is for the worked weight
    return steps(T(r.symbol), [[definition], *_matched_stages(T, r)],
                 note="" if r.general is None else _matched_note(r))


def _cancelled_rows(T: _Tex, r, scale, num, den) -> list[str]:
    """dE/dy over its common denominator (each term brought to it, then the numerator multiplied out),
    then delta = (sign) dE/dy dy/dv, where that denominator is the slope dy/dv and cancels."""
    (loss, slope), s = r.chain[0], T.net.profile.delta_sign
    E, y, v = loss.of, loss.wrt, slope.wrt
    sign = "-" if s < 0 else ""
    front = "" if scale == 1 else rf"{T(scale)} \, "
    over = rf"{front}\frac{{{T(sp.expand(num))}}}{{{T(den)}}}"
    given = T.terms(loss.result) if scale == 1 else [front + T.factor(loss.result / scale)]    # not 1/N over a sum
    dE_dy = steps(T.partial(E, y), [given, [rf"{front}\frac{{{T(num)}}}{{{T(den)}}}"], [over]])
    delta = steps(T(r.symbol), [[rf"{_delta_definition(T, T(v))} = {sign}{T.partial(E, y)} \, {T.partial(y, v)}"],
                                [rf"{sign}{over} \, {T(slope.result)}"], T.terms(r.value)])
    return dE_dy + delta


def _matched_stages(T: _Tex, r) -> list[list[str]]:
    """delta after its definition: a matched pair's chain multiplied out, softmax + ce's form for targets of
    any sum (DeltaRule.general), then the rule."""
    if r.simplification is None:
        return [T.terms(r.value)]
    general = [] if r.general is None else [T.terms(r.general)]
    return [T.terms(T.net.profile.delta_sign * r.dE_dv), *general, T.terms(r.value)]


def _matched_note(r) -> str:
    """Why the rule follows, beside it: softmax + ce, the targets sum to 1; another matched pair, the remark
    after the weight works the algebra (sigmoid + bce: over a common denominator)."""
    if r.simplification is None:
        return ""
    return r"see the remark below" if r.general is None else rf"since {tex_escape(r.simplification)}"


def _loss_words(T: _Tex) -> str:
    """The loss for the prose: a built-in's description; a formula of your own typeset for one output unit."""
    loss, p = T.net.loss, T.net.profile
    if not losses.defined(loss):
        return tex_escape(loss.description)
    y, t = (sp.Symbol(f"{letter}_j", real=True) for letter in (p.out_tex, p.target_tex))
    return (rf"\emph{{{tex_escape(loss.name)}}}: ${T(loss.term(y, t))}$ for each output unit $j$, "
            "summed over the units")


def _unit_terms(T: _Tex, E: sp.Expr) -> list[str]:
    """The loss's pieces unit by unit (bce: d_1 log y_1 and (1 - d_1) log(1 - y_1) together), where each output
    unit's term is itself a sum; otherwise the terms of E as the printer orders them."""
    net = T.net
    units = ([net.loss.error_term(e) for e in net.e] if net.e else
             [net.loss.term(y, t) for y, t in zip(net.y[net.depth], net.t)])
    if net.loss_scale != 1 or not any(u.is_Add for u in units) or sp.expand(sp.Add(*units) - E) != 0:
        return T.terms(E)
    out = []
    for k, unit in enumerate(units):        # one piece a unit: a long loss wraps between units
        piece = " ".join(T.terms(unit))
        out.append(piece if k == 0 or piece.startswith("-") else "+ " + piece)
    return out


def _loss(T: _Tex) -> dict:
    net = T.net
    E = net.loss_in_errors() if net.e else net.loss_in_outputs()
    errors = [rf"{T(e)} = {T(net.error(j))}" for j, e in enumerate(net.e, start=1)]
    return {"rows": rows(T(net.loss_symbol), _unit_terms(T, E)), "errors": errors, "description": net.loss.description,
            "mean": net.loss.mean}


_REASONS = {
    "loss": lambda T, f: rf"differentiating the loss \eqref{{eq:loss}} with respect to ${T(f.wrt)}$",
    "error": lambda T, f: rf"by the definition of the error signal, ${T(f.of)} = {T(T.net.error(_unit_of(T, f.of)))}$",
    "activation": lambda T, f: _activation_reason(T, f),
    "net_input": lambda T, f: _net_input_reason(T, f),
    "delta": lambda T, f: (rf"by the definition of the local gradient of the next layer, "
                           rf"${T(_delta_of(T, f.wrt))} = {_delta_definition(T, T(f.wrt))}$"),
    "shortcut": lambda T, f: _shortcut_reason(T, f),
}


def _shortcut_reason(T: _Tex, f: Factor) -> str:
    l, j = _layer_unit(T.net, f.of, T.net.y)
    return (rf"since ${T(f.of)} = {' '.join(_output_terms(T, l, j))}$: the identity shortcut passes "
            rf"${T(f.wrt)}$ on unchanged")


def _unit_of(T: _Tex, e) -> int:
    return T.net.e.index(e) + 1


def _layer_unit(net, sym, grid) -> tuple[int, int]:
    for l, syms in grid.items():
        if sym in syms:
            return l, syms.index(sym) + 1
    raise KeyError(sym)


def _delta_of(T: _Tex, v):
    l, j = _layer_unit(T.net, v, T.net.v)
    return T.net.delta[l][j - 1]


def _activation_reason(T: _Tex, f: Factor) -> str:
    net = T.net
    l, j = _layer_unit(net, f.of, net.y)
    act = net.activation(l)
    text = rf"since ${T(f.of)} = {T(net.output(l, j))}$ ({tex_escape(act.prose)})"
    if f.rewritten is not None and f.rewritten != f.value:
        # softmax's raw quotient of exponentials says nothing the output form does not: only which input it is by
        raw = rf" ${T(f.value)}$" if act.elementwise and width(T(f.value)) < 24 else ""
        by = "" if act.elementwise else rf" by ${T(f.wrt)}$"
        text += (rf", whose derivative{by}{raw} is ${T(f.rewritten)}$ in the unit's own output "
                 rf"(Section~\ref{{sec:activations}})")
    return text


def _net_input_reason(T: _Tex, f: Factor) -> str:
    """v_j written out, long sums shortened to their first two and last terms and the one differentiated."""
    l, j = _layer_unit(T.net, f.of, T.net.v)
    terms = _input_terms(T, l, j)
    if len(terms) <= 4:
        return rf"since ${T(f.of)} = {' '.join(terms)}$"
    # keep the term the derivative reads: the printed terms are the parts' in the same order
    keep = {0, 1, len(terms) - 1} | {next(n for n, t in enumerate(_input_parts(T, l, j)) if t.has(f.wrt))}
    shown = []
    for n in sorted(keep):
        if shown and n != shown[-1][0] + 1:
            shown.append((n, r"+ \cdots"))
        shown.append((n, terms[n]))
    return rf"since ${T(f.of)} = {' '.join(t for _, t in shown)}$"


def _why(T: _Tex, factors: Iterable[Factor], layer: int | None = None) -> list[dict]:
    """Each factor once, with the definition it differentiates; ``layer`` is the worked unit's (graphs)."""
    out, seen = [], set()
    for f in factors:
        key = (f.of, f.wrt)
        if key in seen:
            continue
        seen.add(key)
        why = _delta_reason(T, f, layer) if f.reason == "delta" else _REASONS[f.reason](T, f)
        out.append({"tex": rf"{T.partial(f.of, f.wrt)} = {T(f.result)}", "why": why})
    return out


def _delta_reason(T: _Tex, f: Factor, layer: int | None) -> str:
    """The local gradient of the next layer, or of the layer named, where a successor is further on."""
    at = _layer_unit(T.net, f.wrt, T.net.v)[0]
    if layer is None or at == layer + 1:
        return _REASONS["delta"](T, f)
    return (rf"by the definition of the local gradient of layer~{at}, "
            rf"${T(_delta_of(T, f.wrt))} = {_delta_definition(T, T(f.wrt))}$")


def _chain_terms(T: _Tex, paths, show, sep: str = r" \, ") -> list[str]:
    """A sum over paths of products, each factor printed by ``show``; long sums keep first two and last."""
    paths = list(paths)
    keep = paths if len(paths) <= 4 else paths[:2] + [None] + paths[-1:]
    out = []
    for n, path in enumerate(keep):
        # a number among the factors is set off by a dot, as numbers are written: (-delta) \cdot 1
        between = r" \cdot " if path is not None and any(getattr(f, "is_Number", False) for f in path) else sep
        text = r"\cdots" if path is None else between.join(show(f) for f in path)
        out.append(text if n == 0 else "+ " + text)
    return out


def _product_stages(T: _Tex, shown, product) -> list[list[str]]:
    """Factors side by side, ``shown(sep)`` with ``sep`` between them, then their product multiplied out.
    The factors are left out where the printer writes the product as exactly those factors (delta x, then
    delta x again): both are printed by one printer, so equal LaTeX is what the reader would see, only thin
    spaces apart."""
    multiplied = T.terms(product)
    if " ".join(shown(" ")) == " ".join(multiplied):
        return [multiplied]
    return [shown(r" \, "), multiplied]


def _path_products(T: _Tex, paths, product) -> list[list[str]]:
    """The product stages of a sum over paths, each path's factors (expressions) side by side."""
    return _product_stages(T, lambda sep: _chain_terms(T, paths, T.factor, sep), product)


def _update_rows(T: _Tex, rule) -> list[str]:
    """Delta p = -eta dE/dp and p(n+1) = p(n) + Delta p (n: the profile's step letter)."""
    net, p = T.net, rule.symbol
    now, after = net.profile.at_step(), net.profile.at_step(1)
    step = _gradient_step(net, rule.update)
    if not net.training.momentum:
        return [rf"\Delta {T(p)} &= -\eta {T.partial(net.loss_symbol, p)} = {T(step)}",
                rf"{T(p)}{after} &= {T(p)}{now} + \Delta {T(p)}{now} = {T.plus(p, step)}"]
    # momentum: the update is the stated recursion, not -eta dE/dp alone
    terms = _rule_terms(net, rule.update)
    signed = " ".join(T.signed(terms))
    return [rf"\Delta {T(p)}{now} &= \alpha \Delta {T(p)}{net.profile.at_step(-1)} - \eta "
            rf"{T.partial(net.loss_symbol, p)} = {signed}",
            rf"{T(p)}{after} &= {T(p)}{now} + \Delta {T(p)}{now} = {T(p)} " + " ".join(T.signed(terms, first=False))]


def _worked_weight(T: _Tex, d: Derivation, name: str) -> dict:
    """dE/dp for one parameter, from the chains of its unit's delta and of dv/dp, every factor justified."""
    net, rule = T.net, d.params[name]
    delta = d.deltas[net.delta[rule.layer][rule.unit - 1]]
    E, v, p = net.loss_symbol, delta.net, rule.symbol
    dv_dp = rule.chain[1]
    eq = rows(T.partial(E, p), [rf"{T.partial(E, v)} \, {T.partial(v, p)}"])
    eq += steps(T.partial(E, v), [_chain_terms(T, delta.chain, lambda f: T.partial(f.of, f.wrt)),
                                  *_path_products(T, [[f.result for f in path] for path in delta.chain],
                                                  delta.dE_dv)])
    s = net.profile.delta_sign
    delta_rows = steps(T(delta.symbol), [[_delta_definition(T, T(v))], *_matched_stages(T, delta)],
                       note=_matched_note(delta))
    grad = _gradient_rows(T, rule, s * delta.symbol)
    unrolled = []
    if delta.layer < net.depth or delta.value.has(*net.e):
        update = d.unrolled(rule.update)
        pieces = [T(p)] + T.terms(update)
        if not pieces[1].startswith(("+", "-")):
            pieces[1] = _extended(pieces[1], before="+ ")
        lines = pack(pieces, first=width(T(p)) + 6)
        if len(lines) <= 3 and max(width(line) for line in lines) <= BUDGET + 4:
            unrolled = rows(rf"{T(p)}{net.profile.at_step(1)}", pieces)
    factors = [f for path in delta.chain for f in path] + [dv_dp]
    out = {"symbol": T(p), "name": name, "unit": T(delta.symbol), "v": T(v), "chain": eq,
           "delta": delta_rows, "gradient": grad, "step": _update_rows(T, rule), "unrolled": unrolled,
           "why": _why(T, factors), "hidden": not delta.output, "kind": rule.kind,
           "simplification": delta.simplification, "graph": None}
    if not delta.output and not net.graph.is_chain:
        out["graph"] = _graph_weight(T, d, delta, rule)
        out.update({k: out["graph"][k] for k in ("chain", "delta", "why")})
    return out


def _gradient_rows(T: _Tex, rule, dE_dv) -> list[str]:
    """dE/dp = dE/dv dv/dp for one parameter, then dE/dv (its unit's delta, signed) times dv/dp, multiplied out."""
    E, v, p = T.net.loss_symbol, rule.chain[0].wrt, rule.symbol
    return steps(T.partial(E, p), [[rf"{T.partial(E, v)} \, {T.partial(v, p)}"],
                                   *_path_products(T, [(dE_dv, rule.chain[1].result)], rule.gradient)])


def _successor_groups(T: _Tex, delta) -> list[tuple[int, tuple, list]]:
    """A hidden delta's chain by successor layer: (consumer layer, shortcut factors on the way, paths)."""
    groups: dict = {}
    for path in delta.chain:
        layer = _layer_unit(T.net, path[0].wrt, T.net.v)[0]
        groups.setdefault((layer, path[2:-1]), []).append(path)
    return [(layer, hops, paths) for (layer, hops), paths in groups.items()]


def _units(n: int) -> str:
    return "the unit" if n == 1 else f"the {n} units"


def _successor_text(T: _Tex, delta, layer: int, hops: tuple, paths: list) -> str:
    """Which units a hidden unit feeds in one successor layer, and through which weights, in words."""
    ws = [path[1].result for path in paths]
    weights = T(ws[0]) if len(ws) == 1 else rf"{T(ws[0])}, \dots, {T(ws[-1])}"
    if hops:
        r = _layer_unit(T.net, hops[0].of, T.net.y)[0]
        return (rf"{_units(len(paths))} of layer~{layer}, through the identity shortcut into layer~{r} "
                rf"and the weights ${weights}$")
    plural = "s" if len(ws) > 1 else ""
    kind = f"through the weight{plural}" if layer == delta.layer + 1 else f"directly, through the skip weight{plural}"
    return rf"{_units(len(paths))} of layer~{layer}, {kind} ${weights}$"


def _group_pieces(T: _Tex, hops: tuple, paths: list, show, sign: str, sep: str = r" \, ") -> list[str]:
    """One successor layer's share of dE/dy_j as breakable pieces: a sum over its units (the first and
    last of more than three), times the shortcut factors on the way; ``sign`` leads it, ``sep`` is between
    factors."""
    keep = paths if len(paths) <= 3 else [paths[0], None, paths[-1]]
    terms = [r"\cdots" if p is None else sep.join(show(f) for f in p[:2]) for p in keep]
    pieces = [terms[0]] + [f"+ {t}" for t in terms[1:]]
    if hops:
        if len(paths) > 1:      # the bracketed paths: a wrapped one starts under the first
            opening = _Opening(r"\Bigl(", pieces[0])
            pieces = [opening] + [_Inner(p) for p in pieces[1:]]
            pieces[-1] = _extended(pieces[-1], after=r"\Bigr)")
        pieces[-1] = _extended(pieces[-1], after="".join(f"{sep}{show(h)}" for h in hops))
    pieces[0] = _extended(pieces[0], before=sign)
    return pieces


def _group_label(delta, layer: int, hops: tuple) -> str:
    if hops:
        return rf"layer {layer}, via the shortcut"
    return rf"layer {layer}" + ("" if layer == delta.layer + 1 else ", skip")


def _successor_rows(T: _Tex, lhs: str, delta, groups: list) -> list[str]:
    """lhs &= (successor 1) + (successor 2) + ..., a row each, braced with its layer where it fits on one."""
    out = []
    for n, (layer, hops, paths) in enumerate(groups):
        sign = "" if n == 0 else "+ "
        pieces = _group_pieces(T, hops, paths, lambda f: T.partial(f.of, f.wrt), "")
        body = " ".join(pieces)
        if width(body) <= BUDGET - 8:
            pieces = [rf"{sign}\underbrace{{{body}}}_{{\text{{{_group_label(delta, layer, hops)}}}}}"]
        else:
            pieces[0] = _extended(pieces[0], before=sign)
        out += rows(lhs, pieces) if n == 0 else [rf"&\qquad {line}" for line in pack(pieces, first=4)]
    return out


def _graph_weight(T: _Tex, d: Derivation, delta, rule) -> dict:
    """A hidden unit with several successors: dE/dy_j as one term per successor, every factor justified."""
    net, E, v, p = T.net, T.net.loss_symbol, delta.net, rule.symbol
    act = delta.chain[0][-1]                     # dy_j/dv_j, the same on every path
    y = act.of
    groups = _successor_groups(T, delta)
    eq = rows(T.partial(E, p), [rf"{T.partial(E, v)} \, {T.partial(v, p)}"])
    eq += rows(T.partial(E, v), [rf"{T.partial(E, y)} \, {T.partial(y, v)}"])
    eq += _successor_rows(T, T.partial(E, y), delta, groups)
    def shown(sep):
        return [piece for n, (_, hops, paths) in enumerate(groups) for piece in
                _group_pieces(T, hops, paths, lambda f: T.factor(f.result), "+ " if n else "", sep)]

    if all(len(paths) <= 3 for _, _, paths in groups):     # every term shown: multiply them out
        product = sp.Add(*[sp.Mul(*[f.result for f in path[:-1]]) for path in delta.chain])
        eq += [row for stage in _product_stages(T, shown, product) for row in continued(stage)]
    else:
        eq += continued(shown(r" \, "))
    sign = "-" if net.profile.delta_sign < 0 else ""
    delta_rows = rows(T(delta.symbol), [rf"{_delta_definition(T, T(v))} = {T.partial(y, v)} \, "
                                        rf"\Bigl({sign}{T.partial(E, y)}\Bigr)"])
    delta_rows += continued(T.terms(delta.value))
    factors = [rule.chain[1], act] + [f for _, _, paths in groups for f in paths[0][:-1]]
    shortcut = next((h for _, hops, _ in groups for h in hops), None)
    return {"chain": eq, "delta": delta_rows, "why": _why(T, factors, delta.layer), "y": T(y),
            "feeds": [_successor_text(T, delta, layer, hops, paths) for layer, hops, paths in groups],
            "shortcut": None if shortcut is None else rf"\partial {T(shortcut.of)} / \partial {T(shortcut.wrt)}"}


def _skip_weight(T: _Tex, d: Derivation, name: str | None) -> dict | None:
    """dE/dw for a weight of a skip connection: its unit's delta times an output of the earlier layer."""
    if name is None:
        return None
    net, rule = T.net, d.params[name]
    v, p = rule.chain[0].wrt, rule.symbol
    s = net.profile.delta_sign
    g = _gradient_rows(T, rule, s * net.delta[rule.layer][rule.unit - 1])
    return {"symbol": T(p), "v": T(v), "rows": g + _update_rows(T, rule), "why": _net_input_reason(T, rule.chain[1]),
            "source": _layer_name(rule.src), "layer": rule.layer, "input": T(rule.chain[1].result)}


def _biases(T: _Tex, d: Derivation, hidden: int | None) -> list[dict]:
    """The biases of the layers whose weights were worked: the output layer and ``hidden``'s."""
    net = T.net
    if not net.bias:
        return []
    out = []
    for l in (net.depth, hidden) if hidden else (net.depth,):
        rule = d.params[net.b[l][0].name]
        g = _gradient_rows(T, rule, net.profile.delta_sign * net.delta[l][0])
        out.append({"layer": l, "symbol": T(rule.symbol), "rows": g + _update_rows(T, rule)})
    return out


def _deltas(T: _Tex, d: Derivation) -> list[dict]:
    net, out = T.net, []
    for l in range(net.depth, 0, -1):
        eqs = []
        for j in shown(net.layers[l]):
            if j is None:
                eqs.append(r"&\;\;\vdots")
                continue
            sym = net.delta[l][j - 1]
            eqs += rows(T(sym), T.terms(d.deltas[sym].value))
        out.append({"layer": l, "kind": "output" if l == net.depth else "hidden", "rows": eqs})
    return out


# the index and count of the output layer's units in the general rules' loss: letters no profile and no rule uses
OUTPUT_UNIT, OUTPUT_WIDTH = sp.symbols("q Q", integer=True, positive=True)


def _index(T: _Tex, d: Derivation) -> dict:
    net, idx = T.net, d.index
    E = T(net.loss_symbol)
    dl = T(ix.B["delta"][ix.j])
    shared: dict[tuple[str, str], list[int]] = {}    # layers whose rules print alike share one line
    for l, r in idx.hidden.items():
        if len(r.paths) == 1:       # beside its tag: the slope, then the sum it multiplies, when too wide for one row
            first, *more = _slope_then_sum(T, r.hidden_delta, BUDGET - 18 - width(dl))
            tex = join_rows([rf"{dl} &= {first}"] + [rf"&\qquad {m}" for m in more])
        else:
            tex = join_rows(_paths_rule(T, dl, r))
        shared.setdefault((tex, net.activation(l).prose), []).append(l)
    hidden = [{"layers": ls, "label": _layer_list(ls), "activation": act, "tex": tex}
              for (tex, act), ls in shared.items()]
    out_rows = rows(dl, T.terms(_output_units(idx.output.delta)))
    if idx.output.assumption:       # softmax + ce: the general delta first, then with the targets' sum set to 1
        general = net.profile.delta_sign * sp.factor_terms(ix._simplify(idx.output.dE_dv))
        out_rows = rows(dl, T.terms(_output_units(general))) + continued(T.terms(_output_units(idx.output.delta)))
    w, b = ix.B["w"][ix.j, ix.k], ix.B["b"][ix.j]
    weight = net.W[1][0][0]         # a weight and a bias of the network: whether they decay is its to say
    grads = _general_update(T, w, idx.weight_gradient, weight)
    for o, g in sorted({c.src - c.dst: g for c, g in idx.skip_gradients.items()}.items(), reverse=True):
        grads += _general_update(T, ix.base("w", 0, o)[ix.j, ix.k], g, weight)
    if net.bias:
        grads += _general_update(T, b, idx.bias_gradient, net.b[1][0])
    graph = None if net.graph.is_chain else {
        "successors": [_successor_sentence(net, l) for l, r in idx.hidden.items() if len(r.paths) > 1],
        "skip": bool(idx.skip_gradients), "shortcut": any(c.kind == "residual" for c in net.graph.connections)}
    return {"output": out_rows, "assumption": idx.output.assumption, "hidden": hidden, "gradients": grads,
            "loss": rf"{E} = {T(_output_loss(net, idx.output.loss))}", "graph": graph}


def and_list(items) -> str:
    """a, a and b, a, b and c: a list in English."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def _general_update(T: _Tex, p, gradient: sp.Expr, like: sp.Symbol) -> list[str]:
    """dE/dp and Delta p of the general rules under the learning rule: the regulariser's gradient (sympy.diff of
    net.regulariser_term of ``like``, a parameter of p's kind, in p) in dE/dp, and momentum's stated
    alpha Delta p(n-1) in Delta p."""
    net, E = T.net, T(T.net.loss_symbol)
    decay = sp.diff(net.regulariser_term(like), like).xreplace({like: p})
    parts = [gradient] + ([decay] if decay != 0 else [])     # the loss's, then the decay's
    rows_ = [rf"\frac{{\partial {E}}}{{\partial {T(p)}}} &= " + " ".join(T.signed(parts))]
    steps_ = [-net.eta * g for g in parts]
    if not net.training.momentum:
        return rows_ + [rf"\Delta {T(p)} &= " + " ".join(T.signed(steps_))]
    now, before = net.profile.at_step(), net.profile.at_step(-1)
    return rows_ + [rf"\Delta {T(p)}{now} &= \alpha \Delta {T(p)}{before} " + " ".join(T.signed(steps_, first=False))]


def _slope_then_sum(T: _Tex, rule: sp.Expr, budget: float) -> list[str]:
    """A hidden rule phi'(v_j) sum_m delta_m w_mj as one line, or, wider than ``budget`` (elu's cases, gelu's
    erf beside a tag), as two: the slope, then times the weighted sum."""
    tex = T(rule)
    sums = [a for a in sp.Mul.make_args(rule) if a.has(sp.Sum)]
    if width(tex) <= budget or len(sums) != 1:
        return [tex]
    # the slope bracketed (a sum, or cases whose brace opens on one side only), so the product is one factor's
    return [rf"\left({T(rule / sums[0])}\right)", rf"\times {T(sums[0])}"]


def _layer_list(layers: list[int]) -> str:
    """hidden layer 1, hidden layers 1 and 2, hidden layers 1, 2 and 4."""
    return ("hidden layer " if len(layers) == 1 else "hidden layers ") + and_list(layers)


def _output_units(expr: sp.Expr) -> sp.Expr:
    """An output rule's sums run over the Q units q of the output layer, not over l+1's M (which it has not)."""
    return expr.xreplace({ix.m: OUTPUT_UNIT, ix.M: OUTPUT_WIDTH})


def _output_loss(net: Network, loss: sp.Expr) -> sp.Expr:
    """The loss as a sum over the output layer L's outputs (layer l is any layer in the rules that follow)."""
    out = sp.IndexedBase(sp.Symbol(net.profile.out_tex + "^{(L)}"), real=True)
    return _output_units(loss.xreplace({ix.B["y"]: out}))


def _paths_rule(T: _Tex, lhs: str, rules: ix.LayerRules) -> list[str]:
    """delta_j = phi'(v_j) (sum over the first consumer + sum over the next + ...), in the order of the paths."""
    factors = sp.Mul.make_args(rules.hidden_delta)
    total = next(a for a in factors if a.is_Add and a.has(sp.Sum))
    coeff = sp.Mul(*[a for a in factors if a is not total])
    ordered = [t for p in rules.paths for t in total.args if t.has(p.delta) and t.has(p.weight)]
    if sorted(ordered, key=sp.default_sort_key) != sorted(total.args, key=sp.default_sort_key):
        raise ValueError("a term of the general hidden rule matches no path")
    sums = [T(t) for t in ordered]
    head = T.p.parenthesize(coeff, PRECEDENCE["Mul"], strict=True)     # y (1 - y) or (1 - y^2), bracketed once
    opening = _Opening(r"\Bigl(" if coeff == 1 else rf"{head} \Bigl(", sums[0])
    pieces = [opening] + [_Inner(f"+ {t}") for t in sums[1:]]      # a wrapped sum starts under the first
    pieces[-1] = _extended(pieces[-1], after=r"\Bigr)")
    return rows(lhs, pieces, budget=BUDGET - 18)       # the row is tagged with its layer


def _successor_sentence(net: Network, l: int) -> str:
    """Where the outputs of layer l go, in words: one delta sum per place."""
    places = []
    for p in net.graph.paths(l):
        if p.via:
            places.append(f"layer~{p.into.dst} (through the shortcut into layer~{p.via[-1].dst})")
        else:
            places.append(f"layer~{p.into.dst}" + ("" if p.into.kind == "chain" else " (skip connection)"))
    listed = ", ".join(places[:-1]) + f" and {places[-1]}"
    return f"Layer~{l} has successors in {listed}, so its rule has {len(places)} sums."


def _matrix(T: _Tex, d: Derivation) -> list[dict]:
    net, out = T.net, []
    E = T(net.loss_symbol)
    for m in d.matrix:
        dvec = sp.MatrixSymbol(f"delta{m.layer}", net.layers[m.layer], 1)
        r = rows(T(dvec), T.terms(m.delta))
        for c, (_, grad) in zip(net.graph.inputs(m.layer), m.weight_grads):     # W{l}, then its skips
            r.append(rf"\frac{{\partial {E}}}{{\partial {T(fm.weight_matrix(net, c))}}} &= {T(grad)}")
        if m.grad_b is not None:
            bvec = sp.MatrixSymbol(f"b{m.layer}", net.layers[m.layer], 1)
            r.append(rf"\frac{{\partial {E}}}{{\partial {T(bvec)}}} &= {T(m.grad_b)}")
        out.append({"layer": m.layer, "rows": r})
    return out


def _layer_vector_forward(T: _Tex, l: int) -> list[str]:
    """v^(l) = W^(l) y^(l-1) (+ skips) +/- b^(l) and y^(l) = phi(v^(l)) (+ shortcuts), as vectors."""
    net = T.net
    v, y = _vector_v(net, l), _vector(net, l)
    total = sp.MatAdd(*[sp.MatMul(fm.weight_matrix(net, c), _vector(net, c.src)) for c in net.graph.inputs(l)])
    pieces = [T(total)]
    if net.bias:
        pieces.append(("+ " if net.bias_sign > 0 else "- ") + T(sp.MatrixSymbol(f"b{l}", net.layers[l], 1)))
    act = net.activation(l)
    if act.elementwise:
        z = sp.Symbol("z", real=True)
        phi = NotesLatexPrinter(None, {"symbol_names": {z: T(v)}}).doprint(act.function(z))
    else:
        phi = rf"\operatorname{{{act.name}}}\left({T(v)}\right)"
    phi += "".join(f" + {T(_vector(net, c.src))}" for c in net.graph.shortcuts(l))
    return [rf"{T(v)} &= {' '.join(pieces)}", rf"{T(y)} &= {phi}"]


def _algorithm(T: _Tex, d: Derivation) -> dict:
    """Backpropagation for this network as numbered steps: forward, output deltas, backward, updates,
    each step the derived matrix rule; the four equations named in the profile's words."""
    net, names = T.net, T.net.profile.equations
    L, E = net.depth, T(net.loss_symbol)
    forward = [row for l in net.graph.order for row in _layer_vector_forward(T, l)]
    by_layer = {m.layer: m for m in d.matrix}
    out = by_layer[L]
    dvec = {l: T(sp.MatrixSymbol(f"delta{l}", net.layers[l], 1)) for l in by_layer}
    output = rows(dvec[L], T.terms(out.delta))
    if net.e:           # the error vector the rule is written in, defined before it
        output.insert(0, rf"\boldsymbol{{e}} &= \boldsymbol{{{net.profile.target_tex}}} - {T(_vector(net, L))}")
    backward = []
    for l in sorted(by_layer, reverse=True):
        if l < L:
            backward += rows(dvec[l], T.terms(by_layer[l].delta))
    grads, updates = [], []
    momentum = bool(net.training.momentum)
    for l in sorted(by_layer, reverse=True):
        m = by_layer[l]
        blocks = [(fm.weight_matrix(net, c), g) for c, (_, g) in zip(net.graph.inputs(l), m.weight_grads)]
        if m.grad_b is not None:
            blocks.append((sp.MatrixSymbol(f"b{l}", net.layers[l], 1), m.grad_b))
        for P, g in blocks:
            g = g + _matrix_decay(net, P)
            grads.append(rf"\frac{{\partial {E}}}{{\partial {T(P)}}} &= {T(g)}")
            if momentum:     # the rule the derivation states: Delta P(n) = alpha Delta P(n-1) - eta dE/dP
                step = rf"\Delta {T(P)}{net.profile.at_step()}"
                updates.append(rf"{step} &= \alpha \Delta {T(P)}{net.profile.at_step(-1)} - \eta "
                               rf"\frac{{\partial {E}}}{{\partial {T(P)}}}")
                updates.append(rf"{T(P)} &\leftarrow {T(P)} + {step}")
            else:
                updates.append(rf"{T(P)} &\leftarrow {T.plus(P, -net.eta * g)}")
    idx = d.index
    dl, w, b = T(ix.B["delta"][ix.j]), ix.B["w"][ix.j, ix.k], ix.B["b"][ix.j]
    hidden = next((r for r in idx.hidden.values() if len(r.paths) == 1), None)
    slopes = _hidden_slopes(T, idx.hidden)
    # one rule for every hidden layer: their own slope where they share it, phi'(v_j) where they differ
    slope = _slope(_phi(net))(ix.B["v"][ix.j]) if len(slopes) > 1 else None
    four = [{"name": names[0], "tex": f"{dl} = {T(idx.output.delta)}", "where": "output layer"}]
    if hidden is not None:
        # phi'(v_j) times the weighted sum itself: dividing the rule by a Piecewise slope (elu's) does not cancel
        rule = hidden.hidden_delta if slope is None else slope * _weighted_sum(hidden)
        first, *more = _slope_then_sum(T, rule, BUDGET - 16 - width(dl))
        four.append({"name": names[1], "tex": f"{dl} = {first}", "more": more, "where": "hidden layer"})
    if net.bias:
        four.append({"name": names[2], "tex": rf"\frac{{\partial {E}}}{{\partial {T(b)}}} = {T(idx.bias_gradient)}",
                     "where": "every layer"})
    four.append({"name": names[3], "tex": rf"\frac{{\partial {E}}}{{\partial {T(w)}}} = {T(idx.weight_gradient)}",
                 "where": "every layer"})
    for e in four:      # "output delta; output layer" says output twice: the layer only where the name lacks it
        said = e["where"].split()[0] in e["name"].split()
        e["label"] = e["name"] if said else f"{e['name']}; {e['where']}"
    return {"forward": forward, "output": output, "backward": backward, "gradients": grads, "updates": updates,
            "four": four, "proof": _proof(T, hidden, slope) if hidden is not None else None,
            "slopes": slopes if slope is not None else [], "phi_prime": T(slope) if slope is not None else "",
            "shortcut": any(c.kind == "residual" for c in net.graph.connections),
            "flow": _signal_flow(T, d), "speed": _speed(net), "layers": L,
            # a profile's own name of the equation (BP1, output delta) beside a step; the generic words would repeat it
            "step_names": [None if n == generic else n for n, generic in zip(names, GENERIC_EQUATIONS)],
            "dv_db": bias_input(net).lstrip("+"),
            "softmax": not net.activation(L).elementwise,
            "graph": any(len(r.paths) > 1 for r in idx.hidden.values()) or any(
                c.kind == "skip" for c in net.graph.weighted)}


def _matrix_decay(net: Network, P: sp.MatrixSymbol) -> sp.Expr:
    """The regulariser's share of dE/dP: sympy.diff of lambda/2 p^2 for one entry p of P, read for all of P."""
    key = P.name
    entry = next((sp.Symbol(n, real=True) for n, pos in net.positions.items() if pos.key == key), None)
    if entry is None or not net.decayed(entry):
        return sp.ZeroMatrix(*P.shape)
    slope = sp.diff(net.regulariser_term(entry), entry)     # lambda p
    return (slope / entry) * P


def _proof(T: _Tex, r, slope: sp.Expr | None = None) -> list[str]:
    """The hidden recursion, step by step: the chain rule through the next layer's net inputs, the
    factors SymPy derived for any width, the rule. ``slope`` is phi'(v_j) where the hidden layers' slopes
    differ: the proof then holds for each of them, not for one activation's."""
    net, s = T.net, T.net.profile.delta_sign
    j, m = ix.j, ix.m
    E, v, y, vn = net.loss_symbol, ix.B["v"][j], ix.B["y"][j], ix.B["v_next"][m]
    sign = "-" if s < 0 else ""
    chain = rf"{sign}\sum_{{m=1}}^{{M}} {T.partial(E, vn)} \, {T.partial(vn, y)} \, {T.partial(y, v)}"
    factors = _weighted_sum(r)
    out = rows(T(ix.B["delta"][j]), [_delta_definition(T, T(v))])
    out += continued([chain])
    if slope is None:
        out += continued([rf"{T(factors)} \, {T.factor(r.dy_dv)}"])
        out += continued(T.terms(r.hidden_delta))
    else:
        out += continued([rf"{T(factors)} \, {T(slope)}"])
        out += continued(T.terms(slope * factors))
    return out


def _weighted_sum(r) -> sp.Sum:
    """The hidden recursion's sum over the next layer, sum_m delta_m dv_m/dy_j (delta_m w_mj)."""
    return sp.Sum(ix.B["delta_next"][ix.m] * r.dvnext_dy, (ix.m, 1, ix.M))


def _hidden_slopes(T: _Tex, hidden: dict) -> list[dict]:
    """Each hidden layer's slope dy_j/dv_j as its rules write it (in y_j, or in v_j where a shortcut adds to
    y_j or the activation has no form in its output), layers with the same slope together."""
    net, groups = T.net, {}
    for l, r in hidden.items():
        groups.setdefault((r.dy_dv_out, net.activation(l)), []).append(l)
    out = []
    for (slope, act), ls in groups.items():
        # a shortcut moves to v only a slope the activation writes in its output (not relu's H(v), not 1)
        moved = act.slope_in_output and slope.has(ix.B["v"][ix.j]) and any(net.graph.is_shortcut_target(l) for l in ls)
        out.append({"slope": T(slope), "activation": act.prose,
                    "layers": ("layer~" if len(ls) == 1 else "layers~") + and_list(ls), "shortcut": moved})
    return out


@cache
def _slope(letter: str) -> type[sp.Function]:
    """phi' as an undefined function that prints as letter'(v): the slope of whichever activation a layer has."""
    class Slope(sp.Function):
        nargs = 1

        def _latex(self, printer) -> str:
            return rf"{letter}'\left({printer._print(self.args[0])}\right)"
    return Slope


def _signal_flow(T: _Tex, d: Derivation) -> dict | None:
    """Haykin's signal-flow graph of one hidden unit's backward pass: the next layer's deltas, through
    the weights out of the unit, summed, times phi'(v_j), give delta_j (chains only)."""
    net = T.net
    if net.depth < 2 or not net.graph.is_chain:
        return None
    l, L = net.depth - 1, net.depth
    units = list(shown(net.layers[L]))[:2] + ([None, net.layers[L]] if net.layers[L] > 3 else
                                               list(shown(net.layers[L]))[2:])
    rule = d.deltas[net.delta[l][0]]
    slope = rule.chain[0][-1]            # dy_j/dv_j, the same on every path
    top = (len(units) - 1) / 2 * 1.2
    nodes = []
    for n, k in enumerate(units):
        y = round(top - n * 1.2, 3)
        if k is None:
            nodes.append({"name": f"d{n}", "y": y, "label": r"\vdots", "weight": "", "dots": True})
        else:
            # a weight's label on the outer side of its arrow: three arrows meeting leave no room between them
            nodes.append({"name": f"d{n}", "y": y, "label": T(net.delta[L][k - 1]),
                          "weight": T(net.W[L][k - 1][0]), "dots": False, "side": "below" if y < 0 else "above"})
    in_output = not slope.result.has(rule.net)      # sigma' as y (1 - y): in the output; relu's H(v): in v
    # a sum as a gain is bracketed: x (1 - y^2), never x 1 - y^2
    gain = T.factor(slope.result) if slope.result.is_Add else T(slope.result)
    return {"nodes": nodes, "slope": gain, "delta": T(net.delta[l][0]), "v": T(rule.net),
            "in_output": in_output, "layer": l}


def _grouped(n: int) -> str:
    """A whole number with its thousands grouped as TeX sets them, 12{,}345 (the comma not a list's)."""
    return f"{n:,}".replace(",", "{,}")


def _speed(net: Network) -> dict:
    """Multiplications of one gradient, counted on this network: a backward pass against finite
    differences and forward-mode differentiation (one multiplication per weight and per unit)."""
    weights = sum(net.layers[c.src] * net.layers[c.dst] for c in net.graph.weighted)
    hidden_units = sum(net.layers[1:-1])
    back_weights = sum(net.layers[c.src] * net.layers[c.dst] for c in net.graph.weighted if c.src > 0)
    forward = weights
    backward = back_weights + hidden_units + weights
    W = net.n_params
    return {"W": _grouped(W), "forward": _grouped(forward),
            "backward": _grouped(backward),
            "pass_back": _grouped(back_weights), "units": _grouped(hidden_units),
            "weights": _grouped(weights),
            "fd": _grouped((W + 1) * forward), "fwd_mode": _grouped(W * forward),
            "ratio": _grouped(round((W + 1) * forward / max(forward + backward, 1))),
            # the backward pass in forward passes, and the whole gradient (forward and backward) likewise
            "back_passes": f"{backward / max(forward, 1):.1f}",
            "passes": f"{(forward + backward) / max(forward, 1):.1f}",
            "counts": {"W": W, "forward": forward, "backward": backward, "fd": (W + 1) * forward,
                       "fwd_mode": W * forward}}


def _training(T: _Tex, compiled, ex: dict) -> dict:
    """A few hundred steps of batch gradient descent from the worked example's parameters, on the spec's
    samples (with none given, parity of 0/1 inputs: XOR for two inputs), drawn as a learning curve; wide
    networks are skipped."""
    from .example import example_params, training_data
    net = T.net
    if net.n_params > TRAIN_MAX_PARAMS:
        return {"skipped": True, "limit": _grouped(TRAIN_MAX_PARAMS), "why": "wide"}
    # no samples, or one (fitted in a few steps, a curve of three points): a made-up task with a curve to show
    made_up = net.spec.example is None or len(ex["inputs"]) < 2
    X, Y = training_data(net.layers[0], net.layers[-1]) if made_up else (np.array(ex["inputs"]),
                                                                        np.array(ex["targets"]))
    start = {k: np.array(v, dtype=float) for k, v in example_params(net, net.spec.example).items()}
    for name, pos in net.positions.items():       # the worked example's numbers (moved off kinks)
        start[pos.key][pos.index] = ex["params"][name]
    momentum = float(net.training.momentum)
    runs, eta = search(compiled, start, X, Y, float(ex["learning_rate"]), momentum)
    losses, final, status = runs[eta]
    if not losses:      # even the first loss was not finite: nothing to draw
        return {"skipped": True, "limit": "", "why": "infinite"}

    def end(e):     # a digit past the first that differs from the start, zeros kept: 1.000 beside 1.00563, not 1
        last = runs[e][0][-1]
        digits = next((d for d in range(3, SIG_DIGITS) if f"{last:.{d - 1}g}" != f"{losses[0]:.{d - 1}g}"),
                      SIG_DIGITS)
        text = f"{last:#.{digits}g}"
        return number(last, digits) if "e" in text else text.rstrip(".")

    rates = [{"eta": number(e), "last": end(e) if r[2] != "diverged" else "",
              "steps": len(r[0]) - 1} for e, r in runs.items()]
    facts = rate_facts(runs, eta)

    def where(chosen: list) -> dict:    # "from eta = X" when they are every rate from X up, else each named
        above = [e for e in runs if e >= chosen[0]]
        every = chosen == above
        return {"from": number(chosen[0]) if every else "", "at": [] if every else [number(e) for e in chosen]}

    kept = curve_steps(losses)
    c = fg.curve([float(i) for i in kept], [losses[i] for i in kept], log=True)
    path = " -- ".join(f"({x}, {y})" for x, y in c.points)
    by_name = {sym.name: sym for sym in T.names}
    table = [{"gap": True} if n is None else
             {"gap": False, "tex": T(by_name[n]), "start": number(ex["params"][n]),
              "end": number(float(final[net.positions[n].key][net.positions[n].index]))} for n in present_params(net)]
    outputs = compiled.output(final, X)
    up = rise(losses)
    n_in, n_out = net.layers[0], net.layers[-1]
    bits = made_up and n_in > MAX_UNITS      # a wide 0/1 pattern, elided, would hide which pattern it is
    task = {"xor": (n_in, n_out) == (2, 1), "one_output": n_out == 1, "inputs": n_in, "classes": n_out,
            "instead": net.spec.example is not None}

    def three(values) -> str:      # outputs to exactly three decimals, a wide layer's elided as its inputs are
        return r",\allowbreak\ ".join(r"\dots" if k is None else f"{round(values[k - 1], 3) + 0.0:.3f}"
                                      for k in shown(len(values)))

    return {"skipped": False, "task": task if made_up else None, "steps": len(losses) - 1,
            "diverged": status == "diverged",
            "reduction": "mean" if net.loss_scale != 1 else "sum",
            "mean_loss": bool(net.loss.mean), "plateau": number(facts["plateau"][-1]) if facts["plateau"] else "",
            "overshoot": where(facts["grew"]) if facts["grew"] else None,
            "infinite": where(facts["infinite"]) if facts["infinite"] else None,
            "all_infinite": facts["grew"] == facts["infinite"],
            "stalls": where(facts["stalls"]) if facts["stalls"] else None, "tail": TRAIN_STEPS // 4,
            "stall": tex_escape(f"{STALL:.0%}"), "far": _grouped(round(facts["far"])),
            "learned": facts["learned"], "left": tex_escape(f"{losses[-1] / losses[0]:.0%}"),
            "slow": facts["slow"], "fastest": facts["fastest"],
            "rise": {"low": number(losses[up[0]]), "low_step": up[0], "high": number(losses[up[1]]),
                     "high_step": up[1], "times": up[2]} if up else None,
            "converged": status == "converged", "max_steps": TRAIN_STEPS,
            "momentum": number(momentum) if momentum else "",
            "eta": number(eta), "samples": len(X), "rates": rates,
            "log": c.log, "first": number(losses[0]), "last": number(losses[-1]),
            "path": path, "xticks": [{"at": at, "label": f"{v:g}"} for at, v in c.xticks],
            "yticks": [{"at": at, "label": (rf"10^{{{int(v)}}}" if c.log else number(v, 3))} for at, v in c.yticks],
            "width": c.width, "height": c.height, "params": table, "losses": losses,
            "bits": bits, "outputs": [{"x": r"\mathtt{" + "".join(f"{v:g}" for v in x) + "}" if bits else
                                      _tuple(_vector_numbers(x), len(x)), "t": _tuple(_vector_numbers(t), len(t)),
                                      "y": _tuple(three(o), len(o))}
                                     for x, t, o in zip(X.tolist(), Y.tolist(), np.atleast_2d(outputs).tolist())][:8]}


def _gradient_step(net: Network, update: sp.Expr) -> sp.Expr:
    """eta times the rest: eta delta x, the learning rate in front as the rules write it."""
    return net.eta * sp.cancel(update / net.eta)


def _rule_terms(net: Network, update: sp.Expr) -> list:
    """A learning rule's update term by term: momentum's first (as Delta p(n) = alpha Delta p(n-1) - eta dE/dp
    is stated, Haykin's generalized delta rule), then the gradient's, then the decay's."""
    return sorted(sp.Add.make_args(sp.expand(update)),
                  key=lambda t: (net.alpha not in t.free_symbols, net.lam in t.free_symbols))


def _step_row(T: _Tex, r) -> str:
    """p <- p + Delta p, with a learning rule its terms in the rule's order (_rule_terms)."""
    net = T.net
    extra = set(net.training_symbols())
    if not (r.update.free_symbols & extra):
        return rf"{T(r.symbol)} &\leftarrow {T.plus(r.symbol, _gradient_step(net, r.update))}"
    return rf"{T(r.symbol)} &\leftarrow {T(r.symbol)} " + " ".join(T.signed(_rule_terms(net, r.update), first=False))


def _summary(T: _Tex, d: Derivation) -> dict:
    """Every parameter's update (two per row when short), or per layer the general rule and a few."""
    net = T.net
    full = net.n_params <= MAX_SUMMARY
    layers = []
    for l in range(net.depth, 0, -1):
        names = [n for n, pos in net.positions.items() if pos.layer == l]    # no rule instantiated yet
        if not full:    # the first few, and the first weight of each skip connection into the layer
            names = names[:3] + [n for n in names[3:] if net.positions[n].src not in (None, l - 1)
                                 and net.positions[n].index == (0, 0)]
        rules = [d.params[n] for n in names]
        step = [_step_row(T, r) for r in rules]
        narrow = all(width(s) < BUDGET / 2 - 4 for s in step)
        if narrow and len(step) > 1:
            paired = [" & ".join(step[i:i + 2]) for i in range(0, len(step), 2)]
        else:
            paired = step
        deltas = [rf"{T(s)} &= {T(d.deltas[s].value)}" for s in net.delta[l][: (None if full else 2)]]
        d_narrow = all(width(s) < BUDGET / 2 - 4 for s in deltas)
        if d_narrow and len(deltas) > 1:
            deltas = [" & ".join(deltas[i:i + 2]) for i in range(0, len(deltas), 2)]
        else:
            deltas = [r for s in net.delta[l][: (None if full else 2)] for r in rows(T(s), T.terms(d.deltas[s].value))]
        layers.append({"layer": l, "kind": "output" if l == net.depth else "hidden", "deltas": deltas,
                       "updates": paired, "complete": full,
                       "count": sum(1 for pos in net.positions.values() if pos.layer == l)})
    return {"layers": layers, "complete": full}


def _at(value, n: int) -> float:
    """Sample n's value of an example quantity (one float, or a list with one per sample)."""
    return float(value[n] if isinstance(value, list) else value)


def _example(T: _Tex, d: Derivation, compiled=None) -> dict:
    from .example import worked_example
    net = T.net
    ex = worked_example(compiled if compiled is not None else d)
    by_name = {s.name: s for s in T.names}
    tables = []
    for n in range(len(ex["inputs"])):      # one table per sample: a cell holds one number
        units = []
        for l in range(1, net.depth + 1):
            for j in shown(net.layers[l]):
                if j is None:
                    units.append({"gap": True})
                    continue
                v, y, dl = net.v[l][j - 1], net.y[l][j - 1], net.delta[l][j - 1]
                units.append({"gap": False, "v": T(v), "y": T(y), "delta": T(dl),
                              "v_val": number(_at(ex["forward"][v.name], n)),
                              "y_val": number(_at(ex["forward"][y.name], n)),
                              "delta_val": number(_at(ex["deltas"][dl.name], n))})
        tables.append({"n": n + 1, "units": units,
                       "errors": [{"tex": T(by_name[e]), "value": number(_at(v, n))} for e, v in ex["errors"].items()]})
    # the parameters of the units shown: every parameter of a small network, first and last of a wide one
    params = [{"gap": True} if n is None else
              {"gap": False, "tex": T(by_name[n]), "value": number(ex["params"][n]),
               "grad": number(ex["gradients"][n]), "new": number(ex["updated"][n])} for n in present_params(net)]
    samples = [{"n": n + 1, "x": _sample_numbers(T, net.x, x, "x"),
                "t": _sample_numbers(T, net.t, t, net.profile.target_tex),
                "x_word": "inputs" if len(x) > 1 else "input", "t_word": "targets" if len(t) > 1 else "target"}
               for n, (x, t) in enumerate(zip(ex["inputs"], ex["targets"]))]
    return {"tables": tables, "params": params, "loss": number(ex["loss"]), "eta": number(ex["learning_rate"]),
            "norms": _gradient_norms(T, ex) if any(p["gap"] for p in params) else None,
            "samples": samples, "batch": len(samples) > 1, "given": net.spec.example is not None,
            "worked": _worked_numbers(T, d, ex), "raw": ex}


def sample_values(net: Network, ex: dict, n: int = 0, symbols: Iterable | None = None) -> dict[sp.Symbol, float]:
    """The symbols of the network (or those given) at sample n of a worked example: inputs, targets,
    parameters, eta, N, net inputs, outputs, errors and local gradients."""
    named = {**ex["forward"], **ex["deltas"], **ex["errors"], **ex["params"]}
    named.update({x.name: ex["inputs"][n][k] for k, x in enumerate(net.x)})
    named.update({t.name: ex["targets"][n][j] for j, t in enumerate(net.t)})
    named.update({net.eta.name: float(ex["learning_rate"]), net.batch.name: float(len(ex["inputs"]))})
    training = getattr(net.spec, "training", None)      # the learning rule's constants, where it has them
    if training is not None:
        named.update({net.lam.name: float(training.weight_decay), net.alpha.name: float(training.momentum)})
    symbols = latex_names(net) if symbols is None else symbols
    return {s: _at(named[s.name], n) for s in symbols if s.name in named}


def _numbers_printer(T: _Tex, values: dict) -> _Tex:
    """Printers of ``T``'s network that print each symbol as its number (negative ones bracketed) and dot
    products, so that a rule prints with the numbers put in, and wraps like the rule."""
    names = {}
    for s, value in values.items():
        text = number(value)
        names[s] = rf"\left({text}\right)" if value < 0 else text
    out = _Tex.__new__(_Tex)
    out.net, out.names, out.times = T.net, names, r" \cdot "
    out.p = NotesLatexPrinter(T.net, {"symbol_names": names, "mul_symbol": "dot"})
    out.raw = NotesLatexPrinter(T.net, {"order": "none", "symbol_names": names, "mul_symbol": "dot"})
    return out


def _worked_numbers(T: _Tex, d: Derivation, ex: dict) -> dict:
    """Sample 1's numbers put into the deltas one update needs (the output's first) and that update, line by
    line: the rule, the rule with numbers, the value the compiled code computed."""
    net = T.net
    out = []
    errors = {e: net.error(j) for j, e in enumerate(net.e, start=1)}

    def rule(lhs, expr, value):
        # an error signal is written out (e_1 = d_1 - y_4) so that the numbers put in are the sample's own
        plain = expr.xreplace(errors)
        numbers = N.terms(plain.xreplace(first).xreplace(own))
        lines = steps(lhs, [T.terms(expr), T.terms(plain), numbers,
                             factors(plain.xreplace(first)) or [number(value)], [number(value)]])
        out.append({"lhs": lhs, "rule": T(plain), "numbers": " ".join(numbers), "value": number(value),
                    "expr": plain, "exact": value, "rows": lines})

    def factors(expr):
        # each factor of a product worked out before they are multiplied, in the order the rule prints them:
        # (1 - 0.09^2)(...) = 0.99 . 0.05, H(0.29) = 1; plain letters have nothing to work out (no stage)
        if not isinstance(expr, sp.Mul) or sp.fraction(expr, exact=True)[1] != 1:
            return []
        negative, parts = T.p.ordered_factors(expr)
        if all(f.is_Symbol or f.is_Number or isinstance(f, sp.Indexed) for f in parts):
            return []
        shown = [number(v) if v >= 0 else rf"\left({number(v)}\right)"
                 for v in (float(f.xreplace(values)) for f in parts)]
        return [("-" if negative else "") + r" \cdot ".join(shown)]

    name = _pick(net)[1] or _pick(net)[0]
    r = d.params[name]
    # the update reads its unit's delta, which reads the layers above: unit 1's delta of each layer is worked,
    # from the output down to the weight's (in a graph the worked weight can sit several layers down)
    worked = [net.delta[l][0] for l in range(net.depth, r.layer, -1)] + [net.delta[r.layer][r.unit - 1]]
    step = _gradient_step(net, r.update)
    exprs = [d.deltas[s].value for s in worked] + [step]
    # momentum's previous step is 0 at the first step: those terms drop out of the numbers
    first = {s: sp.Integer(0) for e in exprs for s in e.free_symbols if s.name.endswith("_prev")}
    momentum = bool(first)
    if len(ex["inputs"]) == 1:
        first[net.batch] = sp.Integer(1)        # the mean over one sample: no "/1" among the numbers
    used = set().union(*(e.xreplace(errors).xreplace(first).free_symbols for e in exprs)) | {r.symbol, *worked}
    values = sample_values(net, ex, 0, used)        # only the numbers put in: W can be 200,000
    # symbols that print themselves (lambda) ignore a printer's names: plain stand-ins take their numbers
    own = {s: sp.Symbol(f"{s.name}_number", real=True) for s in values if type(s) not in (sp.Symbol, sp.Dummy)
           and not isinstance(s, sp.Indexed)}
    N = _numbers_printer(T, {**values, **{own[s]: values[s] for s in own}})
    for delta in worked:
        rule(T(delta), d.deltas[delta].value, values[delta])
    change = (float(step.xreplace(first).xreplace(values)) if len(ex["inputs"]) > 1
              else -values[net.eta] * ex["gradients"][name])
    rule(rf"\Delta {T(r.symbol)}", step, change)
    now = net.profile.at_step()
    new = None
    if len(ex["inputs"]) == 1:
        new = {"lhs": rf"{T(r.symbol)}{net.profile.at_step(1)}",
               "rule": rf"{T(r.symbol)}{now} + \Delta {T(r.symbol)}{now}",
               "numbers": rf"{number(values[r.symbol])} {'-' if change < 0 else '+'} {number(abs(change))}",
               "value": number(ex["updated"][name])}
    deltas = {s for layer in net.delta.values() for s in layer}
    read = {s for e in exprs for s in e.free_symbols if s in deltas} - set(worked)     # not worked here
    # where the table of every unit lists them all, the text points there (a wide layer's is cut short)
    listed = all(unit in shown(net.layers[l]) for l, unit in (_layer_unit(net, s, net.delta) for s in read))
    return {"rows": out, "new": new, "symbol": T(r.symbol), "batch": len(ex["inputs"]) > 1, "first": momentum,
            "read": bool(read), "listed": listed}


def _sample_numbers(T: _Tex, symbols: list, values: list, letter: str) -> str:
    """A sample's inputs or targets in the example's lead-in: (0.1, 0.2); of a wide layer whose numbers repeat,
    the first period and the rule, x_1, ..., x_10 = 0.1, 0.2, ..., 1 and x_(k+10) = x_k; else each shown with
    its letter, d_1 = 0.1, d_2 = 0.2, ..., d_10 = 1, so that the reader sees how many there are and which is
    which (``letter``: the LaTeX letter of the symbols)."""
    n = len(values)
    if None not in shown(n):
        return _tuple(_vector_numbers(values), n)       # no \\left: a line may break inside
    period = next((p for p in range(1, n // 2 + 1) if all(values[k] == values[k % p] for k in range(n))), None)
    if period == 1:
        return rf"{T(symbols[0])} = \dots = {T(symbols[-1])} = {number(values[0])}"
    if period is not None:
        return (rf"{T(symbols[0])}, \dots, {T(symbols[period - 1])} = {_vector_numbers(values[:period])}"
                rf" \text{{ and }} {letter}_{{k+{period}}} = {letter}_{{k}}")
    return r",\allowbreak\ ".join(r"\dots" if k is None else f"{T(symbols[k - 1])} = {number(values[k - 1])}"
                                   for k in shown(n))


def _tuple(text: str, n: int) -> str:
    """(a, b) for several numbers; one number stands alone, not as (0.01)."""
    return f"({text})" if n > 1 else text


def _vector_numbers(values: list) -> str:
    """A sample's inputs or targets: all of them, or of a wide layer the first two, \\dots, the last."""
    return r",\allowbreak\ ".join(r"\dots" if k is None else number(values[k - 1]) for k in shown(len(values)))


def _gradient_norms(T: _Tex, ex: dict) -> list[dict]:
    """Per weight matrix and bias vector: its size, the norm of its gradient and its largest entry."""
    net, out = T.net, []
    for key in net.param_keys():
        names = [n for n, p in net.positions.items() if p.key == key]
        g = np.array([ex["gradients"][n] for n in names])
        symbol = sp.MatrixSymbol(key, 1, 1) if key[0] == "W" else sp.MatrixSymbol(key, net.layers[int(key[1:])], 1)
        top = names[int(np.argmax(np.abs(g)))]
        out.append({"tex": T(symbol), "size": len(names), "norm": number(float(np.linalg.norm(g))),
                    "largest": T(sp.Symbol(top, real=True)), "largest_val": number(float(g[np.argmax(np.abs(g))]))})
    return out


def _title(net: Network) -> str:
    if net.spec.title:
        return tex_escape(net.spec.title)
    return tex_escape(f"Backpropagation for a {'-'.join(map(str, net.layers))} network")


def _pick(net: Network) -> tuple[str, str | None]:
    """The output-layer weight and the hidden-layer weight worked step by step.

    In a graph the hidden weight feeds a unit with the most successors (the highest such layer):
    the one whose delta collects a term from more than one layer.
    """
    out = net.W[net.depth][0][0].name
    if net.depth == 1:
        return out, None
    hidden = max(range(1, net.depth), key=lambda l: (len(net.graph.paths(l)) > 1, len(net.graph.paths(l)), l))
    return out, net.W[hidden][0][0].name


def _pick_skip(net: Network, hidden: str | None) -> str | None:
    """The skip weight worked step by step: out of the worked hidden unit where one leaves it."""
    skips = [c for c in net.graph.weighted if c.kind == "skip"]
    if not skips:
        return None
    layer = net.positions[hidden].layer if hidden else None
    c = next((c for c in skips if c.src == layer), skips[0])
    return net.weights[c][0][0].name


def notes_context(derivation: Derivation, compiled=None) -> dict:
    """Everything the templates print, built here: formulas arrive as LaTeX strings.

    ``compiled`` is the derivation's compiled network when the caller has one (compiling a wide one takes seconds).
    """
    d, net = derivation, derivation.net
    if compiled is None:
        from .compile import CompiledNetwork
        compiled = CompiledNetwork(d)
    T = _Tex(net)
    out_name, hidden_name = _pick(net)
    skip_name = _pick_skip(net, hidden_name)
    chosen = {d.params[n].symbol for n in (out_name, hidden_name, skip_name) if n}
    p = net.profile
    simplification = next((r for r in d.deltas.values() if r.simplification), None)
    example = _example(T, d, compiled)
    output_weight = _worked_weight(T, d, out_name)
    matched = None if simplification is None else _simplification_rows(T, simplification)
    return {
        "title": _title(net),
        "network": {"layers": "--".join(map(str, net.layers)), "depth": net.depth, "widths": list(net.layers),
                    "activations": [tex_escape(net.activation(l).prose) for l in range(1, net.depth + 1)],
                    "loss": _loss_words(T), "loss_name": tex_escape(net.spec.loss),
                    "bias": net.bias, "bias_sign": net.spec.bias_sign, "n_params": net.n_params,
                    "input_width": net.layers[0], "output_width": net.layers[-1]},
        "letters": {"v": p.net_tex, "y": p.out_tex, "t": p.target_tex, "E": p.loss_tex, "phi": _phi(net),
                    "n": p.sample, "bias_input": bias_input(net),
                    # a sample counted n = 1..N, or a sample x of the batch (seed 004): x is not a number
                    "over_samples": rf"\sum_{{{p.sample}=1}}^{{N}}" if p.sample == "n" else rf"\sum_{{{p.sample}}}",
                    "delta_sign": "-" if p.delta_sign < 0 else "", "error": net.e != []},
        "notation": _notation(T),
        "figure": _figure(T, chosen),
        "forward": _forward(T),
        "activations": _activations(T),
        "loss": _loss(T),
        "learning": {"momentum": number(float(net.training.momentum)) if net.training.momentum else "",
                     "decay": number(float(net.training.weight_decay)) if net.training.weight_decay else "",
                     "decay_biases": net.training.decay_biases, "before": net.profile.at_step(-1)},
        "output_weight": output_weight,
        "hidden_weight": _worked_weight(T, d, hidden_name) if hidden_name else None,
        "skip_weight": _skip_weight(T, d, skip_name),
        "biases": _biases(T, d, net.positions[hidden_name].layer if hidden_name else None),
        "deltas": _deltas(T, d),
        "index": _index(T, d),
        "matrix": _matrix(T, d),
        "summary": _summary(T, d),
        "example": example,
        "algorithm": _algorithm(T, d),
        "training": _training(T, compiled, example["raw"]),
        "simplification": None if simplification is None else {
            "unit": T(simplification.symbol), "why": tex_escape(simplification.simplification),
            "raw": matched, "shown": matched == output_weight["delta"]},    # softmax + ce: shown just above
        "check": None if d.check is None else _check_words(d.check),     # LaTeX: numbers and words of ours only
    }


# -- rendering ---------------------------------------------------------------------------------

def render_tex(derivation: Derivation, templates: str | Path | None = None) -> str:
    """The notes as LaTeX source."""
    try:
        return make_env(templates).get_template("notes.tex.j2").render(**notes_context(derivation))
    except jinja2.TemplateError as exc:     # a user's --templates: a bad or unsafe template is bad input
        where = f"{exc.filename}:{exc.lineno}" if getattr(exc, "lineno", None) else (templates or "templates")
        raise SymbpError(f"--templates: {where}: {type(exc).__name__}: {exc}") from None


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if line.startswith("!"):
            return line
    return ""


def compile_pdf(tex: Path, out_dir: Path, timeout: float = 300) -> Path:
    """pdflatex (via latexmk when present) without shell escape; notes.pdf and notes.log land in ``out_dir``."""
    pdf, log = build_pdf(Path(tex).read_text(encoding="utf-8"), Path(tex), Path(out_dir), timeout)
    write_many({Path(out_dir) / "notes.log": log, Path(out_dir) / "notes.pdf": pdf})
    return Path(out_dir) / "notes.pdf"


def build_pdf(text: str, tex: Path, out_dir: Path, timeout: float = 300) -> tuple[bytes, bytes]:
    """The PDF and the log of ``text``, built in a scratch directory; on failure the .tex and log are written."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        write_atomic(tex, text.encode("utf-8"))      # the .tex is still worth having
        raise TexMissing()
    # openin_any/openout_any=p ("paranoid"): TeX reads and writes nothing outside the scratch
    # directory and TeX's own tree, so a template cannot \\input /etc/passwd.
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1", "openin_any": "p", "openout_any": "p"}
    flags = ["-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error"]
    with tempfile.TemporaryDirectory(prefix="symbp-notes-") as work:
        (Path(work) / "notes.tex").write_text(text, encoding="utf-8")
        latexmk = shutil.which("latexmk")
        runs = ([[latexmk, "-norc", "-pdf", "-quiet", *flags, "notes.tex"]] if latexmk
                else [[pdflatex, *flags, "notes.tex"]] * 2)
        for cmd in runs:
            try:
                done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, timeout=timeout,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as exc:
                write_atomic(tex, text.encode("utf-8"))
                raise NotesError(f"LaTeX took longer than {timeout:.0f} s", "", tex) from exc
            log_path = Path(work) / "notes.log"
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            if done.returncode != 0:
                # the log's first "!" line, else what latexmk itself said (it may fail before any log)
                said = (done.stderr or done.stdout or b"").decode(errors="replace").strip().splitlines()
                line = _first_error(log) or (said[-1] if said else "")
                write_many({tex: text.encode("utf-8"), **({out_dir / "notes.log": log.encode()} if log else {})})
                raise NotesError(f"LaTeX failed on {tex}: {line or 'no message'}", line, tex)
        return (Path(work) / "notes.pdf").read_bytes(), log.encode()


def render_notes(net, out_dir: str | Path = "output", pdf: bool = True,
                 templates: str | Path | None = None, progress=None) -> Path:
    """Write ``notes.tex`` (and ``notes.pdf``) to ``out_dir``, together; return the last written.

    Parameters
    ----------
    net : Derivation, Network, Spec, str or Path
        What to write notes for: a derivation (reused), or anything ``Network.load`` accepts.
    out_dir : str or Path
        The directory for notes.tex, notes.pdf and notes.log (created if missing).
    pdf : bool
        Compile the PDF (needs pdflatex); False writes only the .tex.
    templates : str or Path, optional
        A directory of templates to use before the built-in ones.
    progress : None, True or callable
        Show the steps (the .tex, the PDF); a callable is called as ``progress(done, total)``.

    Returns
    -------
    Path
        notes.pdf, or notes.tex when ``pdf=False``. The .tex, the .pdf and the log are
        renamed into place together after the PDF is built, so a failed build never leaves
        a new .tex beside an old PDF; on a LaTeX error the .tex and its log are kept.

    Examples
    --------
    >>> render_notes("2-2-1", "out", pdf=False)
    PosixPath('out/notes.tex')
    """
    show = reporter(progress, "notes: .tex, PDF")
    derivation = net if isinstance(net, Derivation) else derive(Network.load(net), progress=progress)
    out = Path(out_dir)
    text = render_tex(derivation, templates)
    tex = out / "notes.tex"
    if not pdf:
        write_atomic(tex, text.encode("utf-8"))
        return tex
    if show:
        show(1, 2)          # the PDF build that follows takes the most time: say it is running
    data, log = build_pdf(text, tex, out)
    write_many({tex: text.encode("utf-8"), out / "notes.pdf": data, out / "notes.log": log})
    if show:
        show(2, 2)
    return out / "notes.pdf"


