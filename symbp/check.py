"""`symbp check`: every gradient four ways, side by side.

For each parameter, at the spec's example point (or the deterministic defaults of
symbp.example):

* **derived** — each parameter's own derived rule (dE/dp in its unit's delta and input),
  evaluated on the compiled unit values; on networks above UNIT_RULES_MAX parameters the
  compiled matrix form stands in (the self-check samples the unit rules there);
* **compiled** — the compiled module (symbp.compile, the code ``symbp export`` writes);
* **sympy** — ``sympy.diff`` of the explicit loss (small networks only, W <= 60);
* **reference** — the independent hand-written NumPy backprop (symbp.reference);
* **finite difference** — central differences of the reference loss in float64.

derived, compiled, sympy and reference must agree to 1e-9 (relative); the finite difference to
1e-5 (relative plus absolute), the accuracy a step of 1e-6 can give.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from . import reference
from .compile import compile_network
from .derive import Derivation, derive
from .example import example_data, example_params, flat_params
from .network import Network
from .selfcheck import SYMBOLIC_MAX_PARAMS as SYMPY_MAX_PARAMS  # beyond, sympy.diff per weight is O(W^2)
from .selfcheck import UNIT_RULES_MAX  # per-unit rules evaluated one by one up to here

EXACT_RTOL = 1e-9        # derived vs sympy vs reference
EXACT_ATOL = 1e-12       # floor for values that are 0 up to rounding
FD_TOL = 1e-5            # vs finite difference: relative + absolute
FD_STEP = 1e-6


@dataclass(frozen=True)
class CheckRow:
    name: str
    derived: float
    compiled: float
    sympy: float | None
    reference: float
    finite_difference: float
    max_abs_error: float
    max_rel_error: float
    ok: bool
    kink: bool = False       # a unit sits at its activation's kink: the finite difference is not compared

    @property
    def verdict(self) -> str:
        return ("ok" if self.ok else "FAIL") + (" (kink)" if self.kink else "")

    def to_dict(self) -> dict:
        return {"name": self.name, "derived": self.derived, "compiled": self.compiled, "sympy": self.sympy,
                "reference": self.reference,
                "finite_difference": self.finite_difference, "max_abs_error": self.max_abs_error,
                "max_rel_error": self.max_rel_error, "verdict": "ok" if self.ok else "FAIL",
                "finite_difference_compared": not self.kink}


@dataclass
class CheckTable:
    network: str
    rows: list[CheckRow]
    loss: float
    samples: int
    sympy_checked: bool
    rules_checked: bool = True
    notes: list[str] = field(default_factory=list)
    net: Network | None = field(default=None, repr=False, compare=False)   # to print names in its notation

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def failures(self) -> list[CheckRow]:
        return [r for r in self.rows if not r.ok]

    def to_dict(self) -> dict:
        return {
            "network": self.network,
            "ok": self.ok,
            "loss": self.loss,
            "samples": self.samples,
            "sympy_checked": self.sympy_checked,
            "unit_rules_evaluated": self.rules_checked,
            "tolerances": {"exact_rtol": EXACT_RTOL, "exact_atol": EXACT_ATOL,
                           "finite_difference": FD_TOL, "finite_difference_step": FD_STEP},
            "rows": [r.to_dict() for r in self.rows],
            "notes": list(self.notes),
        }

    def text(self) -> str:
        head = ("parameter", "derived", "compiled", "sympy.diff", "reference", "finite diff", "max abs err",
                "max rel err", "")
        body = [(r.name, f"{r.derived:.12g}", f"{r.compiled:.12g}", "-" if r.sympy is None else f"{r.sympy:.12g}",
                 f"{r.reference:.12g}", f"{r.finite_difference:.9g}", f"{r.max_abs_error:.2e}",
                 f"{r.max_rel_error:.2e}", r.verdict) for r in self.rows]
        widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]

        def line(row):
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:-1], widths[1:-1])] + [row[-1]]
            return "  ".join(cells).rstrip()

        out = [f"check {self.network}: {self.samples} sample(s), loss {self.loss:.12g}",
               line(head), "  ".join("-" * w for w in widths[:-1]) + "  ----"]
        out += [line(row) for row in body]
        fails = len(self.failures)
        out.append(f"{len(self.rows) - fails} of {len(self.rows)} parameters agree"
                   + ("" if fails == 0 else f"; {fails} FAIL"))
        out.extend(self.notes)
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()

    def _repr_latex_(self) -> str:
        """The table in the network's notation (Jupyter): the first rows and every failure, then the verdict."""
        from .present import SHOWN_MAX
        from .printing import to_latex
        name = (lambda n: to_latex(sp.Symbol(n, real=True), self.net)) if self.net is not None else (
            lambda n: rf"\mathtt{{{n}}}".replace("_", r"\_"))
        keep = self.rows[:2 * SHOWN_MAX]
        keep += [r for r in self.failures if r not in keep]
        num = lambda x: "-" if x is None else f"{x:.10g}"
        body = [" & ".join([name(r.name), num(r.derived), num(r.compiled), num(r.sympy), num(r.reference),
                            f"{r.finite_difference:.8g}", rf"\text{{{r.verdict}}}"]) for r in keep]
        if len(keep) < len(self.rows):
            body.append(r"\vdots & & & & & &")
        fails = len(self.failures)
        head = r"p & \text{derived} & \text{compiled} & \text{sympy.diff} & \text{reference} & \text{finite diff} &"
        summary = (f"{len(self.rows) - fails} of {len(self.rows)} parameters agree"
                   + ("" if fails == 0 else f"; {fails} fail"))
        return (r"$\begin{array}{lrrrrrl}" + head + r"\\ \hline " + r"\\ ".join(body)
                + rf"\\ \hline \multicolumn{{7}}{{l}}{{\text{{{summary}}}}}\end{{array}}$")


def sympy_gradients(net: Network, params: dict, X: np.ndarray, T: np.ndarray) -> dict[str, float]:
    """sympy.diff of the explicit loss for every parameter, summed over the samples."""
    # the regulariser counts once per batch, not once per sample: it is added after the sum
    E = (net.explicit_loss() - net.regulariser()).xreplace({net.batch: sp.Integer(X.shape[0])})
    symbols = net.params()
    derivatives = [sp.diff(E, p) for p in symbols]
    args = [*net.x, *net.t, *symbols]
    fn = sp.lambdify(args, derivatives, modules="numpy", cse=True)
    values = {p.name: 0.0 for p in symbols}
    point = list(flat_params(net, params).values())      # in net.params() order, like symbols
    for x, t in zip(X, T):
        out = fn(*[float(v) for v in x], *[float(v) for v in t], *point)
        for p, value in zip(symbols, out):
            values[p.name] += float(value)
    return _add_decay(net, params, values, lambda p: sp.diff(net.regulariser_term(p), p))


def _add_decay(net: Network, params: dict, values: dict, decay) -> dict:
    """values plus each parameter's decay term decay(p) (lambda p), evaluated once at params."""
    point = flat_params(net, params)
    for p in net.params():
        term = decay(p)
        if term != 0:
            values[p.name] += float(term.xreplace({net.lam: net.training.weight_decay, p: point[p.name]}))
    return values


def _training(net: Network) -> dict:
    """reference.regularised_loss's keywords for the network's [training]."""
    t = net.training
    return {"weight_decay": t.weight_decay, "decay_biases": t.decay_biases, "reduction": t.reduction}


def _oracle(net: Network) -> tuple[tuple, dict]:
    """The network as symbp.reference takes it: (activations, loss, bias sign), {residual: shortcuts}.

    Skips need no argument: the reference reads them off the params keys W{l}_{s}.
    """
    # a row defined by a formula has no hand-written form there: its (phi, phi') pair of NumPy callables
    acts = [a.reference or a.name for a in net.activations]
    return (acts, net.loss.reference or net.loss.name, net.bias_sign), {"residual": net.spec.residual}


def finite_differences(net: Network, params: dict, X, T, step: float = FD_STEP, progress=None) -> dict[str, float]:
    """Central differences of the reference loss, one parameter at a time, in float64."""
    args, graph = _oracle(net)
    p = {k: np.array(v, dtype=float, copy=True) for k, v in params.items()}   # perturbed in place

    def E():
        return reference.regularised_loss(p, X, T, *args, **graph, **_training(net))

    out, where = {}, net.positions
    for i, (name, pos) in enumerate(where.items()):
        key, idx = pos.key, pos.index
        keep = p[key][idx]
        p[key][idx] = keep + step
        plus = E()
        p[key][idx] = keep - step
        minus = E()
        p[key][idx] = keep
        out[name] = (plus - minus) / (2 * step)
        if progress and (i % 2000 == 0 or i + 1 == len(where)):
            progress(i + 1, len(where))
    return out


def rule_gradients(d: Derivation, compiled, params: dict, X: np.ndarray, T: np.ndarray) -> dict[str, float]:
    """Each parameter's own derived rule, evaluated on the compiled unit values and summed over the samples."""
    net = d.net
    values = dict(compiled.unit_values(params, X, T))
    values.update({xk: X[:, k] for k, xk in enumerate(net.x)})
    values.update({tj: T[:, j] for j, tj in enumerate(net.t)})
    values[net.batch] = X.shape[0]
    names = list(d.params)
    rules = [d.params[n].loss_gradient for n in names]     # the decay term is added once, below
    free = sorted(set().union(*[r.free_symbols for r in rules]), key=lambda s: s.name)
    unknown = [s for s in free if s not in values]
    if unknown:
        raise ValueError(f"derived rules name {unknown[0]}, which is neither a unit value nor an input")
    fn = sp.lambdify(free, rules, modules="numpy", cse=True)
    out = fn(*[values[s] for s in free])
    summed = {n: float(np.sum(np.broadcast_to(o, (X.shape[0],)))) for n, o in zip(names, out)}
    return _add_decay(net, params, summed, lambda p: d.params[p.name].decay)


def _kinks(net: Network, params: dict, X) -> set[str]:
    """Parameters whose finite difference crosses a kink (a unit's net input within reach of the
    point where its activation's derivative jumps, as the activation row gives it: relu at 0).

    There the derivation (like the reference) takes one side's slope (relu: H(0) = 0), and a
    central difference sees the mean of two slopes instead. Every parameter of a lower layer
    reaches the unit (the chain joins every layer to the next); of its own layer, only its own.
    """
    (acts, _, sign), graph = _oracle(net)
    fwd = reference.forward(params, X, None, acts, sign, **graph)
    ys = [np.atleast_2d(X)] + [np.atleast_2d(y) for _, y in fwd]
    size = 1 + sum(float(np.abs(params[k]).max()) for k in params)
    out: set[str] = set()
    for l in net.graph.order:
        kink = net.activation(l).kink
        if kink is None:
            continue
        v = np.atleast_2d(fwd[l - 1][0])
        inputs = np.hstack([ys[c.src] for c in net.graph.inputs(l)])     # what the weights into l multiply
        reach = 10 * FD_STEP * (1 + np.abs(inputs).sum(axis=1, keepdims=True)) * size
        hit = np.any(np.abs(v - kink) <= reach, axis=0)
        for name, pos in net.positions.items():
            if (pos.layer < l and hit.any()) or (pos.layer == l and hit[pos.index[0]]):
                out.add(name)
    return out


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= EXACT_RTOL * max(abs(a), abs(b)) + EXACT_ATOL


def check_table(net, progress=None) -> CheckTable:
    """Derived vs sympy.diff vs hand-written backprop vs finite differences, per parameter.

    ``net`` is a Network, Spec, spec file, layer string or a Derivation (whose rules are
    then the ones checked, as they are, without re-deriving).
    """
    if not isinstance(net, Derivation):
        # Small networks get their own sympy.diff column; above that the table leans on the
        # derivation's self-check for the comparison with sympy.diff, so it is run.
        net = Network.load(net)
        net = derive(net, check=net.n_params > SYMPY_MAX_PARAMS)
    d = net
    net = d.net
    if net.n_params > UNIT_RULES_MAX and d.check is None:
        from .selfcheck import self_check  # the note below leans on it: run it if nobody did
        d.check = self_check(d)
    example = net.spec.example
    params = example_params(net, example)
    X, T, _ = example_data(net, example)
    X, T = np.atleast_2d(np.asarray(X, dtype=float)), np.atleast_2d(np.asarray(T, dtype=float))

    compiled = compile_network(d)
    matrix = flat_params(net, compiled.gradients(params, X, T))
    rules_checked = net.n_params <= UNIT_RULES_MAX
    derived = rule_gradients(d, compiled, params, X, T) if rules_checked else matrix
    args, graph = _oracle(net)
    ref = flat_params(net, reference.regularised_gradients(params, X, T, *args, **graph, **_training(net)))
    fd = finite_differences(net, params, X, T, progress=progress)
    use_sympy = net.n_params <= SYMPY_MAX_PARAMS
    sym = sympy_gradients(net, params, X, T) if use_sympy else None

    kinks = _kinks(net, params, X)
    rows = []
    for name in derived:
        a = derived[name]
        others = [matrix[name], ref[name]] + ([sym[name]] if sym is not None else [])
        exact_ok = all(_close(a, b) for b in others) and (sym is None or _close(sym[name], ref[name]))
        kink = name in kinks
        fd_ok = kink or (abs(fd[name] - ref[name]) <= FD_TOL * abs(ref[name]) + FD_TOL
                         and abs(fd[name] - a) <= FD_TOL * abs(a) + FD_TOL)
        compared = others if kink else [*others, fd[name]]
        max_abs = max(abs(a - b) for b in compared)
        scale = max(abs(a), *(abs(b) for b in compared))
        rows.append(CheckRow(name, a, matrix[name], None if sym is None else sym[name], ref[name], fd[name], max_abs,
                             max_abs / scale if scale > 0 else 0.0, exact_ok and fd_ok, kink))
    notes = []
    if kinks:
        at = ", ".join(f"{a.name} at {a.kink:g}" for a in dict.fromkeys(net.activations) if a.kink is not None)
        notes.append(f"(kink): a unit's net input sits at its activation's kink ({at}) at this point; the "
                     f"derivative there is one side's slope, and the finite difference of {len(kinks)} "
                     f"parameter(s) is shown, not compared")
    if not use_sympy:
        notes.append(f"sympy.diff column skipped: {net.n_params} parameters > {SYMPY_MAX_PARAMS}")
    if not rules_checked:
        notes.append(f"derived column is the compiled matrix form: {net.n_params} parameters > {UNIT_RULES_MAX} "
                     "(the derivation's self-check compared a random sample of the unit rules and every matrix "
                     "entry with sympy.diff)")
    loss = reference.regularised_loss(params, X, T, *args, **graph, **_training(net))
    return CheckTable(net.name, rows, float(loss), X.shape[0], use_sympy, rules_checked, notes, net)
