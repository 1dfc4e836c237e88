"""Trains a new model version, compares it with the current one on the fixed check set, adopts it
only if it is not worse.

Models are versioned files ``<out_dir>/router-<version>.json``; ``<out_dir>/current`` names the
adopted one (the bot reads that pointer). A candidate that is not adopted is still written, so
the figures that rejected it can be looked at.

Corrections are (text, correct label) pairs officers made when they re-routed a ticket. Each
weighs ``min(max_correction_weight, correction_share × seed count / correction count)``: a
handful of corrections weigh 3 examples each and matter; thousands together never weigh more
than ``correction_share`` of the seed set. For a text corrected more than once, the last label wins.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from domain.analysis import Reader
from domain.classifier import RoutingClassifier
from domain.evaluation import evaluate, triage_figures
from domain.linear_model import CURRENT_POINTER, LinearModel, current_model_path
from domain.textnorm import normalize
from training.data import Example
from training.fit import Featurizer, TrainingOptions, cross_validate, export, fit
from training.resources import default_reader

MODEL_PREFIX = "router-"
MAX_CORRECTION_WEIGHT = 3.0
CORRECTION_SHARE = 0.2


@dataclass(frozen=True)
class RetrainOutcome:
    adopted: bool
    version: str
    current_figures: dict | None  # None when there was no current model
    candidate_figures: dict
    path: Path  # the candidate's model file (written whether adopted or not)


def retrain(
    seed_examples: Sequence[Example],
    corrections: Sequence[tuple[str, str]],
    check_set: Sequence[Example],
    current_model_path: Path | None,
    out_dir: Path,
    *,
    threshold: float | None = None,
    options: TrainingOptions = TrainingOptions(),
    reader: Reader | None = None,
    force: bool = False,
    now: dt.datetime | None = None,
) -> RetrainOutcome:
    """Train on seed + weighted corrections; adopt if the check set says it is not worse.

    Both models are judged on ``check_set`` at the same ``threshold`` (default: the current
    model's recommended one, or the candidate's when there is none): the candidate is adopted
    when its macro-F1 and its auto-routed accuracy are both at least the current model's.
    ``force`` adopts it regardless (a first model, or a deliberate change of design).
    """
    reader = reader or default_reader()
    examples = [*seed_examples, *weighted_corrections(corrections, len(seed_examples))]
    candidate = train(examples, options, reader, now=now)
    current = LinearModel.load(current_model_path) if current_model_path else None
    common_threshold = threshold if threshold is not None else (current or candidate).recommended_threshold
    candidate_figures = check_figures(candidate, reader, check_set, common_threshold)
    current_figures = check_figures(current, reader, check_set, common_threshold) if current else None
    adopted = force or current_figures is None or not_worse(candidate_figures, current_figures)
    candidate = replace(candidate, metadata={**candidate.metadata, "check": candidate_figures})
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{MODEL_PREFIX}{candidate.version}.json"
    candidate.save(path)
    if adopted:
        point_current_at(out_dir, path.name)
    return RetrainOutcome(adopted, candidate.version, current_figures, candidate_figures, path)


def weighted_corrections(corrections: Sequence[tuple[str, str]], seed_count: int) -> list[Example]:
    latest: dict[str, tuple[str, str]] = {}
    for text, label in corrections:
        key = normalize(text)
        if key:
            latest.pop(key, None)  # keep the order of the last correction
            latest[key] = (text, label)
    if not latest:
        return []
    weight = min(MAX_CORRECTION_WEIGHT, CORRECTION_SHARE * seed_count / len(latest))
    return [Example(text, label, weight) for text, label in latest.values()]


def train(
    examples: Sequence[Example],
    options: TrainingOptions,
    reader: Reader,
    *,
    now: dt.datetime | None = None,
) -> LinearModel:
    """Cross-validate (temperature, threshold, figures), then fit on everything and export."""
    featurizer = Featurizer(reader)
    features = featurizer.features([e.text for e in examples], options.features)
    cv = cross_validate(features, examples, options)
    cv_predicted = cv.predicted()
    cv_figures = {
        **_headline(evaluate(cv.gold, cv_predicted)),
        **triage_figures(cv.gold, cv_predicted, cv.confidences(), cv.threshold),
    }
    fitted = fit(features, [e.label for e in examples], [e.weight for e in examples], options)
    metadata = {
        "trained_at": (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
        "examples": len(examples),
        "corrections": sum(1 for e in examples if e.weight != 1.0),
        "data_sha256": _data_hash(examples),
        "learner": {"kind": options.learner, "C": options.C, "min_df": options.min_df},
        "cross_validation": {"folds": options.folds, "temperature": round(cv.temperature, 4), **cv_figures},
    }
    model = export(fitted, options, version="unversioned", temperature=cv.temperature, threshold=cv.threshold, metadata=metadata)
    return replace(model, version=_version(model, now))


def check_figures(model: LinearModel, reader: Reader, check_set: Sequence[Example], threshold: float) -> dict:
    """Accuracy, macro-F1, per-label figures, triage rate and auto-routed accuracy on the check set."""
    classifier = RoutingClassifier.from_parts(reader, model)
    verdicts = [classifier.classify(example.text) for example in check_set]
    gold = [example.label for example in check_set]
    predicted = [verdict.category for verdict in verdicts]
    figures = evaluate(gold, predicted)
    figures.update(triage_figures(gold, predicted, [v.confidence for v in verdicts], threshold))
    return figures


def not_worse(candidate: dict, current: dict) -> bool:
    return (
        candidate["macro_f1"] >= current["macro_f1"]
        and candidate["auto_routed_accuracy"] >= current["auto_routed_accuracy"]
    )


def point_current_at(model_dir: Path, file_name: str) -> None:
    """Replace the ``current`` pointer atomically, so the bot never reads half a name."""
    pointer = model_dir / CURRENT_POINTER
    temporary = model_dir / f".{CURRENT_POINTER}.tmp"
    temporary.write_text(file_name + "\n", encoding="utf-8")
    os.replace(temporary, pointer)


def current_or_none(model_dir: Path) -> Path | None:
    try:
        return current_model_path(model_dir)
    except FileNotFoundError:
        return None


def _headline(figures: dict) -> dict:
    return {
        "accuracy": figures["accuracy"],
        "macro_f1": figures["macro_f1"],
        "per_label_f1": {label: values["f1"] for label, values in figures["per_label"].items()},
    }


def _version(model: LinearModel, now: dt.datetime | None) -> str:
    """``YYYYMMDD-HHMMSS-<8 hex of the weights>``: sortable by time, distinct by content."""
    moment = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    content = {key: value for key, value in model.to_json().items() if key not in ("version", "metadata")}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"{moment:%Y%m%d-%H%M%S}-{digest[:8]}"


def _data_hash(examples: Sequence[Example]) -> str:
    digest = hashlib.sha256()
    for example in examples:
        digest.update(f"{example.label}\t{example.weight}\t{example.text}\n".encode())
    return digest.hexdigest()[:16]
