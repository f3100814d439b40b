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
.PHONY: help install browser localnet localnet-stop dashboard dashboard-screenshots test test-fast \
	compliance lint fmt clean bench

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

# The dashboard's browser tests drive Debian's chromium through its chromedriver
# (never a downloaded one). `make test` installs them when they are missing and
# we are root (CI); otherwise it says what to install and those tests skip.
# `make install` does not need them: the localnet runs without a browser.
BROWSER_PACKAGES := chromium chromium-driver
browser: ## Install Debian's chromium and chromium-driver for the browser tests (as root; done by `make test`)
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing $(BROWSER_PACKAGES) (Debian) for the dashboard's browser tests"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(BROWSER_PACKAGES); \
	else \
		echo "NOTE: /usr/bin/chromium or /usr/bin/chromedriver is missing: the dashboard's browser tests will skip."; \
		echo "      Install them with: sudo apt-get install --no-install-recommends $(BROWSER_PACKAGES)"; \
	fi

localnet: install ## Start a 4-validator localnet (extra options: LOCALNET_ARGS="--block-time 0.5")
	$(PY) -m localnet up $(LOCALNET_ARGS)

localnet-stop: ## Stop the localnet started by `make localnet`
	@test -x $(PY) && $(PY) -m localnet down || true

# mgrid-dashboard follows every node of a localnet (node i's RPC port is
# 26657 + 10 i + the port offset).
DASHBOARD_PORT ?= 8080
LOCALNET_RPC_PORTS := 26657 26667 26677 26687
LOCALNET_NODES := $(foreach p,$(LOCALNET_RPC_PORTS),--node http://127.0.0.1:$(p))

dashboard: install ## Start mgrid-dashboard on the localnet of `make localnet`: http://127.0.0.1:8080 (DASHBOARD_PORT=N)
	$(VENV)/bin/mgrid-dashboard $(LOCALNET_NODES) --port $(DASHBOARD_PORT)

dashboard-screenshots: install browser ## Regenerate docs/dashboard/*.png: the browser test against a fresh localnet with the simulator
	DASHBOARD_SCREENSHOTS=docs/dashboard $(PY) -m pytest tests/integration/test_dashboard_localnet.py -q

test: install browser ## Run the whole test suite (unit, integration with real CometBFT, localnet, browser)
	$(PY) -m pytest

test-fast: install ## Run only the fast unit tests
	$(PY) -m pytest -m 'not integration and not localnet'

compliance: install ## Run every command of docs/COMPLIANCE.md, the real-network tests included (~10 min)
	COMPLIANCE_ALL=1 $(PY) -m pytest tests/docs/test_compliance.py

bench: install ## Benchmarks: app vs CometBFT's kvstore on fresh localnets, components; writes bench/results.json, BENCHMARKS.md (~27 min; BENCH_ARGS=--quick: ~3 min)
	$(PY) -m bench $(BENCH_ARGS)

# `make fuzz`: every target of tests/fuzz/run.py for FUZZ_SECONDS each, starting
# from the committed seeds (tests/fuzz/corpus) and the inputs earlier runs kept
# (build/fuzz); an input that crashes a target is saved in tests/fuzz/crashes/.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: install ## Coverage-guided fuzzing (atheris) of tx decoding, CheckTx/FinalizeBlock, ABCI framing, ICS-23, light client (FUZZ_SECONDS=60 each)
	$(PY) tests/fuzz/run.py all --seconds $(FUZZ_SECONDS)

# `make chaos`: the soak of docs/chaos.md on a fresh 4-validator network in
# network namespaces (root; on loopback without partitions otherwise).
CHAOS_MINUTES ?= 30
.PHONY: chaos
chaos: install ## Chaos soak: load + killed/partitioned/restarted nodes, then checks nothing was lost (CHAOS_MINUTES=30; report in .localnet/chaos-report.json)
	$(PY) -m localnet chaos --duration $(CHAOS_MINUTES) --report .localnet/chaos-report.json --down

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
# .localnet/mg-demo, recreated each time), mgrid-dashboard on it in the background
# (http://127.0.0.1:$(DASHBOARD_PORT), log and pid in .localnet/mg-demo) and mgrid-sim
# on it. DEMO_ARGS are passed to mgrid-sim; DEMO_KEEP=1 leaves the localnet and the
# dashboard running afterwards.
DEMO_HOME := .localnet/mg-demo
DEMO_PORT_OFFSET := 300
DEMO_RPC := http://127.0.0.1:$(shell echo $$((26657 + $(DEMO_PORT_OFFSET))))
DEMO_NODES := $(foreach p,$(LOCALNET_RPC_PORTS),--node http://127.0.0.1:$(shell echo $$(($(p) + $(DEMO_PORT_OFFSET)))))
DEMO_DASHBOARD := dashboard: http://127.0.0.1:$(DASHBOARD_PORT) (live view of the simulated market)
# Stops the demo's dashboard if its recorded pid is still an mgrid-dashboard (no single quotes: used in a trap).
DEMO_DASHBOARD_STOP := pid=$$(cat $(DEMO_HOME)/dashboard.pid 2>/dev/null); \
	if [ -n "$$pid" ] && { grep -qs mgrid-dashboard /proc/$$pid/cmdline || ps -p $$pid -o args= 2>/dev/null | grep -q mgrid-dashboard; }; then \
	kill $$pid; fi; rm -f $(DEMO_HOME)/dashboard.pid
DEMO_ARGS ?= --households 8 --intervals 5 --seed 1 --misbehave 1
MGRID_DEMO := $(VENV)/bin/mgrid --node $(DEMO_RPC) --keyring-dir $(DEMO_HOME)/keyring --keyring-backend test
.PHONY: demo demo-stop

demo: install ## See the market work: fresh localnet, live dashboard, 8 simulated households, 5 intervals (DEMO_KEEP=1 keeps it up)
	@$(DEMO_DASHBOARD_STOP)
	@$(PY) -m localnet down --home $(DEMO_HOME) >/dev/null 2>&1 || true
	@rm -rf $(DEMO_HOME)
	$(PY) -m localnet up --chain-id mg-demo --home $(DEMO_HOME) --port-offset $(DEMO_PORT_OFFSET) >/dev/null
	@echo "localnet mg-demo is up (4 validators, node0 RPC $(DEMO_RPC)); starting the dashboard (log: $(DEMO_HOME)/dashboard.log)"
	@nohup $(VENV)/bin/mgrid-dashboard $(DEMO_NODES) --port $(DASHBOARD_PORT) >$(DEMO_HOME)/dashboard.log 2>&1 & echo $$! >$(DEMO_HOME)/dashboard.pid
	@for i in $$(seq 50); do grep -qs "dashboard: http" $(DEMO_HOME)/dashboard.log && break; sleep 0.2; done; \
	if ! grep -qs "dashboard: http" $(DEMO_HOME)/dashboard.log; then \
		echo "WARNING: the dashboard is not listening yet (port $(DASHBOARD_PORT) taken? DASHBOARD_PORT=N picks another):"; \
		tail -n 5 $(DEMO_HOME)/dashboard.log; fi
	@echo ""; echo "  $(DEMO_DASHBOARD)"; echo ""
	@echo "starting the households"
	@if [ "$(DEMO_KEEP)" != 1 ]; then trap '$(DEMO_DASHBOARD_STOP); $(PY) -m localnet down --home $(DEMO_HOME) >/dev/null 2>&1' EXIT; trap 'exit 130' INT TERM; fi; \
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
		echo ""; echo "  $(DEMO_DASHBOARD)"; echo ""; \
	else echo "stopping the dashboard and the demo localnet (DEMO_KEEP=1 keeps them running)"; fi; \
	exit $$status

demo-stop: ## Stop the localnet and dashboard left running by `make demo DEMO_KEEP=1`
	@$(DEMO_DASHBOARD_STOP)
	@test -x $(PY) && $(PY) -m localnet down --home $(DEMO_HOME) || true

# `make ibc-localnet`: two microgrids on this machine joined by IBC (docs/relayer.md):
# mg-1 (ports offset by 500, home .localnet/ibc/mg-1) and mg-2 (offset 600,
# .localnet/ibc/mg-2), IBC_VALIDATORS validators each; the relayer's key funded on
# both from their faucets, its configuration in .localnet/ibc/relayer/config.toml,
# then `mgrid-relayer link` (clients, connection, transfer and energy channels).
# Idempotent: run it again and it only starts what is stopped.
IBC_ROOT := .localnet/ibc
IBC_VALIDATORS ?= 2
RELAYER_DIR := $(IBC_ROOT)/relayer
RELAYER := $(VENV)/bin/mgrid-relayer --config $(RELAYER_DIR)/config.toml
MG1_RPC := http://127.0.0.1:$(shell echo $$((26657 + 500)))
MG2_RPC := http://127.0.0.1:$(shell echo $$((26657 + 600)))
MGRID_MG1 := $(VENV)/bin/mgrid --node $(MG1_RPC) --keyring-dir $(IBC_ROOT)/mg-1/keyring --keyring-backend test
MGRID_MG2 := $(VENV)/bin/mgrid --node $(MG2_RPC) --keyring-dir $(IBC_ROOT)/mg-2/keyring --keyring-backend test
IBC_DEMO_ARGS ?= --households 6 --intervals 4 --seed 1
.PHONY: ibc-localnet ibc-demo ibc-stop

ibc-localnet: install ## Two microgrids mg-1 and mg-2 joined by IBC: localnets, relayer key and config, `mgrid-relayer link`
	$(PY) -m localnet ibc up --validators $(IBC_VALIDATORS)
	$(RELAYER) link
	@echo ""
	@echo "mg-1: $(MG1_RPC)   mg-2: $(MG2_RPC)   relayer config: $(RELAYER_DIR)/config.toml"
	@echo "  $(RELAYER) status"
	@echo "  $(RELAYER) start                 (or: make ibc-demo)"
	@echo "  MG1=\"$(MGRID_MG1)\""
	@echo "  \$$MG1 tx ibc transfer channel-0 <address on mg-2> 1000ugrid --from faucet"
	@echo "  make ibc-stop"

# `make ibc-demo`: fresh ibc-localnet, the relayer in the background (log in
# .localnet/ibc/relayer/relayer.log), households on both chains (mgrid-sim), and
# mg-1's utility offering its residual supply to mg-2 over the energy channel
# each interval; then the trades settled on both chains. IBC_DEMO_ARGS go to
# both simulators; IBC_DEMO_KEEP=1 leaves everything running afterwards.
ibc-demo: install ## Two microgrids trading energy over IBC: households on both, mg-1 sells its surplus to mg-2 (IBC_DEMO_KEEP=1 keeps it up)
	@$(PY) -m localnet ibc reset >/dev/null
	@$(MAKE) --no-print-directory ibc-localnet >/dev/null
	@echo "mg-1 and mg-2 are linked; starting the relayer (log: $(RELAYER_DIR)/relayer.log)"
	@nohup $(RELAYER) start >>$(RELAYER_DIR)/relayer.log 2>&1 & echo $$! >$(RELAYER_DIR)/relayer.pid
	@if [ "$(IBC_DEMO_KEEP)" != 1 ]; then trap '$(PY) -m localnet ibc down >/dev/null 2>&1' EXIT; trap 'exit 130' INT TERM; fi; \
	energy=$$($(PY) -m localnet ibc channel energy --chain mg-1) || exit 1; \
	echo "households on mg-2 in the background (log: $(IBC_ROOT)/mg-2/sim.log)"; \
	$(VENV)/bin/mgrid-sim --node $(MG2_RPC) --keyring-dir $(IBC_ROOT)/mg-2/keyring --keyring-backend test \
		--save-keys $(IBC_DEMO_ARGS) --output json >$(IBC_ROOT)/mg-2/sim.log 2>&1 & sim2=$$!; \
	echo "households on mg-1; its utility offers the residual supply to mg-2 over energy/$$energy"; \
	$(VENV)/bin/mgrid-sim --node $(MG1_RPC) --keyring-dir $(IBC_ROOT)/mg-1/keyring --keyring-backend test \
		--save-keys $(IBC_DEMO_ARGS) --offer-channel $$energy --counterparty-node $(MG2_RPC); \
	status=$$?; wait $$sim2; \
	$(RELAYER) clear >/dev/null 2>&1; \
	echo ""; echo "== inter-microgrid trades on mg-1 (offers sent) =="; $(MGRID_MG1) query energy trades; \
	echo ""; echo "== inter-microgrid trades on mg-2 (offers received) =="; $(MGRID_MG2) query energy trades; \
	echo ""; $(RELAYER) status; \
	if [ "$(IBC_DEMO_KEEP)" = 1 ]; then \
		echo "Everything keeps running (stop it with: make ibc-stop). Query it with:"; \
		echo "  $(MGRID_MG1) query energy trades"; \
		echo "  $(RELAYER) status"; \
		echo "  curl -s http://127.0.0.1:26690/metrics"; \
	else echo "stopping the relayer and both localnets (IBC_DEMO_KEEP=1 keeps them running)"; fi; \
	exit $$status

ibc-stop: ## Stop the relayer (if ibc-demo started it) and the localnets mg-1 and mg-2
	@test -x $(PY) && $(PY) -m localnet ibc down || true
