"""Spotting a message that signals danger *now*, so the bot tells the person to call 110/119/120 at once.

The bot is not an emergency channel. A resident who writes "救命" or "着火了" must be told to
call the emergency number before anything else happens (classification, FAQ, tickets).

The rule is deliberately simple and leans towards warning: a false alarm costs one line of text,
a miss can cost a life. A phrase occurrence is *not* an emergency only when:

* a negation stands right before it in the same clause ("不是在打人", "没有人持刀", "差点晕倒");
  question forms that merely contain a negation ("是不是着火了", "有没有人持刀") still warn;
* a past-time or hypothetical marker precedes it in the same sentence ("上次着火了之后…",
  "去年被抢劫", "如果有人持刀怎么办", "预防煤气泄漏") — unless that sentence also says it is
  happening now ("现在", "正在", "快来", "刚才", …), which always wins;
* it lies inside a configured harmless word ("救命钱", "火灾隐患").

Everything else that contains a phrase warns, including reports about the past written without
a time word ("我被抢劫了，报案三个月没人管"): the warning is one line and the ticket still goes on.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from domain import DATA_DIR
from domain.textnorm import normalize, to_simplified

DEFAULT_PHRASES_PATH = DATA_DIR / "emergency.toml"

# A negation this close before a phrase (in characters, within its clause) negates it:
# "没有人持刀" has one character ("人") between 没有 and 持刀.
_NEGATION_REACH = 2
_NEGATIONS = ("并没有", "并不是", "没有", "不是", "并非", "不再", "差一点", "差点", "险些", "没")
# "是不是着火了" / "有没有人持刀" ask whether it is happening: a reason to warn, not to stay quiet.
_QUESTION_FORMS = ("是不是", "有没有", "是否")

_PAST_MARKERS = (
    "上次", "上回", "那次", "以前", "之前", "从前", "曾经", "当年", "那年", "小时候",
    "去年", "前年", "昨天", "昨晚", "前天", "前几天", "上个月", "上周", "上星期", "上礼拜",
    "年前", "月前", "天前",
)
_HYPOTHETICAL_MARKERS = (
    "如果", "假如", "假设", "万一", "要是", "一旦", "预防", "防范", "防止", "以防", "演练", "演习",
)
# Any of these in the sentence means "now", overriding a past or hypothetical marker…
_PRESENT_MARKERS = ("现在", "正在", "此刻", "刚才", "刚刚", "还在", "快来", "快点", "赶紧", "马上", "救命")
# …except where they mean "until now" ("案子到现在没破" is about the past).
_UNTIL_NOW = ("到现在", "至今")

_SENTENCE_END = re.compile(r"[。!?;\n]")
_CLAUSE_BREAK = re.compile(r"[。!?;\n,、:]")
# Stray spaces inside Chinese ("救 命") are typing noise; removing them keeps phrases whole.
_SPACE_BETWEEN_CJK = re.compile(r"(?<=[\u3400-\u9fff])[ \t]+(?=[\u3400-\u9fff])")
_MASK = "\0"


@dataclass(frozen=True)
class Emergency:
    """What was found: the phrases (normalised, in order of appearance) and the numbers to call."""

    phrases: tuple[str, ...]
    services: tuple[str, ...]


def normalize_for_detection(text: str) -> str:
    """Half-width, lower-case, simplified, with stray spaces between Chinese characters removed."""
    return _SPACE_BETWEEN_CJK.sub("", to_simplified(normalize(text)))


class EmergencyDetector:
    """Finds emergency phrases (service number → phrases, e.g. {"119": ["着火了", …]}) in a message."""

    def __init__(self, phrases: Mapping[str, Sequence[str]], *, harmless: Sequence[str] = ()) -> None:
        self._services_of: dict[str, list[str]] = {}
        self._service_order = list(phrases)
        for service, service_phrases in phrases.items():
            for phrase in service_phrases:
                key = normalize_for_detection(phrase)
                if key and service not in self._services_of.setdefault(key, []):
                    self._services_of[key].append(service)
        # Longest first, so "正在打人" is found as itself rather than as the "在打人" inside it.
        self._phrases = sorted(self._services_of, key=len, reverse=True)
        self._harmless = sorted({normalize_for_detection(word) for word in harmless} - {""}, key=len, reverse=True)

    @classmethod
    def from_file(cls, path: Path = DEFAULT_PHRASES_PATH) -> EmergencyDetector:
        """Reads ``[phrases]`` (service → list of phrases) and optional ``[harmless] words`` from TOML."""
        with Path(path).open("rb") as file:
            data = tomllib.load(file)
        phrases = data.get("phrases")
        if not isinstance(phrases, dict) or not all(
            isinstance(v, list) and all(isinstance(p, str) for p in v) for v in phrases.values()
        ):
            raise ValueError(f"[phrases] in {path} must map each service number to a list of phrases")
        return cls(phrases, harmless=data.get("harmless", {}).get("words", []))

    def detect(self, text: str) -> Emergency | None:
        """The emergency the text signals, or None when it signals none (or only a negated/past one)."""
        normalized = self._mask_harmless(normalize_for_detection(text))
        taken = [False] * len(normalized)
        found: list[tuple[int, str]] = []
        for phrase in self._phrases:
            for start in _occurrences(normalized, phrase):
                end = start + len(phrase)
                if any(taken[start:end]):
                    continue  # inside a longer phrase already found
                taken[start:end] = [True] * len(phrase)
                if _signals_danger_now(normalized, start):
                    found.append((start, phrase))
        if not found:
            return None
        phrases = tuple(dict.fromkeys(phrase for _, phrase in sorted(found)))
        called = {service for phrase in phrases for service in self._services_of[phrase]}
        return Emergency(phrases, tuple(s for s in self._service_order if s in called))

    def _mask_harmless(self, text: str) -> str:
        # Masking (not deleting) keeps every other character where it was.
        return _masked(text, self._harmless)


def _occurrences(text: str, phrase: str) -> list[int]:
    """Where `phrase` starts in `text`; an English phrase only as whole words ("trapped", not "entrapped")."""
    starts, position = [], text.find(phrase)
    while position != -1:
        end = position + len(phrase)
        glued_before = _is_latin(phrase[0]) and position > 0 and _is_latin(text[position - 1])
        glued_after = _is_latin(phrase[-1]) and end < len(text) and _is_latin(text[end])
        if not (glued_before or glued_after):
            starts.append(position)
        position = text.find(phrase, position + 1)
    return starts


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _signals_danger_now(text: str, start: int) -> bool:
    sentence_start = _last_break_before(text, start, _SENTENCE_END)
    sentence = _masked(text[sentence_start : _next_break(text, start, _SENTENCE_END)], _UNTIL_NOW)
    # Question forms are masked in the whole text, so "有没有人持刀" never reads as "没" + "有人持刀".
    clause_before = _masked(text, _QUESTION_FORMS)[_last_break_before(text, start, _CLAUSE_BREAK) : start]
    if _is_negated(clause_before):
        return False
    if any(marker in sentence for marker in _PRESENT_MARKERS):
        return True
    before_in_sentence = text[sentence_start:start]
    return not any(marker in before_in_sentence for marker in _PAST_MARKERS + _HYPOTHETICAL_MARKERS)


def _masked(text: str, words: Sequence[str]) -> str:
    for word in words:
        text = text.replace(word, _MASK * len(word))
    return text


def _is_negated(clause_before: str) -> bool:
    """A negation ends at most `_NEGATION_REACH` characters before the phrase (question forms masked)."""
    for negation in _NEGATIONS:
        position = clause_before.rfind(negation)
        if position != -1 and len(clause_before) - (position + len(negation)) <= _NEGATION_REACH:
            return True
    return False


def _last_break_before(text: str, position: int, breaks: re.Pattern[str]) -> int:
    start = 0
    for match in breaks.finditer(text, 0, position):
        start = match.end()
    return start


def _next_break(text: str, position: int, breaks: re.Pattern[str]) -> int:
    match = breaks.search(text, position)
    return match.start() if match else len(text)
