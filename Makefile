# Microgrid chain: one-command setup, localnet, tests and checks.
# `make help` lists the targets.

COMETBFT_VERSION := v0.38.26
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/bin
COMETBFT := $(BIN)/cometbft
PROTOS := $(shell find proto -name '*.proto') proto/gen.py

.DEFAULT_GOAL := help
.PHONY: help install localnet localnet-stop test test-fast lint fmt clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(VENV)/.installed $(COMETBFT) app/pb/.stamp ## Install everything (venv, package, CometBFT, generated protobuf); idempotent

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(COMETBFT): Makefile
	mkdir -p $(BIN)
	GOBIN=$(BIN) go install github.com/cometbft/cometbft/cmd/cometbft@$(COMETBFT_VERSION)
	GOBIN=$(BIN) go install github.com/cometbft/cometbft/abci/cmd/abci-cli@$(COMETBFT_VERSION)
	touch $@

app/pb/.stamp: $(PROTOS) $(VENV)/.installed
	$(PY) proto/gen.py $(COMETBFT_VERSION)

localnet: install ## Start a 4-validator localnet (extra options: LOCALNET_ARGS="--block-time 0.5")
	$(PY) -m localnet up $(LOCALNET_ARGS)

localnet-stop: ## Stop the localnet started by `make localnet`
	@test -x $(PY) && $(PY) -m localnet down || true

test: install ## Run the whole test suite (unit, integration with real CometBFT, localnet)
	$(PY) -m pytest

test-fast: install ## Run only the fast unit tests
	$(PY) -m pytest -m 'not integration and not localnet'

lint: install ## ruff (lint + format check) and mypy over app, ibc, clients, localnet
	$(VENV)/bin/ruff check app ibc clients localnet tests bench proto/gen.py
	$(VENV)/bin/ruff format --check app ibc clients localnet tests bench proto/gen.py
	$(VENV)/bin/mypy app ibc clients localnet

fmt: install ## Format the code with ruff
	$(VENV)/bin/ruff format app ibc clients localnet tests bench proto/gen.py
	$(VENV)/bin/ruff check --fix app ibc clients localnet tests bench proto/gen.py

clean: ## Remove generated code and build outputs (keeps .venv and bin)
	rm -rf app/pb build *.egg-info .pytest_cache .mypy_cache .ruff_cache
