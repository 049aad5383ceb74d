# The two commands a newcomer needs (see README.md):
#   make example   install featc and compute training data for the food_delivery example (DuckDB, no server)
#   make test      install featc with its test tools and run lint, types and the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLE := examples/food_delivery
OUT ?= out/food_delivery

.PHONY: example test lint types pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# featc depends on featc-runtime==0.1.0, the distribution in ./runtime (docs/runtime.md): both go
# in one pip call, so pip takes the runtime from this clone and never looks for it on an index.
$(VENV)/.installed: pyproject.toml runtime/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ./runtime -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml runtime/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ./runtime -e '.[dev]'
	touch $@ $(VENV)/.installed

example: $(VENV)/.installed
	$(BIN)/featc check $(EXAMPLE)
	$(BIN)/featc training-data $(EXAMPLE) --spine $(EXAMPLE)/data/spine.csv --out $(OUT)/training.csv
	$(BIN)/featc compile $(EXAMPLE) --out $(OUT)/compiled
	@echo; echo "First rows of $(OUT)/training.csv:"; head -n 4 $(OUT)/training.csv

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

types: $(VENV)/.installed-dev
	$(BIN)/mypy -p featc

# Two workers (pytest-xdist), each test module whole in one of them (tests/conftest.py).
WORKERS ?= 2
pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -n $(WORKERS) --dist loadgroup

test: lint types pytest

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Benchmarks (bench/README.md): writes bench/results/*.json and the tables in bench/README.md.
# BENCH_ARGS="--sizes small,medium --only training" narrows a run.
.PHONY: bench
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run $(BENCH_ARGS)
