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
_NO_WORD = -math.inf


class Token(NamedTuple):
    """A word and where it sits in the (normalised) text: ``text[start:end] == word``."""

    word: str
    start: int
    end: int


_new_token = functools.partial(tuple.__new__, Token)  # a third of the cost of Token(...)
# A trie level: character -> [log-probability if a word ends here else None, the next level or
# None, the word if it is marked else None].
_Children = dict[str, list]


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
        self._trie: _Children | None = None
        self._unknown = 0.0
        self._marked: set[str] = set()
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
        segmenter._trie = None
        segmenter._unknown = 0.0
        segmenter._marked = set()
        segmenter.add_user_words(user_words, normalize_word)
        return segmenter

    def add_user_words(self, user_words: Iterable[UserWord], normalize_word: Callable[[str], str] | None) -> None:
        for entry in user_words:
            word = normalize_word(entry.word) if normalize_word else entry.word
            self._tokenizer.add_word(word, entry.freq, entry.tag)
            self._trie = None

    def add_rare_words(self, words: Iterable[str], count: int = 3) -> None:
        """Make words the dictionary lacks (keyword phrases such as 酒驾, 销户) segmentable.

        With a count this low a word only wins over single characters jieba has no word for:
        "民警没收钱包" still reads 没收/钱包, not 没/收钱/包.
        """
        for word in words:
            if len(word) > 1 and not self.knows(word):
                self._tokenizer.add_word(word, count)
                self._trie = None

    def knows(self, word: str) -> bool:
        return bool(self._tokenizer.FREQ.get(word))

    def mark(self, words: Iterable[str]) -> bool:
        """Report every occurrence of these words from :meth:`tokens_and_marks` (any position,
        overlapping or not, whatever the segmentation): finding them costs nothing extra there,
        as the route already walks every dictionary word that starts at each character.

        Only words made of the characters of jieba's word blocks (Han characters, Latin letters,
        digits, ``+#&._%-``) can be reported; False if some of ``words`` cannot.
        """
        words = set(words)
        reportable = {word for word in words if _HAN_BLOCK.fullmatch(word)}
        if not reportable <= self._marked:
            self._marked |= reportable
            self._trie = None
        return reportable == words

    def words(self, text: str) -> list[str]:
        """The words of ``text`` in order, whitespace included (they concatenate back to it)."""
        return [token.word for token in self._cut(text, keep_space=True, marks=[])]

    def tokens(self, text: str) -> list[Token]:
        """The words of ``text`` with their offsets, whitespace left out."""
        return self._cut(text, keep_space=False, marks=[])

    def tokens_and_marks(self, text: str) -> tuple[list[Token], list[tuple[str, int, int]]]:
        """:meth:`tokens`, and every occurrence ``(word, start, end)`` of the :meth:`mark`-ed words."""
        marks: list[tuple[str, int, int]] = []
        return self._cut(text, keep_space=False, marks=marks), marks

    def _cut(self, text: str, keep_space: bool, marks: list[tuple[str, int, int]]) -> list[Token]:
        """``jieba.Tokenizer.cut(text, HMM=False)``, word for word, several times as fast.

        Same blocks (jieba's own regular expressions), same prefix DAG and maximum-probability
        route over the same dictionary, same grouping of Latin letters and digits; only the
        dictionary is walked as a trie of characters, so no substring is cut out to be looked
        up, log-probabilities are computed once instead of per call, and there are no
        generators. ``tests/domain/test_classifier_text.py`` checks the equality on the
        training texts.
        """
        tokens: list[Token] = []
        trie = self._trie if self._trie is not None else self._build_trie()
        new_token = _new_token
        position = 0
        # split() on a pattern with one group: the Han (word) blocks are at the odd places.
        for number, block in enumerate(_HAN_BLOCK.split(text)):
            if not block:
                continue
            if number % 2:
                self._cut_block(block, position, tokens, trie, marks)
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

    def _cut_block(
        self, block: str, offset: int, tokens: list[Token], trie: _Children, marks: list[tuple[str, int, int]]
    ) -> None:
        chars = list(block)
        get = trie.get
        unknown = self._unknown
        no_word = _NO_WORD
        length = len(block)
        best = [0.0] * (length + 1)  # best[i]: the score of the best route through block[i:]
        end_of = [0] * length  # where the word of that route starting at i ends
        following = 0.0  # best[start + 1]
        for start in range(length - 1, -1, -1):
            end = start + 1
            node = get(chars[start])
            if node is None:  # no dictionary word starts here: the character alone
                score = unknown + following
            else:
                value, children, mark = node
                score = no_word if value is None else value + following
                if mark is not None:
                    marks.append((mark, offset + start, offset + end))
                stop = end
                while children is not None and stop < length:
                    node = children.get(chars[stop])
                    if node is None:
                        break
                    stop += 1
                    value, children, mark = node
                    if mark is not None:
                        marks.append((mark, offset + start, offset + stop))
                    if value is not None:
                        candidate = value + best[stop]
                        if candidate >= score:  # ties: the longer word, as jieba
                            score, end = candidate, stop
                if score == no_word:  # only a prefix of words that do not fit here
                    score = unknown + following
            best[start] = following = score
            end_of[start] = end
        new_token = _new_token
        position = 0
        latin_start = -1  # single Latin letters and digits in a row make one word, as in jieba
        while position < length:
            end = end_of[position]
            if end - position == 1:
                char = chars[position]
                if char in _LATIN_CHARACTERS:
                    if latin_start < 0:
                        latin_start = position
                    position = end
                    continue
                word = char
            else:
                word = block[position:end]
            if latin_start >= 0:
                tokens.append(new_token((block[latin_start:position], offset + latin_start, offset + position)))
                latin_start = -1
            tokens.append(new_token((word, offset + position, offset + end)))
            position = end
        if latin_start >= 0:
            tokens.append(new_token((block[latin_start:], offset + latin_start, offset + length)))

    def _build_trie(self) -> _Children:
        """The dictionary as a trie of characters: per node, log(count / total) if the path so
        far is a word (else None), the nodes that continue it (None at a leaf), and the path
        itself if it is a :meth:`mark`-ed word (else None)."""
        tokenizer = self._tokenizer
        log_total = math.log(tokenizer.total)
        log = math.log
        root: _Children = {}
        for word, count in tokenizer.FREQ.items():
            if count:  # a prefix only (count 0) gets its node from the words it begins
                _node(root, word)[0] = log(count) - log_total
        for word in self._marked:
            _node(root, word)[2] = word  # a marked word the dictionary lacks routes nothing
        self._trie = root
        self._unknown = -log_total
        return root


def _node(root: _Children, word: str) -> list:
    """The trie node of ``word``, created (as a prefix of nothing yet) where missing."""
    children = root
    for char in word[:-1]:
        node = children.get(char)
        if node is None:
            node = children[char] = [None, {}, None]
        elif node[1] is None:
            node[1] = {}
        children = node[1]
    node = children.get(word[-1])
    if node is None:
        node = children[word[-1]] = [None, None, None]
    return node


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
