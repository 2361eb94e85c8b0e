# Two commands on a fresh machine: `make run` and `make test`. Each builds .venv when missing.
# `make check` is the fast loop: lint, types and every test that starts no child process.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Test workers (pytest-xdist): most of the suite waits on sockets and timers, not on the
# CPU, so four workers on two cores finish sooner than two. The longest tests start first
# (tests/conftest.py) and idle workers take over queued ones (worksteal).
WORKERS ?= 4

# Every package is installed at the version requirements/*.txt pins, checked against its hash
# (`make lock` refreshes the pins; docs/operations.md, "Pinned dependencies").
PIP := $(BIN)/pip install --quiet --disable-pip-version-check
LOCKED := --require-hashes -r requirements/build.txt

.PHONY: run test check lint typecheck unit bench bench-daemon bench-alerts dashboards screenshots install uninstall lock clean

$(VENV)/.test: pyproject.toml requirements/build.txt requirements/test.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "breakerwatch needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) $(LOCKED) -r requirements/test.txt
	$(PIP) --no-deps --no-build-isolation -e .
	@touch $@

$(VENV)/.bench: $(VENV)/.test requirements/bench.txt
	$(PIP) $(LOCKED) -r requirements/bench.txt
	@touch $@

run: $(VENV)/.test
	$(BIN)/breakerwatch demo

# Grafana's own TypeScript types check the dashboards (tests/monitoring/test_dashboard_types.py):
# npm ci installs exactly what grafana/schema-check/package-lock.json pins.
SCHEMA_CHECK := grafana/schema-check
TYPES := $(SCHEMA_CHECK)/node_modules/.package-lock.json
# axe-core checks the status page's accessibility in a real browser
# (tests/system/test_status_page.py): npm ci installs what tests/axe/package-lock.json pins.
AXE := tests/axe/node_modules/.package-lock.json

test: lint typecheck $(TYPES) $(AXE) unit

$(TYPES): $(SCHEMA_CHECK)/package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js and npm, for Grafana's dashboard types (apt-get install nodejs npm)"; exit 1; }
	cd $(SCHEMA_CHECK) && npm ci --no-audit --no-fund --loglevel=error

$(AXE): tests/axe/package-lock.json
	@command -v npm >/dev/null || { echo "make test needs Node.js and npm, for axe-core (apt-get install nodejs npm)"; exit 1; }
	cd tests/axe && npm ci --no-audit --no-fund --loglevel=error

# The README's pictures of the status page, taken in Debian's chromium (docs/screenshots.py).
screenshots: $(VENV)/.test
	$(BIN)/python docs/screenshots.py

check: lint typecheck
	$(BIN)/pytest -n $(WORKERS) --dist worksteal -m "not system and not soak"

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.test
	$(BIN)/mypy

unit: $(VENV)/.test
	$(BIN)/pytest -n $(WORKERS) --dist worksteal

bench: $(VENV)/.bench
	$(BIN)/python bench/breakers.py

# Needs Debian's prometheus-blackbox-exporter (the CPU comparison's baseline) and nginx-light
# (the target whose access log counts the probes); --profile needs the bench extra's py-spy.
bench-daemon: $(VENV)/.bench
	$(BIN)/python bench/probe_cost.py
	$(BIN)/python bench/probe_cost.py --https
	$(BIN)/python bench/probe_cost.py --saturate --processes 1 2
	$(BIN)/python bench/probe_cost.py --profile
	$(BIN)/python bench/tls_resumption.py
	$(BIN)/python bench/daemon_scale.py --integrations 100 1000 10000

# Alert latency, transition to the fake Slack's receipt, against slack-sdk's own round trip.
bench-alerts: $(VENV)/.test
	$(BIN)/python bench/alert_latency.py

# Regenerate grafana/dashboards/*.json after changing grafana/generate.py.
dashboards: $(VENV)/.test
	$(BIN)/python grafana/generate.py

# As root: /opt/breakerwatch, the systemd unit, /etc/breakerwatch (docs/operations.md).
# ROOT=DIR installs a self-contained copy under DIR instead (the tests do). The template
# breakerwatch@.service comes too; SHARDS=N says how to run N shards, one a core.
install:
	SHARDS=$(SHARDS) sh systemd/install.sh install $(ROOT)

uninstall:
	sh systemd/install.sh uninstall $(ROOT)

# Pin again after changing a dependency in pyproject.toml; UPGRADE=--upgrade moves every pin
# to the newest release the ranges allow. pip-tools runs in a venv of its own.
PIP_TOOLS := pip-tools==7.6.2
COMPILE := CUSTOM_COMPILE_COMMAND="make lock" .venv-lock/bin/pip-compile --quiet --generate-hashes \
	--strip-extras --no-emit-index-url --no-emit-find-links $(UPGRADE)
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --disable-pip-version-check $(PIP_TOOLS)
	$(COMPILE) --allow-unsafe -o requirements/build.txt requirements/build.in
	$(COMPILE) -o requirements/run.txt pyproject.toml
	$(COMPILE) --extra test -o requirements/test.txt pyproject.toml
	$(COMPILE) --extra test --extra bench -o requirements/bench.txt pyproject.toml

clean:
	rm -rf $(VENV) .venv-lock $(SCHEMA_CHECK)/node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
