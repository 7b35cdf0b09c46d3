"""Exercise documents: variants -> sheet and key contexts (all maths printed here) -> LaTeX, PDF, answers templates."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jinja2
import sympy as sp

from .errors import SymbpError
from .exercises import ExerciseSpec, Posed, Student, Variant, draw_class, load_exercise_spec, load_roster
from .files import check_output_dir, write_many
from .network import Network
from .notes import TexMissing, bias_input, build_pdf, make_env, network_figure, number, tex_escape
from .printing import to_latex, to_text

MANIFEST = "exercises.json"
FORMAT = "symbp-exercises 1"
SUBMISSIONS = "submissions"
PER_ROW = 4          # numbers per line on a sheet


# -- what is asked, in the network's notation -------------------------------------------------

def _symbol(net: Network, name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def asked_tex(net: Network, q: Posed) -> str:
    """The quantity asked, as LaTeX: dE/dw, Delta w, w after one step, delta."""
    p, loss = to_latex(_symbol(net, q.param), net), to_latex(net.loss_symbol, net)
    return {"gradient": rf"\frac{{\partial {loss}}}{{\partial {p}}}", "update": rf"\Delta {p}",
            "new": rf"{p} + \Delta {p}", "delta": p}[q.quantity]


ASKED_WORDS = {"gradient": "the gradient", "update": "the update (one gradient-descent step)",
               "new": "the value after one gradient-descent step", "delta": "the local gradient"}


def _delta_definition(net: Network) -> str:
    sign = "-" if net.profile.delta_sign < 0 else ""
    first = net.graph.order[0]
    v, delta = to_latex(net.v[first][0], net), to_latex(net.delta[first][0], net)
    return rf"{delta} = {sign}\partial {to_latex(net.loss_symbol, net)} / \partial {v}"


def _fixed(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}"


def _rows(pairs: list[str]) -> list[str]:
    return [r",\quad ".join(pairs[i:i + PER_ROW]) for i in range(0, len(pairs), PER_ROW)]


def _layers_text(net: Network) -> list[str]:
    out = [f"{net.layers[0]} inputs"]
    for l in net.graph.order:
        act = net.activation(l)
        kind = "output" if l == net.depth else "hidden"
        units = "unit" if net.layers[l] == 1 else "units"
        out.append(f"{kind} layer {l}: {net.layers[l]} {units}, {act.name}")
    return out


def _forward(net: Network) -> list[str]:
    rows = []
    for l in net.graph.order:
        for j in net.units(l):
            v, y = net.v[l][j - 1], net.y[l][j - 1]
            rows.append(rf"{to_latex(v, net)} &= {to_latex(net.net_input(l, j), net)}, & "
                        rf"{to_latex(y, net)} &= {to_latex(net.output(l, j), net)}")
    return rows


def _numbers(net: Network, variant: Variant, decimals: int) -> list[dict]:
    vals = variant.values
    ex = variant.spec.example
    groups = [("inputs", [rf"{to_latex(x, net)} = {_fixed(ex.inputs[0][k], decimals)}" for k, x in enumerate(net.x)]),
              ("targets", [rf"{to_latex(t, net)} = {_fixed(ex.targets[0][k], decimals)}" for k, t in enumerate(net.t)])]
    for l in net.graph.order:
        for what, weight in (("weights", True), ("biases", False)):
            names = [n for n, p in net.positions.items() if p.layer == l and p.is_weight == weight]
            if names:
                groups.append((f"layer {l}, {what}", [rf"{to_latex(_symbol(net, n), net)} = "
                                                      rf"{_fixed(vals[n], decimals)}" for n in names]))
    groups.append(("learning rate", [rf"\eta = {_fixed(ex.learning_rate, decimals)}"]))
    return [{"what": what, "entries": items} for what, items in groups]


def _identifiers(net: Network) -> list[dict]:
    """For formulas typed as text: the first and last identifier of each kind, beside its LaTeX."""
    kinds = [("inputs", net.x), ("targets", net.t), ("errors", net.e),
             ("net inputs", [s for l in net.graph.order for s in net.v[l]]),
             ("outputs", [s for l in net.graph.order for s in net.y[l]]),
             ("local gradients", [s for l in net.graph.order for s in net.delta[l]]),
             ("weights and biases", net.params()), ("learning rate", [net.eta])]
    out = []
    for what, symbols in kinds:
        if not symbols:
            continue
        ends = [symbols[0]] if len(symbols) == 1 else [symbols[0], symbols[-1]]
        out.append({"what": what, "tex": r", \ldots, ".join(to_latex(s, net) for s in ends),
                    "text": ", ..., ".join(s.name for s in ends)})
    return out


def _question_context(net: Network, q: Posed, spec: ExerciseSpec) -> dict:
    return {"id": q.id, "points": f"{q.points:g}", "asked": asked_tex(net, q), "words": ASKED_WORDS[q.quantity],
            "formula": q.answer == "formula", "param": q.param, "quantity": q.quantity}


def network_context(variant: Variant, spec: ExerciseSpec) -> dict:
    net = Network(variant.spec)
    return {"layers": [tex_escape(t) for t in _layers_text(net)],
            "loss_name": tex_escape(net.loss.description),
            "loss": rf"{to_latex(net.loss_symbol, net)} = {to_latex(net.loss_in_outputs(), net)}",
            "errors": [rf"{to_latex(e, net)} = {to_latex(net.error(j), net)}" for j, e in enumerate(net.e, start=1)],
            "delta_definition": _delta_definition(net),
            "forward": _forward(net), "numbers": _numbers(net, variant, spec.decimals),
            "notation": tex_escape(net.profile.name),
            # the notes' drawing (templates/network_tikz.tex.j2 reads the bias node's constant from letters)
            "figure": network_figure(net), "letters": {"bias_input": bias_input(net)},
            "bias": net.bias}


def sheet_context(variant: Variant, spec: ExerciseSpec) -> dict:
    net = Network(variant.spec)
    return {"title": tex_escape(spec.title), "student": tex_escape(variant.student.id),
            "name": tex_escape(variant.student.name), **network_context(variant, spec),
            "questions": [_question_context(net, q, spec) for q in variant.questions],
            "identifiers": _identifiers(net), "digits": spec.digits,
            "tolerance": f"{100 * spec.tolerance:g}"}


def _answer_tex(variant: Variant, q: Posed, spec: ExerciseSpec) -> list[str]:
    net = variant.derivation.net
    if q.answer == "number":
        return [number(q.value, spec.digits)]
    # the rule in the deltas it uses, then each of those deltas' own rule: the unrolled form of a
    # hidden weight's rule runs off the page
    d = variant.derivation
    rows = [to_latex(q.formula, net)]
    used = sorted((s for s in q.formula.free_symbols if s in d.deltas and s.name != q.param), key=lambda s: s.name)
    rows += [rf"{to_latex(s, net)} = {to_latex(d.quantity(s.name, 'delta'), net)}" for s in used]
    return rows


def key_context(variants: list[Variant], spec: ExerciseSpec) -> dict:
    students = []
    for v in variants:
        net = v.derivation.net
        values = [rf"{to_latex(s, net)} = {number(v.values[s.name], spec.digits)}"
                  for l in net.graph.order for s in (*net.v[l], *net.y[l], *net.delta[l])]
        students.append({"id": tex_escape(v.student.id), "name": tex_escape(v.student.name),
                         "net": tex_escape(net.name), "notation": tex_escape(net.profile.name),
                         "tries": v.tries, "units": _rows(values),
                         "loss": rf"{to_latex(net.loss_symbol, net)} = {number(v.values['loss'], spec.digits)}",
                         "questions": [{**_question_context(net, q, spec), "key": _answer_tex(v, q, spec)}
                                       for q in v.questions]})
    return {"title": tex_escape(spec.title), "students": students, "digits": spec.digits,
            "tolerance": f"{100 * spec.tolerance:g}"}


def render(template: str, context: dict) -> str:
    try:
        return make_env().get_template(template).render(**context)
    except jinja2.TemplateError as exc:
        raise SymbpError(f"templates/{template}: {type(exc).__name__}: {exc}") from None


# -- the answers template and the manifest ----------------------------------------------------

def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)     # a JSON string is a TOML basic string


def answers_template(variant: Variant, spec: ExerciseSpec) -> str:
    """The TOML file a student fills in: one [[answer]] per question (value = a number, or expr = a formula)."""
    s = variant.student
    lines = [f"# Answers to {spec.title!s}, for {s.id}{f' ({s.name})' if s.name else ''}.",
             "# Fill in every answer and hand this file back (keep id, param and quantity as they are).",
             "# A number: value = -0.1234 (a TOML number, at least " f"{spec.digits} significant digits).",
             "# A formula: expr = \"...\" in the identifiers of your sheet (eta*delta1_2*x1), or in LaTeX",
             "#   with latex = true (\\eta \\delta^{(1)}_{2} x_{1}).",
             f"student = {_toml_string(s.id)}", ""]
    for q in variant.questions:
        lines += ["[[answer]]", f"id = {_toml_string(q.id)}", f"param = {_toml_string(q.param)}",
                  f"quantity = {_toml_string(q.quantity)}"]
        lines += ['value = ""        # a number'] if q.answer == "number" else ['expr = ""', "latex = false"]
        lines.append("")
    return "\n".join(lines)


def manifest(variants: list[Variant], spec: ExerciseSpec) -> dict:
    """What grade reads back: per student the network (a spec dict) and every question with its key."""
    students = []
    for v in variants:
        qs = [{"id": q.id, "param": q.param, "quantity": q.quantity, "answer": q.answer, "points": q.points,
               **({"value": q.value} if q.answer == "number" else
                  {"expected": to_text(q.formula), "unrolled": to_text(v.derivation.unrolled(q.formula))})}
              for q in v.questions]
        students.append({"id": v.student.id, "name": v.student.name, "spec": v.network, "questions": qs,
                         "values": v.values})
    return {"format": FORMAT, "title": spec.title, "seed": spec.seed, "tolerance": spec.tolerance,
            "digits": spec.digits, "students": students}


# -- writing a class ----------------------------------------------------------------------------

def write_exercises(spec: ExerciseSpec | str | Path, roster: list[Student] | str | Path, out_dir: str | Path,
                    pdf: bool = True, moodle: bool = False, jobs: int = 2) -> list[Path]:
    """Draw every student's variant, then write sheets, answers templates, the key and the manifest together.

    Nothing is written unless every variant was drawn and (with ``pdf``) every PDF built.
    Returns the files written.
    """
    spec = spec if isinstance(spec, ExerciseSpec) else load_exercise_spec(spec)
    students = roster if isinstance(roster, list) else load_roster(roster)
    out = check_output_dir(out_dir)
    variants = draw_class(spec, students)
    files: dict[Path, bytes] = {}
    tex: dict[Path, str] = {}
    for v in variants:
        folder = out / "students" / v.student.id
        tex[folder / "sheet.tex"] = render("exercise_sheet.tex.j2", sheet_context(v, spec))
        files[folder / "answers.toml"] = answers_template(v, spec).encode("utf-8")
    tex[out / "key.tex"] = render("exercise_key.tex.j2", key_context(variants, spec))
    files.update({p: t.encode("utf-8") for p, t in tex.items()})
    files[out / MANIFEST] = (json.dumps(manifest(variants, spec), indent=1, ensure_ascii=False) + "\n").encode()
    if moodle:
        from .moodle import moodle_xml
        files[out / "moodle.xml"] = moodle_xml(variants, spec)
    (out / SUBMISSIONS).mkdir(parents=True, exist_ok=True)
    if pdf:
        try:
            files.update(_pdfs(tex, jobs))
        except TexMissing:          # as the notes do: the .tex files are still worth having
            write_many(dict(sorted(files.items())))
            raise
    return write_many(dict(sorted(files.items())))


def _pdfs(tex: dict[Path, str], jobs: int) -> dict[Path, bytes]:
    """Every .tex built to PDF (TeX without shell escape, by the notes' build), ``jobs`` at a time."""
    def build(item):
        path, text = item
        return path.with_suffix(".pdf"), build_pdf(text, path, path.parent)[0]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(pool.map(build, tex.items()))


__all__ = ["Student", "answers_template", "key_context", "manifest", "sheet_context", "write_exercises"]
