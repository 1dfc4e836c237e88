"""What a message says before any scoring: its words, keyword phrases, negations and contrasts.

One pass over the prepared text (see :func:`domain.textnorm.prepare`) gives every component the
same reading: the keyword classifier scores the keyword hits, the model turns the words into
features, and the explanation shown to officers points back at the same words.

Negation. A token or keyword is *negated* when a negation word (不是, 没有, 未, …) ends at most
``negation_window`` characters before it in the same clause: "不是投诉哪个警察" does not report an
officer. Negation words that sit inside a keyword phrase do not count ("没有立案" is one petition
phrase, "无犯罪记录证明" one certificate).

Contrast. Within a sentence, words before the last 但是/可是/不过/然而/却 weigh ``contrast_before``
and words after it ``contrast_after`` ("民警态度很好，但是案子三个月没人管" is about the case). A
sentence that opens with 但是 contrasts with the sentence before it.
"""

from __future__ import annotations

import functools
import math
import operator
import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from domain.segmenter import Segmenter, Token
from domain.textnorm import NO_VARIANTS, SpellingVariants, normalize, prepare

CATEGORIES: tuple[str, ...] = ("business", "petition", "discipline", "other")

# Tokens that negate what follows them in the same clause ("不是投诉哪个警察", "没有收钱").
# They are compared with whole jieba tokens, so "没收" or "不满意" never count as "没"/"不".
DEFAULT_NEGATIONS: frozenset[str] = frozenset(
    {
        "不", "不是", "并不", "并不是", "并非", "绝不", "从不", "不会", "不要", "不用",
        "没", "没有", "并没有", "从没", "从没有", "从来没", "从来没有", "从未", "未", "无", "别",
    }
)
# Tokens after which the writer states what they really mean ("态度很好，但是案子没人管").
DEFAULT_CONTRASTS: frozenset[str] = frozenset({"但是", "但", "可是", "不过", "然而", "却"})

_CLAUSE_BREAKS = frozenset("。!?;\n,、:…~")
_SENTENCE_ENDS = frozenset("。!?;\n")
_NEGATION, _CONTRAST = "negation", "contrast"
# Shorter keywords only match inside one jieba token: "收钱" must not fire on "没收/钱".
_MIN_CROSS_TOKEN_LENGTH = 3
_START = operator.itemgetter(1)  # of a Token
_END = operator.itemgetter(2)


@dataclass(frozen=True)
class ReadingRules:
    """How negation and contrast change the weight of what follows them."""

    negations: frozenset[str] = DEFAULT_NEGATIONS
    contrasts: frozenset[str] = DEFAULT_CONTRASTS
    negation_window: int = 6
    contrast_before: float = 0.5
    contrast_after: float = 1.5


class KeywordHit(NamedTuple):
    """One keyword occurrence, with its weight per category and how the sentence qualifies it."""

    word: str
    start: int
    end: int
    weights: Mapping[str, float]
    negated: bool
    emphasis: float  # contrast weight: <1 before a 但是, >1 after it, else 1
    first: int  # the tokens it covers, first..last
    last: int


_new_hit = functools.partial(tuple.__new__, KeywordHit)


@dataclass(frozen=True)
class Reading:
    """The prepared text, its tokens (whitespace left out) and what qualifies each of them."""

    text: str
    tokens: Sequence[Token]
    negated: Sequence[bool]  # per token
    emphasis: Sequence[float]  # per token
    clause: Sequence[int]  # per token: clause number
    hits: Sequence[KeywordHit]
    breaks: Sequence[bool] = ()  # per token: punctuation that ends a clause
    # Every occurrence (word, start, end) of the words the reader reports (see Reader.reports),
    # overlapping ones included: another keyword table selects its own from these.
    occurrences: Sequence[tuple[str, int, int]] = ()

    def __post_init__(self) -> None:
        if len(self.breaks) != len(self.tokens):
            object.__setattr__(self, "breaks", [_is_break(token.word) for token in self.tokens])

    def is_break(self, index: int) -> bool:
        return self.breaks[index]


class KeywordLexicon:
    """Weighted keywords per category (``data/keywords.toml``), matched on token boundaries."""

    def __init__(
        self, keywords: Mapping[str, Mapping[str, float]], categories: Sequence[str] = CATEGORIES
    ) -> None:
        self._lexicon = build_lexicon(keywords, categories)
        # A trie of characters: per node, the keyword ending there (else None) and the next level.
        self._trie: dict[str, list] = {}
        for word in self._lexicon:
            children = self._trie
            for char in word[:-1]:
                node = children.setdefault(char, [None, None])
                if node[1] is None:
                    node[1] = {}
                children = node[1]
            children.setdefault(word[-1], [None, None])[0] = word

    @classmethod
    def from_file(cls, path: Path) -> KeywordLexicon:
        with Path(path).open("rb") as file:
            return cls(tomllib.load(file))

    @property
    def words(self) -> frozenset[str]:
        return frozenset(self._lexicon)

    def weights(self, word: str) -> Mapping[str, float]:
        return self._lexicon[word]

    def find(self, text: str, tokens: Sequence[Token]) -> list[tuple[str, int, int, int, int]]:
        """Non-overlapping keyword occurrences ``(word, start, end, first token, last token)``.

        The longest keyword wins where occurrences overlap.

        Longest-first lets a phrase own its parts: "没有立案" is one petition phrase, not a
        negated "立案"; "无犯罪记录证明" is a certificate, not a negated "犯罪".
        """
        return self.select(text, tokens, self._occurrences(text)) if tokens else []

    def select(
        self, text: str, tokens: Sequence[Token], occurrences: Iterable[tuple[str, int, int]]
    ) -> list[tuple[str, int, int, int, int]]:
        """:meth:`find`, given every occurrence ``(word, start, end)`` of the keywords in ``text``
        (e.g. as the segmenter reports them, see :meth:`Segmenter.mark`); other words are ignored."""
        if not tokens:
            return []
        starts = list(map(_START, tokens))
        token_starts = set(starts)
        token_ends = set(map(_END, tokens))
        lexicon = self._lexicon
        candidates: list[tuple[int, int, str]] = []
        for word, start, end in occurrences:
            if word not in lexicon:
                continue
            length = end - start
            if length == 1:
                # A single character must be a whole token ("偷", not the 偷 of "偷偷摸摸").
                if start in token_starts and end in token_ends:
                    candidates.append((-1, start, word))
            # Two characters must sit inside one token ("诈骗" in "诈骗案", not "没收/钱" for
            # 收钱); longer phrases may span tokens the segmenter split ("收了/好处").
            elif length >= _MIN_CROSS_TOKEN_LENGTH or start + 1 not in token_starts:
                candidates.append((-length, start, word))
        if not candidates:
            return []
        if len(candidates) > 1:
            candidates.sort()
        taken = bytearray(len(text))
        chosen: list[tuple[str, int, int, int, int]] = []
        for negative_length, start, word in candidates:
            end = start - negative_length
            if not any(taken[start:end]):
                taken[start:end] = b"\x01" * (end - start)
                first = bisect_right(starts, start) - 1
                last = bisect_right(starts, end - 1) - 1
                chosen.append((word, start, end, first, last))
        chosen.sort(key=_start_of)
        return chosen

    def _occurrences(self, text: str) -> list[tuple[str, int, int]]:
        """Every keyword occurrence in ``text``, overlapping ones included."""
        chars = list(text)
        length = len(chars)
        get = self._trie.get
        found: list[tuple[str, int, int]] = []
        for start, char in enumerate(chars):
            node = get(char)
            if node is None:
                continue
            word, children = node
            if word is not None:
                found.append((word, start, start + 1))
            end = start + 1
            while children is not None and end < length:
                node = children.get(chars[end])
                if node is None:
                    break
                end += 1
                word, children = node
                if word is not None:
                    found.append((word, start, end))
        return found


class Reader:
    """Turns a message into a :class:`Reading`: prepared text, tokens, keywords, negation, contrast."""

    def __init__(
        self,
        segmenter: Segmenter,
        lexicon: KeywordLexicon,
        rules: ReadingRules = ReadingRules(),
        variants: SpellingVariants = NO_VARIANTS,
        *,
        also_report: Iterable[str] = (),
    ) -> None:
        self.segmenter = segmenter
        self.lexicon = lexicon
        self.rules = rules
        self.variants = variants
        # The segmenter reports the keyword occurrences as it goes, if it can report them all;
        # ``also_report`` (e.g. the business units' keywords) come with them in Reading.occurrences.
        self._marked = segmenter.mark(lexicon.words)
        extra = frozenset(also_report)
        self._reported = (lexicon.words | extra) if self._marked and segmenter.mark(extra) else frozenset()
        contrasts = dict.fromkeys((normalize(word) for word in rules.contrasts), _CONTRAST)
        self._cues = contrasts | dict.fromkeys((normalize(word) for word in rules.negations), _NEGATION)

    @classmethod
    def from_files(
        cls,
        *,
        dictionary_path: Path,
        userdict_path: Path,
        keywords_path: Path,
        variants_path: Path | None = None,
        rules: ReadingRules = ReadingRules(),
        extra_words: Iterable[str] = (),
    ) -> Reader:
        """A reader on the given files; keyword phrases and ``extra_words`` (e.g. the business
        units' keywords) become words of the segmenter, so they are read as one token."""
        segmenter = Segmenter.from_files(dictionary_path, userdict_path, normalize_word=normalize)
        lexicon = KeywordLexicon.from_file(keywords_path)
        extra = {normalize(word) for word in extra_words}
        segmenter.add_rare_words(sorted(lexicon.words | extra))
        variants = SpellingVariants.from_file(variants_path) if variants_path else NO_VARIANTS
        return cls(segmenter, lexicon, rules, variants, also_report=extra)

    def reports(self, words: Iterable[str]) -> bool:
        """True when every reading lists each occurrence of these words in ``occurrences``."""
        return frozenset(words) <= self._reported

    def prepare(self, text: str) -> str:
        return prepare(text, self.variants)

    def read(self, text: str) -> Reading:
        """Reads a raw message (it is prepared first: see :func:`domain.textnorm.prepare`)."""
        return self.read_prepared(self.prepare(text))

    def read_prepared(self, text: str) -> Reading:
        if self._marked:
            tokens, occurrences = self.segmenter.tokens_and_marks(text)
            found = self.lexicon.select(text, tokens, occurrences)
        else:
            tokens = self.segmenter.tokens(text)
            found = self.lexicon.find(text, tokens)
            occurrences = []
        inside_hit = _covered(found, len(text))
        cue_of = self._cues
        window = self.rules.negation_window
        count = len(tokens)
        breaks = [False] * count
        clause = [0] * count
        negated = [False] * count
        cues: list[int] = []
        current_clause = 0
        previous_end = -1
        negation_end = negation_clause = -1  # the last negation word seen
        # One pass: clause numbers, breaks, negation, and where the contrast words are.
        for index, (word, start, end) in enumerate(tokens):
            if 0 <= previous_end < start:
                current_clause += 1  # whitespace (or a newline) lay between the two tokens
            clause[index] = current_clause
            if negation_clause == current_clause and start - negation_end <= window:
                negated[index] = True
            cue = cue_of.get(word)
            if cue is None:
                first = word[0]
                if first in _CLAUSE_BREAKS or (first == "." and not word[1:2].isdigit()):  # _is_break
                    breaks[index] = True
                    current_clause += 1
            elif not inside_hit[start]:  # a cue inside a keyword phrase is part of the phrase
                if cue is _NEGATION:
                    negation_end, negation_clause = end, current_clause
                else:
                    cues.append(index)
            previous_end = end
        emphasis = self._emphasis(tokens, breaks, cues) if cues else [1.0] * count
        weights = self.lexicon.weights
        new_hit = _new_hit
        hits = [
            new_hit((word, start, end, weights(word), negated[first], emphasis[first], first, last))
            for word, start, end, first, last in found
        ]
        return Reading(text, tokens, negated, emphasis, clause, hits, breaks, occurrences)

    def _emphasis(self, tokens: Sequence[Token], breaks: Sequence[bool], cues: Sequence[int]) -> list[float]:
        """Per token: ``contrast_before`` before the last contrast word of its scope, ``contrast_after`` after."""
        sentence = _sentences(tokens, breaks)
        scope = _contrast_scopes(breaks, sentence, set(cues))
        last_cue: dict[int, int] = {}
        for index in cues:
            last_cue[scope[sentence[index]]] = index
        weights = []
        for index in range(len(tokens)):
            cue = last_cue.get(scope[sentence[index]])
            if cue is None:
                weights.append(1.0)
            elif index > cue:
                weights.append(self.rules.contrast_after)
            elif index < cue:
                weights.append(self.rules.contrast_before)
            else:
                weights.append(1.0)  # the contrast word itself
        return weights


def build_lexicon(
    keywords: Mapping[str, Mapping[str, float]], categories: Sequence[str] = CATEGORIES
) -> dict[str, dict[str, float]]:
    """Invert ``category -> word -> weight`` into ``word -> category -> weight``, validated."""
    lexicon: dict[str, dict[str, float]] = {}
    for category, words in keywords.items():
        if category not in categories:
            raise ValueError(f"unknown category {category!r}; expected one of {tuple(categories)}")
        for raw_word, weight in words.items():
            word = normalize(raw_word)
            if not word:
                raise ValueError(f"empty keyword in category {category!r}")
            if not _is_positive_number(weight):
                raise ValueError(f"keyword {raw_word!r} in {category!r} needs a positive weight")
            lexicon.setdefault(word, {})[category] = float(weight)
    return lexicon


def _is_positive_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False  # TOML `true` would otherwise pass as 1
    return math.isfinite(value) and value > 0


def _start_of(hit: tuple[str, int, int, int, int]) -> int:
    return hit[1]


def _covered(found: Iterable[tuple[str, int, int, int, int]], length: int) -> bytearray:
    covered = bytearray(length)
    for _, start, end, _, _ in found:
        covered[start:end] = b"\x01" * (end - start)
    return covered


def _is_break(word: str) -> bool:
    return word[0] in _CLAUSE_BREAKS or (word[0] == "." and not word[1:2].isdigit())


def _sentences(tokens: Sequence[Token], breaks: Sequence[bool]) -> list[int]:
    """Sentence number per token."""
    sentence: list[int] = []
    current = 0
    for token, is_break in zip(tokens, breaks):
        sentence.append(current)
        if is_break and (token.word[0] in _SENTENCE_ENDS or token.word[0] == "."):
            current += 1
    return sentence


def _contrast_scopes(breaks: Sequence[bool], sentence: Sequence[int], cues: set[int]) -> list[int]:
    """Sentence -> scope of its contrast words.

    A sentence that opens with "但是" contrasts with the sentence before it, so it joins that
    sentence's scope; otherwise every sentence is its own scope.
    """
    count = (sentence[-1] + 1) if sentence else 0
    first_word: dict[int, int] = {}
    for index, is_break in enumerate(breaks):
        if not is_break:
            first_word.setdefault(sentence[index], index)
    scopes = list(range(count))
    for number in range(1, count):
        if first_word.get(number) in cues:
            scopes[number] = scopes[number - 1]
    return scopes
