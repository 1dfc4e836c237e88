"""Fits the routing model with scikit-learn and exports it as a :class:`~domain.linear_model.LinearModel`.

Pipeline: text features -> (vocabulary of features seen in at least ``min_df`` examples) ->
tf-idf, unit length -> joined with the keyword features -> multinomial logistic regression.
Confidence is calibrated by a temperature fitted on out-of-fold predictions of a k-fold
cross-validation, and the triage threshold is read off the same out-of-fold predictions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB, MultinomialNB

from domain.analysis import CATEGORIES, Reader
from domain.features import Features, FeatureOptions, extract
from domain.linear_model import LinearModel
from training.data import Example

KEYWORD_FEATURES: tuple[str, ...] = tuple(
    f"{prefix}{category}" for prefix in ("k:", "k!:") for category in CATEGORIES
)


@dataclass(frozen=True)
class TrainingOptions:
    features: FeatureOptions = field(default_factory=FeatureOptions)
    learner: str = "logreg"  # "logreg" (exported) or "nb" / "cnb" (compared only)
    C: float = 10.0
    min_df: int = 2
    folds: int = 5
    seed: int = 7
    # The threshold is the lowest confidence at which cross-validated auto-routed accuracy
    # reaches this target (the target for auto-routed items).
    target_auto_accuracy: float = 0.97


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold predictions for every training example."""

    gold: list[str]
    logits: np.ndarray  # uncalibrated, one row per example
    temperature: float
    threshold: float

    def probabilities(self, temperature: float | None = None) -> np.ndarray:
        return _softmax(self.logits / (temperature or self.temperature))

    def predicted(self) -> list[str]:
        return [CATEGORIES[i] for i in self.logits.argmax(axis=1)]

    def confidences(self) -> list[float]:
        return self.probabilities().max(axis=1).tolist()


class Featurizer:
    """Reads texts once and caches their features, so many experiments share the work."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._readings: dict[str, object] = {}

    def features(self, texts: Sequence[str], options: FeatureOptions) -> list[Features]:
        result = []
        for text in texts:
            reading = self._readings.get(text)
            if reading is None:
                reading = self._readings[text] = self.reader.read(text)
            result.append(extract(reading, options))  # type: ignore[arg-type]
        return result


@dataclass
class _Fitted:
    text_vectorizer: DictVectorizer
    tfidf: TfidfTransformer | None
    learner: object
    norm_floor: float = 0.0

    def matrix(self, features: Sequence[Features], keyword_columns: bool = True) -> csr_matrix:
        text = self.text_vectorizer.transform([f.text for f in features])
        if self.tfidf is not None:
            text = _soft_normalize(self.tfidf.transform(text), self.norm_floor)
        if not keyword_columns:
            return csr_matrix(text)
        return csr_matrix(hstack([text, _keyword_matrix(features)]))


def fit(features: Sequence[Features], labels: Sequence[str], weights: Sequence[float], options: TrainingOptions) -> _Fitted:
    vectorizer = DictVectorizer()
    counts = vectorizer.fit_transform([f.text for f in features])
    kept = np.flatnonzero(np.asarray((counts > 0).sum(axis=0)).ravel() >= options.min_df)
    vectorizer.restrict(np.isin(np.arange(counts.shape[1]), kept))
    counts = vectorizer.transform([f.text for f in features])
    y = np.array([CATEGORIES.index(label) for label in labels])
    sample_weight = np.asarray(weights, dtype=float)
    if options.learner == "logreg":
        tfidf = TfidfTransformer(sublinear_tf=options.features.sublinear_tf, norm=None)
        text = _soft_normalize(tfidf.fit_transform(counts), options.features.norm_floor)
        learner = LogisticRegression(C=options.C, max_iter=5000)
        fitted = _Fitted(vectorizer, tfidf, learner, options.features.norm_floor)
    elif options.learner in ("nb", "cnb"):
        learner = MultinomialNB(alpha=0.3) if options.learner == "nb" else ComplementNB(alpha=0.3)
        fitted = _Fitted(vectorizer, None, learner)
        text = counts
    else:
        raise ValueError(f"unknown learner {options.learner!r}")
    matrix = csr_matrix(hstack([text, _keyword_matrix(features)])) if options.features.keywords else text
    learner.fit(matrix, y, sample_weight=sample_weight)
    return fitted


def decision(fitted: _Fitted, features: Sequence[Features], options: TrainingOptions) -> np.ndarray:
    matrix = fitted.matrix(features, options.features.keywords)
    learner = fitted.learner
    if isinstance(learner, LogisticRegression):
        return learner.decision_function(matrix)
    return learner.predict_log_proba(matrix)  # type: ignore[attr-defined]


def cross_validate(
    features: Sequence[Features], examples: Sequence[Example], options: TrainingOptions
) -> CrossValidation:
    labels = [e.label for e in examples]
    weights = [e.weight for e in examples]
    logits = np.zeros((len(examples), len(CATEGORIES)))
    folds = StratifiedKFold(n_splits=options.folds, shuffle=True, random_state=options.seed)
    for train, test in folds.split(np.zeros(len(labels)), labels):
        fitted = fit([features[i] for i in train], [labels[i] for i in train], [weights[i] for i in train], options)
        logits[test] = decision(fitted, [features[i] for i in test], options)
    temperature = fit_temperature(logits, labels)
    confidences = _softmax(logits / temperature).max(axis=1)
    predicted = [CATEGORIES[i] for i in logits.argmax(axis=1)]
    threshold = choose_threshold(labels, predicted, confidences.tolist(), options.target_auto_accuracy)
    return CrossValidation(labels, logits, temperature, threshold)


def fit_temperature(logits: np.ndarray, labels: Sequence[str]) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T)."""
    y = np.array([CATEGORIES.index(label) for label in labels])

    def loss(log_t: float) -> float:
        scaled = logits / math.exp(log_t)
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(axis=1))
        return float(np.mean(log_norm - scaled[np.arange(len(y)), y]))

    result = minimize_scalar(loss, bounds=(-4.0, 4.0), method="bounded")
    return float(math.exp(result.x))


def choose_threshold(
    gold: Sequence[str], predicted: Sequence[str], confidences: Sequence[float], target: float
) -> float:
    """The lowest threshold (in steps of 0.01) whose auto-routed items reach ``target`` accuracy."""
    for step in range(20, 100):
        threshold = step / 100
        routed = [g == p for g, p, c in zip(gold, predicted, confidences) if c >= threshold]
        if routed and sum(routed) / len(routed) >= target:
            return threshold
    return 0.99


def export(
    fitted: _Fitted,
    options: TrainingOptions,
    *,
    version: str,
    temperature: float,
    threshold: float,
    metadata: dict,
) -> LinearModel:
    learner = fitted.learner
    if not isinstance(learner, LogisticRegression) or fitted.tfidf is None:
        raise ValueError("only the logistic-regression model can be exported")
    names = fitted.text_vectorizer.get_feature_names_out()
    idf = fitted.tfidf.idf_
    coef = learner.coef_
    width = len(names)
    text_weights = {
        str(name): (float(idf[j]), *(float(coef[c, j]) for c in range(len(CATEGORIES))))
        for j, name in enumerate(names)
    }
    keyword_weights = {}
    if options.features.keywords:
        for k, name in enumerate(KEYWORD_FEATURES):
            keyword_weights[name] = tuple(float(coef[c, width + k]) for c in range(len(CATEGORIES)))
    return LinearModel(
        version=version,
        categories=CATEGORIES,
        options=options.features,
        text_weights=text_weights,
        keyword_weights=keyword_weights,
        intercepts=tuple(float(b) for b in learner.intercept_),
        temperature=temperature,
        recommended_threshold=threshold,
        metadata=metadata,
    )


def _soft_normalize(matrix: csr_matrix, floor: float) -> csr_matrix:
    """Rows divided by sqrt(|row|² + floor²), as :meth:`LinearModel.score` does."""
    matrix = csr_matrix(matrix, dtype=float)
    squared = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()
    scale = np.zeros_like(squared)
    nonzero = squared > 0
    scale[nonzero] = 1.0 / np.sqrt(squared[nonzero] + floor**2)
    return csr_matrix(matrix.multiply(scale[:, None]))


def _keyword_matrix(features: Sequence[Features]) -> csr_matrix:
    rows = [[f.keywords.get(name, 0.0) for name in KEYWORD_FEATURES] for f in features]
    return csr_matrix(np.array(rows, dtype=float).reshape(len(features), len(KEYWORD_FEATURES)))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=1, keepdims=True)


def with_features(options: TrainingOptions, **changes: object) -> TrainingOptions:
    return replace(options, features=replace(options.features, **changes))
