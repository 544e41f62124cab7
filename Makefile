# Two commands do all the set-up on a fresh machine (Python >= 3.10 with venv):
#   make suites   the test suites on the `sim` twin
#   make test     pytest-think's own tests (with ruff and mypy)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: suites test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

suites: $(STAMP)
	$(BIN)/pytest test_suites --board=sim --junitxml=reports/junit.xml --think-json=reports/results.json

lint: $(STAMP)
	$(BIN)/ruff check pytest_think tests bench fixtures conftest.py
	$(BIN)/mypy

test: lint
	$(BIN)/pytest tests

bench: $(STAMP)
	$(BIN)/python bench/bench_link.py --json reports/bench-link.json
	$(BIN)/python bench/bench_flash.py --json reports/bench-flash.json
	$(BIN)/python bench/bench_serial.py --json reports/bench-serial.json
	$(BIN)/python bench/bench_energy.py --json reports/bench-energy.json

clean:
	rm -rf $(VENV) reports/*.json reports/*.xml
