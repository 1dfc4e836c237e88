"""User-facing texts: Simplified Chinese first, English second, one TOML catalogue per locale."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

LOCALES = ("zh", "en")
_CATALOGUE_DIR = Path(__file__).resolve().parent


def locale_for(language_code: str | None, default: str = "zh") -> str:
    """Maps Telegram's language_code (zh-hans, zh-CN, en-GB, …) to one of our locales."""
    if language_code:
        base = language_code.split("-")[0].lower()
        if base in LOCALES:
            return base
    return default


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


class Texts:
    def __init__(self, catalogues: dict[str, dict[str, str]], default_locale: str = "zh") -> None:
        self.catalogues = catalogues
        self.default_locale = default_locale

    @classmethod
    def load(cls, default_locale: str = "zh") -> Texts:
        catalogues = {
            locale: _flatten(tomllib.loads((_CATALOGUE_DIR / f"{locale}.toml").read_text(encoding="utf-8")))
            for locale in LOCALES
        }
        return cls(catalogues, default_locale)

    def get(self, locale: str, key: str, **params: Any) -> str:
        """The text for `key` in `locale`, formatted with `params`; KeyError when a catalogue lacks it."""
        catalogue = self.catalogues.get(locale) or self.catalogues[self.default_locale]
        return catalogue[key].format(**params)

    def missing_keys(self) -> dict[str, set[str]]:
        """Keys some locale has and another lacks, per locale (for the completeness test)."""
        every = set().union(*(set(c) for c in self.catalogues.values()))
        return {locale: every - set(c) for locale, c in self.catalogues.items() if every - set(c)}
