PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test typecheck bench schema clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/parley serve

test: $(STAMP)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -rs

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/run.py --cost-model
	$(BIN)/python bench/execute.py
	$(BIN)/python bench/migrate.py

schema: $(STAMP)
	$(BIN)/parley schema > schema.graphql

clean:
	rm -rf $(VENV) .pytest_cache
