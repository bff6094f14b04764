# Two commands on a fresh machine: `make app` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install browser app lint test test-fast bench data clean
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first and pinned: 2.13.0 is the CPU build on this disk; anything else pulls CUDA.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[torch,tensorflow,jax,app,dev]'
	touch $(STAMP)

install: $(STAMP)

# Ray for the sweeps' --ray (docs/scale.md): the tests need it, the dashboard does not.
CLUSTER := $(VENV)/.installed-cluster
$(CLUSTER): $(STAMP)
	$(BIN)/pip install -q -e '.[cluster]'
	touch $(CLUSTER)

# Debian's Chromium drives the browser tests (Playwright's own browser download fails here).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; }

data: install
	$(BIN)/latentloop data fetch mnist

app: install data
	$(BIN)/latentloop app

# ruff (lint, then format as a check) and mypy, configured in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint browser data $(CLUSTER)
	$(BIN)/python -m pytest -q

# The inner loop: no browser, no slow end-to-end tests (`make test` still runs everything).
test-fast: install $(CLUSTER)
	$(BIN)/python -m pytest -q -m "not slow and not browser"

bench: install data
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
