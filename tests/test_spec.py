"""Every bad spec is refused with one message naming the field; the CLI exits 2 with no traceback."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from symbp.errors import SpecError
from symbp.spec import builtin_spec, load_spec, spec_from_layer_string

ROOT = Path(__file__).resolve().parents[1]
GOOD = """\
title = "t"
[network]
layers = [2, 3, 1]
activations = ["sigmoid", "linear"]
loss = "half_sse"
[example]
inputs = [0.05, 0.10]
targets = [0.01]
weights = [[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], [[0.7, 0.8, 0.9]]]
biases = [[0.1, 0.1, 0.1], [0.2]]
learning_rate = 0.5
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "net.toml"
    p.write_text(text)
    return p


def test_good_spec(tmp_path):
    s = load_spec(write(tmp_path, GOOD))
    assert s.layers == (2, 3, 1) and s.activations == ("sigmoid", "linear") and s.example.targets == ((0.01,),)


BAD_TOML = [
    ("unknown activation", GOOD.replace('"linear"]', '"lienar"]'), "network.activations[1]"),
    ("softmax hidden", GOOD.replace('["sigmoid", "linear"]', '["softmax", "linear"]'), "network.activations[0]"),
    ("ce without softmax", GOOD.replace('"half_sse"', '"ce"'), "network.loss"),
    ("unknown loss", GOOD.replace('"half_sse"', '"l2"'), "network.loss"),
    ("width 0", GOOD.replace("[2, 3, 1]", "[2, 0, 1]"), "network.layers[1]"),
    ("negative width", GOOD.replace("[2, 3, 1]", "[2, -3, 1]"), "network.layers[1]"),
    ("non-integer width", GOOD.replace("[2, 3, 1]", "[2, 3.5, 1]"), "network.layers[1]"),
    ("one layer", GOOD.replace("[2, 3, 1]", "[2]").replace('["sigmoid", "linear"]', '"sigmoid"'), "network.layers"),
    ("misspelled key", GOOD.replace("activations =", "activaton ="), "network.activaton"),
    ("misspelled top key", GOOD.replace("title", "titel"), "titel"),
    ("weights shape", GOOD.replace("[0.5, 0.6]], [[0.7", "[0.5]], [[0.7"), "example.weights[0]"),
    ("biases shape", GOOD.replace("[[0.1, 0.1, 0.1], [0.2]]", "[[0.1, 0.1], [0.2]]"), "example.biases[0]"),
    ("inputs shape", GOOD.replace("[0.05, 0.10]", "[0.05]"), "example.inputs[0]"),
    ("targets shape", GOOD.replace("[0.01]", "[0.01, 0.2]"), "example.targets[0]"),
    ("nan", GOOD.replace("0.05,", "nan,"), "example.inputs[0]"),
    ("inf", GOOD.replace("learning_rate = 0.5", "learning_rate = inf"), "example.learning_rate"),
    ("learning rate 0", GOOD.replace("learning_rate = 0.5", "learning_rate = 0"), "example.learning_rate"),
    ("negative learning rate", GOOD.replace("learning_rate = 0.5", "learning_rate = -1"), "example.learning_rate"),
    ("string number", GOOD.replace("0.05,", '"0.05",'), "example.inputs[0]"),
    ("bias sign", GOOD.replace('loss = "half_sse"', 'loss = "half_sse"\nbias_sign = "*"'), "network.bias_sign"),
    ("notation", GOOD.replace('loss = "half_sse"', 'loss = "half_sse"\nnotation = "bishop"'), "network.notation"),
    ("biases without bias", GOOD.replace('loss = "half_sse"', 'loss = "half_sse"\nbias = false'),
     "example.biases"),
    ("not toml", "this is [not toml", "net.toml"),
]


@pytest.mark.parametrize("case,text,field", BAD_TOML, ids=[c[0] for c in BAD_TOML])
def test_bad_spec_names_the_field(tmp_path, case, text, field):
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    assert str(info.value).startswith(field) or field in str(info.value)
    assert "expected" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "absent.toml")


def test_ce_targets_must_sum_to_one(tmp_path):
    text = GOOD.replace('["sigmoid", "linear"]', '["sigmoid", "softmax"]').replace('"half_sse"', '"ce"')
    with pytest.raises(SpecError, match="sum to 1"):
        load_spec(write(tmp_path, text.replace("[0.01]", "[0.5]")))


@pytest.mark.parametrize("layers,kw,field", [
    ("2-3-1", {"activation": "sigmoid,foo"}, "network.activations[1]"),
    ("2-3-1", {"activation": "sigmoid,linear,tanh"}, "network.activations"),
    ("2--1", {}, "layers[1]"),
    ("2-3-1", {"loss": "bce", "activation": "tanh"}, "network.loss"),
])
def test_bad_layer_strings(layers, kw, field):
    with pytest.raises(SpecError) as info:
        spec_from_layer_string(layers, **kw)
    assert str(info.value).startswith(field)


def test_builtin_is_seed_003():
    s = builtin_spec()
    assert s.layers == (2, 3, 1) and s.activations == ("sigmoid", "linear") and s.numbering == "global"


@pytest.mark.parametrize("args", [["2-0-1"], ["2-3-1", "--activation", "softmax,linear"], ["2-3-1", "--loss", "ce"],
                                  ["missing.toml"], ["2-3-1", "--bias-sign", "x"]])
def test_cli_bad_input_exits_2_without_traceback(tmp_path, args):
    r = subprocess.run([sys.executable, "-m", "symbp", "derive", *args], capture_output=True, text=True,
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.strip()
    assert len(r.stderr.strip().splitlines()) <= 3   # argparse adds a usage line
    assert list(tmp_path.iterdir()) == []


# -- type holes (issue 17): each is exit 2 naming the field, never a TypeError or OverflowError ----------

HOLES = [
    ("loss a list", GOOD.replace('"half_sse"', '["sse"]'), "network.loss", "a loss name"),
    ("activation a number", GOOD.replace('["sigmoid", "linear"]', '["sigmoid", 3]'), "network.activations", "names"),
    ("400-digit input", GOOD.replace("0.05,", "1" + "0" * 400 + ","), "example.inputs[0]", "magnitude"),
    ("400-digit weight", GOOD.replace("[[0.7,", "[[-" + "9" * 400 + ","), "example.weights[1][0][0]", "magnitude"),
    ("1e308 input", GOOD.replace("0.05,", "1e308,"), "example.inputs[0]", "at most 1e+06"),
    ("huge learning rate", GOOD.replace("learning_rate = 0.5", "learning_rate = 1e300"), "example.learning_rate",
     "magnitude"),
    ("control character", GOOD.replace('title = "t"', r'title = "a\u0007b"'), "title", "control character"),
    ("newline", GOOD.replace('title = "t"', r'title = "two\nlines"'), "title", "control character"),
    ("emoji", GOOD.replace('title = "t"', r'title = "backprop \U0001F600"'), "title", "GRINNING FACE"),
    ("CJK", GOOD.replace('title = "t"', 'title = "逆伝播"'), "title", "cannot typeset"),
    ("long title", GOOD.replace('title = "t"', f'title = "{"x" * 301}"'), "title", "at most 300"),
    ("title a table", GOOD.replace('title = "t"', "title = {a = 1}"), "title", "a string"),
]


@pytest.mark.parametrize("case,text,field,words", HOLES, ids=[h[0] for h in HOLES])
def test_type_holes_name_the_field(tmp_path, case, text, field, words):
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    assert str(info.value).startswith(field) and words in str(info.value)


def test_type_holes_exit_2_on_the_cli(tmp_path):
    for _, text, field, _ in HOLES[:6:2]:
        r = subprocess.run([sys.executable, "-m", "symbp", "example", str(write(tmp_path, text))],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == 2 and r.stderr.startswith(f"symbp: error: {field}") and "Traceback" not in r.stderr


@pytest.mark.parametrize("layers,part", [("2-²-1", "²"), ("2-٣-1", "٣"), ("2-3-1²", "1²")])
def test_unicode_digits_in_a_layer_string(layers, part):
    with pytest.raises(SpecError, match=r"^layers\[\d\]") as info:
        spec_from_layer_string(layers)
    assert repr(part) in str(info.value)


def test_did_you_mean_for_activation_and_loss_names():
    with pytest.raises(SpecError, match=r"did you mean 'sigmoid'"):
        spec_from_layer_string("2-3-1", activation="sigmod")
    with pytest.raises(SpecError, match=r"did you mean 'half_sse'"):
        spec_from_layer_string("2-3-1", loss="half-sse")


def test_greek_and_math_titles_are_typeset():
    from symbp.notes import tex_escape
    spec = spec_from_layer_string("2-2-1", title="Gradient ∂E/∂w with η = 0.5, Σ δ·y, café ×2")
    assert spec.title.startswith("Gradient")
    assert tex_escape("η ∂ Σ é") == r"\ensuremath{\eta} \ensuremath{\partial} \ensuremath{\Sigma} é"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="TeX Live not installed")
def test_unicode_title_compiles(tmp_path):
    from symbp import Network
    from symbp.notes import render_notes
    title = "Rückpropagation: ∂E/∂w, η → 0, αβγ ΩΔ, x ≤ 10⁴, naïve “quotes” — ok…"
    pdf = render_notes(Network(spec_from_layer_string("2-2-1", title=title)), tmp_path)
    assert pdf.exists() and pdf.stat().st_size > 0


def test_example_whose_loss_overflows_is_refused(tmp_path):
    """Every number within the bound, but 1e6 times 1e6 through 30 linear layers is inf: refused, naming example."""
    from symbp.example import worked_example
    layers = [1] * 31
    text = (f'[network]\nlayers = {layers}\nactivations = "linear"\n[example]\ninputs = [1e6]\ntargets = [1]\n'
            f'weights = {[[[1e6]]] * 30}\n')
    with pytest.raises(SpecError, match=r"^example: expected numbers for which the loss"):
        worked_example(load_spec(write(tmp_path, text)))


# -- a built-in activation's parameters as a table: [activation.leaky_relu] slope = 0.2 -------------

def _leaky_spec(table: dict, acts=("leaky_relu", "linear")):
    from symbp.spec import spec_from_dict
    return spec_from_dict({"network": {"layers": [2, 3, 1], "activations": list(acts)},
                           "activation": {"leaky_relu": table}})


def test_a_slope_table_is_the_row_of_the_call_form():
    from symbp import Network
    from symbp.activations import get_activation
    s = _leaky_spec({"slope": 0.2})
    assert s.activations == ("leaky_relu(0.2)", "linear")
    assert s == spec_from_layer_string("2-3-1", activation="leaky_relu(0.2),linear")
    assert Network(s).activation(1) is get_activation("leaky_relu(0.2)")
    assert _leaky_spec({"slope": 0.01}).activations[0] == "leaky_relu"        # the default slope's own row
    assert _leaky_spec({"slope": 0.3}, acts=("leaky_relu", "leaky_relu(0.5)")).activations == (
        "leaky_relu(0.3)", "leaky_relu(0.5)")                                   # the call form keeps its own slope


@pytest.mark.parametrize("table,field,words", [
    ({"slope": 1}, "activation.leaky_relu.slope", "0 < slope < 1"),
    ({"slope": 1.5}, "activation.leaky_relu.slope", "0 < slope < 1"),
    ({"slope": 0}, "activation.leaky_relu.slope", "0 < slope < 1"),
    ({"slope": -0.2}, "activation.leaky_relu.slope", "0 < slope < 1"),
    ({"slope": "0.2"}, "activation.leaky_relu.slope", "a number"),
    ({"slope": True}, "activation.leaky_relu.slope", "a number"),
    ({"slope": float("nan")}, "activation.leaky_relu.slope", "a number"),
    ({}, "activation.leaky_relu.slope", "missing"),
    ({"slope": 0.2, "alpha": 1.0}, "activation.leaky_relu.alpha", "a known key: slope"),
    ({"formula": "max(z, z/5)"}, "activation.leaky_relu.formula", "a name of your own"),
    ({"slope": 0.2, "formula": "z"}, "activation.leaky_relu.formula", "its table holds its parameters"),
])
def test_a_bad_slope_table_names_the_field(table, field, words):
    with pytest.raises(SpecError) as err:
        _leaky_spec(table)
    assert err.value.field == field and words in str(err.value)


def test_a_slope_table_the_network_does_not_use_is_refused():
    with pytest.raises(SpecError, match=r"activation\.leaky_relu: .*network.activations uses"):
        _leaky_spec({"slope": 0.2}, acts=("tanh", "linear"))


def test_a_table_for_an_activation_without_parameters_is_refused():
    from symbp.spec import spec_from_dict
    with pytest.raises(SpecError, match=r"activation\.elu: .*only leaky_relu takes"):
        spec_from_dict({"network": {"layers": [2, 3, 1], "activations": ["elu", "linear"]},
                        "activation": {"elu": {"alpha": 0.5}}})


def test_a_bad_slope_table_exits_2_on_the_cli(tmp_path):
    path = write(tmp_path, '[network]\nlayers = [2, 3, 1]\nactivations = ["leaky_relu", "linear"]\n'
                           '[activation.leaky_relu]\nslope = 2.0\n')
    out = subprocess.run([sys.executable, "-m", "symbp", "derive", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.count("\n") == 1
    assert "activation.leaky_relu.slope" in out.stderr
