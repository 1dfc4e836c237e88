"""Recognising a resident sending the same problem again while their ticket is still open.

Residents resend when nothing seems to happen ("楼下KTV噪音太大！！" a second time, or with
"请尽快处理" added). That should be added to the open ticket, not become a second ticket.

Texts are compared by the Jaccard similarity of their character bigrams after normalisation
(width, case, traditional → simplified) with punctuation, symbols and whitespace removed, so
"噪音很大，吵得睡不着" and "噪音很大!!吵得 睡不着" are identical. Bigrams keep word order
locally, so two different noise complaints that share "噪音很大" stay well apart.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Hashable, Sequence
from typing import TypeVar

from domain.textnorm import normalize, to_simplified

Key = TypeVar("Key", bound=Hashable)

# Resending with a short addition ("请尽快处理") stays above this; a different problem of the
# same kind stays far below (see tests/domain/test_duplicates.py).
DEFAULT_THRESHOLD = 0.6


def near_duplicate(
    text: str, candidates: Sequence[tuple[Key, str]], threshold: float = DEFAULT_THRESHOLD
) -> Key | None:
    """The key of the candidate most similar to `text` if it reaches `threshold`, else None."""
    grams = _bigrams(text)
    if not grams:
        return None  # nothing to compare (a photo, an emoji): never a duplicate
    best_key, best = None, 0.0
    for key, candidate in candidates:
        score = _jaccard(grams, _bigrams(candidate))
        if score > best:
            best_key, best = key, score
    return best_key if best >= threshold else None


def similarity(first: str, second: str) -> float:
    """Jaccard similarity (0..1) of the two texts' character bigrams after normalisation."""
    return _jaccard(_bigrams(first), _bigrams(second))


def _bigrams(text: str) -> frozenset[str]:
    kept = "".join(c for c in to_simplified(normalize(text)) if unicodedata.category(c)[0] not in "PSZC")
    if len(kept) < 2:
        return frozenset(kept)  # a one-character text is its own single "gram"
    return frozenset(kept[i : i + 2] for i in range(len(kept) - 1))


def _jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)
