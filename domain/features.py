"""Features the routing model reads from a :class:`~domain.analysis.Reading`.

Three kinds, each a name -> value:

* ``w:<word>`` — a jieba token; ``w!:<word>`` when negated ("不是投诉" gives ``w!:投诉``);
* ``c:<chars>`` — character n-grams inside a clause (robust to typos, rare words and words
  the compact dictionary splits); ``c!:`` when they start in a negated token;
* ``k:<category>`` — the keyword evidence for a category (sum of the weights in
  ``data/keywords.toml``, each word counted once at its strongest occurrence); ``k!:`` for
  negated keywords.

Words after a contrast (但是) count ``contrast_after`` times, words before it ``contrast_before``
times (see :mod:`domain.analysis`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from domain.analysis import Reading


@dataclass(frozen=True)
class FeatureOptions:
    """Which features the model uses; saved with the model so inference reads text the same way."""

    words: bool = True
    char_ngrams: tuple[int, ...] = (2,)
    keywords: bool = True
    mark_negation: bool = True
    contrast: bool = True
    sublinear_tf: bool = True
    # Keyword evidence is multiplied by this before the model sees it (a smaller scale makes the
    # model lean on keywords only as far as the labelled examples confirm them).
    keyword_scale: float = 0.25
    # The text vector is divided by sqrt(|v|² + norm_floor²) instead of |v|: a message of one or
    # two words carries less evidence than a full description and should not look as certain.
    norm_floor: float = 10.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["char_ngrams"] = list(self.char_ngrams)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureOptions:
        values = dict(data)
        values["char_ngrams"] = tuple(values.get("char_ngrams", ()))
        return cls(**values)


class KeywordShare(NamedTuple):
    """One keyword's part in a keyword feature: ``value`` of the feature's undamped total."""

    name: str
    value: float
    first: int  # tokens the keyword covers
    last: int


@dataclass
class Features:
    """Summed text features (tf-idf input), keyword features (used as they are) and their parts."""

    text: dict[str, float] = field(default_factory=dict)
    # extract() adds the word features to ``text`` before any n-gram: they are its first entries.
    word_features: int = 0
    keywords: dict[str, float] = field(default_factory=dict)
    keyword_totals: dict[str, float] = field(default_factory=dict)  # before damping and scaling
    keyword_shares: list[KeywordShare] = field(default_factory=list)


def token_feature(word: str, negated: bool, options: FeatureOptions) -> str:
    return ("w!:" if options.mark_negation and negated else "w:") + word


def word_of_feature(name: str) -> str | None:
    """The word a ``w:`` or ``w!:`` feature counts; None for other features."""
    if name.startswith("w:"):
        return name[2:]
    if name.startswith("w!:"):
        return name[3:]
    return None


class _Prefixed:
    """Names any key ("w:" + word): every feature, when no vocabulary restricts them."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    def get(self, key: str) -> str:
        return self._prefix + key


@dataclass(frozen=True)
class Vocabulary:
    """The text features to extract, by what they count (a word, an n-gram) and their names.

    Training extracts every feature (:data:`ALL_FEATURES`). A model only reads the features it
    knows: a feature it does not know cannot change its scores, so the router extracts those
    alone (:meth:`of`), and reuses their names instead of composing them for every message.
    """

    words: Mapping[str, str] | _Prefixed
    negated_words: Mapping[str, str] | _Prefixed
    ngrams: Mapping[str, str] | _Prefixed
    negated_ngrams: Mapping[str, str] | _Prefixed

    @classmethod
    def of(cls, names: Iterable[str]) -> Vocabulary:
        kinds: dict[str, dict[str, str]] = {"w:": {}, "w!:": {}, "c:": {}, "c!:": {}}
        for name in names:
            prefix = name[: name.index(":") + 1]
            if prefix in kinds:
                kinds[prefix][name[len(prefix) :]] = name
        return cls(kinds["w:"], kinds["w!:"], kinds["c:"], kinds["c!:"])


ALL_FEATURES = Vocabulary(_Prefixed("w:"), _Prefixed("w!:"), _Prefixed("c:"), _Prefixed("c!:"))


def extract(reading: Reading, options: FeatureOptions, vocabulary: Vocabulary = ALL_FEATURES) -> Features:
    features = Features()
    text = features.text
    tokens = reading.tokens
    emphasis = reading.emphasis if options.contrast else [1.0] * len(tokens)
    mark = options.mark_negation

    if options.words:
        plain = vocabulary.words.get
        negated = vocabulary.negated_words.get if mark else plain
        get = text.get
        for token, negation, weight, is_break in zip(tokens, reading.negated, emphasis, reading.breaks):
            if not is_break:
                name = (negated if negation else plain)(token.word)
                if name is not None:
                    text[name] = get(name, 0.0) + weight
        features.word_features = len(text)

    if options.char_ngrams:
        _add_char_ngrams(reading, options.char_ngrams, emphasis, mark, vocabulary, text)

    if options.keywords:
        _add_keywords(reading, options, features)
    return features


def _add_char_ngrams(
    reading: Reading,
    sizes: tuple[int, ...],
    emphasis: Sequence[float],
    mark: bool,
    vocabulary: Vocabulary,
    text: dict[str, float],
) -> None:
    """N-grams over the characters of each clause (break tokens and whitespace end a clause).

    Tokens of one clause are adjacent in the text, so a clause is one slice of it. Most clauses
    have neither negation nor contrast: their n-grams all count 1 and need no per-character weights.
    """
    tokens = reading.tokens
    negated = reading.negated
    breaks = reading.breaks
    clause = reading.clause
    source = reading.text
    plain = vocabulary.ngrams.get
    flagged = vocabulary.negated_ngrams.get if mark else plain
    get = text.get
    count = len(tokens)
    first = 0
    while first < count:
        if breaks[first]:
            first += 1
            continue
        last = first
        current = clause[first]
        while last + 1 < count and not breaks[last + 1] and clause[last + 1] == current:
            last += 1
        joined = source[tokens[first].start : tokens[last].end]
        length = len(joined)
        span = range(first, last + 1)
        if True not in negated[first : last + 1] and emphasis[first : last + 1].count(1.0) == len(span):
            for size in sizes:
                # Single characters need no cutting out: the string yields them.
                grams = joined if size == 1 else [joined[start : start + size] for start in range(length - size + 1)]
                for gram in grams:
                    name = plain(gram)
                    if name is not None:
                        text[name] = get(name, 0.0) + 1.0
        else:
            weights: list[float] = []
            flags: list[bool] = []
            for index in span:
                size = tokens[index].end - tokens[index].start
                weights.extend([emphasis[index]] * size)
                flags.extend([negated[index]] * size)
            for size in sizes:
                for start in range(length - size + 1):
                    name = (flagged if flags[start] else plain)(joined[start : start + size])
                    if name is not None:
                        text[name] = get(name, 0.0) + weights[start]
        first = last + 1


class _KeywordFeatures(dict):
    """Category -> its keyword feature name, composed once."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix

    def __missing__(self, category: str) -> str:
        name = self[category] = self._prefix + category
        return name


_KEYWORD_FEATURES = _KeywordFeatures("k:")
_NEGATED_KEYWORD_FEATURES = _KeywordFeatures("k!:")


def _add_keywords(reading: Reading, options: FeatureOptions, features: Features) -> None:
    """Per category, each keyword counted once at its strongest occurrence, log-damped."""
    strongest: dict[tuple[str, str], KeywordShare] = {}
    for hit in reading.hits:
        emphasis = hit.emphasis if options.contrast else 1.0
        first, last = hit.first, hit.last
        names = _NEGATED_KEYWORD_FEATURES if hit.negated else _KEYWORD_FEATURES
        for category, weight in hit.weights.items():
            name = names[category]
            value = weight * emphasis
            key = (name, hit.word)
            share = strongest.get(key)
            if share is None or share.value < value:
                strongest[key] = KeywordShare(name, value, first, last)
    totals: dict[str, float] = {}
    for share in strongest.values():
        totals[share.name] = totals.get(share.name, 0.0) + share.value
    features.keyword_shares = list(strongest.values())
    features.keyword_totals = totals
    # log1p keeps a long list of weak words from outweighing one decisive phrase.
    features.keywords = {name: options.keyword_scale * math.log1p(total) for name, total in totals.items()}
