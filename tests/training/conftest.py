"""A small slice of the seed set, so training tests run in a second or two."""

from __future__ import annotations

import pytest

from domain.analysis import Reader
from training.data import Example, read_seed
from training.fit import TrainingOptions
from training.resources import default_reader


@pytest.fixture(scope="session")
def reader() -> Reader:
    return default_reader()


@pytest.fixture(scope="session")
def small_seed() -> list[Example]:
    by_label: dict[str, list[Example]] = {}
    for example in read_seed():
        by_label.setdefault(example.label, []).append(example)
    return [example for examples in by_label.values() for example in examples[:40]]


@pytest.fixture(scope="session")
def quick() -> TrainingOptions:
    return TrainingOptions(folds=3)
