"""`symbp derive` on the issue's four networks, text and JSON, through a real subprocess."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

ROOT = Path(__file__).resolve().parents[1]

NETWORKS = [
    ["2-3-1", "--activation", "sigmoid,linear", "--loss", "half_sse"],
    ["2-2-1", "--activation", "sigmoid", "--loss", "sse", "--bias-sign", "-", "--notation", "ont"],
    ["3-4-4-2", "--activation", "tanh,tanh,linear", "--notation", "mitchell"],
    ["4-5-3", "--activation", "relu,softmax", "--loss", "ce", "--notation", "nielsen"],
]


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symbp", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow
@pytest.mark.parametrize("args", NETWORKS, ids=lambda a: a[0])
def test_derive_text_and_json(args):
    text = run("derive", *args)
    assert text.returncode == 0, text.stderr
    assert "Update equations" in text.stdout and "Self-check" in text.stdout
    assert "Subs" not in text.stdout and "Dummy" not in text.stdout and "Derivative" not in text.stdout
    js = run("derive", *args, "--json")
    assert js.returncode == 0 and js.stderr == ""
    data = json.loads(js.stdout)
    layers = [int(w) for w in args[0].split("-")]
    n_params = sum(a * (b + 1) for a, b in zip(layers[1:], layers))
    assert data["network"]["parameters"] == n_params == len(data["parameters"])
    w = data["parameters"]["w2_1_1"]
    assert set(w) >= {"gradient", "update", "new", "delta"} and w["gradient"]["latex"]


def test_json_update_is_seed_003s_rule():
    data = json.loads(run("derive", "2-3-1", "--activation", "sigmoid,linear", "--json").stdout)
    names = {n: sp.Symbol(n, real=True) for n in ("delta2_1", "y1_1", "x1", "delta1_1")}
    names["eta"] = sp.Symbol("eta", positive=True)
    update = sp.parse_expr(data["parameters"]["w2_1_1"]["update"]["expr"], local_dict=names)  # our own output
    assert sp.expand(update - names["eta"] * names["delta2_1"] * names["y1_1"]) == 0
    assert data["parameters"]["w2_1_1"]["update"]["latex"].count(r"\eta") == 1


def test_spec_file_and_flags_conflict(tmp_path):
    spec = tmp_path / "n.toml"
    spec.write_text('[network]\nlayers = [2, 2, 1]\nactivations = "tanh"\n')
    ok = run("derive", str(spec), cwd=tmp_path)
    assert ok.returncode == 0 and "tanh" in ok.stdout
    clash = run("derive", str(spec), "--loss", "sse", cwd=tmp_path)
    assert clash.returncode == 2 and "--loss" in clash.stderr


def test_python_api_repr_latex():
    from symbp import Network, derive
    d = derive(Network.build(layers=[2, 2, 1], activations="tanh", loss="sse"))
    tex = d._repr_latex_()
    assert tex.startswith("$") and r"\delta" in tex and "Subs" not in tex
