# MTX pipeline. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(UV) pip install --quiet --python $(PY) --compile-bytecode -r requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP) ## create the virtual environment with the pinned dependencies

lock: ## re-resolve requirements.lock from pyproject.toml (the dependencies and every extra: local, analytics, dev)
	$(UV) pip compile pyproject.toml --extra local --extra analytics --extra dev --python-version 3.11 -o requirements.lock

run: venv ## run the pipeline locally end to end (starts and stops everything itself)
	$(VENV)/bin/mtx demo

# `make test` on two worker processes, each file whole on one, in collection order (tests/parallel.py sets xdist's
# distribution so); TEST_WORKERS=0: one process
TEST_WORKERS ?= 2
test: venv tf-check ## run every test (unit, integration, e2e) against the real local stack, and tf-check; the 15 slowest last
	$(PY) -m pytest --durations=15 -n $(TEST_WORKERS)

test-unit: venv ## the unit tier only: no servers, no JVM, about a minute
	$(PY) -m pytest -m unit tests/unit

soak: venv ## fault-injection soak: 20,000 HTTP transactions + a 200,000-record file with poison, PostgreSQL killed twice, S3/DynamoDB/SQS/Lambda faults; then an audit
	$(VENV)/bin/mtx soak

tf-check: venv ## Terraform: fmt, offline init+validate, terraform test, HCL cross-checks, checkov (says what it could not run)
	bash infra/scripts/tf_check.sh

package: venv ## build what Terraform deploys (Lambda zip + layer, Glue libs + wheels) into infra/build/
	$(PY) infra/scripts/package.py

check: venv ## ruff (with security rules), mypy, import-linter (deployed code stands alone, orchestration/ by role, no import circles), sqlfluff on the dbt models; .pre-commit-config.yaml runs the same
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy contracts orchestration lambdas glue_jobs expectations
	$(VENV)/bin/lint-imports
	$(VENV)/bin/sqlfluff lint dbt/models dbt/analyses dbt/tests

redshift-sql: venv ## capture, offline, every SQL statement sent to Redshift (dbt-redshift, Glue load, analytics API, migrations) and run the Redshift gate over it
	$(PY) dbt/scripts/redshift_capture.py .local/redshift-sql
	$(PY) dbt/scripts/redshift_gate.py .local/redshift-sql

bench: venv ## benchmarks with same-run baselines; report in .local/bench/
	$(PY) -m benchmarks

schema: venv ## re-export what is generated: the JSON Schema, docs/acceptance-rules.md, orchestration/openapi.json (from the contract), docs/state-machines.md (from the ASL files), docs/cli.md (from the mtx parser)
	$(PY) -m contracts.schema
	$(PY) -m orchestration.openapi
	$(PY) -m orchestration.asl_diagram
	$(PY) -m orchestration.cli.docs

up: venv ## start the local stack and keep it up until Ctrl-C
	$(VENV)/bin/mtx up

down: venv ## stop a local stack started by `mtx up`
	$(VENV)/bin/mtx down

clean: ## remove local state (.local/)
	rm -rf .local

.PHONY: help venv lock run test test-unit soak tf-check package check redshift-sql bench schema up down clean
