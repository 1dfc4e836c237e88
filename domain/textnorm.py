"""Text normalisation and clause/sentence boundaries for Chinese resident messages.

Residents type on phones with mixed input methods, so the same message can arrive with
full-width digits and Latin letters (``ＫＴＶ``, ``１１０``), mixed case, stray spaces and
newlines, traditional characters (``派出所民警收紅包``), and common misspellings or dialect
words (``身分证``, ``警查``, ``咋整``). Everything downstream (jieba, keywords, the model) works
on the normalised form, and character offsets always refer to it.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from pathlib import Path

# These apply to normalised text: NFKC has already folded full-width punctuation (，！？；：)
# and the ellipsis to ASCII, so only marks without an ASCII twin (。、) appear as such.
# A dot between digits ("3.5万") is a decimal point, not a full stop.
_SENTENCE_END = re.compile(r"[。!?;\n]|\.(?!\d)")
# Clause breaks also include commas, enumeration commas, colons and spaces: a negation
# such as "没有" rarely reaches across any of these.
_CLAUSE_BREAK = re.compile(r"[。!?;\n,、:\s]|\.(?!\d)")
_WHITESPACE_RUN = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Fold width and case and collapse whitespace, keeping line breaks as sentence ends.

    NFKC maps full-width ASCII (``ＡＢＣ１２３，！``) to half-width; ``casefold`` makes
    ``KTV`` and ``ktv`` the same keyword. A whitespace run that contains a newline becomes a
    single newline (it ends a sentence); any other run becomes one space.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _WHITESPACE_RUN.sub(_collapse_whitespace, folded).strip()


def _collapse_whitespace(run: re.Match[str]) -> str:
    return "\n" if "\n" in run.group() else " "


def to_simplified(text: str) -> str:
    """Traditional characters converted to simplified ones (``紅包`` → ``红包``).

    Most messages are already simplified, so the phrase-aware conversion of ``zhconv``
    (~20 µs) runs only when the text holds a character that simplification would change.
    """
    if set(text).isdisjoint(_traditional_characters()):
        return text
    import zhconv  # imported on first need: most deployments never receive traditional text

    return zhconv.convert(text, "zh-cn")


@functools.cache
def _traditional_characters() -> frozenset[str]:
    """Single characters that zh-cn conversion changes (about 4,700 of them)."""
    from zhconv import zhconv as tables

    if tables.zhcdicts is None:
        # By file path: zhconv's own default loader leaves its file handle open.
        tables.loaddict(str(Path(tables.__file__).with_name("zhcdict.json")))
    mapping = tables.getdict("zh-cn")
    return frozenset(key for key, value in mapping.items() if len(key) == 1 and key != value)


class SpellingVariants:
    """Replaces misspellings and dialect words with the standard word (``身分证`` → ``身份证``).

    Keys are matched on normalised, simplified text, longest first, so a longer variant wins
    over a shorter one it contains. The table lives in a data file an administrator can edit.
    """

    def __init__(self, variants: Mapping[str, str]) -> None:
        cleaned = {normalize(to_simplified(wrong)): normalize(right) for wrong, right in variants.items()}
        self._replacements = {wrong: right for wrong, right in cleaned.items() if wrong and wrong != right}
        self._first_characters = frozenset(wrong[0] for wrong in self._replacements)
        ordered = sorted(self._replacements, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(_as_pattern, ordered))) if ordered else None

    @classmethod
    def from_file(cls, path: Path) -> SpellingVariants:
        """Loads a TOML file whose tables (e.g. ``[typos]``, ``[dialect]``) map variant -> word."""
        with Path(path).open("rb") as file:
            tables = tomllib.load(file)
        merged: dict[str, str] = {}
        for name, table in tables.items():
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise ValueError(f"[{name}] in {path} must map each variant to a standard word")
            merged.update(table)
        return cls(merged)

    def apply(self, text: str) -> str:
        if self._pattern is None or set(text).isdisjoint(self._first_characters):
            return text
        return self._pattern.sub(lambda match: self._replacements[match.group()], text)


def _as_pattern(variant: str) -> str:
    """A literal pattern; an all-Latin variant only matches as a whole word."""
    if variant.isascii() and variant.isalpha():
        return rf"(?<![a-z]){re.escape(variant)}(?![a-z])"
    return re.escape(variant)


NO_VARIANTS = SpellingVariants({})


def prepare(text: str, variants: SpellingVariants = NO_VARIANTS) -> str:
    """The form every classifier component reads: normalised, simplified, variants fixed."""
    return variants.apply(to_simplified(normalize(text)))


def clause_ids(text: str) -> list[int]:
    """Clause number of every character of normalised ``text`` (a break ends its clause)."""
    return _segment_ids(text, _CLAUSE_BREAK)


def sentence_ids(text: str) -> list[int]:
    """Sentence number of every character of normalised ``text`` (a terminator ends its sentence)."""
    return _segment_ids(text, _SENTENCE_END)


def _segment_ids(text: str, breaks: re.Pattern[str]) -> list[int]:
    ids: list[int] = []
    current = 0
    for position, char in enumerate(text):
        ids.append(current)
        if breaks.match(text, position):
            current += 1
    return ids
