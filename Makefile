# Two commands on a fresh machine: `make run` and `make test`. Each builds .venv when missing.
# `make check` is the fast loop: lint, types and every test that starts no child process.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Test workers (pytest-xdist): most of the suite waits on sockets and timers, not on the
# CPU, so four workers on two cores finish sooner than two. The longest tests start first
# (tests/conftest.py) and idle workers take over queued ones (worksteal).
WORKERS ?= 4

.PHONY: run test check lint typecheck unit bench bench-daemon bench-alerts dashboards install uninstall clean

$(VENV)/.test: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "breakerwatch needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

$(VENV)/.bench: $(VENV)/.test
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	@touch $@

run: $(VENV)/.test
	$(BIN)/breakerwatch demo

test: lint typecheck unit

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

# Needs Debian's prometheus-blackbox-exporter (the CPU comparison's baseline).
bench-daemon: $(VENV)/.test
	$(BIN)/python bench/probe_cpu.py
	$(BIN)/python bench/daemon_scale.py --integrations 100 1000 10000

# Alert latency, transition to the fake Slack's receipt, against slack-sdk's own round trip.
bench-alerts: $(VENV)/.test
	$(BIN)/python bench/alert_latency.py

# Regenerate grafana/dashboards/*.json after changing grafana/generate.py.
dashboards: $(VENV)/.test
	$(BIN)/python grafana/generate.py

# As root: /opt/breakerwatch, the systemd unit, /etc/breakerwatch (docs/operations.md).
# ROOT=DIR installs a self-contained copy under DIR instead (the tests do).
install:
	sh systemd/install.sh install $(ROOT)

uninstall:
	sh systemd/install.sh uninstall $(ROOT)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
