"""Compares feature sets and learners by k-fold cross-validation on the seed set and on the check set.

``python -m training.compare`` prints one line per configuration. The dev corpus is never read here:
every design choice is made from these figures.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import numpy as np

from domain.analysis import CATEGORIES, Reader
from domain.evaluation import evaluate, triage_figures
from training.data import CHECK_PATH, Example, read_jsonl, read_seed
from training.fit import Featurizer, TrainingOptions, cross_validate, decision, fit, with_features
from training.resources import default_reader


def configurations(base: TrainingOptions) -> dict[str, TrainingOptions]:
    grid = {}
    for scale in (0.0, 0.25, 0.5, 1.0):
        for floor in (0.0, 10.0, 20.0):
            name = f"kw x{scale} floor {floor}"
            grid[name] = with_features(base, keywords=scale > 0, keyword_scale=scale or 1.0, norm_floor=floor)
    return grid | {
        "words only": with_features(base, char_ngrams=(), keywords=False),
        "char 1-3 only": with_features(base, words=False, char_ngrams=(1, 2, 3), keywords=False),
        "char 2-3 only": with_features(base, words=False, char_ngrams=(2, 3), keywords=False),
        "words + char 2-3": with_features(base, keywords=False),
        "words + keywords": with_features(base, char_ngrams=()),
        "words + char 2-3 + keywords": base,
        "words + char 1-3 + keywords": with_features(base, char_ngrams=(1, 2, 3)),
        "words + char 2 + keywords": with_features(base, char_ngrams=(2,)),
        "  no negation marks": with_features(base, mark_negation=False),
        "  no contrast weights": with_features(base, contrast=False),
        "  raw tf": with_features(base, sublinear_tf=False),
        "  C=3": TrainingOptions(features=base.features, C=3.0),
        "  C=30": TrainingOptions(features=base.features, C=30.0),
        "  C=100": TrainingOptions(features=base.features, C=100.0),
        "  min_df=1": TrainingOptions(features=base.features, min_df=1),
        "  min_df=3": TrainingOptions(features=base.features, min_df=3),
        "NB words + char 2-3 + keywords": TrainingOptions(features=base.features, learner="nb"),
        "CNB words + char 2-3 + keywords": TrainingOptions(features=base.features, learner="cnb"),
    }


def measure(featurizer: Featurizer, seed: Sequence[Example], check: Sequence[Example], options: TrainingOptions) -> dict:
    train_features = featurizer.features([e.text for e in seed], options.features)
    cv = cross_validate(train_features, seed, options)
    cv_eval = evaluate(cv.gold, cv.predicted())
    cv_triage = triage_figures(cv.gold, cv.predicted(), cv.confidences(), cv.threshold)
    fitted = fit(train_features, [e.label for e in seed], [e.weight for e in seed], options)
    logits = decision(fitted, featurizer.features([e.text for e in check], options.features), options)
    probabilities = np.exp((logits - logits.max(axis=1, keepdims=True)) / cv.temperature)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    predicted = [CATEGORIES[i] for i in logits.argmax(axis=1)]
    gold = [e.label for e in check]
    check_eval = evaluate(gold, predicted)
    check_triage = triage_figures(gold, predicted, probabilities.max(axis=1).tolist(), cv.threshold)
    return {
        "cv_accuracy": cv_eval["accuracy"],
        "cv_macro_f1": cv_eval["macro_f1"],
        "temperature": round(cv.temperature, 3),
        "threshold": cv.threshold,
        "cv_triage_rate": cv_triage["triage_rate"],
        "check_accuracy": check_eval["accuracy"],
        "check_macro_f1": check_eval["macro_f1"],
        "check_triage_rate": check_triage["triage_rate"],
        "check_auto_accuracy": check_triage["auto_routed_accuracy"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="names of configurations to run")
    args = parser.parse_args(argv)
    reader: Reader = default_reader()
    featurizer = Featurizer(reader)
    seed = read_seed()
    check = read_jsonl(CHECK_PATH)
    for name, options in configurations(TrainingOptions()).items():
        if args.only and name.strip() not in args.only:
            continue
        started = time.perf_counter()
        figures = measure(featurizer, seed, check, options)
        figures["seconds"] = round(time.perf_counter() - started, 1)
        print(f"{name:34s} {json.dumps(figures)}", flush=True)


if __name__ == "__main__":
    main()
