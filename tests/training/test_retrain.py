"""Learning from officers' corrections: a retrained model is adopted only if it is not worse."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from domain.analysis import Reader
from domain.linear_model import LinearModel, current_model_path
from training.data import Example
from training.fit import TrainingOptions
from training.retrain import MAX_CORRECTION_WEIGHT, retrain, weighted_corrections

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.timezone.utc)


@pytest.fixture()
def check(small_seed: list[Example]) -> list[Example]:
    return [
        Example("派出所民警收了我两百块钱才给办证", "discipline"),
        Example("报案两个月了一直没有立案", "petition"),
        Example("身份证丢了怎么补办", "business"),
        Example("谢谢你们的帮助", "other"),
        Example("交警把我的车扣了半年还不还", "petition"),
        Example("楼上天天半夜放音乐太吵了", "business"),
    ]


def test_a_first_model_is_adopted_and_becomes_current(
    tmp_path: Path, small_seed: list[Example], check: list[Example], quick: TrainingOptions, reader: Reader
) -> None:
    outcome = retrain(small_seed, [], check, None, tmp_path, options=quick, reader=reader, now=NOW)

    assert outcome.adopted
    assert outcome.current_figures is None
    assert re.fullmatch(r"20261122-093000-[0-9a-f]{8}", outcome.version)
    assert outcome.path == tmp_path / f"router-{outcome.version}.json"
    assert current_model_path(tmp_path) == outcome.path
    assert LinearModel.load(outcome.path).version == outcome.version
    assert {"macro_f1", "auto_routed_accuracy", "triage_rate"} <= set(outcome.candidate_figures)


def test_a_candidate_worse_on_the_check_set_is_kept_aside(
    tmp_path: Path, small_seed: list[Example], check: list[Example], quick: TrainingOptions, reader: Reader
) -> None:
    first = retrain(small_seed, [], check, None, tmp_path, options=quick, reader=reader, now=NOW)
    # Wrong "corrections": every complaint relabelled as chit-chat, the check items included.
    sabotage = [(e.text, "other") for e in [*small_seed, *check] if e.label != "other"]

    second = retrain(
        small_seed, sabotage, check, first.path, tmp_path, options=quick, reader=reader, now=NOW + dt.timedelta(hours=1)
    )

    assert not second.adopted
    assert second.path.exists()
    assert current_model_path(tmp_path) == first.path
    assert second.candidate_figures["macro_f1"] < second.current_figures["macro_f1"]  # type: ignore[index]


def test_a_candidate_as_good_as_the_current_model_is_adopted(
    tmp_path: Path, small_seed: list[Example], check: list[Example], quick: TrainingOptions, reader: Reader
) -> None:
    first = retrain(small_seed, [], check, None, tmp_path, options=quick, reader=reader, now=NOW)
    corrections = [("小区门口的井盖丢了好几天没人管", "business")]

    second = retrain(
        small_seed, corrections, check, first.path, tmp_path, options=quick, reader=reader, now=NOW + dt.timedelta(days=1)
    )

    assert second.adopted
    assert current_model_path(tmp_path) == second.path
    assert second.version != first.version


def test_a_handful_of_corrections_count_several_times_each() -> None:
    weighted = weighted_corrections([("甲", "petition"), ("乙", "business")], seed_count=1600)

    assert [example.weight for example in weighted] == [MAX_CORRECTION_WEIGHT, MAX_CORRECTION_WEIGHT]


def test_many_corrections_together_cannot_outweigh_the_seed_set() -> None:
    corrections = [(f"更正{i}", "petition") for i in range(5000)]

    weighted = weighted_corrections(corrections, seed_count=1600)

    assert sum(example.weight for example in weighted) <= 0.2 * 1600 + 1e-9


def test_the_last_correction_of_a_text_wins() -> None:
    weighted = weighted_corrections([("同一条", "business"), ("同一条 ", "discipline")], seed_count=100)

    assert [(e.text, e.label) for e in weighted] == [("同一条 ", "discipline")]
