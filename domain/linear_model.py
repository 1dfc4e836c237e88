"""The routing model as plain data: a calibrated linear model scored in pure Python.

Training (``training/``, scikit-learn) exports the fitted model to JSON; the bot loads that file
and scores without scikit-learn or numpy, so start-up stays fast and the inference path light.

Scoring, for the text features ``x`` (see :mod:`domain.features`) and keyword features ``k``::

    u_f    = tf(x_f) · idf_f   over the features the model knows
             (tf = 1 + ln x when ``sublinear_tf``, else x: scikit-learn's TfidfTransformer)
    v_f    = u_f / sqrt(|u|² + norm_floor²)   (unit length when norm_floor is 0)
    z_c    = b_c + Σ_f v_f · W_cf + Σ_j k_j · K_cj
    p_c    = softmax(z / T)_c     (T: temperature fitted on cross-validated predictions)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.features import Features, FeatureOptions

FORMAT = "open-door-router/1"


@dataclass(frozen=True)
class Scores:
    """Calibrated probabilities per category, and what explaining them needs."""

    probabilities: tuple[float, ...]
    norm: float  # the divisor of the text vector (0 when no known text feature)


@dataclass(frozen=True)
class LinearModel:
    version: str
    categories: tuple[str, ...]
    options: FeatureOptions
    # feature -> (idf, weight per category)
    text_weights: Mapping[str, tuple[float, ...]]
    # keyword feature -> weight per category
    keyword_weights: Mapping[str, tuple[float, ...]]
    intercepts: tuple[float, ...]
    temperature: float = 1.0
    # confidence below which an item should go to triage, chosen by cross-validation
    recommended_threshold: float = 0.5
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        width = len(self.categories)
        if len(self.intercepts) != width:
            raise ValueError("one intercept per category expected")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")
        for name, row in self.text_weights.items():
            if len(row) != width + 1:
                raise ValueError(f"text feature {name!r} needs an idf and {width} weights")
        for name, row in self.keyword_weights.items():
            if len(row) != width:
                raise ValueError(f"keyword feature {name!r} needs {width} weights")

    # --- scoring ----------------------------------------------------------------------------

    def score(self, features: Features) -> Scores:
        if len(self.categories) == 4:
            text_sums, squared = self._text_sums_4(features.text)
        else:
            text_sums, squared = self._text_sums(features.text)
        sums = list(self.intercepts)
        norm = math.sqrt(squared + self.options.norm_floor**2) if squared > 0 else 0.0
        if norm:
            for index, value in enumerate(text_sums):
                sums[index] += value / norm
        for name, value in features.keywords.items():
            row = self.keyword_weights.get(name)
            if row is not None:
                for index in range(len(sums)):
                    sums[index] += value * row[index]
        return Scores(softmax(sums, self.temperature), norm)

    def _text_sums(self, text: Mapping[str, float]) -> tuple[list[float], float]:
        sums = [0.0] * len(self.categories)
        squared = 0.0
        for name, count in text.items():
            row = self.text_weights.get(name)
            if row is None or count <= 0:
                continue
            value = self._tf(count) * row[0]
            squared += value * value
            for index in range(len(sums)):
                sums[index] += value * row[index + 1]
        return sums, squared

    def _text_sums_4(self, text: Mapping[str, float]) -> tuple[list[float], float]:
        """:meth:`_text_sums` unrolled for four categories: this loop is the hot path."""
        get = self.text_weights.get
        sublinear = self.options.sublinear_tf
        log = math.log
        s0 = s1 = s2 = s3 = squared = 0.0
        for name, count in text.items():
            row = get(name)
            if row is None or count <= 0:
                continue
            idf, w0, w1, w2, w3 = row
            if count == 1.0 or not sublinear:
                value = count * idf
            else:
                value = (1.0 + log(count)) * idf
            squared += value * value
            s0 += value * w0
            s1 += value * w1
            s2 += value * w2
            s3 += value * w3
        return [s0, s1, s2, s3], squared

    def _tf(self, count: float) -> float:
        return (1.0 + math.log(count)) if self.options.sublinear_tf else count

    def text_value(self, name: str, count: float, norm: float) -> float:
        """The normalised tf-idf value of a text feature seen ``count`` times (0 if unknown)."""
        row = self.text_weights.get(name)
        if row is None or count <= 0 or not norm:
            return 0.0
        return self._tf(count) * row[0] / norm

    def margin(self, name: str, category: int) -> float:
        """How much a unit of feature ``name`` favours ``category`` over the others on average."""
        row = self.text_weights.get(name)
        weights = row[1:] if row is not None else self.keyword_weights.get(name)
        if not weights:
            return 0.0
        return weights[category] - (sum(weights) - weights[category]) / (len(weights) - 1)

    # --- files ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "categories": list(self.categories),
            "options": self.options.to_json(),
            "intercepts": [_round(v) for v in self.intercepts],
            "temperature": _round(self.temperature),
            "recommended_threshold": self.recommended_threshold,
            "metadata": dict(self.metadata),
            "keyword_weights": {n: [_round(v) for v in row] for n, row in sorted(self.keyword_weights.items())},
            "text_weights": {n: [_round(v) for v in row] for n, row in sorted(self.text_weights.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearModel:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a router model file (format {data.get('format')!r}, expected {FORMAT!r})")
        return cls(
            version=str(data["version"]),
            categories=tuple(data["categories"]),
            options=FeatureOptions.from_json(data["options"]),
            text_weights={name: tuple(row) for name, row in data["text_weights"].items()},
            keyword_weights={name: tuple(row) for name, row in data["keyword_weights"].items()},
            intercepts=tuple(data["intercepts"]),
            temperature=float(data["temperature"]),
            recommended_threshold=float(data["recommended_threshold"]),
            metadata=data.get("metadata", {}),
        )

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def softmax(logits: Sequence[float], temperature: float = 1.0) -> tuple[float, ...]:
    scaled = [value / temperature for value in logits]
    top = max(scaled)
    exps = [math.exp(value - top) for value in scaled]
    total = sum(exps)
    return tuple(value / total for value in exps)


def _round(value: float) -> float:
    return float(f"{value:.6g}")


CURRENT_POINTER = "current"


def current_model_path(model_dir: Path) -> Path:
    """The model file named by ``<model_dir>/current`` (one file name on one line)."""
    pointer = Path(model_dir) / CURRENT_POINTER
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise FileNotFoundError(f"no model adopted yet: {pointer} is missing (run `python -m bot train-classifier`)") from None
    if not name or "/" in name or "\\" in name:
        raise ValueError(f"{pointer} must hold one file name from {model_dir}, got {name!r}")
    return Path(model_dir) / name
