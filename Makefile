# The two commands: `make run` brings the platform up, `make test` runs every test.
# Both start from nothing: they create .venv, install, and start real Kafka, PostgreSQL,
# an SMTP sink and Keycloak (natively, see deploy/local/launcher.py; no Docker needed).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SERVICES := $(patsubst services/%/pyproject.toml,%,$(wildcard services/*/pyproject.toml))
PACKAGES := shared/contracts shared/runtime shared/sim $(addprefix services/,$(SERVICES))
STAMP := $(VENV)/.installed
# The official AsyncAPI parser (@asyncapi/parser, pinned in tools/asyncapi/package-lock.json).
ASYNCAPI_PARSER := tools/asyncapi/node_modules/@asyncapi/parser/package.json
CONSUMES := $(wildcard services/*/consumes.json)

.PHONY: help install run demo stop test lint bench infra-up infra-down infra-status \
        contracts-check contracts-export migrate clean jq chromium test-fast test-docker \
        $(addprefix test-,$(SERVICES))

help:
	@echo "make run              install, start Kafka + PostgreSQL + SMTP sink + Keycloak, migrate, start every service"
	@echo "make run REPLICAS=partners=2,funding=2   the same, with more than one process for those services"
	@echo "make demo             after make run: import 2019–2022 with their dates, play 2024 live, reconcile"
	@echo "make stop             stop the services and the infrastructure"
	@echo "make test             install, then every test (starts real infrastructure itself)"
	@echo "make test-fast SERVICE=partners    one service's fast tests, PostgreSQL only (= make test-partners)"
	@echo "make test-docker [SERVICE=partners] a service's whole suite on testcontainers alone"
	@echo "make lint             ruff + mypy --strict"
	@echo "make docs|docs-serve  the documentation site (docs/): built strict, or served on :8008"
	@echo "make bench            benchmarks against raw aiokafka / asyncpg baselines"
	@echo "make infra-up|infra-down|infra-status"
	@echo "make images           Docker: the stand-ins of deploy/images + the compose CLI, built when missing"
	@echo "make compose-up|compose-down  the platform under docker compose (127.0.0.1 only)"
	@echo "make compose-check    CI's compose stage: up, demo, partners killed + Kafka restarted, reconciled, down"
	@echo "make contracts-check  schemas, AsyncAPI (official parser) and consumer contracts"
	@echo "make observability-check  alert rules (promtool check + unit tests), dashboards' PromQL, runbook"
	@echo "services found: $(or $(SERVICES),none yet)"

$(PY):
	$(PYTHON) -m venv $(VENV) || (apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV))
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	$(PY) -m pip install -q -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(PACKAGES))
	touch $@

install: $(STAMP)

infra-up: install
	$(PY) deploy/local/launcher.py up

infra-down:
	@if [ -x $(PY) ]; then $(PY) deploy/local/launcher.py down; fi

infra-status: install
	$(PY) deploy/local/launcher.py status

# For a Docker engine with no registry: stand-ins of the official images under our own names
# (deploy/images/README.md) and the `docker compose` plugin, each built only when missing or
# when its recipe changed (seconds otherwise). System Python: no virtualenv needed.
.PHONY: images compose-cli
images: compose-cli
	$(PYTHON) deploy/images/build.py images

compose-cli:
	$(PYTHON) deploy/images/build.py compose-cli

# The platform under docker compose (deploy/compose/stage.py): up makes .env from
# .env.example when there is none and uses the stand-ins when no registry answers;
# compose-check is CI's compose stage (demo and faults reconciled, then down -v).
.PHONY: compose-up compose-down compose-check
compose-up: install
	$(PY) deploy/compose/stage.py up

compose-down: install
	$(PY) deploy/compose/stage.py down

compose-check: install
	$(PY) deploy/compose/stage.py check

# REPLICAS=partners=2,funding=2 (or CITES_REPLICAS in the environment): processes per
# service, 1 for a service not named (deploy/local/layout.py; docs/running.md).
run: install
	$(if $(REPLICAS),CITES_REPLICAS=$(REPLICAS)) $(PY) deploy/local/launcher.py up
	$(if $(REPLICAS),CITES_REPLICAS=$(REPLICAS)) $(PY) deploy/local/services.py up $(SERVICES)

# The programme simulation against `make run`'s platform (DEMO_ARGS: --scale 10,
# --concurrency 16, --seed 7, ...): exits non-zero naming every difference.
# It reads Kafka as the brokers' administrator (the launcher's infra.env says who), signs
# in at make run's Keycloak as the development users, and reads /metrics on the services'
# ops ports.
demo: install
	set -a && . $${CITES_LOCAL_DIR:-.local}/infra.env && set +a && \
	$(PY) -m cites_sim run --kafka 127.0.0.1:$${CITES_KAFKA_PORT:-19092} \
		--maildir $${CITES_LOCAL_DIR:-.local}/smtp/mail \
		--issuer $${KEYCLOAK_URL}/realms/cites \
		--ops-urls '{"labelling": "http://127.0.0.1:9001", "partners": "http://127.0.0.1:9002", "funding": "http://127.0.0.1:9003", "notifications": "http://127.0.0.1:9004"}' \
		$(DEMO_ARGS)

stop:
	@if [ -x $(PY) ]; then $(PY) deploy/local/services.py down; $(PY) deploy/local/launcher.py down; fi

migrate: install
	$(PY) deploy/local/services.py migrate $(SERVICES)

# TEST_WORKERS tests at a time (pytest-xdist; 0: one process): most of a test's time is spent
# waiting on Kafka, PostgreSQL and the services it starts. The workers share the one
# infrastructure; a test marked exclusive (it stops or restarts a shared server) runs alone
# (see the cites_runtime plugin). worksteal: an idle worker takes tests queued on the other,
# so that a few long tests do not leave one worker waiting at the end.
TEST_WORKERS ?= 2

test: install $(ASYNCAPI_PARSER) promtool jq chromium
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# promtool and the Prometheus server, built from their pinned Go module into
# tools/promtool/bin when missing (seconds otherwise): tests/test_observability.py checks and
# unit-tests deploy/observability with promtool; tests/test_prometheus.py runs the server on
# real services; the compose stand-in image (make images) takes the server from there.
.PHONY: promtool observability-check
promtool:
	sh tools/promtool/build.sh promtool prometheus >/dev/null

# The alert rules (promtool check + test rules), the dashboards' expressions, the metrics
# they name, the runbook's entries.
observability-check: install promtool
	$(PY) -m pytest tests/test_observability.py $(PYTEST_ARGS)

# One service's fast tests: those not marked integration (the plugin marks every test whose
# fixtures ask for Kafka), so PostgreSQL only: DATABASE_URL, else a container, else the
# launcher's PostgreSQL alone. No broker is started.
test-fast: install
	@test -n "$(SERVICE)" || (echo "make test-fast SERVICE=<one of: $(SERVICES)>" >&2; exit 2)
	$(PY) -m pytest $(addsuffix /tests,$(addprefix services/,$(SERVICE))) -m "not integration" \
		$(PYTEST_ARGS)

$(addprefix test-,$(SERVICES)): test-%:
	@$(MAKE) --no-print-directory test-fast SERVICE=$*

# Whole service suites on testcontainers alone (SERVICE; by default partners, the most
# self-contained, and notifications, which reads mail back from Mailpit): nothing from the
# environment, never the native launcher; fails when no Docker engine answers. Images:
# CITES_KAFKA_IMAGE, CITES_POSTGRES_IMAGE, CITES_MAILPIT_IMAGE, CITES_JAEGER_IMAGE (official
# pinned ones by default, else the stand-ins of make images).
test-docker: install
	env -u KAFKA_BOOTSTRAP_SERVERS -u DATABASE_URL -u SMTP_HOST -u SMTP_PORT -u SMTP_MAILDIR \
		-u MAILPIT_URL -u CITES_NO_DOCKER CITES_INFRA=docker \
		$(PY) -m pytest $(addsuffix /tests,$(addprefix services/,$(or $(SERVICE),partners notifications))) \
		$(PYTEST_ARGS)

# The documentation site (docs/, mkdocs.yml): built strict into .local/site, or served.
.PHONY: docs docs-serve
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8008

# The README walk-through uses jq; tests/e2e/test_readme_walkthrough.py runs it.
jq:
	@command -v jq >/dev/null || (apt-get update -qq && apt-get install -y -qq jq)

# The dashboard's browser tests (tests/e2e/test_programme_e2e.py and the service's own) drive Debian's Chromium,
# headless, through Playwright (its own browser builds are not used).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy shared/contracts/cites_contracts shared/runtime/cites_runtime shared/sim/cites_sim \
		deploy/local deploy/keycloak deploy/images deploy/compose bench tools/docs \
		$(foreach s,$(SERVICES),services/$(s)/$(s))
	$(VENV)/bin/lint-imports  # the layers and independences of pyproject.toml's [tool.importlinter]

bench: install
	$(PY) -m bench $(BENCH_ARGS)

$(ASYNCAPI_PARSER): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	cd tools/asyncapi && npm ci --no-audit --no-fund --silent
	touch $@

# Committed schemas and AsyncAPI document up to date and compatible, every consumer's
# declaration satisfied, every AsyncAPI document (platform's, each service's) valid for
# the official parser with no error and no warning.
contracts-check: install $(ASYNCAPI_PARSER)
	$(PY) -m cites_contracts.schemas check
	$(PY) -m cites_contracts.asyncapi check --consumers $(CONSUMES)
	$(PY) -m cites_contracts.consumers check $(CONSUMES)
	$(PY) tools/docs/catalogue.py check
	rm -rf .local/asyncapi && mkdir -p .local/asyncapi
	$(foreach s,$(SERVICES),$(PY) -m $(s) asyncapi > .local/asyncapi/$(s).json &&) true
	node tools/asyncapi/validate.mjs shared/contracts/asyncapi.yaml .local/asyncapi/*.json

contracts-export: install
	$(PY) -m cites_contracts.schemas export
	$(PY) -m cites_contracts.schemas docs
	$(PY) -m cites_contracts.asyncapi export --consumers $(CONSUMES)
	$(PY) tools/docs/catalogue.py write

clean: stop
	rm -rf $(VENV) .local
