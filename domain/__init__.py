"""The pure core: tickets, routing, calendar, statistics. No Telegram, database or web code.

Compiled router. ``tools/accelerate.py`` (run by ``make`` when it sets up the virtualenv) compiles
the router's modules (:data:`COMPILED_MODULES`) with Cython into ``domain/_compiled/``, about a fifth
faster, and records the SHA-256 of each source it compiled. Those builds are put ahead of the
sources only while every one of those sources is unchanged and the interpreter is the one they
were built for, so an edited module is never shadowed by a stale build. ``OPENDOOR_PURE_PYTHON=1``
turns them off; without a build everything runs as plain Python, with the same results.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent
DATA_DIR = SOURCE_DIR.parent / "data"
COMPILED_DIR = SOURCE_DIR / "_compiled"
MANIFEST = "manifest.json"
# The router's hot path, in the order they import each other.
COMPILED_MODULES = ("textnorm", "segmenter", "analysis", "features", "linear_model", "units", "classifier")


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compiled_build_is_current(
    compiled_dir: Path = COMPILED_DIR, source_dir: Path = SOURCE_DIR, environ: Mapping[str, str] = os.environ
) -> bool:
    """True when the compiled modules may stand in for the sources (see the module doc)."""
    if environ.get("OPENDOOR_PURE_PYTHON"):
        return False
    try:
        manifest = json.loads((compiled_dir / MANIFEST).read_text(encoding="utf-8"))
        if manifest["interpreter"] != sys.implementation.cache_tag:
            return False
        return all(
            source_digest(source_dir / f"{module}.py") == digest for module, digest in manifest["sources"].items()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


COMPILED = compiled_build_is_current()
if COMPILED:
    __path__.insert(0, str(COMPILED_DIR))  # type: ignore[name-defined]  # noqa: F821  (a package's own path)
