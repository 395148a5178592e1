# One entry point. `make demo` runs the main job, `make test` runs every check; both set up what
# they need (the virtualenv, the Kafka broker) on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv lint unit integration kafka-start kafka-stop kafka-status clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The broker is left running afterwards (a second demo starts at once); `make kafka-stop` stops it.
demo: venv
	deploy/local/kafka.sh start
	$(BIN)/setpoint demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q tests/unit src/setpoint

integration: venv
	deploy/local/kafka.sh start
	SETPOINT_REQUIRE_INFRA=1 $(BIN)/pytest -q tests/integration

# Lint, types, unit tests, then the integration tests against a real broker this target starts
# (and stops again if it started it). Integration tests fail rather than skip here.
test: venv
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest -q tests/unit src/setpoint
	@was_running=0; deploy/local/kafka.sh status >/dev/null 2>&1 && was_running=1; \
	deploy/local/kafka.sh start || exit 1; \
	SETPOINT_REQUIRE_INFRA=1 $(BIN)/pytest -q tests/integration; rc=$$?; \
	[ $$was_running = 1 ] || deploy/local/kafka.sh stop; exit $$rc

kafka-start:
	deploy/local/kafka.sh start
kafka-stop:
	deploy/local/kafka.sh stop
kafka-status:
	deploy/local/kafka.sh status

clean:
	rm -rf $(VENV) .setpoint bench-runs .pytest_cache .mypy_cache .ruff_cache
