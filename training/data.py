"""Labelled examples: the seed set (data/training/seed/*.jsonl), the check set, unit labels."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from domain.analysis import CATEGORIES

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
TRAINING_DIR = DATA_DIR / "training"
SEED_DIR = TRAINING_DIR / "seed"
CHECK_PATH = TRAINING_DIR / "check.jsonl"
UNITS_PATH = TRAINING_DIR / "units.jsonl"


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    weight: float = 1.0
    unit: str | None = None


def read_jsonl(path: Path) -> list[Example]:
    """``{"text", "label"[, "unit"]}`` per line; a bad line is named by file and number."""
    examples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            example = Example(str(item["text"]), str(item["label"]), unit=item.get("unit"))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: expected {{\"text\": …, \"label\": …}}: {error}") from None
        if example.label not in CATEGORIES:
            raise ValueError(f"{path}:{number}: unknown label {example.label!r}")
        examples.append(example)
    return examples


def read_seed(seed_dir: Path = SEED_DIR) -> list[Example]:
    """Every ``*.jsonl`` file of the seed directory, in name order."""
    paths = sorted(Path(seed_dir).glob("*.jsonl"))
    if not paths:
        raise FileNotFoundError(f"no *.jsonl training files in {seed_dir}")
    return [example for path in paths for example in read_jsonl(path)]


def labels(examples: Iterable[Example]) -> list[str]:
    return [example.label for example in examples]


def texts(examples: Sequence[Example]) -> list[str]:
    return [example.text for example in examples]
