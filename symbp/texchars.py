"""Which characters of user prose LaTeX can typeset: T1/TS1 text, plus a table of Greek and math symbols."""
from __future__ import annotations

import unicodedata

MAX_TITLE = 300     # characters

# Code points LaTeX's utf8 input defines for the T1 and TS1 encodings (t1enc.dfu, ts1enc.dfu of TeX Live 2022+).
_TEXT_RANGES = (
    "00A0-00A1 00A3 00AB 00AD 00BB 00BF-00D6 00D8-00F6 00F8-0125 0128-0137 0139-013E 0141-0148 014A-0165 "
    "0168-017E 01C4-01D4 01E2-01E3 01E6-01EB 01F0 01F4-01F5 0218-021B 0232-0233 0237 02D9 02DB 1E02-1E03 1E0D "
    "1E1E-1E21 1E25 1E30-1E31 1E37 1E43 1E45 1E47 1E5B 1E63 1E6D 1E8E-1E91 1E9E 1EF2-1EF3 2010-2015 2018-201A "
    "201C-201E 2030-2031 2039-203A 2423 FB00-FB06 "
    "00A2-00AA 00AC 00AE-00B7 00B9-00BA 00BC-00BE 00D7 00F7 0192 02C7 02D8 02DD 2016 2020-2022 203B 203D 2044 "
    "204E 2052 20A1 20A4 20A6 20A9 20AB-20AC 20B1 2103 2116-2117 211E 2120 2122 2126-2127 212E 2190-2193 25E6 "
    "25EF 266A 27E8-27E9"
)


def _ranges(text: str) -> frozenset[int]:
    points = set()
    for part in text.split():
        lo, _, hi = part.partition("-")
        points.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return frozenset(points)


TEXT_CHARS = _ranges(_TEXT_RANGES)

_GREEK = ("alpha beta gamma delta varepsilon zeta eta theta iota kappa lambda mu nu xi o pi rho varsigma sigma "
          "tau upsilon varphi chi psi omega").split()
_GREEK_UPPER = "A B Gamma Delta E Z H Theta I K Lambda M N Xi O Pi P - Sigma T Upsilon Phi X Psi Omega".split()

# Greek letters and math symbols -> the LaTeX that typesets them (in text or math: \ensuremath).
MATH = {
    **{chr(0x3B1 + i): "\\" + name if len(name) > 1 else name for i, name in enumerate(_GREEK)},
    **{chr(0x391 + i): ("\\" + name if len(name) > 1 else rf"\mathrm{{{name}}}")
       for i, name in enumerate(_GREEK_UPPER) if name != "-"},
    "ϑ": r"\vartheta", "ϕ": r"\phi", "ϵ": r"\epsilon", "ϱ": r"\varrho", "ϖ": r"\varpi",
    "∂": r"\partial", "∇": r"\nabla", "∑": r"\sum", "∏": r"\prod", "∫": r"\int", "√": r"\surd",
    "∞": r"\infty", "≤": r"\leq", "≥": r"\geq", "≠": r"\neq", "≈": r"\approx", "≡": r"\equiv",
    "∼": r"\sim", "∝": r"\propto", "∓": r"\mp", "−": "-", "⋅": r"\cdot", "∘": r"\circ",
    "⊙": r"\odot", "⊗": r"\otimes", "⊕": r"\oplus", "↔": r"\leftrightarrow", "⇒": r"\Rightarrow",
    "⇐": r"\Leftarrow", "⇔": r"\Leftrightarrow", "↦": r"\mapsto", "∈": r"\in", "∉": r"\notin",
    "⊂": r"\subset", "⊆": r"\subseteq", "∪": r"\cup", "∩": r"\cap", "∀": r"\forall", "∃": r"\exists",
    "∅": r"\emptyset", "′": r"{}^{\prime}", "…": r"\ldots", "ℓ": r"\ell",
    **{c: f"^{{{d}}}" for d, c in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹") if c not in "¹²³"},
    **{c: f"_{{{d}}}" for d, c in enumerate("₀₁₂₃₄₅₆₇₈₉")},
}


def tex_char(c: str) -> str | None:
    """The LaTeX for one non-ASCII character of prose, or None when LaTeX cannot typeset it."""
    if ord(c) in TEXT_CHARS:
        return c
    if c in MATH:
        return rf"\ensuremath{{{MATH[c]}}}"
    return None


def untypesettable(text: str) -> str | None:
    """A description of the first character of ``text`` that cannot go into the notes, or None."""
    for c in text:
        if unicodedata.category(c) == "Cc":
            return f"control character U+{ord(c):04X}"
        if not c.isascii() and tex_char(c) is None:
            return f"U+{ord(c):04X} {c!r} ({unicodedata.name(c, 'unnamed')}), which LaTeX cannot typeset"
    return None
