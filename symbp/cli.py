"""Command line: parse arguments, call the API, turn user errors into one line and exit status 2."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .derive import derive
from .errors import SymbpError
from .files import STDIN, check_output_dir, check_output_file, read_text
from .network import Network
from .present import SHOWN_MAX
from .progress import reporter
from .spec import (
    LIMITS,
    TRAINING_KEYS,
    builtin_spec,
    check_budget,
    load_spec,
    looks_like_layer_string,
    spec_from_layer_string,
    with_training,
)

MAX_EXPR_BYTES = 100_000   # verify --expr - reads at most this much of stdin
NET_FLAGS = ("activation", "loss", "bias_sign", "notation", "numbering", "title", "skip", "residual")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _net_arguments(p: argparse.ArgumentParser, optional: bool = False) -> None:
    p.add_argument("net", nargs="?" if optional else None, metavar="NET",
                   help="a TOML spec file, or a layer string such as 2-3-1")
    g = p.add_argument_group("layer-string flags (with NET like 2-3-1)")
    g.add_argument("--activation", help="one name for all computing layers, or one per layer: sigmoid,linear")
    g.add_argument("--loss", help="half_sse, sse, mse, bce or ce")
    g.add_argument("--no-bias", action="store_true", help="no biases")
    g.add_argument("--bias-sign", choices=("+", "-"), help="v = sum w y + b (+) or - b (-)")
    g.add_argument("--notation", help="haykin, ont, mitchell or nielsen")
    g.add_argument("--numbering", help="layer (w^(l)_jk) or global (w_41)")
    g.add_argument("--title", help="a title for the notes")
    g.add_argument("--skip", metavar="S:L,...", help="weighted skip connections from layer S into layer L: 0:2,1:3")
    g.add_argument("--residual", metavar="S:L,...", help="identity shortcuts y(L) += y(S) between hidden layers: 1:3")
    t = p.add_argument_group("learning rule (the spec's [training]; with a spec file these replace its values)")
    t.add_argument("--momentum", type=_number("momentum"), metavar="ALPHA",
                   help="Delta w(n) = alpha Delta w(n-1) - eta dE/dw(n), 0 <= alpha < 1")
    t.add_argument("--weight-decay", type=_number("weight_decay"), metavar="LAMBDA",
                   help="E + lambda/2 sum w^2 (weights only unless --decay-biases), lambda >= 0")
    t.add_argument("--decay-biases", action="store_true", default=None, help="weight decay on the biases too")
    t.add_argument("--reduction", help="the batch loss: sum (the default) or mean (times 1/N; mse is a mean already)")
    p.add_argument("--quiet", action="store_true", help="no progress or warnings on stderr")
    p.add_argument("--force", action="store_true", help="derive a network beyond the parameter budget (see Limits)")


def _number(key: str):
    """An argparse type: a float, or one line naming training.KEY (its range is checked by the spec)."""
    def parse(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"training.{key}: expected a number, got {text!r}") from None
    return parse


def _progress(args, what: str = "self-check") -> callable | None:
    """Progress on stderr when it is a terminal, unless --quiet or --json (a tqdm bar where installed)."""
    if getattr(args, "quiet", False) or getattr(args, "json", False) or not sys.stderr.isatty():
        return None
    return reporter(True, what)


def load_network(args) -> Network:
    """NET + flags -> Network; flags only make sense with a layer string."""
    flags = {k: getattr(args, k) for k in NET_FLAGS if getattr(args, k, None) is not None}
    if getattr(args, "no_bias", False):
        flags["bias"] = False
    if args.net is None:
        spec = builtin_spec()
    elif looks_like_layer_string(args.net):
        spec = spec_from_layer_string(args.net, **flags)
    else:
        if flags:
            raise SymbpError(f"--{next(iter(flags)).replace('_', '-')}: layer-string flags apply to a NET such as "
                             "2-3-1; a spec file sets them in its [network] table")
        spec = load_spec(args.net)
    spec = with_training(spec, **{k: getattr(args, k, None) for k in TRAINING_KEYS})
    warning = check_budget(spec, force=getattr(args, "force", False))
    if warning and not getattr(args, "quiet", False):
        print(f"symbp: warning: {warning}", file=sys.stderr)
    return Network(spec)


def cmd_derive(args) -> int:
    d = derive(load_network(args), progress=_progress(args))
    if args.json:
        print(json.dumps(d.to_dict(), indent=1))
    else:
        print(d.text(full=args.all))
    return 0


def cmd_verify(args) -> int:
    from .verify import verify
    from .verify.symbols import symbol_listing
    net = load_network(args)
    if args.list_symbols:
        print(symbol_listing(net))
        return 0
    if args.batch is not None and (args.answers or args.steps):
        raise SymbpError("--batch: checks one layer's --expr, not --answers or --steps")
    if args.answers:
        from .verify.answers import grade, grade_dict, grade_text, load_answers, load_rubric
        answers = load_answers(args.answers)
        graded = grade(net, answers, latex=args.latex, rubric=load_rubric(args.answers))
        print(json.dumps(grade_dict(graded), indent=1) if args.json else grade_text(graded))
        return 0 if all(g.correct for g in graded) else 1
    if args.steps:
        from .verify.steps import read_steps, steps_text
        if args.expr is not None:
            raise SymbpError("--steps: the derivation is the file; leave out --expr")
        result = verify(net, args.param or None, read_steps(args.steps), quantity=args.quantity, latex=True,
                        steps=True)
        print(json.dumps(result.to_dict(), indent=1) if args.json else steps_text(result))
        return {True: 0, False: 1, None: 1}[result.equivalent]
    if args.expr is None:
        raise SymbpError("verify: expected --expr EXPR with --param NAME, or --expr 'lhs = rhs' "
                         "(or --answers FILE, --steps FILE.tex, --list-symbols)")
    expr = read_text(STDIN, "expression", MAX_EXPR_BYTES).strip() if args.expr == STDIN else args.expr
    result = verify(net, args.param or None, expr, quantity=args.quantity, latex=args.latex, batch=args.batch)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    elif result.steps is not None:
        from .verify.steps import steps_text
        print(steps_text(result))
    else:
        print(result.message)
        if not result.equivalent:
            print(f"expected: {result.expected_shown}")     # LaTeX in the student's numbering, if theirs was
    return {True: 0, False: 1, None: 1}[result.equivalent]


def cmd_example(args) -> int:
    from .example import worked_example
    data = worked_example(load_network(args))
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    print(f"loss = {data['loss']!r}")
    for title, key in (("forward", "forward"), ("deltas", "deltas"), ("gradients", "gradients"),
                       (f"after one step, eta = {data['learning_rate']}", "updated")):
        print(f"{title}:")
        for name, value in data[key].items():
            print(f"  {name} = {value!r}")
    for step in data.get("steps", [])[1:]:     # momentum: step 1 is the one above
        print(f"step {step['step']} (momentum alpha = {data['momentum']}): loss = {step['loss']!r}")
        for title, key in (("gradients", "gradients"), ("Delta p = alpha Delta p(n-1) - eta dE/dp", "change"),
                           ("after the step", "updated")):
            print(f"{title}:")
            for name, value in step[key].items():
                print(f"  {name} = {value!r}")
    return 0


def cmd_notes(args) -> int:
    from .notes import NotesError, TexMissing, render_notes
    if args.templates is not None and not Path(args.templates).is_dir():
        raise SymbpError(f"--templates: expected a directory of templates, got {args.templates!r}")
    check_output_dir(args.output)  # before the derivation: a bad -o costs nothing
    net = load_network(args)       # a bad spec fails here, before anything is written
    if not args.quiet and sys.stderr.isatty():
        print(f"deriving {net.name} ...", file=sys.stderr)
    try:
        path = render_notes(derive(net, progress=_progress(args)), args.output, pdf=not args.no_pdf,
                            templates=args.templates, progress=_progress(args, "notes: .tex, PDF"))
    except TexMissing as exc:
        print(f"symbp: {exc}; wrote {Path(args.output) / 'notes.tex'}", file=sys.stderr)
        return 3
    except NotesError as exc:
        print(f"symbp: LaTeX failed: {exc.log_line or exc}; the .tex is kept at {exc.tex}", file=sys.stderr)
        return 1
    print(path)
    return 0


def cmd_export(args) -> int:
    from .export import export, module_source
    if args.output == STDIN and args.target == "c":
        raise SymbpError("-o -: the C target writes two files (.c and .h); name one, such as grad.c")
    if args.output != STDIN:         # a bad output path fails here, before the derivation
        out = check_output_file(args.output)
        if args.target == "c":
            for p in (out.with_suffix(".c"), out.with_suffix(".h")):
                check_output_file(p)
    d = derive(load_network(args), progress=_progress(args))
    if args.output == STDIN:
        sys.stdout.write(module_source(d, args.target))
        return 0
    print(export(d, args.output, target=args.target, dtype=args.dtype))
    return 0


def cmd_check(args) -> int:
    from .check import check_table
    table = check_table(load_network(args), progress=_progress(args, "finite differences"))
    print(json.dumps(table.to_dict(), indent=1) if args.json else table.text())
    return 0 if table.ok else 1


def cmd_exercises(args) -> int:
    from .notes import NotesError, TexMissing
    from .sheets import write_exercises
    try:
        paths = write_exercises(args.spec, args.students, args.output, pdf=not args.no_pdf, moodle=args.moodle)
    except TexMissing as exc:
        print(f"symbp: {exc}", file=sys.stderr)
        return 3
    except NotesError as exc:
        print(f"symbp: LaTeX failed: {exc.log_line or exc}", file=sys.stderr)
        return 1
    print(f"{len(paths)} files in {args.output}")
    return 0


def cmd_grade(args) -> int:
    from .grade import grades_text, write_grades
    paths, book = write_grades(args.dir)
    for s in book.students:
        if s.error:
            print(f"symbp: warning: {s.id}: {s.error}", file=sys.stderr)
    print(grades_text(book))
    print(", ".join(str(p) for p in paths))
    return 1 if any(s.error for s in book.students) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symbp", description="Backpropagation derived with SymPy, step by step.",
                     epilog=LIMITS + " NET may be - to read the spec from stdin.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("derive", help="print the delta rules and the update equation of every parameter")
    _net_arguments(p)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout (every parameter)")
    p.add_argument("--all", action="store_true", help="every unit and parameter, also of layers wider than "
                                                     f"{SHOWN_MAX} units (which show their first and last)")
    p.set_defaults(func=cmd_derive)

    p = sub.add_parser("notes", help="write LaTeX lecture notes and compile the PDF")
    _net_arguments(p, optional=True)
    p.add_argument("-o", "--output", default="output", metavar="DIR", help="where notes.tex/.pdf go (output/)")
    p.add_argument("--no-pdf", action="store_true", help="write only the .tex")
    p.add_argument("--templates", metavar="DIR", help="a directory of templates to use instead of templates/")
    p.set_defaults(func=cmd_notes)

    p = sub.add_parser("verify", help="check a hand derivation: exit 0 equivalent, 1 not, 2 bad input")
    _net_arguments(p)
    p.add_argument("--param", help="canonical name: w2_1_3, b1_2, delta2_1; or let EXPR's left side name it "
                                  "('Delta w2_1_3 = ...')")
    p.add_argument("--expr", help="the formula, in identifiers: eta*delta2_1*y1_3")
    p.add_argument("--quantity", choices=("gradient", "update", "new", "delta"),
                   help="gradient (the default), or what the answer's left side says")
    p.add_argument("--latex", action="store_true",
                   help="EXPR is LaTeX in the notes' notation: \\eta \\delta^{(2)}_1 y^{(1)}_3")
    p.add_argument("--batch", type=int, metavar="N",
                   help="a layer's answer over N samples: delta2 is (n_2, N), dE/db2 = delta2.sum(axis=1)")
    p.add_argument("--list-symbols", action="store_true", help="print every identifier and its meaning")
    p.add_argument("--steps", metavar="FILE.tex",
                   help="check a derivation line by line: the lines of an align environment (&=, \\\\)")
    p.add_argument("--answers", metavar="FILE",
                   help="grade a TOML file of [[answer]] tables: expr, param, quantity, latex")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("example", help="the worked numeric example: forward, loss, gradients, one step")
    _net_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_example)

    p = sub.add_parser("export", help="write a standalone module of compiled gradient functions")
    _net_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="grad.py (numpy, jax) or grad.c (c)")
    p.add_argument("--target", default="numpy", choices=("numpy", "jax", "c"))
    p.add_argument("--dtype", choices=("float64", "float32"),
                   help="the C module's type (numpy and jax keep their arguments')")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("check", help="derived rules vs sympy.diff vs hand-written backprop vs finite differences")
    _net_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("exercises", help="one sheet per student from a lecturer's ranges, an answer key, "
                                         "answers templates (and Moodle XML)")
    p.add_argument("spec", metavar="SPEC", help="a TOML file of ranges (README: Exercises and grading)")
    p.add_argument("--students", required=True, metavar="ROSTER", help="a CSV with an id column (and name)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="where the sheets, key and templates go")
    p.add_argument("--moodle", action="store_true", help="also write the number questions as moodle.xml")
    p.add_argument("--no-pdf", action="store_true", help="write only the .tex files")
    p.set_defaults(func=cmd_exercises)

    p = sub.add_parser("grade", help="grade DIR/submissions/<id>.toml against DIR's key: grades.csv, grades.json")
    p.add_argument("dir", metavar="DIR", help="a directory written by symbp exercises")
    p.set_defaults(func=cmd_grade)
    return parser


def _glue_values(argv: Sequence[str]) -> list[str]:
    """`--expr -eta*delta1_2`: argparse would read the leading '-' as an option; glue it on."""
    out, it = [], iter(argv)
    for arg in it:
        if arg in ("--expr", "--param"):
            value = next(it, None)
            out.append(arg if value is None else f"{arg}={value}")
        else:
            out.append(arg)
    return out


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised so that every ``finally`` runs: temporary files and directories go."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_glue_values(sys.argv[1:] if argv is None else argv))
    # Python's default SIGTERM ends the process without unwinding; a LaTeX build would leave
    # its scratch directory and staged outputs behind. Unwinding kills latexmk too (subprocess.run).
    if threading.current_thread() is not threading.main_thread():
        return _run(args)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.func(args)
    except SymbpError as exc:
        print(f"symbp: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # `symbp derive ... | head`: the reader left; not an error of ours (an OSError: first)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:    # a file error no check foresaw: still one line, naming the file
        where = exc.filename if exc.filename is not None else "symbp"
        print(f"symbp: error: {where}: {(exc.strerror or str(exc)).lower()}", file=sys.stderr)
        return 2
    except _Terminated:
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        return 130
