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


def test_verify_cli_exit_codes(tmp_path):
    base = ["verify", "2-3-1", "--activation", "sigmoid,linear", "--param", "w1_2_1", "--quantity", "update"]
    right = run(*base, "--expr", "eta*(d1-y2_1)*w2_1_2*y1_2*(1-y1_2)*x1")
    assert right.returncode == 0, right.stderr
    wrong = run(*base, "--expr", "eta*(d1-y2_1)*w2_1_2*x1", "--json")
    assert wrong.returncode == 1
    data = json.loads(wrong.stdout)
    assert data["equivalent"] is False and data["mistake"] == "missing_activation_derivative"
    assert data["counterexample"]
    hostile = run(*base, "--expr", "__import__('os').system('touch x')", cwd=tmp_path)
    assert hostile.returncode == 2 and "__import__" in hostile.stderr and list(tmp_path.iterdir()) == []
    listing = run("verify", "2-2-1", "--notation", "ont", "--list-symbols")
    assert listing.returncode == 0 and "n1_1" in listing.stdout and "delta2_1" in listing.stdout


def test_example_cli_json_matches_hand_computation(tmp_path):
    """One sample through a 1-1 linear unit with half_sse, worked out by hand."""
    spec = tmp_path / "one.toml"
    spec.write_text('[network]\nlayers = [1, 1]\nactivations = "linear"\n'
                    '[example]\ninputs = [2.0]\ntargets = [1.0]\nweights = [[[0.5]]]\nbiases = [[0.25]]\n'
                    'learning_rate = 0.1\n')
    data = json.loads(run("example", str(spec), "--json", cwd=tmp_path).stdout)
    # y = 0.5*2 + 0.25 = 1.25; E = 0.5*(1 - 1.25)^2 = 0.03125; dE/dw = (y - d) x = 0.5; dE/db = 0.25
    assert data["forward"]["y1_1"] == pytest.approx(1.25)
    assert data["loss"] == pytest.approx(0.03125)
    assert data["gradients"] == pytest.approx({"w1_1_1": 0.5, "b1_1": 0.25})
    assert data["updated"] == pytest.approx({"w1_1_1": 0.45, "b1_1": 0.225})


def test_verify_answers_file_grades_and_scores(tmp_path):
    answers = tmp_path / "answers.toml"
    answers.write_text(
        '[[answer]]\nparam = "w2_1_1"\nquantity = "update"\nexpr = "eta*(d1 - y2_1)*y1_1"\n\n'   # seed 003: right
        '[[answer]]\nparam = "b2_1"\nquantity = "update"\nexpr = "-eta*(d1 - y2_1)"\n\n'         # sign
        '[[answer]]\nparam = "b1_1"\nexpr = "().__class__"\n')                                    # hostile
    r = run("verify", "2-3-1", "--activation", "sigmoid,linear", "--answers", str(answers), "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert (data["score"], data["total"]) == (1, 3)
    assert [a["equivalent"] for a in data["answers"]] == [True, False, None]
    assert data["answers"][1]["mistake"] == "sign" and "error" in data["answers"][2]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[answer]]\nparam = "w2_1_1"\nquantity = "slope"\nexpr = "1"\n')
    r = run("verify", "2-3-1", "--answers", str(bad), cwd=tmp_path)
    assert r.returncode == 2 and "answer[0].quantity" in r.stderr


def test_verify_latex_cli(tmp_path):
    base = ["verify", "2-3-1", "--activation", "sigmoid,linear", "--numbering", "global", "--param", "w1_1_1",
            "--quantity", "update", "--latex", "--expr"]
    seed_003 = run(*base, r"\eta (d_1 - y_4) w_{41} y_1 (1 - y_1) x_1")
    assert seed_003.returncode == 0, seed_003.stderr
    assert run(*base, r"\eta (d_1 - y_4) w_{41} x_1").returncode == 1
    hostile = run(*base, r"\input{/etc/passwd}", cwd=tmp_path)
    assert hostile.returncode == 2 and r"\input" in hostile.stderr and list(tmp_path.iterdir()) == []


def test_verify_expr_may_start_with_a_minus():
    r = run("verify", "2-2-1", "--notation", "ont", "--param", "w2_1_1", "--quantity", "update",
            "--expr", "-eta*delta2_1*o1_1")
    assert r.returncode == 0, r.stderr


# -- CLI conventions and the Python API (issue 17) ----------------------------------------------------

def test_version_is_pyproject_s():
    import tomllib
    from importlib.metadata import version

    import symbp
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"symbp {declared}"
    assert symbp.__version__ == version("symbp") == declared


def test_help_states_the_limits():
    r = run("--help")
    assert r.returncode == 0 and "Limits:" in r.stdout and "2,000,000" in r.stdout and "--force" in r.stdout


def test_spec_from_stdin(tmp_path):
    spec = '[network]\nlayers = [2, 2, 1]\nactivations = "tanh"\n'
    r = subprocess.run([sys.executable, "-m", "symbp", "derive", "-", "--json"], input=spec, capture_output=True,
                       text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["network"]["parameters"] == 9 and list(tmp_path.iterdir()) == []
    bad = subprocess.run([sys.executable, "-m", "symbp", "derive", "-"], input="[network\n", capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("symbp: error: <stdin>: expected valid TOML")


def test_verify_expr_from_stdin():
    r = subprocess.run([sys.executable, "-m", "symbp", "verify", "2-3-1", "--activation", "sigmoid,linear",
                        "--param", "w2_1_1", "--quantity", "update", "--expr", "-"],
                       input="eta*(d1 - y2_1)*y1_1\n", capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.returncode == 0, r.stderr


def test_export_to_stdout(tmp_path):
    import ast
    r = run("export", "2-2-1", "-o", "-", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "def gradients(" in r.stdout and ast.parse(r.stdout) and list(tmp_path.iterdir()) == []
    c = run("export", "2-2-1", "-o", "-", "--target", "c", cwd=tmp_path)
    assert c.returncode == 2 and "two files" in c.stderr and list(tmp_path.iterdir()) == []


def test_parameter_budget(tmp_path):
    from symbp.spec import WARN_PARAMS, check_budget, spec_from_layer_string
    r = run("derive", "1500-1500", cwd=tmp_path)       # W = 2,251,500
    assert r.returncode == 2 and "network.layers" in r.stderr and "--force" in r.stderr and "2,251,500" in r.stderr
    big = spec_from_layer_string("1500-1500")
    assert check_budget(big, force=True) and check_budget(spec_from_layer_string("2-3-1")) is None
    assert "weights and biases" in check_budget(spec_from_layer_string("600-500"))
    assert spec_from_layer_string("600-500").n_params == 300_500 > WARN_PARAMS


def test_the_python_api_keeps_the_same_budget():
    from symbp import derive
    from symbp.errors import SpecError
    with pytest.raises(SpecError) as info:
        derive("1500-1500")                          # W = 1500*1500 + 1500 = 2,251,500 > 2,000,000
    assert info.value.field == "network.layers" and "force=True" in str(info.value)


def test_did_you_mean_on_the_command_line():
    r = run("derive", "2-3-1", "--activation", "sigmoid,lienar", "--loss", "half_sse")
    assert r.returncode == 2 and "did you mean 'linear'" in r.stderr
    r = run("derive", "2-3-1", "--loss", "cross_entropy")
    assert r.returncode == 2 and "network.loss" in r.stderr


def test_python_api_promised_by_the_product(tmp_path):
    import symbp
    from symbp import Network, builtin_spec, derive
    assert callable(symbp.export) and callable(symbp.render_notes)
    net = Network(layers=[2, 3, 1], activations=["sigmoid", "linear"])
    assert net.spec == Network(builtin_spec()).spec.__class__(layers=(2, 3, 1), activations=("sigmoid", "linear"))
    assert Network(layers=[2, 3, 1], activation="sigmoid,linear").spec == net.spec
    assert Network("2-3-1", activations=["sigmoid", "linear"]).spec == net.spec
    assert Network(layers="2-3-1", activation="sigmoid,linear").spec == net.spec
    assert Network(builtin_spec()).spec.numbering == "global"
    d = derive("2-3-1", activation="sigmoid,linear", loss="sse")
    assert d.net.spec.activations == ("sigmoid", "linear") and d.net.spec.loss == "sse"
    assert derive("2-3-1", activations="sigmoid,linear").net.spec == net.spec
    path = symbp.export(d, tmp_path / "grad.py")
    assert path.read_text().startswith('"""')
    tex = symbp.render_notes(d, tmp_path / "notes", pdf=False)
    assert tex.name == "notes.tex" and tex.exists()
    spec_file = tmp_path / "n.toml"
    spec_file.write_text('[network]\nlayers = [2, 2, 1]\n')
    with pytest.raises(symbp.SymbpError, match="layer-string flags"):
        derive(spec_file, loss="sse")
    with pytest.raises(TypeError):
        Network(layers=[2, 1], activation="tanh", activations="tanh")
    assert (ROOT / "symbp" / "py.typed").exists()
