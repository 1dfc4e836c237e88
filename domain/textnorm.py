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
from collections.abc import Iterable, Mapping
from pathlib import Path

# These apply to normalised text: NFKC has already folded full-width punctuation (，！？；：)
# and the ellipsis to ASCII, so only marks without an ASCII twin (。、) appear as such.
# A dot between digits ("3.5万") is a decimal point, not a full stop.
_SENTENCE_END = re.compile(r"[。!?;\n]|\.(?!\d)")
# Clause breaks also include commas, enumeration commas, colons and spaces: a negation
# such as "没有" rarely reaches across any of these.
_CLAUSE_BREAK = re.compile(r"[。!?;\n,、:\s]|\.(?!\d)")
_WHITESPACE_RUN = re.compile(r"\s+")
# Full-width ASCII (！ to ～) and the ideographic space: NFKC maps each to its ASCII twin.
_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def normalize(text: str) -> str:
    """Fold width and case and collapse whitespace, keeping line breaks as sentence ends.

    NFKC maps full-width ASCII (``ＡＢＣ１２３，！``) to half-width; ``casefold`` makes
    ``KTV`` and ``ktv`` the same keyword. A whitespace run that contains a newline becomes a
    single newline (it ends a sentence); any other run becomes one space.

    The result is NFKC's. Full NFKC costs more than everything else here, and what it changes
    in a Chinese message is nearly always full-width punctuation, so that is folded first and
    NFKC only runs on what is still not normalised after it.
    """
    if not unicodedata.is_normalized("NFKC", text):
        text = _FULL_WIDTH.sub(_half_width, text)
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
    return _WHITESPACE_RUN.sub(_collapse_whitespace, text.casefold()).strip()


def _half_width(match: re.Match[str]) -> str:
    char = match.group()
    return " " if char == "\u3000" else chr(ord(char) - 0xFEE0)


def _collapse_whitespace(run: re.Match[str]) -> str:
    return "\n" if "\n" in run.group() else " "


def to_simplified(text: str) -> str:
    """Traditional characters converted to simplified ones (``紅包`` → ``红包``).

    Most messages are already simplified, so the phrase-aware conversion of ``zhconv``
    (~20 µs) runs only when the text holds a character that simplification would change.
    """
    if not _has_traditional_characters(text):
        return text
    import zhconv  # imported on first need: most deployments never receive traditional text

    return zhconv.convert(text, "zh-cn")


def _has_traditional_characters(text: str) -> bool:
    common, rare = _traditional_pattern(), _traditional_characters()
    if common.search(text):
        return True
    return _ASTRAL.search(text) is not None and not rare.isdisjoint(text)


@functools.cache
def _traditional_pattern() -> re.Pattern[str]:
    """A character class of the traditional characters in the Basic Multilingual Plane.

    A regular expression scans a message faster than a set look-up per character; the few
    characters beyond that plane would make the class slow, so messages holding any (emoji,
    mostly) are checked against the set as well.
    """
    common = sorted(char for char in _traditional_characters() if char <= "\uffff")
    return re.compile("[" + "".join(map(re.escape, common)) + "]")


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
        self._pattern = _longest_first(self._replacements) if self._replacements else None

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
        if self._pattern is None:
            return text
        return self._pattern.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        return self._replacements[match.group()]


def _longest_first(variants: Iterable[str]) -> re.Pattern[str]:
    """A pattern matching any variant, the longest one where several start at one place.

    An all-Latin variant only matches as a whole word ("jc", not the "jc" of "jcb"). The others
    form a trie ("警查(?:同志|叔叔|局)") rather than a flat alternation: the regular expression
    engine then decides each position in a few steps instead of trying every variant.
    """
    latin = sorted((v for v in variants if v.isascii() and v.isalpha()), key=len, reverse=True)
    trie: dict = {}
    for variant in variants:
        if not (variant.isascii() and variant.isalpha()):
            node = trie
            for char in variant:
                node = node.setdefault(char, {})
            node[""] = {}  # a variant ends here
    branches = [_trie_pattern(trie)] if trie else []
    branches += [rf"(?<![a-z]){re.escape(variant)}(?![a-z])" for variant in latin]
    return re.compile("|".join(branches))


def _trie_pattern(node: dict) -> str:
    """Greedy, so the longest variant wins; a shorter one ending here is the fallback."""
    alternatives = [re.escape(char) + _trie_pattern(child) for char, child in sorted(node.items()) if char]
    if not alternatives:
        return ""
    group = "(?:" + "|".join(alternatives) + ")"
    return group + "?" if "" in node else group


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
