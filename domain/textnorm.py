"""Text normalisation and clause/sentence boundaries for Chinese resident messages.

Residents type on phones with mixed input methods, so the same message can arrive with
full-width digits and Latin letters (``ＫＴＶ``, ``１１０``), mixed case, stray spaces and
newlines. Everything downstream (jieba, keyword matching) works on the normalised form, and
character offsets always refer to it.
"""

from __future__ import annotations

import re
import unicodedata

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
