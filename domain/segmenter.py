"""Word segmentation with jieba's dictionary and algorithm over a compact word list, fast to start.

jieba's default dictionary (349k words) takes over a second to load even from jieba's cache.
The classifier only needs the words it can tell apart, so it ships ``data/segdict.txt``: the
common part of jieba's dictionary (built by ``training.dictionary``) plus the domain terms of the
user dictionary. Segmentation is jieba's own (prefix DAG and maximum-probability route) without
the HMM pass for unknown words: characters the dictionary does not know come out one by one,
which the character n-gram features of the model cover anyway.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import jieba

# jieba's own block and character classes (jieba.re_han_default, re_skip_default, re_eng).
_HAN_BLOCK = jieba.re_han_default
_SKIP = jieba.re_skip_default
_LATIN_CHARACTERS = frozenset(string.ascii_letters + string.digits)  # jieba.re_eng: [a-zA-Z0-9]
_USERDICT_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")  # jieba's own user-dict syntax
# In the route table, the mark of a prefix that is not a word itself (log-probabilities are < 0).
_PREFIX_ONLY = 1.0
_NO_WORD = -math.inf


class Token(NamedTuple):
    """A word and where it sits in the (normalised) text: ``text[start:end] == word``."""

    word: str
    start: int
    end: int


_new_token = functools.partial(tuple.__new__, Token)  # a third of the cost of Token(...)


@dataclass(frozen=True)
class UserWord:
    """One jieba user-dictionary entry: ``word [freq] [tag]``."""

    word: str
    freq: int | None = None
    tag: str | None = None

    @classmethod
    def parse(cls, line: str) -> UserWord:
        word, freq, tag = _USERDICT_LINE.match(line.strip()).groups()  # type: ignore[union-attr]
        if freq is not None and int(freq) == 0:
            # jieba handles freq 0 through a module-global force-split list, which would leak
            # into every other tokenizer in the process.
            raise ValueError(f"user word {word!r} has frequency 0; remove it instead")
        return cls(word, int(freq) if freq else None, tag.strip() if tag else None)


def read_user_words(path: Path) -> list[UserWord]:
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    return [UserWord.parse(line) for line in lines if line.strip() and not line.startswith("#")]


def read_dictionary(path: Path) -> dict[str, int]:
    """``word count`` lines (jieba's dict.txt syntax; a third column and ``#`` lines are ignored)."""
    frequencies: dict[str, int] = {}
    with Path(path).open(encoding="utf-8") as file:
        for line in file:
            if not line.strip() or line.startswith("#"):
                continue
            word, count = line.split()[:2]
            frequencies[word] = int(count)
    return frequencies


class Segmenter:
    """A private jieba Tokenizer on a given word list; jieba's global tokenizer is never touched."""

    def __init__(
        self,
        frequencies: Mapping[str, int],
        user_words: Iterable[UserWord] = (),
        *,
        normalize_word: Callable[[str], str] | None = None,
    ) -> None:
        self._tokenizer = _tokenizer_from(frequencies)
        self._route_cache: dict[str, float] | None = None
        self._route_cache_size = 0
        self._unknown = 0.0
        self.add_user_words(user_words, normalize_word)

    @classmethod
    def from_files(
        cls,
        dictionary_path: Path,
        userdict_path: Path | None = None,
        *,
        normalize_word: Callable[[str], str] | None = None,
    ) -> Segmenter:
        """A segmenter on a dictionary file; the file is parsed once per process and shared."""
        user_words = read_user_words(userdict_path) if userdict_path else []
        segmenter = cls.__new__(cls)
        segmenter._tokenizer = _copy(_cached_tokenizer(*_file_key(dictionary_path)))
        segmenter._route_cache = None
        segmenter._route_cache_size = 0
        segmenter._unknown = 0.0
        segmenter.add_user_words(user_words, normalize_word)
        return segmenter

    def add_user_words(self, user_words: Iterable[UserWord], normalize_word: Callable[[str], str] | None) -> None:
        for entry in user_words:
            word = normalize_word(entry.word) if normalize_word else entry.word
            self._tokenizer.add_word(word, entry.freq, entry.tag)

    def add_rare_words(self, words: Iterable[str], count: int = 3) -> None:
        """Make words the dictionary lacks (keyword phrases such as 酒驾, 销户) segmentable.

        With a count this low a word only wins over single characters jieba has no word for:
        "民警没收钱包" still reads 没收/钱包, not 没/收钱/包.
        """
        for word in words:
            if len(word) > 1 and not self.knows(word):
                self._tokenizer.add_word(word, count)

    def knows(self, word: str) -> bool:
        return bool(self._tokenizer.FREQ.get(word))

    def words(self, text: str) -> list[str]:
        """The words of ``text`` in order, whitespace included (they concatenate back to it)."""
        return [token.word for token in self._cut(text, keep_space=True)]

    def tokens(self, text: str) -> list[Token]:
        """The words of ``text`` with their offsets, whitespace left out."""
        return self._cut(text, keep_space=False)

    def _cut(self, text: str, keep_space: bool) -> list[Token]:
        """``jieba.Tokenizer.cut(text, HMM=False)``, word for word, about twice as fast.

        Same blocks (jieba's own regular expressions), same prefix DAG and maximum-probability
        route over the same dictionary, same grouping of Latin letters and digits; only the
        route reads one table of log-probabilities computed once instead of per call, and no
        generators. ``tests/domain/test_classifier_text.py`` checks the equality on the
        training texts.
        """
        tokens: list[Token] = []
        route_table = self._route_table()
        new_token = _new_token
        position = 0
        # split() on a pattern with one group: the Han (word) blocks are at the odd places.
        for number, block in enumerate(_HAN_BLOCK.split(text)):
            if not block:
                continue
            if number % 2:
                self._cut_block(block, position, tokens, route_table)
            else:
                for part_number, part in enumerate(_SKIP.split(block)):
                    if part_number % 2:  # whitespace
                        if keep_space:
                            tokens.append(new_token((part, position, position + len(part))))
                        position += len(part)
                    else:
                        for char in part:
                            tokens.append(new_token((char, position, position + 1)))
                            position += 1
                continue
            position += len(block)
        return tokens

    def _cut_block(self, block: str, offset: int, tokens: list[Token], route_table: dict[str, float]) -> None:
        get = route_table.get
        unknown = self._unknown
        length = len(block)
        best = [0.0] * (length + 1)
        end_of = [0] * (length + 1)
        for start in range(length - 1, -1, -1):
            score = _NO_WORD
            end = start + 1
            value = get(block[start])
            if value is not None:
                if value < 0.0:
                    score = value + best[start + 1]
                stop = start + 2
                while stop <= length:
                    value = get(block[start:stop])
                    if value is None:
                        break
                    if value < 0.0:
                        candidate = value + best[stop]
                        if candidate >= score:  # ties: the longer word, as jieba
                            score, end = candidate, stop
                    stop += 1
            if score == _NO_WORD:  # no dictionary word starts here: the character alone
                score = unknown + best[start + 1]
            best[start] = score
            end_of[start] = end
        new_token = _new_token
        position = 0
        latin_start = -1  # single Latin letters and digits in a row make one word, as in jieba
        while position < length:
            end = end_of[position]
            if end - position == 1 and block[position] in _LATIN_CHARACTERS:
                if latin_start < 0:
                    latin_start = position
            else:
                if latin_start >= 0:
                    tokens.append(new_token((block[latin_start:position], offset + latin_start, offset + position)))
                    latin_start = -1
                tokens.append(new_token((block[position:end], offset + position, offset + end)))
            position = end
        if latin_start >= 0:
            tokens.append(new_token((block[latin_start:], offset + latin_start, offset + length)))

    def _route_table(self) -> dict[str, float]:
        """Every word and word prefix of the dictionary: log(count / total) for a word,
        :data:`_PREFIX_ONLY` for a prefix that is not a word; rebuilt when words were added."""
        tokenizer = self._tokenizer
        if self._route_cache is None or self._route_cache_size != len(tokenizer.FREQ):
            log_total = math.log(tokenizer.total)
            log = math.log
            self._route_cache = {
                word: (log(count) - log_total) if count else _PREFIX_ONLY
                for word, count in tokenizer.FREQ.items()
            }
            self._route_cache_size = len(tokenizer.FREQ)
            self._unknown = -log_total
        return self._route_cache


def _file_key(path: Path) -> tuple[str, int]:
    resolved = Path(path).resolve()
    return str(resolved), resolved.stat().st_mtime_ns


@functools.lru_cache(maxsize=4)
def _cached_tokenizer(path: str, mtime_ns: int) -> jieba.Tokenizer:
    return _tokenizer_from(read_dictionary(Path(path)))


def _copy(tokenizer: jieba.Tokenizer) -> jieba.Tokenizer:
    """A tokenizer with its own copy of the prefix dictionary (user words go into the copy)."""
    fresh = jieba.Tokenizer()
    fresh.FREQ = dict(tokenizer.FREQ)
    fresh.total = tokenizer.total
    fresh.initialized = True
    return fresh


def _tokenizer_from(frequencies: Mapping[str, int]) -> jieba.Tokenizer:
    """A jieba Tokenizer whose prefix dictionary is built from ``frequencies`` in memory.

    Sets the three attributes ``Tokenizer.initialize`` sets (jieba is pinned), skipping its
    file cache: building the prefix dictionary of ~50k words takes ~0.1 s.
    """
    prefix_dict: dict[str, int] = {}
    total = 0
    for word, count in frequencies.items():
        prefix_dict[word] = count
        total += count
        for end in range(1, len(word)):
            prefix = word[:end]
            if prefix not in prefix_dict:
                prefix_dict[prefix] = 0
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ = prefix_dict
    tokenizer.total = total
    tokenizer.initialized = True
    return tokenizer
