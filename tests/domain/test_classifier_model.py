"""The saved routing model: scored in plain Python exactly as documented, versioned on disk."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from domain.analysis import Reading
from domain.classifier import RoutingClassifier
from domain.features import Features, FeatureOptions
from domain.linear_model import LinearModel, current_model_path, softmax

REPO = Path(__file__).resolve().parents[2]


def hand_made(**changes: object) -> LinearModel:
    values: dict = {
        "version": "test-1",
        "categories": ("business", "petition", "discipline", "other"),
        "options": FeatureOptions(sublinear_tf=False, norm_floor=0.0),
        "text_weights": {"w:红包": (2.0, 0.0, 0.0, 1.0, 0.0), "w:噪音": (1.0, 1.0, 0.0, 0.0, 0.0)},
        "keyword_weights": {"k:discipline": (0.0, 0.0, 0.5, 0.0)},
        "intercepts": (0.1, 0.0, 0.0, 0.2),
    }
    values.update(changes)
    return LinearModel(**values)


def test_scores_follow_the_documented_formula() -> None:
    features = Features(text={"w:红包": 1.0, "w:噪音": 2.0, "w:未知": 5.0}, keywords={"k:discipline": 2.0})

    scores = hand_made().score(features)

    # u = (1·2, 2·1) -> |u| = √8; v = (2/√8, 2/√8); unknown words take no part.
    v = 2 / math.sqrt(8)
    logits = (0.1 + v * 1.0, 0.0, v * 1.0 + 2.0 * 0.5, 0.2)
    assert scores.probabilities == pytest.approx(softmax(logits))
    assert scores.norm == pytest.approx(math.sqrt(8))


def test_a_higher_temperature_makes_the_model_less_sure() -> None:
    features = Features(text={"w:红包": 1.0}, keywords={})

    sharp = max(hand_made().score(features).probabilities)
    soft = max(hand_made(temperature=3.0).score(features).probabilities)

    assert soft < sharp


def test_a_norm_floor_makes_a_one_word_message_less_certain() -> None:
    features = Features(text={"w:红包": 1.0}, keywords={})
    floored = hand_made(options=FeatureOptions(sublinear_tf=False, norm_floor=10.0))

    assert max(floored.score(features).probabilities) < max(hand_made().score(features).probabilities)


def test_a_saved_model_loads_back_with_the_same_scores(tmp_path: Path) -> None:
    model = hand_made()
    features = Features(text={"w:红包": 2.0}, keywords={"k:discipline": 1.0})
    path = tmp_path / "router-test-1.json"

    model.save(path)

    assert LinearModel.load(path).score(features).probabilities == pytest.approx(model.score(features).probabilities)


def test_a_file_that_is_not_a_router_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "something-else"}), encoding="utf-8")

    with pytest.raises(ValueError, match="not a router model"):
        LinearModel.load(path)


def test_weights_of_the_wrong_width_are_refused() -> None:
    with pytest.raises(ValueError, match="idf and 4 weights"):
        hand_made(text_weights={"w:红包": (1.0, 2.0)})


def test_the_current_pointer_names_the_model_in_use(tmp_path: Path) -> None:
    (tmp_path / "current").write_text("router-a.json\n", encoding="utf-8")

    assert current_model_path(tmp_path) == tmp_path / "router-a.json"


def test_a_missing_pointer_says_how_to_train_a_model(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train-classifier"):
        current_model_path(tmp_path)


def test_a_pointer_outside_the_model_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "current").write_text("../elsewhere.json", encoding="utf-8")

    with pytest.raises(ValueError, match="one file name"):
        current_model_path(tmp_path)


def test_a_new_router_uses_a_newly_adopted_model(tmp_path: Path) -> None:
    shipped = LinearModel.load(current_model_path(REPO / "data" / "models"))
    for version in ("first", "second"):
        LinearModel.from_json({**shipped.to_json(), "version": version}).save(tmp_path / f"router-{version}.json")
    (tmp_path / "current").write_text("router-first.json", encoding="utf-8")
    before = RoutingClassifier.from_files(model_path=tmp_path).classify("你好")

    (tmp_path / "current").write_text("router-second.json", encoding="utf-8")
    after = RoutingClassifier.from_files(model_path=tmp_path).classify("你好")

    assert (before.model_version, after.model_version) == ("first", "second")


def test_classifying_needs_neither_scikit_learn_nor_numpy() -> None:
    script = (
        "import sys\n"
        "from domain.classifier import RoutingClassifier\n"
        "verdict = RoutingClassifier.from_files().classify('派出所民警吃拿卡要')\n"
        "heavy = sorted(m for m in ('sklearn', 'numpy', 'scipy') if m in sys.modules)\n"
        "print(verdict.category, heavy)\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )

    assert completed.stdout.strip() == "discipline []"


def test_an_empty_reading_has_no_features() -> None:
    from domain.features import extract

    reading = Reading(text="", tokens=[], negated=[], emphasis=[], clause=[], hits=[])

    assert extract(reading, FeatureOptions()).text == {}
