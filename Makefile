# fleetstat — the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/fleetstat: pyproject.toml tools/vendor_uplot.py
	$(PYTHON) tools/vendor_uplot.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q src
	touch $@

# At a terminal the demo then serves the web page until Ctrl-C and prints its URL and login.
demo: $(BIN)/fleetstat
	$(BIN)/fleetstat demo $$([ -t 0 ] && [ -t 1 ] && echo --serve)

lint: $(BIN)/fleetstat
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(BIN)/fleetstat
	$(BIN)/mypy

unit: $(BIN)/fleetstat
	$(BIN)/pytest

test: lint typecheck unit

bench: $(BIN)/fleetstat
	$(BIN)/python bench/agent_bench.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
