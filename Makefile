# make test: everything a fresh Debian machine needs, then the whole test suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

TEX_PACKAGES := texlive-latex-base texlive-latex-recommended texlive-fonts-recommended texlive-pictures latexmk poppler-utils

.PHONY: test test-min lint notes derive bench clean system-deps tex

system-deps:
	@if ! $(PY) -c "import venv, ensurepip" >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip; \
	  else echo "install python3-venv: sudo apt-get install python3-venv" >&2; exit 3; fi; fi

# TeX Live is not optional for the notes or their tests: install it when it is missing.
tex:
	@if ! command -v pdflatex >/dev/null || ! command -v latexmk >/dev/null || ! command -v pdftotext >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEX_PACKAGES); \
	  else echo "TeX Live is missing: sudo apt-get install $(TEX_PACKAGES)" >&2; exit 3; fi; fi

$(STAMP): pyproject.toml | system-deps
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# jax is optional (the JAX target's tests skip without it), but tested wherever it installs.
	$(BIN)/pip install -q 'jax>=0.4' || echo "jax unavailable: the JAX target's tests will be skipped" >&2
	touch $(STAMP)

# pytest exits 5 when it collects no test: that must fail, and it does (any non-zero fails make).
test: $(STAMP) tex
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q -p no:cacheprovider
	$(MAKE) test-min

# The declared floors really work: the core tests once more against exactly tests/min-pins.txt.
MIN_VENV := .venv-min
MIN_TESTS := tests/test_derive.py tests/test_compile.py tests/test_export_api.py \
	tests/test_reference.py tests/test_verify_latex.py tests/test_min_pins.py
$(MIN_VENV)/.installed: pyproject.toml tests/min-pins.txt | system-deps
	$(PY) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install -q --upgrade pip
	$(MIN_VENV)/bin/pip install -q -r tests/min-pins.txt 'pytest>=7' 'hypothesis>=6'
	$(MIN_VENV)/bin/pip install -q --no-deps -e .
	touch $@

test-min: $(MIN_VENV)/.installed tex
	HYPOTHESIS_PROFILE=ci $(MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider $(MIN_TESTS)

# ruff (config in pyproject.toml: E, F, B, I, UP; line length 120), installed into the venv on first use.
lint: $(STAMP)
	@$(BIN)/python -m ruff --version >/dev/null 2>&1 || $(BIN)/pip install -q 'ruff>=0.6'
	$(BIN)/python -m ruff check .

notes: $(STAMP) tex
	$(BIN)/symbp notes -o output

derive: $(STAMP)
	$(BIN)/symbp derive 2-3-1 --activation sigmoid,linear --loss half_sse

# Long measurements live here, never in the tests: output/bench.md and output/bench.png.
bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]' || echo "matplotlib unavailable: bench.png will be skipped" >&2
	$(BIN)/pip install -q -e '.[compare]' || echo "torch/jax unavailable: their columns will be skipped" >&2
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) output/*.tex output/*.pdf
