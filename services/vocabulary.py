"""Keywords and the user dictionary, exported to one TOML file and imported back after editing.

Validated before anything is written, so a typo cannot break routing; the new vocabulary takes
effect after `python -m bot retrain --force` (keyword scores are features of the model).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from domain.classifier import CATEGORIES

_USER_WORD = re.compile(r"^\S+( \d+)?( [a-z]+)?$")


class VocabularyError(ValueError):
    pass


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def export_vocabulary(keywords_path: Path, userdict_path: Path, out: Path) -> int:
    keywords = tomllib.loads(keywords_path.read_text(encoding="utf-8"))
    words = [line.strip() for line in userdict_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = ["# Open-Door vocabulary: keyword weights per category, and the jieba user dictionary.", ""]
    for category in CATEGORIES:
        lines.append(f"[keywords.{category}]")
        lines += [f"{_toml_string(word)} = {float(weight)}" for word, weight in keywords.get(category, {}).items()]
        lines.append("")
    lines.append("[user_dictionary]")
    lines.append("# One entry per line of jieba's format: word [frequency] [part of speech].")
    lines.append("words = [" + ", ".join(_toml_string(word) for word in words) + "]")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sum(len(table) for table in keywords.values()) + len(words)


def import_vocabulary(source: Path, keywords_path: Path, userdict_path: Path) -> int:
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise VocabularyError(f"{source}: {error}") from None
    keywords = data.get("keywords", {})
    unknown = sorted(set(keywords) - set(CATEGORIES))
    if unknown:
        raise VocabularyError(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
    for category, table in keywords.items():
        for word, weight in table.items():
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not word.strip():
                raise VocabularyError(f"[keywords.{category}] {word!r} = {weight!r}: expected a word and a number")
    words = data.get("user_dictionary", {}).get("words", [])
    bad = [w for w in words if not isinstance(w, str) or not _USER_WORD.match(w.strip())]
    if bad:
        raise VocabularyError(f"user dictionary entries not in 'word [frequency] [tag]' form: {bad[:5]}")
    keyword_lines = []
    for category, table in keywords.items():
        keyword_lines.append(f"[{category}]")
        keyword_lines += [f"{_toml_string(word)} = {float(weight)}" for word, weight in table.items()]
        keyword_lines.append("")
    keywords_path.write_text("\n".join(keyword_lines), encoding="utf-8")
    userdict_path.write_text("\n".join(w.strip() for w in words) + "\n", encoding="utf-8")
    return sum(len(table) for table in keywords.values()) + len(words)
