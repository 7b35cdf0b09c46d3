"""Moodle XML: every student's number questions as <question type="numerical">, in a category per student.

The elements are those of Moodle's XML import format (docs.moodle.org, "Moodle XML format"):
quiz > question(type) > name/text, questiontext(format)/text, generalfeedback, defaultgrade, penalty,
hidden, answer(fraction, format)/text, tolerance, feedback. Moodle's tolerance is an absolute error
(its default "nominal" type), so the relative tolerance of the sheet becomes tolerance * |key|.
"""
from __future__ import annotations

import html
import xml.etree.ElementTree as ET

from .exercises import ExerciseSpec, Variant
from .network import Network
from .sheets import ASKED_WORDS, asked_tex

PENALTY = "0.3333333"


def _text(parent: ET.Element, tag: str, text: str, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    ET.SubElement(element, "text").text = text
    return element


def _category(quiz: ET.Element, path: str) -> None:
    q = ET.SubElement(quiz, "question", {"type": "category"})
    _text(q, "category", path)


def _numerical(quiz: ET.Element, v: Variant, q, spec: ExerciseSpec) -> None:
    net = Network(v.spec)
    e = ET.SubElement(quiz, "question", {"type": "numerical"})
    _text(e, "name", f"{v.student.id} {q.id}: {q.quantity} of {q.param}")
    # MathJax (Moodle's TeX filter) reads \( ... \); the LaTeX is escaped as HTML text
    text = (f"<p>{html.escape(spec.title)}, sheet of {html.escape(v.student.id)}, question {q.id}: "
            f"{ASKED_WORDS[q.quantity]} \\({html.escape(asked_tex(net, q))}\\) "
            f"(identifier {q.param}), to at least {spec.digits} significant digits.</p>")
    _text(e, "questiontext", text, format="html")
    _text(e, "generalfeedback", "", format="html")
    ET.SubElement(e, "defaultgrade").text = f"{q.points:g}"
    ET.SubElement(e, "penalty").text = PENALTY
    ET.SubElement(e, "hidden").text = "0"
    answer = _text(e, "answer", repr(q.value), fraction="100", format="moodle_auto_format")
    ET.SubElement(answer, "tolerance").text = repr(spec.tolerance * abs(q.value))
    _text(answer, "feedback", "", format="html")


def moodle_xml(variants: list[Variant], spec: ExerciseSpec) -> bytes:
    """The number questions of every sheet, one category per student ($course$/symbp/TITLE/ID)."""
    quiz = ET.Element("quiz")
    for v in variants:
        # '/' separates Moodle's categories; '//' is a slash inside a name
        _category(quiz, f"$course$/symbp/{spec.title.replace('/', '//')}/{v.student.id}")
        for q in v.questions:
            if q.answer == "number":
                _numerical(quiz, v, q, spec)
    ET.indent(quiz)
    return ET.tostring(quiz, encoding="utf-8", xml_declaration=True) + b"\n"
