# One command per habit. Every tool is installed here, into virtual environments,
# so a fresh clone needs only python3 (3.11+) and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS_VENV := .venv-tools
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime
# The macro's Lambda runtime is Python 3.13: `sam build` needs that interpreter on
# PATH. Found on PATH or in pyenv; override with PY313=/path/to/python3.13.
PY313 ?= $(shell for p in $$(command -v python3.13) $$HOME/.pyenv/versions/3.13*/bin/python3.13; do "$$p" -c 'import sys; print(sys.executable)' 2>/dev/null && break; done | head -n 1)
export PY313
SAM_PATH = PATH="$(dir $(PY313)):$$PATH" SAM_CLI_TELEMETRY=0
TOOLS_STAMP := $(TOOLS_VENV)/.installed

.PHONY: all venv test lint golden snapshots docs build bundle demo bench clean

all: test

# What the project needs to run (make demo), then what its checks need (make test).
$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(TOOLS_STAMP): requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/pip install --quiet -r requirements-tools.txt
	touch $@

venv: $(STAMP) $(TOOLS_STAMP)

lint: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/ruff check macros cli worker bench tests template.py
	$(BIN)/ruff format --check macros cli worker bench tests template.py
	$(BIN)/mypy macros/private_s3_processor cli/private_s3_processor_cli worker/private_s3_worker template.py
	$(TOOLS_VENV)/bin/hadolint worker/Dockerfile

test: venv lint
	@test -n "$(PY313)" || { echo "make test: no python3.13 found (needed by sam build for the python3.13 runtime); install it or set PY313=" >&2; exit 1; }
	TOOLS_VENV=$(TOOLS_VENV) $(BIN)/pytest -q

# Rewrite the expected golden outputs (all, or CASES="a b"); review the diff.
golden: $(STAMP)
	$(PY) -m tests.golden.regenerate $(CASES)

# Rewrite the reviewed copies of template.py's output (tests/snapshots/).
snapshots: $(STAMP)
	$(PY) template.py tests/snapshots

# Regenerate the README's property table and architecture diagram.
docs: $(STAMP)
	$(PY) -m tests.docs

# build/: the three templates (template.py), then `sam build` of the macro stack.
build: $(STAMP)
	$(PY) template.py
	$(SAM_PATH) $(BIN)/sam build --template-file build/macro.yaml --build-dir build/sam

# The zip StackSets read from the code bucket (README, "Many accounts").
bundle: build
	rm -f build/macro-bundle.zip
	cd build/sam/MacroFunction && zip -qr9 ../../macro-bundle.zip . -x '*__pycache__*'
	@ls -l build/macro-bundle.zip | awk '{print "build/macro-bundle.zip: " $$5 " bytes"}'

# The main job on the embedded emulator: build/, then the example stack in a moto
# server, the bundled samples uploaded, each event played through rule -> task -> worker.
demo: $(RUNTIME_STAMP)
	$(PY) template.py > /dev/null
	$(BIN)/private-s3-processor local build/example.yaml --upload examples/samples

# Figures into BENCHMARKS.md (each section names its command): the worker on 1 MB,
# 100 MB and 1 GB objects against a bare get_object loop, same emulator, same run.
bench: $(STAMP)
	$(PY) -m bench.worker
	$(PY) -m bench.transform
	$(PY) -m bench.delivery

clean:
	rm -rf $(VENV) $(TOOLS_VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
