"""Both locales render every screen: every text key the code names exists in zh.toml and en.toml."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from domain.tickets import TicketKind, TicketState
from i18n import LOCALES, Texts
from services.appraisal import RATINGS, SCORE_ASPECTS

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"[a-z_]+(\.[a-z_]+)+")


def keys_named_in_code(texts: Texts) -> set[str]:
    """Every string literal in handlers/ and services/ that looks like a key of a catalogue section."""
    sections = {key.split(".", 1)[0] for catalogue in texts.catalogues.values() for key in catalogue}
    found = set()
    for folder in ("handlers", "services"):
        for path in (ROOT / folder).glob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            # The fixed parts of f"kind.{…}" are no keys: keys_built_at_run_time covers them.
            pieces = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
            for node in ast.walk(tree):
                if id(node) not in pieces and isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY.fullmatch(node.value):
                    if node.value.split(".", 1)[0] in sections and not node.value.endswith(".py"):
                        found.add(node.value)
    return found


def keys_built_at_run_time() -> set[str]:
    """Keys the code composes from values (f"kind.{kind}" and the like)."""
    return (
        {f"kind.{kind.value}" for kind in TicketKind}
        | {f"state.{state.value}" for state in TicketState}
        | {f"appraisal.{rating}" for rating in RATINGS}
        | {f"appraisal.aspect_{aspect}" for aspect in SCORE_ASPECTS}
    )


def test_every_key_the_resident_side_uses_exists_in_both_locales() -> None:
    texts = Texts.load()
    used = keys_named_in_code(texts) | keys_built_at_run_time()
    assert len(used) > 80, sorted(used)  # the scan really found the keys
    missing = {locale: sorted(used - set(texts.catalogues[locale])) for locale in LOCALES}
    assert missing == {locale: [] for locale in LOCALES}
    assert texts.missing_keys() == {}
