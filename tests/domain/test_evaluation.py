"""Evaluation figures for the classifier, checked against numbers worked out by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.classifier import CATEGORIES
from domain.evaluation import evaluate, triage_figures

B, P, D, O = "business", "petition", "discipline", "other"

# Eight items. Confusion (rows gold, columns predicted):
#              B  P  D  O
#   business   2  1  0  0      support 3
#   petition   0  1  1  0      support 2
#   discipline 0  0  1  0      support 1
#   other      1  0  0  1      support 2
# accuracy = (2+1+1+1)/8 = 0.625
# business:   TP 2, predicted 3 -> P 2/3, R 2/3, F1 2/3          = 0.6667
# petition:   TP 1, predicted 2 -> P 1/2, R 1/2, F1 1/2          = 0.5
# discipline: TP 1, predicted 2 -> P 1/2, R 1/1, F1 2*.5*1/1.5   = 0.6667
# other:      TP 1, predicted 1 -> P 1/1, R 1/2, F1 2*1*.5/1.5   = 0.6667
# macro-F1 = (2/3 + 1/2 + 2/3 + 2/3) / 4 = 2.5/4                 = 0.625
GOLD = [B, B, B, P, P, D, O, O]
PREDICTED = [B, B, P, P, D, D, O, B]


def test_the_figures_match_a_hand_worked_example() -> None:
    result = evaluate(GOLD, PREDICTED)

    assert result["n"] == 8
    assert result["accuracy"] == 0.625
    assert result["macro_f1"] == 0.625
    assert result["per_label"] == {
        B: {"precision": 0.6667, "recall": 0.6667, "f1": 0.6667, "support": 3},
        P: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
        D: {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1},
        O: {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
    }
    assert result["confusion"] == {
        B: {B: 2, P: 1, D: 0, O: 0},
        P: {B: 0, P: 1, D: 1, O: 0},
        D: {B: 0, P: 0, D: 1, O: 0},
        O: {B: 1, P: 0, D: 0, O: 1},
    }


def test_the_result_has_exactly_the_documented_keys() -> None:
    result = evaluate(GOLD, PREDICTED)

    assert set(result) == {"n", "accuracy", "macro_f1", "per_label", "confusion"}
    assert list(result["per_label"]) == list(CATEGORIES)
    assert all(
        set(figures) == {"precision", "recall", "f1", "support"}
        for figures in result["per_label"].values()
    )


def test_a_label_never_seen_or_predicted_scores_zero_instead_of_failing() -> None:
    # Only business occurs: the other three labels divide by zero and count as 0.0,
    # so macro-F1 = (1 + 0 + 0 + 0) / 4.
    result = evaluate([B, B], [B, B])

    assert result["accuracy"] == 1.0
    assert result["per_label"][P] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert result["macro_f1"] == 0.25


def test_a_label_predicted_but_never_gold_has_zero_precision() -> None:
    result = evaluate([B], [O])

    assert result["per_label"][O] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert result["per_label"][B] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_an_empty_corpus_gives_zeros() -> None:
    result = evaluate([], [])

    assert result["n"] == 0
    assert result["accuracy"] == 0.0
    assert result["macro_f1"] == 0.0


def test_custom_labels_are_used_for_rows_and_columns() -> None:
    result = evaluate(["yes", "no"], ["yes", "yes"], labels=("yes", "no"))

    assert result["confusion"] == {"yes": {"yes": 1, "no": 0}, "no": {"yes": 1, "no": 0}}
    # yes: P 1/2, R 1/1, F1 2/3; no: all 0 -> macro (2/3 + 0) / 2 = 1/3
    assert result["macro_f1"] == 0.3333


def test_sequences_of_different_length_are_rejected() -> None:
    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        evaluate([B, P], [B])


def test_a_label_outside_the_label_set_is_rejected_rather_than_ignored() -> None:
    with pytest.raises(ValueError, match="spam"):
        evaluate([B, "spam"], [B, B])


@given(st.lists(st.tuples(st.sampled_from(CATEGORIES), st.sampled_from(CATEGORIES)), max_size=50))
def test_accuracy_is_the_share_of_the_confusion_diagonal(pairs: list[tuple[str, str]]) -> None:
    gold = [g for g, _ in pairs]
    predicted = [p for _, p in pairs]

    result = evaluate(gold, predicted)

    diagonal = sum(result["confusion"][label][label] for label in CATEGORIES)
    total = sum(sum(row.values()) for row in result["confusion"].values())
    assert total == result["n"] == len(pairs)
    assert result["accuracy"] == (round(diagonal / total, 4) if total else 0.0)
    assert sum(figures["support"] for figures in result["per_label"].values()) == total


def test_items_below_the_threshold_go_to_triage_and_the_rest_are_scored() -> None:
    confidences = [0.9, 0.8, 0.3, 0.95, 0.5, 0.7, 0.2, 0.99]

    figures = triage_figures(GOLD, PREDICTED, confidences, threshold=0.6)

    # Auto-routed: items 0, 1, 3, 5, 7 -> right: 0, 1, 3, 5 (item 7 is other -> business).
    assert figures == {"threshold": 0.6, "triage_rate": 0.375, "auto_routed": 5, "auto_routed_accuracy": 0.8}


def test_with_everything_in_triage_the_auto_routed_accuracy_is_zero() -> None:
    figures = triage_figures(GOLD, PREDICTED, [0.1] * len(GOLD), threshold=0.5)

    assert (figures["triage_rate"], figures["auto_routed"], figures["auto_routed_accuracy"]) == (1.0, 0, 0.0)


def test_misaligned_confidences_are_refused() -> None:
    with pytest.raises(ValueError, match="aligned"):
        triage_figures(GOLD, PREDICTED, [0.5], threshold=0.5)
