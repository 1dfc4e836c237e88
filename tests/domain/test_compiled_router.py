"""The router compiled by tools/accelerate.py decides exactly as its plain sources, and a stale
build never stands in for an edited source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import domain
from domain import MANIFEST, compiled_build_is_current, source_digest
from training.data import CHECK_PATH, UNITS_PATH, read_jsonl, read_seed

DECISIONS_SCRIPT = """
import json, sys
import domain
from domain.classifier import RoutingClassifier
router = RoutingClassifier.from_files()
verdicts = [router.classify(text) for text in json.load(sys.stdin)]
decisions = [[v.category, round(v.confidence, 12), list(v.deciding_words), v.unit] for v in verdicts]
json.dump({"compiled": domain.COMPILED, "decisions": decisions}, sys.stdout)
"""


def decisions(texts: list[str], **environ: str) -> dict:
    """The router's decisions in a fresh process (compiled unless OPENDOOR_PURE_PYTHON is set)."""
    completed = subprocess.run(
        [sys.executable, "-c", DECISIONS_SCRIPT], input=json.dumps(texts), capture_output=True, text=True,
        env=os.environ | environ, cwd=domain.SOURCE_DIR.parent, check=True,
    )
    return json.loads(completed.stdout)


@pytest.mark.skipif(not domain.COMPILED, reason="no current build in domain/_compiled (make builds one)")
def test_the_compiled_router_decides_exactly_as_the_plain_sources() -> None:
    texts = [e.text for e in read_seed() + read_jsonl(CHECK_PATH) + read_jsonl(UNITS_PATH)]
    texts += ["", "   ", "110", "民警态度很好，但是案子三个月没人管", "不是投诉哪个警察", "警" * 5000]

    compiled = decisions(texts)
    plain = decisions(texts, OPENDOOR_PURE_PYTHON="1")

    assert (compiled["compiled"], plain["compiled"]) == (True, False)
    assert compiled["decisions"] == plain["decisions"]


def write_build(compiled_dir: Path, source_dir: Path, interpreter: str = sys.implementation.cache_tag) -> None:
    compiled_dir.mkdir(exist_ok=True)
    sources = {path.stem: source_digest(path) for path in source_dir.glob("*.py")}
    (compiled_dir / MANIFEST).write_text(json.dumps({"interpreter": interpreter, "sources": sources}), encoding="utf-8")


def test_a_build_of_the_current_sources_is_used(tmp_path: Path) -> None:
    (tmp_path / "segmenter.py").write_text("WORDS = 1\n", encoding="utf-8")
    write_build(tmp_path / "_compiled", tmp_path)

    assert compiled_build_is_current(tmp_path / "_compiled", tmp_path, environ={})


def test_an_edited_source_is_never_shadowed_by_its_stale_build(tmp_path: Path) -> None:
    source = tmp_path / "segmenter.py"
    source.write_text("WORDS = 1\n", encoding="utf-8")
    write_build(tmp_path / "_compiled", tmp_path)

    source.write_text("WORDS = 2\n", encoding="utf-8")

    assert not compiled_build_is_current(tmp_path / "_compiled", tmp_path, environ={})


def test_no_build_another_interpreters_build_or_the_pure_switch_means_plain_sources(tmp_path: Path) -> None:
    (tmp_path / "segmenter.py").write_text("WORDS = 1\n", encoding="utf-8")
    assert not compiled_build_is_current(tmp_path / "_compiled", tmp_path, environ={})

    write_build(tmp_path / "_compiled", tmp_path, interpreter="cpython-399")
    assert not compiled_build_is_current(tmp_path / "_compiled", tmp_path, environ={})

    write_build(tmp_path / "_compiled", tmp_path)
    assert not compiled_build_is_current(tmp_path / "_compiled", tmp_path, environ={"OPENDOOR_PURE_PYTHON": "1"})

    (tmp_path / "_compiled" / MANIFEST).write_text("{not json", encoding="utf-8")
    assert not compiled_build_is_current(tmp_path / "_compiled", tmp_path, environ={})
