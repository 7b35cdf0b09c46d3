"""PyTorch autograd (float64) as the oracle of the exported gradients of the newer activations.

    .venv/bin/python tests/oracles/torch_activations.py [--torch /tmp/torchvenv/bin/python]

Run with symbp's Python, it exports a NumPy module per case into a scratch directory (elu, leaky_relu,
leaky_relu(0.2), silu, gelu, softsign, and an activation and a loss defined by formulas in a spec),
then runs itself under a Python that has torch (``--worker DIR``). The worker imports nothing of
symbp: it loads each module, draws float64 parameters and a batch, and compares the module's
gradients() and loss() with torch autograd of the same network written in torch from the module's
constants. Prints a table of the largest absolute differences; exit 1 if one exceeds TOLERANCE.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TOLERANCE = 1e-12
TORCH = "/tmp/torchvenv/bin/python"
FORMULA_SPEC = """\
[network]
layers = [3, 4, 2]
activations = ["softsign_f", "linear"]
loss = "quartic"
[activation.softsign_f]
formula = "z/(1 + abs(z))"
[loss.quartic]
formula = "(y - t)**4/4"
"""
CASES = [(f"3-4-2 {a},linear", "3-4-2", f"{a},linear") for a in
         ("elu", "leaky_relu", "leaky_relu(0.2)", "silu", "gelu", "softsign")]
CASES += [(f"3-4-2 {a},{a}", "3-4-2", f"{a},{a}") for a in ("elu", "gelu")]


# -- symbp side: export the modules ------------------------------------------------------------

def export_all(out: Path) -> list[dict]:
    from symbp.export import export
    from symbp.network import Network

    cases = []
    for i, (label, layers, acts) in enumerate(CASES):
        path = out / f"case{i}.py"
        export(Network.from_string(layers, activation=acts), path, target="numpy")
        cases.append({"label": label, "path": str(path)})
    spec = out / "formula.toml"
    spec.write_text(FORMULA_SPEC)
    path = out / "formula_case.py"
    export(Network.load(str(spec)), path, target="numpy")
    cases.append({"label": "3-4-2 softsign_f (formula), quartic loss (formula)", "path": str(path)})
    return cases


# -- torch side: the same network in torch, autograd, compared ------------------------------------

def _torch_activation(name: str):
    import torch
    F = torch.nn.functional
    if name.startswith("leaky_relu"):
        slope = float(name[len("leaky_relu("):-1]) if "(" in name else 0.01
        return lambda v: F.leaky_relu(v, negative_slope=slope)
    return {"elu": lambda v: F.elu(v, alpha=1.0), "silu": F.silu, "gelu": lambda v: F.gelu(v, approximate="none"),
            "softsign": F.softsign, "linear": lambda v: v,
            # the formula row of FORMULA_SPEC, written here by hand
            "softsign_f": lambda v: v / (1 + torch.abs(v))}[name]


def _torch_loss(name: str, y, t):
    return {"half_sse": lambda: 0.5 * ((t - y) ** 2).sum(), "quartic": lambda: ((y - t) ** 4 / 4).sum()}[name]()


def _load(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare(path: str, seed: int = 0) -> dict:
    import numpy as np
    import torch

    m = _load(path)
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(0, 0.8, m.SHAPES[k]) for k in m.PARAMETERS}
    X, T = rng.normal(0, 1.5, (16, m.LAYERS[0])), rng.normal(0, 1, (16, m.LAYERS[-1]))
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    y = torch.tensor(X, dtype=torch.float64)
    for l, act in enumerate(m.ACTIVATIONS, start=1):
        v = y @ tp[f"W{l}"].T + m.BIAS_SIGN * tp[f"b{l}"]
        y = _torch_activation(act)(v)
    E = _torch_loss(m.LOSS, y, torch.tensor(T, dtype=torch.float64))
    E.backward()
    grads = m.gradients(params, X, T)
    diff = max(float(np.max(np.abs(grads[k] - tp[k].grad.numpy()))) for k in m.PARAMETERS)
    scale = max(float(np.max(np.abs(tp[k].grad.numpy()))) for k in m.PARAMETERS)
    return {"grad": diff, "scale": scale, "loss": abs(float(m.loss(params, X, T)) - float(E.detach()))}


def worker(cases_file: str) -> int:
    cases = json.loads(Path(cases_file).read_text())
    rows = [(c["label"], compare(c["path"])) for c in cases]
    width = max(len(label) for label, _ in rows)
    print(f"{'case':<{width}}  max |grad - torch|  max |grad|  |loss - torch|")
    for label, r in rows:
        print(f"{label:<{width}}  {r['grad']:17.2e}  {r['scale']:10.3g}  {r['loss']:14.2e}")
    worst = max(max(r["grad"], r["loss"]) for _, r in rows)
    print(f"worst {worst:.2e} (tolerance {TOLERANCE:g})")
    return 0 if worst <= TOLERANCE else 1


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        return worker(argv[1])
    python = argv[argv.index("--torch") + 1] if "--torch" in argv else TORCH
    with tempfile.TemporaryDirectory() as tmp:
        cases = export_all(Path(tmp))
        listing = Path(tmp) / "cases.json"
        listing.write_text(json.dumps(cases))
        return subprocess.run([python, __file__, "--worker", str(listing)]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
