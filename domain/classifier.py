"""Route a resident's message to the bureau department that should handle it.

The bureau's rule: 属于工作问题的，移交相关业务部门 (``business``)；属于信访案件或反映执法过错问题的，
移交法制、控申部门 (``petition``)；属于民警违法违纪问题的，移交纪检监察和督察部门
(``discipline``). Messages that need no ticket (thanks, greetings, chit-chat, spam) are
``other``.

v1 is a weighted keyword classifier. Anything that produces a :class:`Classification`
satisfies :class:`TextClassifier`, so a learned model can replace it without touching callers.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import jieba

from domain.textnorm import clause_ids, normalize, sentence_ids

CATEGORIES: tuple[str, ...] = ("business", "petition", "discipline", "other")
FALLBACK_CATEGORY = "other"

_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_KEYWORDS_PATH = _DATA_DIR / "keywords.toml"
DEFAULT_USERDICT_PATH = _DATA_DIR / "userdict.txt"

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
# Petition vocabulary names police actions whose *absence* is the complaint (立案, 出警, 退还):
# "一直没给立案" must still count as petition, so negation leaves these categories alone.
DEFAULT_NEGATION_EXEMPT: frozenset[str] = frozenset({"petition"})

# Shorter keywords only match inside one jieba token: "收钱" must not fire on "没收/钱".
_MIN_CROSS_TOKEN_LENGTH = 3
_USERDICT_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")  # jieba's own user-dict syntax


@dataclass(frozen=True)
class Classification:
    """Where a message goes, how sure the classifier is, and why."""

    category: str
    confidence: float  # 0..1; compared with a configured threshold to send items to human triage
    deciding_words: tuple[str, ...]  # keywords behind ``category``, most influential first
    scores: Mapping[str, float]  # evidence per category, every category present

    def __post_init__(self) -> None:
        # Guards the contract for any future classifier too: routing relies on both.
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} outside 0..1")


class TextClassifier(Protocol):
    """What the rest of the bot needs from any classifier (keywords now, a model later)."""

    def classify(self, text: str) -> Classification: ...


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


@dataclass(frozen=True)
class _Token:
    word: str
    start: int
    end: int


@dataclass(frozen=True)
class _Match:
    word: str
    start: int
    end: int


class KeywordClassifier:
    """Weighted keyword matching over jieba tokens, with negation and contrast handling.

    Scoring. Each keyword occurrence contributes ``weight × negation × contrast`` to every
    category that lists it, where ``negation`` is ``negation_factor`` when a negation token
    precedes it within ``negation_window`` characters of the same clause (else 1; categories
    in ``negation_exempt`` ignore negation) and ``contrast`` is ``contrast_before`` before the
    last 但是/可是/不过/然而/却 of its sentence, ``contrast_after`` after it, else 1. A keyword
    repeated in one message counts once, at its strongest occurrence, so a long rant does not
    outweigh a precise one.

    Decision and confidence. The category with the highest score wins (ties go to the one
    listed first in :data:`CATEGORIES`); with no evidence at all the message is ``other``.
    ::

        confidence = s_top / (s_1 + s_2 + s_3 + s_4 + evidence_prior)

    The share of the evidence held by the winner, shrunk towards 0 when there is little
    evidence: one keyword of weight 3 alone gives 0.75, two categories tied at 2 give 0.4,
    no keyword gives 0.
    """

    def __init__(
        self,
        keywords: Mapping[str, Mapping[str, float]],
        user_words: Iterable[str] = (),
        *,
        negations: Iterable[str] = DEFAULT_NEGATIONS,
        contrasts: Iterable[str] = DEFAULT_CONTRASTS,
        negation_exempt: Iterable[str] = DEFAULT_NEGATION_EXEMPT,
        negation_factor: float = 0.0,
        negation_window: int = 6,
        contrast_before: float = 0.5,
        contrast_after: float = 1.5,
        evidence_prior: float = 1.0,
    ) -> None:
        self._lexicon = _build_lexicon(keywords)
        self._user_words = tuple(UserWord.parse(line) for line in user_words if line.strip())
        self._negations = frozenset(normalize(word) for word in negations)
        self._contrasts = frozenset(normalize(word) for word in contrasts)
        self._negation_exempt = frozenset(negation_exempt)
        self._negation_factor = negation_factor
        self._negation_window = negation_window
        self._contrast_before = contrast_before
        self._contrast_after = contrast_after
        self._evidence_prior = evidence_prior
        # jieba needs ~1 s to load its dictionary; defer that to first use (or warm_up()).
        self._tokenizer: jieba.Tokenizer | None = None
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def from_files(
        cls,
        keywords_path: Path = DEFAULT_KEYWORDS_PATH,
        userdict_path: Path = DEFAULT_USERDICT_PATH,
        **options: Any,
    ) -> KeywordClassifier:
        """Load keyword weights (TOML, one table per category) and a jieba user dictionary."""
        with Path(keywords_path).open("rb") as keywords_file:
            keywords = tomllib.load(keywords_file)
        user_words = Path(userdict_path).read_text(encoding="utf-8-sig").splitlines()
        return cls(keywords, user_words, **options)

    def warm_up(self) -> None:
        """Load the jieba dictionary now, e.g. at bot start-up instead of on the first message."""
        self._get_tokenizer()

    def tokenize(self, text: str) -> list[str]:
        """The jieba tokens of the normalised text, without whitespace tokens."""
        return [token.word for token in self._tokens(normalize(text))]

    def classify(self, text: str) -> Classification:
        normalized = normalize(text)
        if not normalized:
            return _no_evidence()
        contributions = self._contributions(normalized)
        return self._decide(contributions)

    # --- evidence -------------------------------------------------------------------------

    def _contributions(self, text: str) -> dict[str, dict[str, float]]:
        """Per category, each matched keyword's weighted contribution (strongest occurrence)."""
        tokens = self._tokens(text)
        matches = self._find_matches(text, tokens)
        matched_spans = [(match.start, match.end) for match in matches]
        negators = [
            t for t in tokens if t.word in self._negations and not _inside(t, matched_spans)
        ]
        contrast_weight = self._contrast_weights(text, tokens, matched_spans)
        clause_of = clause_ids(text)

        contributions: dict[str, dict[str, float]] = {category: {} for category in CATEGORIES}
        for match in matches:
            negated = _is_negated(match, negators, clause_of, self._negation_window)
            for category, weight in self._lexicon[match.word].items():
                factor = contrast_weight[match.start]
                if negated and category not in self._negation_exempt:
                    factor *= self._negation_factor
                per_word = contributions[category]
                per_word[match.word] = max(per_word.get(match.word, 0.0), weight * factor)
        return contributions

    def _find_matches(self, text: str, tokens: Sequence[_Token]) -> list[_Match]:
        """Non-overlapping keyword occurrences, preferring the longest keyword at any spot.

        Longest-first lets a phrase own its parts: "没有立案" is one petition phrase, not a
        negated "立案"; "无犯罪记录证明" is a certificate, not a negated "犯罪".
        """
        token_of = _token_index_by_char(tokens, len(text))
        candidates = [
            _Match(word, start, start + len(word))
            for word in self._lexicon
            for start in _occurrences(text, word)
            if self._is_word_match(start, start + len(word), tokens, token_of)
        ]
        candidates.sort(key=lambda match: (-(match.end - match.start), match.start))
        taken = [False] * len(text)
        chosen: list[_Match] = []
        for match in candidates:
            if not any(taken[match.start : match.end]):
                taken[match.start : match.end] = [True] * (match.end - match.start)
                chosen.append(match)
        return sorted(chosen, key=lambda match: match.start)

    @staticmethod
    def _is_word_match(
        start: int, end: int, tokens: Sequence[_Token], token_of: Sequence[int]
    ) -> bool:
        """Accept a substring hit only where it reads as a word in the segmentation."""
        first, last = token_of[start], token_of[end - 1]
        if first < 0 or last < 0:
            return False
        if end - start >= _MIN_CROSS_TOKEN_LENGTH:
            return True  # long phrases the segmenter may have split ("收了/好处")
        if first != last:
            return False  # a short word straddling two tokens is a coincidence ("没收/钱")
        token = tokens[first]
        # A single character must be a whole token ("偷", not the 偷 of "偷偷摸摸"); two
        # characters may sit inside a longer token ("诈骗" in "诈骗案").
        return end - start > 1 or (token.start, token.end) == (start, end)

    def _contrast_weights(
        self, text: str, tokens: Sequence[_Token], matched_spans: Sequence[tuple[int, int]]
    ) -> list[float]:
        """Per character: discounted before the last contrast word of its scope, boosted after."""
        cues = [t for t in tokens if t.word in self._contrasts and not _inside(t, matched_spans)]
        if not cues:
            return [1.0] * len(text)
        sentence_of = sentence_ids(text)
        scope_of = _contrast_scopes(sentence_of, tokens, set(cues))
        last_cue_end: dict[int, int] = {}
        for cue in cues:
            scope = scope_of[sentence_of[cue.start]]
            last_cue_end[scope] = max(last_cue_end.get(scope, 0), cue.end)
        return [
            self._contrast_weight(position, last_cue_end.get(scope_of[sentence]))
            for position, sentence in enumerate(sentence_of)
        ]

    def _contrast_weight(self, position: int, cue_end: int | None) -> float:
        if cue_end is None:
            return 1.0
        return self._contrast_after if position >= cue_end else self._contrast_before

    # --- decision -------------------------------------------------------------------------

    def _decide(self, contributions: Mapping[str, Mapping[str, float]]) -> Classification:
        scores = {name: sum(contributions[name].values(), 0.0) for name in CATEGORIES}
        total = sum(scores.values())
        if total <= 0:
            return _no_evidence(scores)
        category = max(CATEGORIES, key=lambda name: (scores[name], -CATEGORIES.index(name)))
        ranked = sorted(contributions[category].items(), key=lambda item: -item[1])
        return Classification(
            category=category,
            confidence=scores[category] / (total + self._evidence_prior),
            deciding_words=tuple(word for word, weight in ranked if weight > 0),
            scores=MappingProxyType(scores),
        )

    # --- segmentation ---------------------------------------------------------------------

    def _tokens(self, text: str) -> list[_Token]:
        tokenizer = self._get_tokenizer()
        return [
            _Token(word, start, end)
            for word, start, end in tokenizer.tokenize(text)
            if not word.isspace()
        ]

    def _get_tokenizer(self) -> jieba.Tokenizer:
        if self._tokenizer is None:
            with self._tokenizer_lock:  # the bot may classify from worker threads
                if self._tokenizer is None:
                    self._tokenizer = self._build_tokenizer()
        return self._tokenizer

    def _build_tokenizer(self) -> jieba.Tokenizer:
        # A private Tokenizer keeps our domain words out of jieba's process-wide default
        # (jieba.dt), which other code may rely on.
        tokenizer = _fresh_tokenizer()
        for entry in self._user_words:
            tokenizer.add_word(normalize(entry.word), entry.freq, entry.tag)
        return tokenizer


# --- jieba ----------------------------------------------------------------------------------


@functools.cache
def _default_dictionary() -> tuple[dict[str, int], int]:
    """jieba's default word frequencies, loaded once per process (~1.5 s from jieba's cache)."""
    loader = jieba.Tokenizer()
    loader.initialize()  # jieba itself caches the parsed dictionary in the temp directory
    return loader.FREQ, loader.total


def _fresh_tokenizer() -> jieba.Tokenizer:
    """A Tokenizer on its own copy of the default dictionary, ready without re-loading it.

    Copying the ~500k-entry frequency table takes ~20 ms instead of the ~1.5 s a new
    ``initialize()`` costs, so every classifier after the first starts almost at once. It
    sets the same three attributes ``Tokenizer.initialize`` sets (jieba is pinned).
    """
    frequencies, total = _default_dictionary()
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ = dict(frequencies)
    tokenizer.total = total
    tokenizer.initialized = True
    return tokenizer


# --- helpers --------------------------------------------------------------------------------


def _build_lexicon(keywords: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Invert ``category -> word -> weight`` into ``word -> category -> weight``, validated."""
    lexicon: dict[str, dict[str, float]] = {}
    for category, words in keywords.items():
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
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


def _no_evidence(scores: Mapping[str, float] | None = None) -> Classification:
    return Classification(
        category=FALLBACK_CATEGORY,
        confidence=0.0,
        deciding_words=(),
        scores=MappingProxyType(dict(scores or dict.fromkeys(CATEGORIES, 0.0))),
    )


def _occurrences(text: str, word: str) -> Iterator[int]:
    start = text.find(word)
    while start != -1:
        yield start
        start = text.find(word, start + 1)


def _token_index_by_char(tokens: Sequence[_Token], length: int) -> list[int]:
    """For each character, the index of the token covering it (-1 for skipped whitespace)."""
    index = [-1] * length
    for position, token in enumerate(tokens):
        index[token.start : token.end] = [position] * (token.end - token.start)
    return index


def _inside(token: _Token, spans: Sequence[tuple[int, int]]) -> bool:
    return any(start < token.end and token.start < end for start, end in spans)


def _is_negated(
    match: _Match, negators: Sequence[_Token], clause_of: Sequence[int], window: int
) -> bool:
    """True if a negation token ends shortly before ``match`` in the same clause."""
    return any(
        negator.end <= match.start
        and match.start - negator.end <= window
        and clause_of[negator.start] == clause_of[match.start]
        for negator in negators
    )


def _contrast_scopes(
    sentence_of: Sequence[int], tokens: Sequence[_Token], cues: set[_Token]
) -> list[int]:
    """Sentence -> scope of its contrast words.

    A sentence that opens with "但是" contrasts with the sentence before it, so it joins that
    sentence's scope; otherwise every sentence is its own scope.
    """
    sentence_count = sentence_of[-1] + 1
    first_word: dict[int, _Token] = {}
    for token in tokens:
        if not _is_punctuation(token.word):
            first_word.setdefault(sentence_of[token.start], token)
    scopes = list(range(sentence_count))
    for sentence in range(1, sentence_count):
        if first_word.get(sentence) in cues:
            scopes[sentence] = scopes[sentence - 1]
    return scopes


def _is_punctuation(word: str) -> bool:
    return all(not char.isalnum() for char in word)
