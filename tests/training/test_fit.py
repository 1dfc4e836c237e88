"""The exported model scores exactly like the scikit-learn model it came from."""

from __future__ import annotations

import numpy as np
import pytest

from domain.analysis import CATEGORIES, Reader
from domain.classifier import RoutingClassifier
from training.data import Example, read_seed
from training.fit import (
    Featurizer,
    TrainingOptions,
    choose_threshold,
    decision,
    export,
    fit,
    fit_temperature,
    with_features,
)


@pytest.mark.parametrize("norm_floor", [0.0, 5.0])
def test_the_exported_model_gives_scikit_learns_probabilities(
    reader: Reader, small_seed: list[Example], quick: TrainingOptions, norm_floor: float
) -> None:
    options = with_features(quick, norm_floor=norm_floor)
    featurizer = Featurizer(reader)
    features = featurizer.features([e.text for e in small_seed], options.features)
    fitted = fit(features, [e.label for e in small_seed], [1.0] * len(small_seed), options)
    model = export(fitted, options, version="t", temperature=1.0, threshold=0.5, metadata={})
    unseen = [e.text for e in read_seed()[-25:]]

    expected = fitted.learner.predict_proba(fitted.matrix(featurizer.features(unseen, options.features)))  # type: ignore[attr-defined]
    router = RoutingClassifier.from_parts(reader, model)
    actual = np.array([[router.classify(text).scores[c] for c in CATEGORIES] for text in unseen])

    assert actual == pytest.approx(expected, abs=1e-6)


def test_an_overconfident_model_gets_a_temperature_above_one() -> None:
    # Always 20 logits apart but right only 3 times in 4.
    logits = np.array([[20.0, 0, 0, 0]] * 4)
    labels = ["business", "business", "business", "petition"]

    assert fit_temperature(logits, labels) > 1.0


def test_the_threshold_is_the_lowest_that_reaches_the_target_accuracy() -> None:
    gold = ["business"] * 10
    predicted = ["business"] * 8 + ["petition"] * 2
    confidences = [0.9] * 8 + [0.5, 0.6]

    assert choose_threshold(gold, predicted, confidences, target=0.97) == 0.61
    assert choose_threshold(gold, predicted, confidences, target=0.75) == 0.2


def test_weighted_examples_pull_the_model_towards_their_label(reader: Reader, small_seed: list[Example]) -> None:
    text = "我家门口那棵树上的鸟窝掉了"
    options = TrainingOptions(folds=3)
    featurizer = Featurizer(reader)

    def share_of_petition(weight: float) -> float:
        examples = [*small_seed, Example(text, "petition", weight)]
        features = featurizer.features([e.text for e in examples], options.features)
        fitted = fit(features, [e.label for e in examples], [e.weight for e in examples], options)
        logits = decision(fitted, featurizer.features([text], options.features), options)[0]
        return float(np.exp(logits)[1] / np.exp(logits).sum())

    assert share_of_petition(3.0) > share_of_petition(0.2)
