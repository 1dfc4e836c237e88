# Everything lands in .venv at the repository root; dependencies come pinned (with hashes) from the lock files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test demo lock clean

$(VENV)/.installed: requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

# The router's modules compiled with Cython (about a fifth faster); rebuilt when domain/ changes.
# A failed build is reported and the plain sources run (domain/__init__.py).
domain/_compiled/manifest.json: $(VENV)/.installed $(wildcard domain/*.py)
	$(PY) tools/accelerate.py

run: $(VENV)/.installed domain/_compiled/manifest.json
	$(PY) -m bot run

demo: $(VENV)/.installed domain/_compiled/manifest.json
	$(PY) -m bot demo

# The whole suite on SQLite, then again on a throwaway PostgreSQL cluster (tests/postgres.py). Without
# PostgreSQL's server binaries the second run is skipped, unless OPENDOOR_REQUIRE_POSTGRES=1 (CI).
test: $(VENV)/.installed domain/_compiled/manifest.json
	$(PY) -m pytest
	$(PY) -m pytest --database=postgresql

# Re-pin after changing dependencies in pyproject.toml (needs `pip install uv`).
lock:
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements.lock
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache domain/_compiled
