# Signaalpunt: the two commands are `make demo` and `make test`; `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# uv from PATH, or the copy `make setup` installs into the cache folder when there is none (a bare
# machine): SIGNAALPUNT_CACHE_DIR when set, as install-uv.sh and infra.sh use it, else .cache
UV ?= $(shell command -v uv 2>/dev/null || echo $${SIGNAALPUNT_CACHE_DIR:-$(CURDIR)/.cache}/uv/bin/uv)
INFRA := deploy/local/infra.sh
PYTEST_ARGS ?=
# `make test` runs the suite in this many processes, each with a Kafka and a PostgreSQL of its own
# (signaalpunt_testkit/workers.py): the tests wait on brokers and services far more than they compute
TEST_WORKERS ?= 2

.PHONY: help setup infra-up infra-down infra-status topics migrate run demo test lint format bench eval-triage chaos docs dashboards prometheus alertmanager clean-local deploy-check manifests bench-e2e

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## install everything: Python env (uv), Kafka jars (Maven), PostgreSQL, Prometheus and its PostgreSQL exporter, Chromium and axe-core for the console's browser test (when missing)
	@command -v $(UV) >/dev/null || deploy/local/install-uv.sh
	$(UV) sync --all-packages --frozen
	$(INFRA) fetch
	@ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || deploy/local/install-postgres.sh
	@command -v amtool >/dev/null 2>&1 && command -v prometheus-postgres-exporter >/dev/null 2>&1 \
	  || deploy/local/install-prometheus.sh
	@deploy/local/install-browser.sh

infra-up: setup ## start Kafka and PostgreSQL on 127.0.0.1 (idempotent), wait until ready
	$(INFRA) up

infra-down: ## stop Kafka and PostgreSQL (the test workers' too), leave no process behind
	@for env_file in $${SIGNAALPUNT_STATE_DIR:-.local}/worker-*/infra.env; do \
	  [ -f "$$env_file" ] || continue; \
	  ( . "$$env_file" && $(INFRA) down ) || exit 1; \
	done
	$(INFRA) down

infra-status: ## versions, ports and readiness of Kafka and PostgreSQL
	$(INFRA) status

topics: ## create/update topics (and dead-letter topics) from the registry, and their ACLs and principals
	$(UV) run --frozen signaalpunt-topics ensure
	$(UV) run --frozen signaalpunt-topics acls --apply --local-users \
	  --partners-file deploy/local/partners.yaml >/dev/null

run: infra-up topics ## run all services on the local infrastructure (foreground)
	$(UV) run --frozen python scripts/run_all.py

demo: ## set up, run the system with a realistic scenario, print only the story (setup log: .local/demo-setup.log)
	@mkdir -p .local
	@echo "Setting up: Python environment, Kafka and PostgreSQL (the first time a few minutes; log: .local/demo-setup.log)"
	@$(MAKE) --no-print-directory infra-up topics >.local/demo-setup.log 2>&1 \
	  || { tail -n 30 .local/demo-setup.log; echo "setup failed: see .local/demo-setup.log"; exit 1; }
	@$(UV) run --frozen python scripts/demo.py

test: infra-up topics ## run every test against the real Kafka and PostgreSQL (TEST_WORKERS processes, each on its own)
	$(UV) run --frozen python -m signaalpunt_testkit.workers up $(TEST_WORKERS)
	$(UV) run --frozen pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: ## ruff (lint + format check) and mypy strict
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy contracts $(wildcard libs/*/src libs/*/tests services/*/src) tests deploy/local scripts bench
	@# one run per service's tests: every service has its own conftest.py (one module name)
	@for dir in $(wildcard services/*/tests); do \
	  echo "mypy $$dir"; $(UV) run --frozen mypy $$dir || exit 1; \
	done

format: ## apply ruff's formatting and safe fixes
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

migrate: infra-up ## apply the key store's and every service's migrations (services also do this at start)
	$(UV) run --frozen signaalpunt-migrate all

deploy-check: ## validate compose.yaml, the Dockerfile and k8s/ offline (also part of `make test`)
	$(UV) run --frozen pytest -q -p no:cacheprovider tests/deploy

manifests: ## regenerate k8s/base/generated from the services, the topic registry, rules and dashboards
	$(UV) run --frozen python scripts/k8s_manifests.py

bench: infra-up topics ## benchmarks; results are written under bench/results/ (bench-e2e last)
	$(UV) run --frozen python bench/pipeline_stage.py
	$(UV) run --frozen python bench/triage_stage.py
	$(UV) run --frozen python bench/notifications_stage.py
	$(UV) run --frozen python bench/intake.py
	$(UV) run --frozen python bench/referral.py
	$(UV) run --frozen python bench/partner_flood.py
	$(UV) run --frozen python bench/matching.py
	$(UV) run --frozen python bench/access_log.py
	$(UV) run --frozen python bench/email_channel.py
	$(UV) run --frozen python bench/metrics_rebuild.py
	$(UV) run --frozen python bench/e2e.py

bench-e2e: infra-up topics ## the whole pipeline measured from outside: drains, steady rates, CPU per signal, latencies (docs/performance.md)
	$(UV) run --frozen python bench/e2e.py

eval-triage: ## triage on the evaluation corpus: recall, precision, false alarms, every miss (bench/results/triage-eval.md)
	$(UV) run --frozen python -m signaalpunt_triage.evaluation --write bench/results

chaos: infra-up topics ## 10,000 signals while services, Kafka and PostgreSQL fail; report in bench/results/chaos.md
	$(UV) run --frozen python bench/chaos.py $(CHAOS_ARGS)

docs: ## regenerate JSON Schemas and AsyncAPI from the contracts
	$(UV) run --frozen python -m signaalpunt_runtime.contract_docs

dashboards: ## regenerate the Grafana dashboards (deploy/grafana/dashboards) from code
	$(UV) run --frozen python -m signaalpunt_metrics.dashboards

prometheus: ## Debian's Prometheus against `make run` on 127.0.0.1:9090 (rules loaded)
	@command -v prometheus >/dev/null || { echo "prometheus missing: apt-get install prometheus"; exit 1; }
	prometheus --config.file=deploy/prometheus/prometheus.local.yml \
	  --storage.tsdb.path=.local/prometheus --web.listen-address=127.0.0.1:9090

alertmanager: ## Debian's Alertmanager for `make prometheus` on 127.0.0.1:9093 (deploy/alertmanager routing)
	@command -v prometheus-alertmanager >/dev/null || { echo "missing: apt-get install prometheus-alertmanager"; exit 1; }
	prometheus-alertmanager --config.file=deploy/alertmanager/alertmanager.yml \
	  --storage.path=.local/alertmanager --web.listen-address=127.0.0.1:9093 --cluster.listen-address=

clean-local: infra-down ## remove local Kafka/PostgreSQL data (keeps the jar cache)
	rm -rf .local
