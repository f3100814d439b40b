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

# `make demo`: a localnet of its own (chain mg-demo, ports offset by 300, home
# .localnet/mg-demo, recreated each time) and mgrid-sim on it. DEMO_ARGS are
# passed to mgrid-sim; DEMO_KEEP=1 leaves the localnet running afterwards.
DEMO_HOME := .localnet/mg-demo
DEMO_PORT_OFFSET := 300
DEMO_RPC := http://127.0.0.1:$(shell echo $$((26657 + $(DEMO_PORT_OFFSET))))
DEMO_ARGS ?= --households 8 --intervals 5 --seed 1 --misbehave 1
MGRID_DEMO := $(VENV)/bin/mgrid --node $(DEMO_RPC) --keyring-dir $(DEMO_HOME)/keyring --keyring-backend test
.PHONY: demo demo-stop

demo: install ## See the market work: fresh localnet, 8 simulated households, 5 intervals (DEMO_KEEP=1 keeps it up)
	@$(PY) -m localnet down --home $(DEMO_HOME) >/dev/null 2>&1 || true
	@rm -rf $(DEMO_HOME)
	$(PY) -m localnet up --chain-id mg-demo --home $(DEMO_HOME) --port-offset $(DEMO_PORT_OFFSET) >/dev/null
	@echo "localnet mg-demo is up (4 validators, node0 RPC $(DEMO_RPC)); starting the households"
	@if [ "$(DEMO_KEEP)" != 1 ]; then trap '$(PY) -m localnet down --home $(DEMO_HOME) >/dev/null 2>&1' EXIT; trap 'exit 130' INT TERM; fi; \
	$(VENV)/bin/mgrid-sim --node $(DEMO_RPC) --keyring-dir $(DEMO_HOME)/keyring --keyring-backend test \
		--save-keys $(DEMO_ARGS) --csv $(DEMO_HOME)/intervals.csv --csv-households $(DEMO_HOME)/households.csv; \
	status=$$?; \
	echo "CSV: $(DEMO_HOME)/intervals.csv, $(DEMO_HOME)/households.csv"; \
	if [ "$(DEMO_KEEP)" = 1 ]; then \
		echo "The localnet keeps running (stop it with: make demo-stop). Query it with mgrid:"; \
		echo "  MG=\"$(MGRID_DEMO)\""; \
		echo "  \$$MG query settlement kpis"; \
		echo "  \$$MG query reputation ranking"; \
		echo "  \$$MG query settlement interval N            (N: an interval of the table)"; \
		echo "  \$$MG query reputation history sim1-h05      (the households' keys: \$$MG keys list)"; \
		echo "  $(PY) -m localnet status --home $(DEMO_HOME)"; \
	else echo "stopping the demo localnet (DEMO_KEEP=1 keeps it running)"; fi; \
	exit $$status

demo-stop: ## Stop the localnet left running by `make demo DEMO_KEEP=1`
	@test -x $(PY) && $(PY) -m localnet down --home $(DEMO_HOME) || true
