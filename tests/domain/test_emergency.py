"""Emergency phrases: danger now gets "call 110/119/120" at once; negated, past and hypothetical mentions do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.emergency import DEFAULT_PHRASES_PATH, Emergency, EmergencyDetector


@pytest.fixture(scope="module")
def detector() -> EmergencyDetector:
    return EmergencyDetector.from_file(DEFAULT_PHRASES_PATH)


def services(detector: EmergencyDetector, text: str) -> tuple[str, ...]:
    found = detector.detect(text)
    return found.services if found else ()


def test_a_fight_in_progress_means_calling_110(detector: EmergencyDetector) -> None:
    assert detector.detect("楼下正在打人，你们快来") == Emergency(phrases=("正在打人",), services=("110",))


def test_a_fire_means_119_and_someone_unconscious_means_120(detector: EmergencyDetector) -> None:
    assert services(detector, "着火了！三楼全是烟") == ("119",)
    assert services(detector, "老人晕倒了，没有呼吸") == ("120",)


def test_a_message_with_several_dangers_names_every_number_in_the_configured_order(
    detector: EmergencyDetector,
) -> None:
    found = detector.detect("救命！有人持刀砍人")
    assert found is not None
    assert found.phrases == ("救命", "有人持刀", "砍人")
    assert found.services == ("110", "120")


def test_a_longer_phrase_is_reported_instead_of_the_shorter_one_inside_it() -> None:
    detector = EmergencyDetector({"110": ["在打人", "正在打人"]})
    assert detector.detect("有人正在打人") == Emergency(("正在打人",), ("110",))


@pytest.mark.parametrize(
    "text",
    ["救　命！", "救 命 啊", "ＳＯＳ 有人持刀", "有人著火了", "快來人啊，他不呼吸了", "My neighbour's flat is ON FIRE"],
)
def test_full_width_traditional_spaced_out_and_shouted_texts_still_warn(detector: EmergencyDetector, text: str) -> None:
    assert detector.detect(text) is not None


@pytest.mark.parametrize("text", ["不是在打人，是在吵架", "他们没有在打人", "没有人持刀，就是吵得厉害", "差点被车撞了"])
def test_a_negated_mention_does_not_warn(detector: EmergencyDetector, text: str) -> None:
    assert detector.detect(text) is None


@pytest.mark.parametrize("text", ["是不是着火了？好大的烟味", "有没有人持刀我不知道，但是很吓人", "他有没有呼吸我看不出来"])
def test_asking_whether_it_is_happening_still_warns(detector: EmergencyDetector, text: str) -> None:
    assert detector.detect(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "上次着火了之后，物业一直没修消防栓",
        "去年我家被抢劫，案子到现在没破",
        "如果有人持刀闯进来怎么办",
        "万一煤气泄漏应该先做什么",
        "预防煤气泄漏有什么办法",
    ],
)
def test_a_past_or_hypothetical_mention_does_not_warn(detector: EmergencyDetector, text: str) -> None:
    assert detector.detect(text) is None


@pytest.mark.parametrize("text", ["昨天被抢了，现在那个人又来了", "以前被家暴过，现在又开始打我了", "如果着火了，现在怎么办"])
def test_saying_it_is_happening_now_overrides_a_past_or_hypothetical_word(
    detector: EmergencyDetector, text: str
) -> None:
    assert detector.detect(text) is not None


def test_a_report_about_the_past_without_a_time_word_errs_on_the_side_of_warning(
    detector: EmergencyDetector,
) -> None:
    # A false alarm costs the resident one line; the report still goes on to become a ticket.
    assert services(detector, "我被抢劫了，报案三个月没人管") == ("110",)


@pytest.mark.parametrize("text", ["我的救命钱被骗了", "楼道堆放杂物有火灾隐患", "请问抢劫案的进展怎么查"])
def test_harmless_words_that_contain_a_phrase_do_not_warn(detector: EmergencyDetector, text: str) -> None:
    assert detector.detect(text) is None


@pytest.mark.parametrize(
    "text",
    ["请问护照怎么办理", "我要投诉民警态度差", "小区门口车辆乱停", "I feel entrapped by paperwork", "", "   "],
)
def test_ordinary_messages_do_not_warn(detector: EmergencyDetector, text: str) -> None:
    assert detector.detect(text) is None


def test_english_phrases_match_whole_words_only() -> None:
    detector = EmergencyDetector({"119": ["trapped"]})
    assert detector.detect("we are trapped in the lift") is not None
    assert detector.detect("I feel entrapped") is None


def test_the_phrase_file_rejects_a_service_without_a_list_of_phrases(tmp_path: Path) -> None:
    broken = tmp_path / "emergency.toml"
    broken.write_text('[phrases]\n"110" = "救命"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="list of phrases"):
        EmergencyDetector.from_file(broken)
