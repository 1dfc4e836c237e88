"""Route a resident's message to the bureau department that should handle it.

The bureau's rule: 属于工作问题的，移交相关业务部门 (``business``)；属于信访案件或反映执法过错问题的，
移交法制、控申部门 (``petition``)；属于民警违法违纪问题的，移交纪检监察和督察部门
(``discipline``). Messages that need no ticket (thanks, greetings, chit-chat, spam) are
``other``.

:class:`RoutingClassifier` is the one the bot uses: jieba tokens, character n-grams and the
weighted keywords of ``data/keywords.toml`` feed a logistic-regression model trained in
``training/`` and saved as JSON (:mod:`domain.linear_model`); its confidence is calibrated so
that a configured threshold sends uncertain items to human triage. ``business`` items are also
given a business unit (:mod:`domain.units`). :class:`KeywordClassifier` is the keyword-only
baseline (v1). Anything that produces a :class:`Classification` satisfies :class:`TextClassifier`.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from domain import DATA_DIR
from domain.analysis import (
    CATEGORIES,
    DEFAULT_CONTRASTS,
    DEFAULT_NEGATIONS,
    KeywordLexicon,
    Reader,
    Reading,
    ReadingRules,
)
from domain.features import Features, Vocabulary, extract, token_feature, word_of_feature
from domain.linear_model import LinearModel, Scores, current_model_path
from domain.segmenter import Segmenter, UserWord, read_user_words
from domain.textnorm import NO_VARIANTS, SpellingVariants, normalize
from domain.units import UnitRouter

__all__ = [
    "CATEGORIES",
    "Classification",
    "KeywordClassifier",
    "RoutingClassifier",
    "TextClassifier",
    "UserWord",
]

FALLBACK_CATEGORY = "other"

DEFAULT_KEYWORDS_PATH = DATA_DIR / "keywords.toml"
DEFAULT_USERDICT_PATH = DATA_DIR / "userdict.txt"
DEFAULT_DICTIONARY_PATH = DATA_DIR / "segdict.txt"
DEFAULT_VARIANTS_PATH = DATA_DIR / "variants.toml"
DEFAULT_MODEL_DIR = DATA_DIR / "models"
DEFAULT_UNITS_PATH = DATA_DIR / "business_units.toml"

_ALPHANUMERIC = re.compile(r"[^\W_]")  # what str.isalnum() accepts
# Pushes below this are rounding left over where a word's share moved to a keyword phrase.
_NEGLIGIBLE = 1e-9
# Petition vocabulary names police actions whose *absence* is the complaint (立案, 出警, 退还):
# "一直没给立案" must still count as petition, so negation leaves these categories alone.
DEFAULT_NEGATION_EXEMPT: frozenset[str] = frozenset({"petition"})


@dataclass(frozen=True)
class Classification:
    """Where a message goes, how sure the classifier is, and why."""

    category: str
    confidence: float  # 0..1; compared with a configured threshold to send items to human triage
    deciding_words: tuple[str, ...]  # words behind ``category``, most influential first
    scores: Mapping[str, float]  # per category, every category present (probabilities for the model)
    model_version: str = ""  # which model decided ("keywords" for the keyword baseline)
    unit: str | None = None  # business unit for ``business`` items, else None

    def __post_init__(self) -> None:
        # Guards the contract for any classifier: routing relies on both.
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} outside 0..1")


class TextClassifier(Protocol):
    """What the rest of the bot needs from any classifier."""

    def classify(self, text: str) -> Classification: ...

    def warm_up(self) -> None: ...


# --- the model-based router ---------------------------------------------------------------


@dataclass(frozen=True)
class _Margins:
    """How much a unit of each feature favours each category over the mean of the others.

    ``words``: per word feature of the model, the word it shows and idf × that margin per
    category (char n-grams are left out: they explain nothing to an officer); ``keywords``: the
    margin per keyword feature. Computed once per model, so explaining a verdict is a look-up.
    """

    words: Mapping[str, tuple[str, float, float, float, float]]
    keywords: Mapping[str, tuple[float, ...]]

    @classmethod
    def of(cls, model: LinearModel) -> _Margins:
        words = {}
        for name, (idf, *weights) in model.text_weights.items():
            word = word_of_feature(name)
            if word is not None:
                words[name] = (word, *(idf * _margin(weights, index) for index in range(len(weights))))
        keywords = {
            name: tuple(_margin(weights, index) for index in range(len(weights)))
            for name, weights in model.keyword_weights.items()
        }
        return cls(words, keywords)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _RouterParts:
    reader: Reader
    model: LinearModel
    units: UnitRouter | None
    vocabulary: Vocabulary  # what the model reads: the text features it has weights for
    margins: _Margins
    units_reported: bool  # the reader reports the units' keywords as it segments

    @classmethod
    def of(cls, reader: Reader, model: LinearModel, units: UnitRouter | None) -> _RouterParts:
        reported = units is not None and reader.reports(units.words)
        return cls(reader, model, units, Vocabulary.of(model.text_weights), _Margins.of(model), reported)


class RoutingClassifier:
    """Calibrated linear model over jieba tokens, character n-grams and keyword evidence.

    Deciding words: every word of the message, and every keyword found in it, pushes the chosen
    category by ``value × (its weight for the category − the mean of its weights for the others)``;
    the pushes are summed per word (a keyword phrase counts as one word) and the strongest
    positive ones are shown, at most ``max_words``, none weaker than ``min_share`` of the strongest.
    """

    def __init__(
        self,
        load: Callable[[], _RouterParts],
        *,
        max_words: int = 6,
        min_share: float = 0.15,
    ) -> None:
        self._load = load
        self._parts: _RouterParts | None = None
        self._lock = threading.Lock()
        self._max_words = max_words
        self._min_share = min_share

    @classmethod
    def from_parts(
        cls, reader: Reader, model: LinearModel, units: UnitRouter | None = None, **options: float
    ) -> RoutingClassifier:
        parts = _RouterParts.of(reader, model, units)
        return cls(lambda: parts, **options)  # type: ignore[arg-type]

    @classmethod
    def from_files(
        cls,
        *,
        model_path: Path = DEFAULT_MODEL_DIR,
        dictionary_path: Path = DEFAULT_DICTIONARY_PATH,
        userdict_path: Path = DEFAULT_USERDICT_PATH,
        keywords_path: Path = DEFAULT_KEYWORDS_PATH,
        variants_path: Path | None = DEFAULT_VARIANTS_PATH,
        units_path: Path | None = DEFAULT_UNITS_PATH,
    ) -> RoutingClassifier:
        """A router reading its files on first use (or :meth:`warm_up`), not at construction.

        ``model_path`` is a model file or a directory whose ``current`` file names one. Files
        are read once per process: later routers on the same, unchanged files share them.
        """
        paths = (model_path, dictionary_path, userdict_path, keywords_path, variants_path, units_path)
        return cls(lambda: _load_parts(*(_file_key(path) for path in paths)))

    def warm_up(self) -> None:
        """Load everything now, e.g. at bot start-up instead of on the first message."""
        self._get_parts()

    @property
    def model_version(self) -> str:
        return self._get_parts().model.version

    @property
    def recommended_threshold(self) -> float:
        return self._get_parts().model.recommended_threshold

    def tokenize(self, text: str) -> list[str]:
        """The jieba tokens of the prepared text (normalised, simplified, variants fixed)."""
        return [token.word for token in self._get_parts().reader.read(text).tokens]

    def classify(self, text: str) -> Classification:
        parts = self._get_parts()
        prepared = parts.reader.prepare(text)
        if not prepared:
            return _no_evidence(parts.model.version)
        reading = parts.reader.read_prepared(prepared)
        features = extract(reading, parts.model.options, parts.vocabulary)
        scores = parts.model.score(features)
        best = scores.probabilities.index(max(scores.probabilities))  # the first, on a tie
        category = CATEGORIES[best]
        unit = None
        if category == "business" and parts.units:
            unit = parts.units.route(reading, reported=parts.units_reported).unit
        return Classification(
            category=category,
            confidence=scores.probabilities[best],
            deciding_words=self._deciding_words(parts, reading, features, scores, best),
            scores=MappingProxyType(dict(zip(CATEGORIES, scores.probabilities))),
            model_version=parts.model.version,
            unit=unit,
        )

    def _deciding_words(
        self, parts: _RouterParts, reading: Reading, features: Features, scores: Scores, category: int
    ) -> tuple[str, ...]:
        push: dict[str, float] = {}
        options = parts.model.options
        tokens = reading.tokens
        phrase_of = {index: hit.word for hit in reading.hits for index in range(hit.first, hit.last + 1)}
        if options.words and scores.norm:
            margins = parts.margins.words
            text = features.text
            scale = 1.0 / scores.norm
            sublinear = options.sublinear_tf
            position = category + 1
            log = math.log
            # Per word: what all occurrences of its features add to the category's logit over the
            # others' (the margins carry the word).
            get = push.get
            for name, count in itertools.islice(text.items(), features.word_features):
                entry = margins.get(name)
                if entry is not None:
                    word = entry[0]
                    if count == 1.0 or not sublinear:
                        push[word] = get(word, 0.0) + count * entry[position] * scale
                    else:
                        push[word] = get(word, 0.0) + (1.0 + log(count)) * entry[position] * scale
            # An occurrence inside a keyword phrase the segmenter split counts for the phrase, which
            # is what the officer sees ("收了好处", not "收了" and "好处"): move its share there.
            breaks, negated = reading.breaks, reading.negated
            emphasis = reading.emphasis if options.contrast else None
            for index, phrase in phrase_of.items():
                word = tokens[index].word
                if word == phrase or breaks[index]:
                    continue
                name = token_feature(word, negated[index], options)
                entry = margins.get(name)
                if entry is None:
                    continue
                count = text[name]
                tf = (1.0 + log(count)) if sublinear and count != 1.0 else count
                share = tf * entry[position] * scale * (emphasis[index] if emphasis is not None else 1.0) / count
                push[word] -= share
                push[phrase] = push.get(phrase, 0.0) + share
        keyword_margins = parts.margins.keywords
        for share in features.keyword_shares:
            total = features.keyword_totals[share.name]
            value = features.keywords[share.name] * share.value / total if total else 0.0
            word = phrase_of.get(share.first) or tokens[share.first].word
            push[word] = push.get(word, 0.0) + value * keyword_margins[share.name][category]
        words: list[str] = []
        floor = _NEGLIGIBLE
        for word in sorted(push, key=push.__getitem__, reverse=True):  # stable: ties keep their order
            weight = push[word]
            if weight < floor:
                break
            if not _is_wordlike(word):
                continue
            if not words:
                floor = max(weight * self._min_share, _NEGLIGIBLE)
            words.append(word)
            if len(words) == self._max_words:
                break
        return tuple(words)

    def _get_parts(self) -> _RouterParts:
        if self._parts is None:
            with self._lock:  # the bot may classify from worker threads
                if self._parts is None:
                    self._parts = self._load()
        return self._parts


def _file_key(path: Path | None) -> tuple[str, int] | None:
    """Path and modification time, so a changed file (a newly adopted model) is read again."""
    if path is None:
        return None
    resolved = Path(path).resolve()
    if resolved.is_dir():
        resolved = current_model_path(resolved).resolve()
    return str(resolved), resolved.stat().st_mtime_ns


@functools.lru_cache(maxsize=8)
def _load_parts(
    model: tuple[str, int],
    dictionary: tuple[str, int],
    userdict: tuple[str, int],
    keywords: tuple[str, int],
    variants: tuple[str, int] | None,
    units: tuple[str, int] | None,
) -> _RouterParts:
    router = UnitRouter.from_file(Path(units[0])) if units else None
    reader = Reader.from_files(
        dictionary_path=Path(dictionary[0]),
        userdict_path=Path(userdict[0]),
        keywords_path=Path(keywords[0]),
        variants_path=Path(variants[0]) if variants else None,
        extra_words=router.words if router else (),
    )
    return _RouterParts.of(reader, LinearModel.load(Path(model[0])), router)


def _margin(weights: Sequence[float], position: int) -> float:
    """``weights[position]`` minus the mean of the other category weights."""
    others = (sum(weights) - weights[position]) / (len(weights) - 1)
    return weights[position] - others


def _is_wordlike(word: str) -> bool:
    return _ALPHANUMERIC.search(word) is not None


def _no_evidence(version: str, scores: Mapping[str, float] | None = None) -> Classification:
    return Classification(
        category=FALLBACK_CATEGORY,
        confidence=0.0,
        deciding_words=(),
        scores=MappingProxyType(dict(scores or dict.fromkeys(CATEGORIES, 0.0))),
        model_version=version,
    )


# --- the keyword-only baseline (v1) --------------------------------------------------------


class KeywordClassifier:
    """Weighted keyword matching over jieba tokens, with negation and contrast handling.

    Scoring. Each keyword occurrence contributes ``weight × negation × contrast`` to every
    category that lists it, where ``negation`` is ``negation_factor`` when the keyword is
    negated (see :mod:`domain.analysis`; categories in ``negation_exempt`` ignore negation)
    and ``contrast`` is ``contrast_before`` before the last 但是/可是/不过/然而/却 of its
    sentence, ``contrast_after`` after it, else 1. A keyword repeated in one message counts
    once, at its strongest occurrence, so a long rant does not outweigh a precise one.

    Decision and confidence. The category with the highest score wins (ties go to the one
    listed first in :data:`CATEGORIES`); with no evidence at all the message is ``other``.
    ::

        confidence = s_top / (s_1 + s_2 + s_3 + s_4 + evidence_prior)
    """

    VERSION = "keywords"

    def __init__(
        self,
        keywords: Mapping[str, Mapping[str, float]],
        user_words: Iterable[str] = (),
        *,
        dictionary_path: Path = DEFAULT_DICTIONARY_PATH,
        variants: SpellingVariants = NO_VARIANTS,
        negations: Iterable[str] = DEFAULT_NEGATIONS,
        contrasts: Iterable[str] = DEFAULT_CONTRASTS,
        negation_exempt: Iterable[str] = DEFAULT_NEGATION_EXEMPT,
        negation_factor: float = 0.0,
        negation_window: int = 6,
        contrast_before: float = 0.5,
        contrast_after: float = 1.5,
        evidence_prior: float = 1.0,
    ) -> None:
        self._lexicon = KeywordLexicon(keywords)
        self._user_words = [UserWord.parse(line) for line in user_words if line.strip()]
        self._dictionary_path = dictionary_path
        self._variants = variants
        self._rules = ReadingRules(
            negations=frozenset(negations),
            contrasts=frozenset(contrasts),
            negation_window=negation_window,
            contrast_before=contrast_before,
            contrast_after=contrast_after,
        )
        self._negation_exempt = frozenset(negation_exempt)
        self._negation_factor = negation_factor
        self._evidence_prior = evidence_prior
        self._reader: Reader | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_files(
        cls,
        keywords_path: Path = DEFAULT_KEYWORDS_PATH,
        userdict_path: Path = DEFAULT_USERDICT_PATH,
        **options: object,
    ) -> KeywordClassifier:
        """Load keyword weights (TOML, one table per category) and a jieba user dictionary."""
        lexicon = KeywordLexicon.from_file(keywords_path)
        keywords: dict[str, dict[str, float]] = {}
        for word in lexicon.words:
            for category, weight in lexicon.weights(word).items():
                keywords.setdefault(category, {})[word] = weight
        lines = [f"{w.word} {w.freq or ''} {w.tag or ''}".strip() for w in read_user_words(userdict_path)]
        return cls(keywords, lines, **options)  # type: ignore[arg-type]

    def warm_up(self) -> None:
        self._get_reader()

    def tokenize(self, text: str) -> list[str]:
        return [token.word for token in self._get_reader().read(text).tokens]

    def classify(self, text: str) -> Classification:
        reader = self._get_reader()
        prepared = reader.prepare(text)
        if not prepared:
            return _no_evidence(self.VERSION)
        contributions = self._contributions(reader.read_prepared(prepared))
        return self._decide(contributions)

    def _contributions(self, reading: Reading) -> dict[str, dict[str, float]]:
        contributions: dict[str, dict[str, float]] = {category: {} for category in CATEGORIES}
        for hit in reading.hits:
            for category, weight in hit.weights.items():
                factor = hit.emphasis
                if hit.negated and category not in self._negation_exempt:
                    factor *= self._negation_factor
                per_word = contributions[category]
                per_word[hit.word] = max(per_word.get(hit.word, 0.0), weight * factor)
        return contributions

    def _decide(self, contributions: Mapping[str, Mapping[str, float]]) -> Classification:
        scores = {name: sum(contributions[name].values(), 0.0) for name in CATEGORIES}
        total = sum(scores.values())
        if total <= 0:
            return _no_evidence(self.VERSION, scores)
        category = max(CATEGORIES, key=lambda name: (scores[name], -CATEGORIES.index(name)))
        ranked = sorted(contributions[category].items(), key=lambda item: -item[1])
        return Classification(
            category=category,
            confidence=scores[category] / (total + self._evidence_prior),
            deciding_words=tuple(word for word, weight in ranked if weight > 0),
            scores=MappingProxyType(scores),
            model_version=self.VERSION,
        )

    def _get_reader(self) -> Reader:
        if self._reader is None:
            with self._lock:
                if self._reader is None:
                    segmenter = Segmenter.from_files(self._dictionary_path)
                    segmenter.add_user_words(self._user_words, normalize)
                    segmenter.add_rare_words(sorted(self._lexicon.words))
                    self._reader = Reader(segmenter, self._lexicon, self._rules, self._variants)
        return self._reader
