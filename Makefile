# Everything lands in .venv at the repository root; dependencies come pinned (with hashes) from the lock files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test demo lock clean

$(VENV)/.installed: requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

run: $(VENV)/.installed
	$(PY) -m bot run

demo: $(VENV)/.installed
	$(PY) -m bot demo

# The whole suite on SQLite, then again on a throwaway PostgreSQL cluster (tests/postgres.py). Without
# PostgreSQL's server binaries the second run is skipped, unless OPENDOOR_REQUIRE_POSTGRES=1 (CI).
test: $(VENV)/.installed
	$(PY) -m pytest
	$(PY) -m pytest --database=postgresql

# Re-pin after changing dependencies in pyproject.toml (needs `pip install uv`).
lock:
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements.lock
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache
