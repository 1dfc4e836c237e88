"""Classification quality figures: accuracy, per-label precision/recall/F1, macro-F1, confusion,
and what a confidence threshold does: how many items go to triage, how right the rest are.

Used to compare classifiers on a labelled corpus and to decide whether a retrained model is adopted.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.analysis import CATEGORIES

_PLACES = 4


def evaluate(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = CATEGORIES
) -> dict:
    """Score ``predicted`` against ``gold``, aligned item by item.

    Returns ``{"n", "accuracy", "macro_f1", "per_label", "confusion"}`` where ``per_label``
    maps each label to ``{"precision", "recall", "f1", "support"}`` and ``confusion`` maps
    gold label -> predicted label -> count. Floats are rounded to 4 places; any ratio whose
    denominator is zero is 0.0. Macro-F1 is the unweighted mean of the per-label F1 over
    ``labels``, so a label absent from both sequences still counts (with F1 0.0).
    """
    _check_inputs(gold, predicted, labels)
    confusion = _confusion(gold, predicted, labels)
    per_label = {label: _label_figures(label, confusion, labels) for label in labels}
    correct = sum(confusion[label][label] for label in labels)
    macro_f1 = _ratio(sum(figures["f1"] for figures in per_label.values()), len(labels))
    return {
        "n": len(gold),
        "accuracy": round(_ratio(correct, len(gold)), _PLACES),
        "macro_f1": round(macro_f1, _PLACES),
        "per_label": {label: _rounded(figures) for label, figures in per_label.items()},
        "confusion": confusion,
    }


def triage_figures(
    gold: Sequence[str], predicted: Sequence[str], confidences: Sequence[float], threshold: float
) -> dict:
    """What routing at ``threshold`` does: items below it go to triage, the rest are auto-routed.

    Returns ``{"threshold", "triage_rate", "auto_routed", "auto_routed_accuracy"}``; the
    accuracy is over auto-routed items only (0.0 when none is auto-routed).
    """
    if not len(gold) == len(predicted) == len(confidences):
        raise ValueError("gold, predicted and confidences must be aligned")
    routed = [g == p for g, p, c in zip(gold, predicted, confidences) if c >= threshold]
    return {
        "threshold": threshold,
        "triage_rate": round(_ratio(len(gold) - len(routed), len(gold)), _PLACES),
        "auto_routed": len(routed),
        "auto_routed_accuracy": round(_ratio(sum(routed), len(routed)), _PLACES),
    }


def _check_inputs(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in {list(labels)}")
    unknown = (set(gold) | set(predicted)) - set(labels)
    if unknown:
        # Silently dropping them would inflate the figures.
        raise ValueError(f"labels not in {list(labels)}: {sorted(unknown)}")


def _confusion(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> dict[str, dict[str, int]]:
    confusion = {row: dict.fromkeys(labels, 0) for row in labels}
    for gold_label, predicted_label in zip(gold, predicted):
        confusion[gold_label][predicted_label] += 1
    return confusion


def _label_figures(
    label: str, confusion: dict[str, dict[str, int]], labels: Sequence[str]
) -> dict[str, float | int]:
    """Unrounded precision/recall/F1 so macro-F1 is not computed from rounded parts."""
    true_positive = confusion[label][label]
    predicted_as_label = sum(confusion[row][label] for row in labels)
    support = sum(confusion[label].values())
    precision = _ratio(true_positive, predicted_as_label)
    recall = _ratio(true_positive, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def _rounded(figures: dict[str, float | int]) -> dict[str, float | int]:
    return {
        name: value if isinstance(value, int) else round(value, _PLACES)
        for name, value in figures.items()
    }


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0
