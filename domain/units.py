"""Which business unit handles a ``business`` item: 户政, 交管/车管, 出入境, 治安, 刑侦, 消防, or the
local station (派出所) by default.

Configured keywords per unit (``data/business_units.toml``, named in config.toml) are matched like
the category keywords, on token boundaries. Negation does not matter here: "没有消防设施" is
still a matter for 消防.
The unit with the highest total weight wins; ties go to the unit listed first; no keyword at all
leaves the item with the default unit.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from domain.analysis import KeywordLexicon, Reading


@dataclass(frozen=True)
class UnitDecision:
    unit: str
    words: tuple[str, ...]  # the keywords behind the choice, strongest first


class UnitRouter:
    def __init__(self, keywords: Mapping[str, Mapping[str, float]], default_unit: str) -> None:
        if not keywords:
            raise ValueError("at least one business unit with keywords is needed")
        self.units: tuple[str, ...] = tuple(keywords)
        if default_unit not in self.units:
            self.units = (*self.units, default_unit)
        self.default_unit = default_unit
        self._lexicon = KeywordLexicon(keywords, categories=self.units)

    @property
    def words(self) -> frozenset[str]:
        return self._lexicon.words

    @classmethod
    def from_file(cls, path: Path) -> UnitRouter:
        """``default = "station"`` and one ``[units.<code>]`` table per unit with ``keywords``."""
        with Path(path).open("rb") as file:
            data = tomllib.load(file)
        units = data.get("units")
        if not isinstance(units, dict) or "default" not in data:
            raise ValueError(f"{path} needs `default = \"<unit>\"` and [units.<code>] tables")
        keywords = {code: table.get("keywords", {}) for code, table in units.items()}
        return cls(keywords, str(data["default"]))

    def route(self, reading: Reading, *, reported: bool = False) -> UnitDecision:
        """``reported``: the reading's ``occurrences`` list every unit keyword's (Reader.reports),
        so they need not be searched for again."""
        if reported:
            found = self._lexicon.select(reading.text, reading.tokens, reading.occurrences)
        else:
            found = self._lexicon.find(reading.text, reading.tokens)
        if not found:
            return UnitDecision(self.default_unit, ())
        strongest: dict[str, dict[str, float]] = {unit: {} for unit in self.units}
        for word, *_ in found:
            for unit, weight in self._lexicon.weights(word).items():
                strongest[unit][word] = max(strongest[unit].get(word, 0.0), weight)
        totals = {unit: sum(words.values()) for unit, words in strongest.items()}
        best = max(self.units, key=lambda unit: (totals[unit], -self.units.index(unit)))
        if totals[best] <= 0:
            return UnitDecision(self.default_unit, ())
        ranked = sorted(strongest[best].items(), key=lambda item: -item[1])
        return UnitDecision(best, tuple(word for word, _ in ranked))
