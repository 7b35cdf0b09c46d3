"""A derivation as text for a terminal, as a JSON-ready dict, and as LaTeX for Jupyter."""
from __future__ import annotations

import sympy as sp

from .indexform import Role
from .printing import role_layer, to_latex, to_text


def _pair(expr, net) -> dict:
    return {"expr": to_text(expr), "latex": to_latex(expr, net)}


def _chain_text(path) -> str:
    return " * ".join(f"d{f.of}/d{f.wrt}" for f in path)


def _network_dict(net) -> dict:
    s = net.spec
    return {"layers": list(s.layers), "activations": list(s.activations), "loss": s.loss, "bias": s.bias,
            "bias_sign": s.bias_sign, "notation": s.notation, "numbering": s.numbering, "title": s.title,
            "skip": [list(p) for p in s.skip], "residual": [list(p) for p in s.residual],
            "parameters": net.n_params}


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
    for name, rule in d.params.items():
        params[name] = {"kind": rule.kind, "layer": rule.layer, "unit": rule.unit, "source": rule.source,
                        "source_layer": rule.src,
                        "delta": net.delta[rule.layer][rule.unit - 1].name,
                        "gradient": _pair(rule.gradient, net), "update": _pair(rule.update, net),
                        "new": _pair(rule.new, net),
                        "gradient_unrolled": _pair(d.unrolled(rule.gradient), net) if net.n_params <= 200 else None}
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
                       "consumers": {str(l): _consumers(net, l) for l in idx.hidden},
                       "weight_gradient": _pair(idx.weight_gradient, net),
                       "skip_weight_gradient": {c.key: _pair(g, net) for c, g in idx.skip_gradients.items()},
                       "bias_gradient": _pair(idx.bias_gradient, net) if net.bias else None},
        "matrix_form": matrix,
        "batch": "the batch gradient is the sum over samples n = 1..N of the per-sample gradients"
                 + (" (the 1/N of mse is inside the output delta)" if net.loss.mean else ""),
        "check": None if d.check is None else {"method": d.check.method, "rules": d.check.checked,
                                                "summary": str(d.check)},
    }


def _consumers(net, layer: int) -> list[str]:
    """The successors of a layer's units, one per path: "layer 2 (W2)", "layer 4 (W4, through the shortcut 1 -> 3)"."""
    out = []
    for path in net.graph.paths(layer):
        via = ", ".join(f"through the shortcut {c.src} -> {c.dst}" for c in path.via)
        out.append(f"layer {path.into.dst} ({path.into.key}{', ' + via if via else ''})")
    return out


def derivation_text(d) -> str:
    """What `symbp derive` prints: the deltas, then every parameter's gradient and update."""
    net, p = d.net, d.net.profile
    bias = f"biases {net.spec.bias_sign}" if net.bias else "no biases"
    lines = [f"Network {net.name}, notation {p.name} ({p.delta_definition}), {bias}, {net.n_params} parameters"]
    E = net.loss_in_errors() if net.e else net.loss_in_outputs()
    lines.append(f"Loss of sample n: {p.loss} = {to_text(E)}" +
                 (f", with {', '.join(f'{e} = {to_text(net.error(j))}' for j, e in enumerate(net.e, 1))}"
                  if net.e else ""))
    lines.append("")
    for l in range(net.depth, 0, -1):
        lines.append(f"Local gradients, layer {l} ({'output' if l == net.depth else 'hidden'}, "
                     f"{net.spec.activations[l - 1]}):")
        for sym in net.delta[l]:
            rule = d.deltas[sym]
            lines.append(f"  {sym} = {to_text(rule.value)}")
            if rule.output:
                lines.append(f"      d{p.loss}/d{rule.net} = {' + '.join(_chain_text(path) for path in rule.chain)}"
                             f" = {to_text(rule.dE_dv)}")
                if rule.simplification:
                    lines.append(f"      simplified ({rule.simplification})")
    lines += ["", "General rules (unit j of a layer of any width; k feeds j, m is fed by j):"]
    idx = d.index
    lines.append(f"  output delta_j = {to_text(idx.output.delta, net)}"
                 + (f"   [{idx.output.assumption}]" if idx.output.assumption else ""))
    for l, r in idx.hidden.items():
        lines.append(f"  hidden delta_j (layer l = {l}) = {to_text(r.hidden_delta, net)}")
        if len(r.paths) > 1:
            lines.append(f"      one term per successor (the multivariable chain rule adds the paths): "
                         + ", ".join(_consumers(net, l)))
    lines.append(f"  d{p.loss}/dw(l)_jk = {to_text(idx.weight_gradient, net)}")
    for c, g in idx.skip_gradients.items():
        lines.append(f"  d{p.loss}/dw{role_layer(Role('w', 0, c.src - c.dst))}_jk = {to_text(g, net)}"
                     f"   [the skip {c.src} -> {c.dst}]")
    lines += ["", "Matrix form (one sample; * elementwise, @ matrix product):"]
    for m in d.matrix:
        lines.append(f"  delta{m.layer} = {to_text(m.delta)}")
        lines.append(f"  d{p.loss}/dW{m.layer} = {to_text(m.grad_W)}" +
                     (f",  d{p.loss}/db{m.layer} = {to_text(m.grad_b)}" if m.grad_b is not None else ""))
        for c, g in m.grad_skips:
            lines.append(f"  d{p.loss}/d{c.key} = {to_text(g)}")
    lines += ["", "Update equations (online: one sample n; batch: sum the gradient over n = 1..N first):"]
    for name, rule in d.params.items():
        lines.append(f"  d{p.loss}/d{name} = {to_text(rule.gradient)}   "
                     f"Delta {name} = {to_text(rule.update)}   {name} <- {to_text(rule.new)}")
    if d.check is not None:
        lines += ["", f"Self-check: {d.check}"]
    return "\n".join(lines)


def derivation_latex(d) -> str:
    """A compact aligned block for Jupyter's _repr_latex_."""
    net = d.net
    rows = [rf"{to_latex(sym, net)} &= {to_latex(r.value, net)}" for sym, r in d.deltas.items()]
    for rule in d.params.values():
        rows.append(rf"\Delta {to_latex(rule.symbol, net)} &= {to_latex(rule.update, net)}")
    return r"$\begin{aligned}" + r"\\ ".join(rows) + r"\end{aligned}$"
