# PolicyGuard: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo audit-demo lint test test-unit test-integration bench schemas dashboards clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/system-deps.sh
	./scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,lint,bench,ops]"
	touch $(STAMP)

demo: install
	$(BIN)/policyguard demo

audit-demo: install
	$(BIN)/python -m streams.audit.demo --policies 100000 --out audit-demo

lint: install
	$(BIN)/ruff check streams schemas bench tests deploy
	$(BIN)/mypy

test: install lint
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest tests/unit

test-integration: install
	$(BIN)/python -m pytest tests/integration

bench: install
	$(BIN)/python -m bench.run

schemas: install
	$(BIN)/policyguard schemas

dashboards: install
	$(BIN)/python deploy/grafana/dashboard.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis out audit-demo
