"""A derivation as text for a terminal, as a JSON-ready dict, and as LaTeX for Jupyter."""
from __future__ import annotations

import sympy as sp

from .indexform import Role
from .present import SHOWN_MAX, consumers, learning_rule, present, shown
from .printing import role_layer, to_latex, to_text

UNROLLED_MAX = 200     # parameters; above, the unrolled forms grow as width^depth


def _pair(expr, net) -> dict:
    return {"expr": to_text(expr), "latex": to_latex(expr, net)}


def _chain_text(path) -> str:
    return " * ".join(f"d{f.of}/d{f.wrt}" for f in path)


def _network_dict(net) -> dict:
    s = net.spec
    return {"layers": list(s.layers), "activations": list(s.activations), "loss": s.loss, "bias": s.bias,
            "bias_sign": s.bias_sign, "notation": s.notation, "numbering": s.numbering, "title": s.title,
            "skip": [list(p) for p in s.skip], "residual": [list(p) for p in s.residual],
            "parameters": net.n_params, "training": _training_dict(net)}


def _training_dict(net) -> dict:
    t = net.training
    return {"momentum": t.momentum, "weight_decay": t.weight_decay, "decay_biases": t.decay_biases,
            "reduction": t.reduction}


def _learning_rule_dict(d) -> dict:
    """The update equations [training] implies, in index form (present.learning_rule)."""
    net, r = d.net, learning_rule(d)
    return {"loss": _pair(r.loss, net), "weight_gradient": _pair(r.gradient, net),
            "bias_gradient": None if r.bias_gradient is None else _pair(r.bias_gradient, net),
            "update": _pair(r.update, net), "previous": "d{param}_prev (Delta p(n-1), 0 at n = 1)",
            "notes": list(r.notes)}


def derivation_dict(d) -> dict:
    """JSON-ready: per canonical parameter the gradient, update and new value, in identifiers and LaTeX."""
    net = d.net
    deltas = {}
    for sym, rule in d.deltas.items():
        deltas[sym.name] = {
            **_pair(rule.value, net), "layer": rule.layer, "unit": rule.unit, "output_layer": rule.output,
            "chain": [[{"of": f.of.name, "wrt": f.wrt.name, "reason": f.reason, **_pair(f.result, net)}
                       for f in path] for path in rule.chain],
            "dE_dv": _pair(rule.dE_dv, net), "simplification": rule.simplification,
        }
    params = {}
    unrolled = net.n_params <= UNROLLED_MAX
    for name, rule in d.params.items():
        params[name] = {"kind": rule.kind, "layer": rule.layer, "unit": rule.unit, "source": rule.source,
                        "source_layer": rule.src,
                        "delta": net.delta[rule.layer][rule.unit - 1].name,
                        "gradient": _pair(rule.gradient, net), "update": _pair(rule.update, net),
                        "new": _pair(rule.new, net), "decay": _pair(rule.decay, net),
                        "previous": None if rule.previous is None else rule.previous.name,
                        "gradient_unrolled": _pair(d.unrolled(rule.gradient), net) if unrolled else None}
    idx = d.index
    matrix = [{"layer": m.layer, "delta": _pair(m.delta, net), "grad_W": _pair(m.grad_W, net),
               "grad_b": None if m.grad_b is None else _pair(m.grad_b, net),
               "grad_skip": {c.key: _pair(g, net) for c, g in m.grad_skips}} for m in d.matrix]
    return {
        "network": _network_dict(net),
        "delta_definition": net.profile.delta_definition,
        "deltas": deltas,
        "parameters": params,
        "index_form": {"output_delta": _pair(idx.output.delta, net),
                       "output_assumption": idx.output.assumption,
                       "hidden_delta": {str(l): _pair(r.hidden_delta, net) for l, r in idx.hidden.items()},
                       "consumers": {str(l): consumers(net, l) for l in idx.hidden},
                       "weight_gradient": _pair(idx.weight_gradient, net),
                       "skip_weight_gradient": {c.key: _pair(g, net) for c, g in idx.skip_gradients.items()},
                       "bias_gradient": _pair(idx.bias_gradient, net) if net.bias else None},
        "matrix_form": matrix,
        "learning_rule": _learning_rule_dict(d),
        "batch": "the batch gradient is the sum over samples n = 1..N of the per-sample gradients"
                 + (" (the 1/N of mse is inside the output delta)" if net.loss.mean else ""),
        "check": None if d.check is None else {"method": d.check.method, "rules": d.check.checked,
                                                "summary": str(d.check)},
        "omitted": [] if unrolled else [f"gradient_unrolled: above {UNROLLED_MAX} parameters, since writing a "
                                        "gradient in outputs and weights alone multiplies out every path"],
    }


GAP = "  ..."


def derivation_text(d, full: bool = False) -> str:
    """What `symbp derive` prints: the deltas, the general and matrix rules, every parameter's update.

    Wide layers show their first and last units (present.SHOWN_MAX); ``full`` lists every one.
    """
    pres = present(d, full)
    net, p = d.net, d.net.profile
    bias = f"biases {net.spec.bias_sign}" if net.bias else "no biases"
    lines = [f"Network {net.name}, notation {p.name} ({p.delta_definition}), {bias}, {net.n_params} parameters"]
    if not pres.complete:
        lines.append(f"Layers wider than {SHOWN_MAX} units show their first and last units "
                     "(symbp derive --all lists every unit and parameter)")
    E = net.loss_in_errors() if net.e else net.loss_in_outputs()
    lines.append(f"Loss of sample n: {p.loss} = {to_text(E)}" +
                 (f", with {_errors_text(net, full)}" if net.e else ""))
    lines.append("")
    for view in pres.layers:
        lines.append(f"Local gradients, layer {view.layer} ({'output' if view.output else 'hidden'}, "
                     f"{view.activation}):")
        for rule in view.units:
            lines += [GAP] if rule is None else _delta_lines(rule, p)
    lines += ["", "General rules (unit j of a layer of any width; k feeds j, m is fed by j):"]
    lines += _general_lines(d)
    lines += ["", "Matrix form (one sample; * elementwise, @ matrix product):"]
    for view in pres.layers:
        lines += _matrix_lines(view.matrix, p)
    lines += ["", "Update equations (online: one sample n; batch: sum the gradient over n = 1..N first):"]
    lines += _learning_rule_lines(d)
    for name in pres.params():
        if name is None:
            lines.append(GAP)
            continue
        rule = d.params[name]
        lines.append(f"  d{p.loss}/d{name} = {to_text(rule.gradient)}   "
                     f"Delta {name} = {to_text(rule.update)}   {name} <- {to_text(rule.new)}")
    if d.check is not None:
        lines += ["", f"Self-check: {d.check}"]
    return "\n".join(lines)


def _learning_rule_lines(d) -> list[str]:
    """The [training] rule in general form, when it is more than plain gradient descent on the sum."""
    r = learning_rule(d)
    if r.plain:
        return []
    p, lines = d.net.profile, [f"  learning rule: {note}" for note in r.notes]
    lines.append(f"  {p.loss} = {to_text(r.loss)}")
    lines.append(f"  d{p.loss}/dw(l)_jk = {to_text(r.gradient)}   Delta w(l)_jk(n) = {to_text(r.update)}"
                 + ("   (dw_prev: Delta w(l)_jk(n-1); per parameter d{name}_prev, such as "
                    f"{d.net.previous(d.net.params()[0]).name})" if r.momentum else ""))
    return lines


def _errors_text(net, full: bool) -> str:
    parts = [None if j is None else f"{net.e[j - 1]} = {to_text(net.error(j))}" for j in shown(len(net.e), full)]
    return ", ".join("..." if part is None else part for part in parts)


def _delta_lines(rule, p) -> list[str]:
    lines = [f"  {rule.symbol} = {to_text(rule.value)}"]
    if rule.output:
        lines.append(f"      d{p.loss}/d{rule.net} = {' + '.join(_chain_text(path) for path in rule.chain)}"
                     f" = {to_text(rule.dE_dv)}")
        if rule.simplification:
            lines.append(f"      simplified ({rule.simplification})")
    return lines


def _general_lines(d) -> list[str]:
    net, p, idx = d.net, d.net.profile, d.index
    lines = [f"  output delta_j = {to_text(idx.output.delta, net)}"
             + (f"   [{idx.output.assumption}]" if idx.output.assumption else "")]
    for l, r in idx.hidden.items():
        lines.append(f"  hidden delta_j (layer l = {l}) = {to_text(r.hidden_delta, net)}")
        if len(r.paths) > 1:
            lines.append("      one term per successor (the multivariable chain rule adds the paths): "
                         + ", ".join(consumers(net, l)))
    lines.append(f"  d{p.loss}/dw(l)_jk = {to_text(idx.weight_gradient, net)}")
    for c, g in idx.skip_gradients.items():
        lines.append(f"  d{p.loss}/dw{role_layer(Role('w', 0, c.src - c.dst))}_jk = {to_text(g, net)}"
                     f"   [the skip {c.src} -> {c.dst}]")
    return lines


def _matrix_lines(m, p) -> list[str]:
    lines = [f"  delta{m.layer} = {to_text(m.delta)}",
             f"  d{p.loss}/dW{m.layer} = {to_text(m.grad_W)}" +
             (f",  d{p.loss}/db{m.layer} = {to_text(m.grad_b)}" if m.grad_b is not None else "")]
    lines += [f"  d{p.loss}/d{c.key} = {to_text(g)}" for c, g in m.grad_skips]
    return lines


def derivation_latex(d, full: bool = False) -> str:
    """What Jupyter shows: per layer the general rule, the matrix form and the units shown, then the check.

    The size of a page at any width: wide layers show their first and last units.
    """
    pres = present(d, full)
    net = d.net
    T = lambda e: to_latex(e, net)
    rows = []
    E = net.profile.loss_tex
    for view in pres.layers:
        kind = "output" if view.output else "hidden"
        units = f"{view.width} unit" + ("s" if view.width > 1 else "")
        rows.append(rf"&\text{{layer {view.layer} ({kind}, {view.activation}, {units})}}")
        rows.append(rf"{T(_general_delta())} &= {T(view.general)}")
        m = view.matrix
        rows.append(rf"{T(sp.MatrixSymbol(f'delta{m.layer}', view.width, 1))} &= {T(m.delta)}")
        for key, grad in m.weight_grads:
            W = sp.MatrixSymbol(key, 1, 1)
            rows.append(rf"\frac{{\partial {E}}}{{\partial {T(W)}}} &= {T(grad)}")
        rows += [r"&\;\;\vdots" if rule is None else rf"{T(rule.symbol)} &= {T(rule.value)}" for rule in view.units]
    r = learning_rule(d)
    if r.momentum:
        at = net.profile.at_step      # the step letter of the profile (ont's n is its net input)
        rows.append(rf"&\text{{every parameter: }} \Delta p{at()} = \alpha \, \Delta p{at(-1)} - \eta \, "
                    rf"\partial {E} / \partial p{at()}")
    else:
        rows.append(rf"&\text{{every parameter: }} \Delta p = -\eta \, \partial {E} / \partial p")
    if r.weight_decay:
        rows.append(rf"\frac{{\partial {E}}}{{\partial w^{{(l)}}_{{jk}}}} &= {T(r.gradient)}")
    if d.check is not None:
        rows.append(rf"&\text{{{_latex_text(str(d.check))}}}")
    return r"$\begin{aligned}" + r"\\ ".join(rows) + r"\end{aligned}$"


def _general_delta() -> sp.Expr:
    from .indexform import B, j
    return B["delta"][j]


def _latex_text(text: str) -> str:
    """Prose of our own (the check's summary) inside \\text{}: escape LaTeX's special characters."""
    for char in "_%&#$":
        text = text.replace(char, "\\" + char)
    return text
