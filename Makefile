# Two entry points, as in the README: `make demo` runs the main job, `make test` runs the tests.
# Both create a virtualenv in .venv on first use and install the package with what it needs, plus the sandbox
# (its own distribution, in sandbox/): both in one pip call, so the local sandbox satisfies the `test` extra.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench docs screenshots production-run distributed-run clean

$(STAMP): pyproject.toml sandbox/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./sandbox -e ".[test]"
	touch $(STAMP)

DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

demo: $(STAMP)
	$(BIN)/python demo/run_demo.py

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/import_cost.py
	$(BIN)/python bench/sandbox_throughput.py

# Scheduler, dag-processor, triggerer and API server with LocalExecutor on a throw-away PostgreSQL
# (Debian's package; installed with apt-get when missing and run as root).
production-run: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[production]"
	$(BIN)/python deploy/production_run.py

# CeleryExecutor with two Celery workers, Redis (broker) and PostgreSQL (metadata DB, Celery results), plus
# scheduler, dag-processor, triggerer and API server; four scenarios kill a worker or the triggerer mid-task
# and check the sandbox's state (Debian's postgresql and redis-server installed with apt-get when missing).
distributed-run: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[distributed]"
	$(BIN)/python deploy/distributed_run.py

docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict -d site

# Needs Debian's chromium and chromium-driver (the script installs them with --install-browser, as root).
screenshots: $(DOCS_STAMP)
	$(BIN)/python docs/screenshots/take_screenshots.py

clean:
	rm -rf $(VENV) build site *.egg-info sandbox/build sandbox/*.egg-info
