PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test typecheck bench bench-fanout schema clean install

# One install at a time: `make serve` and `make test` started together share .venv, so the second
# waits for the first's lock and then finds the stamp fresh.
$(STAMP): pyproject.toml
	@flock $(VENV).lock $(MAKE) --no-print-directory install

install:
	@if [ ! -f $(STAMP) ] || [ pyproject.toml -nt $(STAMP) ]; then \
		test -d $(VENV) || $(PYTHON) -m venv $(VENV); \
		$(BIN)/pip install --quiet --upgrade pip && \
		$(BIN)/pip install --quiet -e ".[test]" && \
		{ $(BIN)/python -m gateway.graphiql fetch || true; } && \
		touch $(STAMP); \
	fi

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
	$(BIN)/python bench/shapes.py
	$(BIN)/python bench/floor.py
	$(BIN)/python bench/execute.py
	$(BIN)/python bench/migrate.py
	$(BIN)/python bench/fanout.py

bench-fanout: $(STAMP)
	$(BIN)/python bench/fanout.py

schema: $(STAMP)
	$(BIN)/parley schema > schema.graphql

clean:
	rm -rf $(VENV) $(VENV).lock .pytest_cache
