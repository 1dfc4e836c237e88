"""Near-duplicate texts: a resent complaint is recognised, a different problem of the same kind is not."""

from __future__ import annotations

import pytest

from domain.duplicates import near_duplicate, similarity

NOISE = "楼下KTV每天晚上噪音很大，吵得我们睡不着觉"
THEFT = "我的电动车在小区楼下被偷了，车牌号是A12345"
OPEN_TICKETS = [("KM-20261122-0007", NOISE), ("KM-20261122-0009", THEFT)]


@pytest.mark.parametrize(
    ("resent", "ticket"),
    [
        ("楼下ktv每天晚上噪音很大!!吵得我们睡不着觉", "KM-20261122-0007"),
        ("楼下ＫＴＶ每天晚上噪音很大　吵得我们睡不着觉。。。", "KM-20261122-0007"),
        ("樓下KTV每天晚上噪音很大，吵得我們睡不著覺", "KM-20261122-0007"),
        ("楼下KTV每天晚上噪音很大，吵得我们睡不着觉，请尽快处理", "KM-20261122-0007"),
        ("我的电动车在小区楼下被偷了，车牌号是A12345，请帮忙找一下", "KM-20261122-0009"),
    ],
)
def test_the_same_text_resent_with_other_punctuation_spacing_width_script_or_a_short_addition_is_a_duplicate(
    resent: str, ticket: str
) -> None:
    assert near_duplicate(resent, OPEN_TICKETS) == ticket


@pytest.mark.parametrize(
    "different",
    [
        "隔壁装修噪音很大，每天早上七点就开始",
        "楼下烧烤店每天晚上噪音很大，油烟也很重",
        "小区门口每天晚上有人飙车，噪音很大",
        "楼下KTV每天晚上有人打架",
        "我的自行车在小区楼下被偷了",
        "我的电动车在公司楼下被偷了，车牌号是B67890",
    ],
)
def test_a_different_problem_of_the_same_category_is_not_a_duplicate(different: str) -> None:
    assert near_duplicate(different, OPEN_TICKETS) is None


def test_the_most_similar_open_ticket_wins() -> None:
    candidates = [("older", "楼下KTV噪音很大"), ("closer", NOISE)]
    assert near_duplicate(NOISE + "！", candidates) == "closer"


def test_the_threshold_decides_how_near_is_near_enough() -> None:
    shortened = "楼下KTV噪音很大，吵得睡不着"
    assert similarity(NOISE, shortened) == pytest.approx(0.5)
    assert near_duplicate(shortened, OPEN_TICKETS) is None
    assert near_duplicate(shortened, OPEN_TICKETS, threshold=0.5) == "KM-20261122-0007"


@pytest.mark.parametrize("empty", ["", "   ", "！！！", "👍"])
def test_a_text_without_letters_or_characters_is_never_a_duplicate(empty: str) -> None:
    assert near_duplicate(empty, [("t", empty), ("u", "")]) is None


def test_no_open_tickets_means_no_duplicate() -> None:
    assert near_duplicate(NOISE, []) is None


def test_similarity_is_symmetric_and_one_for_identical_texts() -> None:
    assert similarity(NOISE, NOISE) == 1.0
    assert similarity(NOISE, THEFT) == similarity(THEFT, NOISE) < 0.2
