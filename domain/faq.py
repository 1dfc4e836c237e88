"""Answering a resident's question at once from the FAQ (能当场答复的当场答复).

Every question, paraphrase and keyword of an entry is a short "document". A message is compared
with each of them by TF-IDF cosine over two kinds of features: the words jieba finds, and the
pairs of adjacent characters (bigrams), which still agree when jieba cuts an unknown term
differently ("港澳通行证" vs "港澳 通行 证"). The entry's score is its best document's.

Three things keep complaints and reports out (a wrong answer costs the resident a tap on "I still
need help", but answering a complaint with a leaflet is insulting):

* IDF is counted over entries, and a feature no entry uses gets the highest weight of all, so a
  complaint that mentions an FAQ topic ("办身份证的民警态度很差") carries many such features
  (态度, 很差, 跑了三趟…) that pull its cosine down; a question is almost all FAQ vocabulary;
* a message that does not read as a question needs a much higher score (`STATEMENT_THRESHOLD`):
  "身份证丢了" still matches, "我的电动车被偷了" does not;
* a message with a complaint word (``[matcher] complaint_words`` in data/faq.toml: 偷, 乱收费,
  不给办…) never matches an entry that does not itself use that word.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from domain import DATA_DIR
from domain.textnorm import normalize, to_simplified

DEFAULT_FAQ_PATH = DATA_DIR / "faq.toml"
# Tuned on tests/domain/test_faq.py. A message that reads as a question needs DEFAULT_THRESHOLD;
# a statement ("我的电动车被偷了") needs STATEMENT_THRESHOLD: residents do write bare topics
# ("身份证丢了", "无犯罪记录证明") expecting an answer, but a statement that only shares a topic
# word with an entry is far more often a report or a complaint.
DEFAULT_THRESHOLD = 0.45
STATEMENT_THRESHOLD = 0.7

# Signs that a message asks something. "为什么"/"凭什么" are left out on purpose: in a resident's
# message they are nearly always a complaint ("为什么三个月了还不立案").
_QUESTION_CUES = re.compile(
    r"[?吗]|怎|如何|哪|什么|多少|多久|多长|几点|几天|几个|能不能|可不可以|要不要|需不需要|用不用|是否|有没有|"
    r"请问|咨询|想了解|想知道|流程|手续|\b(how|where|what|when|which|can i|do i)\b"
)
_RHETORICAL = re.compile(r"为什么|为啥|凭什么|干什么吃的|有没有人管|管不管")

Tokenizer = Callable[[str], Iterable[str]]

# Words that carry no topic: politeness, pronouns, particles. They would otherwise count as
# unknown (maximally weighted) features of the message and dilute a good match.
_FILLER_WORDS = frozenset(
    "请问 请教 问一下 问下 一下 想问 我想 想 问 你好 您好 麻烦 谢谢 你们 我们 我 你 您 他 她 的 了 吗 呢 啊 吧 呀 哦 嗯 "
    "是 在 有 和 与 就 也 都 还 要 能 会 可以 这个 那个 这 那 个 一个 下 去 来 给 让 把 对 从 到 说".split()
)


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    answer: str
    answer_en: str
    paraphrases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def wordings(self) -> tuple[str, ...]:
        """Every way of asking this entry's question: the question, paraphrases and keywords."""
        return (self.question, *self.paraphrases, *self.keywords)


@dataclass(frozen=True)
class FaqHit:
    entry: FaqEntry
    score: float
    wording: str  # the question, paraphrase or keyword the message was closest to


def load_faq(path: Path = DEFAULT_FAQ_PATH) -> list[FaqEntry]:
    """Entries of a TOML file of ``[[faq]]`` tables (see data/faq.toml for the fields)."""
    with Path(path).open("rb") as file:
        tables = tomllib.load(file).get("faq", [])
    entries = [_entry_from(table, path) for table in tables]
    duplicates = [name for name, count in Counter(e.id for e in entries).items() if count > 1]
    if duplicates:
        raise ValueError(f"{path}: FAQ ids must be unique, repeated: {', '.join(duplicates)}")
    return entries


def load_complaint_words(path: Path = DEFAULT_FAQ_PATH) -> list[str]:
    """The ``[matcher] complaint_words`` of a FAQ file: words that make a message a complaint."""
    with Path(path).open("rb") as file:
        words = tomllib.load(file).get("matcher", {}).get("complaint_words", [])
    return [_text(word) for word in words]


def _entry_from(table: Mapping[str, object], path: Path) -> FaqEntry:
    try:
        return FaqEntry(
            id=_text(table["id"]),
            question=_text(table["question"]),
            answer=_text(table["answer"]).strip(),
            answer_en=_text(table["answer_en"]).strip(),
            paraphrases=tuple(map(_text, table.get("paraphrases", []))),  # type: ignore[call-overload]
            keywords=tuple(map(_text, table.get("keywords", []))),  # type: ignore[call-overload]
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"{path}: FAQ entry {table.get('id', '?')!r} is incomplete or mistyped: {error}") from error


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"expected non-empty text, got {value!r}")
    return value


class FaqMatcher:
    """Finds the FAQ entry a message asks about, or None when no entry is close enough."""

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        tokenizer: Tokenizer | None = None,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        statement_threshold: float = STATEMENT_THRESHOLD,
        complaint_words: Iterable[str] = (),
    ) -> None:
        self.threshold = threshold
        self.statement_threshold = statement_threshold
        self._complaint_words = {_clean(word).replace(" ", "") for word in complaint_words} - {""}
        self._vocabulary = {entry.id: "\n".join(_clean(w) for w in entry.wordings()) for entry in entries}
        self._tokenize = tokenizer or default_tokenizer()
        features = [[(entry, wording, self._features(wording)) for wording in entry.wordings()] for entry in entries]
        # Document frequency counts entries, not wordings: ten paraphrases of one entry all say
        # 身份证, and that must not make 身份证 look common.
        entry_frequency = Counter(f for per_entry in features for f in {f for *_, fs in per_entry for f in fs})
        self._idf = {f: math.log((len(entries) + 1) / (df + 1)) + 1 for f, df in entry_frequency.items()}
        self._unknown_idf = math.log(len(entries) + 1) + 1
        self._documents = [
            (entry, wording, _unit(self._weigh(fs))) for per_entry in features for entry, wording, fs in per_entry
        ]

    @classmethod
    def from_file(
        cls, path: Path = DEFAULT_FAQ_PATH, tokenizer: Tokenizer | None = None, **thresholds: float
    ) -> FaqMatcher:
        """Entries and the ``[matcher] complaint_words`` of a FAQ file."""
        return cls(load_faq(path), tokenizer, complaint_words=load_complaint_words(path), **thresholds)

    def match(self, text: str) -> FaqHit | None:
        """The best entry if it scores at least the threshold (the higher one for a statement).

        A message with a complaint word the entry itself does not use ("电动车被偷了怎么办" has
        偷, the e-bike registration entry has not) is a report or complaint, never an FAQ question.
        """
        ranked = self.ranking(text)
        if not ranked:
            return None
        best = ranked[0]
        needed = self.threshold if looks_like_question(text) else self.statement_threshold
        if best.score < needed or self._complains_beyond(best.entry, text):
            return None
        return best

    def ranking(self, text: str) -> list[FaqHit]:
        """Every entry with a score above zero, best first (for tuning and the admin CLI)."""
        query = _unit(self._weigh(self._features(text)))
        best: dict[str, FaqHit] = {}
        for entry, wording, document in self._documents:
            score = sum(weight * document.get(f, 0.0) for f, weight in query.items())
            if score > 0 and (entry.id not in best or score > best[entry.id].score):
                best[entry.id] = FaqHit(entry, round(score, 4), wording)
        return sorted(best.values(), key=lambda hit: hit.score, reverse=True)

    def _complains_beyond(self, entry: FaqEntry, text: str) -> bool:
        message = _clean(text).replace(" ", "")
        vocabulary = self._vocabulary[entry.id]
        return any(word in message and word not in vocabulary for word in self._complaint_words)

    def _features(self, text: str) -> Counter[str]:
        words: list[str] = []
        runs: list[list[str]] = [[]]
        for word in self._tokenize(_clean(text)):
            if word.isspace() or word in _FILLER_WORDS:
                runs.append([])  # a filler or a gap ends the run: no bigram reaches across it
                continue
            words.append(word)
            runs[-1].append(word)
        features: Counter[str] = Counter(f"w:{word}" for word in words)
        for run in ("".join(run) for run in runs):
            features.update(f"c:{run[i : i + 2]}" for i in range(len(run) - 1))
        return features

    def _weigh(self, features: Counter[str]) -> dict[str, float]:
        return {f: (1 + math.log(tf)) * self._idf.get(f, self._unknown_idf) for f, tf in features.items()}


def looks_like_question(text: str) -> bool:
    """True for "身份证丢了怎么办？", False for "我的电动车被偷了" and for "为什么还不立案？"."""
    prepared = to_simplified(normalize(text))
    return bool(_QUESTION_CUES.search(prepared)) and not _RHETORICAL.search(prepared)


def _clean(text: str) -> str:
    """Normalised, simplified, with punctuation and symbols turned into spaces."""
    simplified = to_simplified(normalize(text))
    return "".join(" " if unicodedata.category(c)[0] in "PSZC" else c for c in simplified)


def _unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in vector.values()))
    return {f: w / norm for f, w in vector.items()} if norm else {}


@functools.cache
def default_tokenizer() -> Tokenizer:
    """jieba over the classifier's compact dictionary and domain user words (a private Tokenizer)."""
    from domain.segmenter import Segmenter  # the classifier's segmenter, reused as is

    segmenter = Segmenter.from_files(DATA_DIR / "segdict.txt", DATA_DIR / "userdict.txt")
    return segmenter.words
