# The two commands of the README: `make pipeline` and `make test`.
# Both create .venv on first use: torch first (a local CPU wheel), then the project.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install pipeline test test-slow test-faults bench-ingest clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

pipeline: $(STAMP)
	$(BIN)/seqpipe pipeline --config conf/pipeline.yaml

test: $(STAMP)
	$(BIN)/lint-imports --no-cache  # the layout's import contracts (pyproject.toml)
	$(BIN)/python -m pytest -q -m 'not slow and not faults'

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m 'slow and not faults'

test-faults: $(STAMP)
	$(BIN)/python -m pytest -q -m faults

bench-ingest: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/ingest.py

clean:
	rm -rf .seqpipe
