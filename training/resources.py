"""The text resources (dictionary, user words, keywords, variants) as one Reader."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from domain.analysis import Reader
from domain.units import UnitRouter

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


class ClassifierFiles(Protocol):
    dictionary_path: Path
    userdict_path: Path
    keywords_path: Path
    variants_path: Path
    business_units_path: Path


def default_reader(data_dir: Path = DATA_DIR) -> Reader:
    """The shipped files in ``data/``, read exactly as the bot reads them."""
    return Reader.from_files(
        dictionary_path=data_dir / "segdict.txt",
        userdict_path=data_dir / "userdict.txt",
        keywords_path=data_dir / "keywords.toml",
        variants_path=data_dir / "variants.toml",
        extra_words=UnitRouter.from_file(data_dir / "business_units.toml").words,
    )


def reader_for(files: ClassifierFiles) -> Reader:
    """The files a configuration names (``[classifier]`` in config.toml)."""
    return Reader.from_files(
        dictionary_path=files.dictionary_path,
        userdict_path=files.userdict_path,
        keywords_path=files.keywords_path,
        variants_path=files.variants_path,
        extra_words=UnitRouter.from_file(files.business_units_path).words,
    )
