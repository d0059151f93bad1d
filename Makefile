# Lakehouse — `make help` lists the targets. CI runs `make test` (see .ci/run).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[api,kafka,postgres]'
	@touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[api,kafka,postgres,dev]'
	@touch $@

# `make test` also runs the Spark engine's tests: pyspark + delta-spark (the `spark` extra).
SPARK_STAMP := $(VENV)/.installed-spark
$(SPARK_STAMP): $(DEV_STAMP)
	$(BIN)/pip install -q -e '.[api,kafka,postgres,dev,spark]'
	@touch $@

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[api,kafka,postgres,bench,spark]'
	@touch $@

install: $(STAMP) ## Create .venv and install the project
dev: $(DEV_STAMP) ## Install with the test and lint tools

demo: $(STAMP) ## Run the main job: simulate -> ingest -> transform -> summary (lake in ./lakehouse_data)
	$(BIN)/lakehouse demo

test: $(SPARK_STAMP) ## Run the tests (Spark's too), starting the real Kafka and PostgreSQL they use (scripts/run-tests.sh)
	VENV=$(VENV) bash scripts/run-tests.sh

test-fast: $(DEV_STAMP) ## The quick subset: no Kafka, PostgreSQL, Spark or slow end-to-end tests
	$(BIN)/pytest -q -m "not kafka and not postgres and not spark and not slow"

lint: $(DEV_STAMP) ## ruff + mypy --strict + import boundaries (import-linter)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

docs: $(STAMP) ## Regenerate docs/contract.md from the table registry
	$(BIN)/python -m lakehouse.contract.docs > docs/contract.md

services: ## Start the real Kafka broker and PostgreSQL used by the integration tests
	bash scripts/kafka.sh start
	bash scripts/postgres.sh start

bench: $(BENCH_STAMP) ## Run the benchmarks (see bench/README.md)
	$(BIN)/python bench/ingest_files.py
	$(BIN)/python bench/transform.py

clean: ## Remove the local lake and caches (keeps .venv)
	rm -rf lakehouse_data .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install dev demo test test-fast lint docs services bench clean
