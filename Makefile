# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
STANDIN_PORT ?= 5001
SMTP_PORT ?= 2525
IMAP_PORT ?= 1143
export FLASK_APP := app:create_app
export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
export MICROSOFT_AUTHORITY ?= http://127.0.0.1:$(STANDIN_PORT)
export MICROSOFT_GRAPH_URL ?= http://127.0.0.1:$(STANDIN_PORT)/v1.0
export MICROSOFT_STANDIN ?= 1
DEMO_CLIENT_ID := 00000000-demo-4000-8000-00000000c11e
DEMO_CLIENT_SECRET := local-standin-demo-secret

.PHONY: run test test-fast install install-test lint bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/activate
	$(BIN)/pip install --quiet -e ".[standin]"

install-test: $(BIN)/activate
	$(BIN)/pip install --quiet -e ".[test]"
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: tests/core/test_accessibility.py (axe-core) will skip"; fi

run: install
	$(BIN)/flask db upgrade
	@echo "Demo users:"
	@$(BIN)/flask seed-demo
	CONNECTOR_CLIENT_SECRET=$(DEMO_CLIENT_SECRET) \
		$(BIN)/flask connector set microsoft --client-id $(DEMO_CLIENT_ID)
	@bash scripts/run.sh "$(BIN)" "$(HOST)" "$(PORT)" "$(STANDIN_PORT)" \
		"$(DEMO_CLIENT_ID):$(DEMO_CLIENT_SECRET):$(PUBLIC_BASE_URL)/oauth/microsoft/callback" \
		"$(SMTP_PORT)" "$(IMAP_PORT)"

test: install-test
	$(BIN)/ruff check app config.py standin tests benchmarks
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile $(PYTEST_ARGS); \
		status=$$?; [ $$status -eq 5 ] && echo "no tests ran" && exit 1; exit $$status

# The loop while working: everything but the browser and PostgreSQL tests, in 2 processes
# (each test module in one of them); needs neither TEST_DATABASE_URL nor Chromium.
test-fast: install-test
	$(BIN)/ruff check app config.py standin tests benchmarks
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile \
		-m "not browser and not postgres" $(PYTEST_ARGS); \
		status=$$?; [ $$status -eq 5 ] && echo "no tests ran" && exit 1; exit $$status

lint: install-test
	$(BIN)/ruff check app config.py standin tests benchmarks
	$(BIN)/ruff format --check app config.py standin tests benchmarks

bench: install-test
	$(BIN)/python benchmarks/report.py --markdown

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache node_modules
