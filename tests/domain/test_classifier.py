"""The keyword classifier routes resident messages the way the bureau's rule says.

Texts here are written for these tests from the product spec; none come from the dev corpus.
"""

from __future__ import annotations

from pathlib import Path

import jieba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.classifier import (
    CATEGORIES,
    DEFAULT_KEYWORDS_PATH,
    DEFAULT_USERDICT_PATH,
    Classification,
    KeywordClassifier,
)


@pytest.fixture(scope="module")
def classifier() -> KeywordClassifier:
    """The shipped classifier: data/keywords.toml and data/userdict.txt."""
    return KeywordClassifier.from_files(DEFAULT_KEYWORDS_PATH, DEFAULT_USERDICT_PATH)


def tiny(keywords: dict[str, dict[str, float]], **options: object) -> KeywordClassifier:
    """A classifier with a hand-made lexicon, to show one mechanism at a time."""
    return KeywordClassifier(keywords, **options)  # type: ignore[arg-type]


# --- routing typical messages ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "我的电动车昨晚在小区楼下被偷了，希望派出所帮忙查一下",
        "身份证丢了，请问补办需要带什么材料？",
        "楼上邻居每天半夜放音响，噪音吵得孩子睡不着",
        "想问一下港澳通行证签注能不能网上办理",
        "小区的消防通道天天被私家车堵死，出了火灾怎么办",
        "接到一个自称客服的电话让我转账到安全账户，应该是电信诈骗",
        "学校门口上下学时段车太多，建议多安排警力巡逻",
    ],
)
def test_routine_police_work_goes_to_business(classifier: KeywordClassifier, text: str) -> None:
    assert classifier.classify(text).category == "business"


@pytest.mark.parametrize(
    "text",
    [
        "我被骗了两万块钱去报案，派出所一直不立案",
        "对交警的处罚决定不服，想申请行政复议",
        "打了110，等了一个多小时才来人，出警太慢了",
        "案子早就结了，派出所扣押的车辆还是不退还",
        "去年报的案到现在没有任何进展，打电话问就说还在调查",
        "去派出所说不归他们管，到了交警队又让我回派出所，踢皮球",
    ],
)
def test_complaints_about_case_handling_go_to_petition(
    classifier: KeywordClassifier, text: str
) -> None:
    assert classifier.classify(text).category == "petition"


@pytest.mark.parametrize(
    "text",
    [
        "办户口的窗口民警吃拿卡要，不送礼就不给办",
        "有辅警上班期间在值班室喝酒，满身酒气",
        "举报某民警给地下赌场当保护伞，每月收好处费",
        "派出所门难进脸难看，值班的人对群众大吼大叫",
        "我刚举报完，被举报人就知道是我举报的，有人泄露举报人信息",
        "那个民警的老婆开了一家KTV，他还入股了",
    ],
)
def test_officer_misconduct_goes_to_discipline(classifier: KeywordClassifier, text: str) -> None:
    assert classifier.classify(text).category == "discipline"


@pytest.mark.parametrize(
    "text",
    [
        "你好",
        "大家辛苦了，多谢！",
        "给昨天帮我找回钱包的民警点个赞",
        "祝全体民警新年快乐，身体健康",
        "哈哈哈，测试一下这个机器人",
    ],
)
def test_thanks_greetings_and_chit_chat_go_to_other(
    classifier: KeywordClassifier, text: str
) -> None:
    assert classifier.classify(text).category == "other"


# --- nothing to go on --------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\u3000\u3000"])
def test_empty_or_whitespace_text_is_other_with_zero_confidence(
    classifier: KeywordClassifier, text: str
) -> None:
    verdict = classifier.classify(text)

    assert verdict.category == "other"
    assert verdict.confidence == 0.0
    assert verdict.deciding_words == ()
    assert dict(verdict.scores) == dict.fromkeys(CATEGORIES, 0.0)


def test_text_without_any_keyword_is_other_with_low_confidence(
    classifier: KeywordClassifier,
) -> None:
    verdict = classifier.classify("嗯嗯，知道了")

    assert verdict.category == "other"
    assert verdict.confidence < 0.2
    assert verdict.deciding_words == ()


# --- negation ----------------------------------------------------------------------------


def test_saying_it_is_not_a_complaint_about_an_officer_routes_the_actual_question(
    classifier: KeywordClassifier,
) -> None:
    verdict = classifier.classify("我不是投诉警察，就是想问问居住证怎么办理")

    assert verdict.category == "business"
    assert verdict.scores["discipline"] == 0.0


def test_denying_a_bribe_cancels_the_bribe_keyword(classifier: KeywordClassifier) -> None:
    took = classifier.classify("办身份证的时候民警收了红包")
    did_not = classifier.classify("办身份证的时候民警没有收红包")

    assert took.category == "discipline"
    assert "红包" not in did_not.deciding_words
    assert did_not.category == "business"


def test_negation_does_not_reach_into_the_next_clause() -> None:
    classifier = tiny({"discipline": {"红包": 3.0}})

    assert classifier.classify("没有办法，民警收了红包").category == "discipline"
    assert classifier.classify("民警没有收红包").category == "other"


def test_a_police_action_that_never_happened_still_counts_as_a_petition(
    classifier: KeywordClassifier,
) -> None:
    # Petition words name actions whose absence is the complaint (立案, 出警, 退还).
    verdict = classifier.classify("报了案以后民警一直没给立案")

    assert verdict.category == "petition"
    assert "立案" in verdict.deciding_words


def test_a_phrase_that_contains_a_negation_is_not_itself_negated(
    classifier: KeywordClassifier,
) -> None:
    # "无" opens 无犯罪记录证明; the certificate must not read as "no crime".
    verdict = classifier.classify("无犯罪记录证明怎么开")

    assert verdict.category == "business"
    assert verdict.deciding_words[0] == "无犯罪记录证明"


# --- contrast ----------------------------------------------------------------------------


def test_the_clause_after_but_outweighs_praise_before_it(classifier: KeywordClassifier) -> None:
    verdict = classifier.classify("民警态度很好，但是案子三个月没人管")

    assert verdict.category == "petition"


def test_a_sentence_opening_with_but_discounts_the_previous_sentence(
    classifier: KeywordClassifier,
) -> None:
    verdict = classifier.classify("民警态度很好。但是案子三个月没人管。")

    assert verdict.category == "petition"


def test_contrast_favours_whichever_side_comes_after_the_but() -> None:
    classifier = tiny({"business": {"噪音": 2.0}, "other": {"谢谢": 2.0}})

    assert classifier.classify("谢谢，但是噪音还在").category == "business"
    assert classifier.classify("噪音还在，但是谢谢").category == "other"


# --- explanation and confidence ----------------------------------------------------------


def test_deciding_words_name_the_keywords_that_decided(classifier: KeywordClassifier) -> None:
    verdict = classifier.classify("举报派出所民警吃拿卡要，还充当赌场的保护伞")

    assert verdict.category == "discipline"
    assert {"吃拿卡要", "保护伞"} <= set(verdict.deciding_words[:3])


def test_deciding_words_put_the_most_influential_first() -> None:
    classifier = tiny({"discipline": {"红包": 3.0, "喝酒": 1.0}, "business": {"噪音": 2.0}})

    verdict = classifier.classify("民警喝酒还收红包")

    assert verdict.deciding_words == ("红包", "喝酒")


def test_deciding_words_only_come_from_the_chosen_category() -> None:
    classifier = tiny({"discipline": {"红包": 3.0}, "business": {"噪音": 2.0}})

    verdict = classifier.classify("噪音的事民警收了红包")

    assert verdict.category == "discipline"
    assert verdict.deciding_words == ("红包",)


def test_confidence_is_higher_for_a_clear_text_than_for_an_ambiguous_one(
    classifier: KeywordClassifier,
) -> None:
    clear = classifier.classify("民警吃拿卡要，收红包，还给赌场当保护伞")
    ambiguous = classifier.classify("民警态度不好，案子也一直没有结果")

    assert clear.confidence > 0.7
    assert ambiguous.confidence < 0.6
    assert clear.confidence - ambiguous.confidence > 0.2


def test_confidence_follows_the_documented_formula() -> None:
    # confidence = top / (sum of scores + evidence_prior) = 3 / (3 + 1 + 1) = 0.6
    classifier = tiny({"discipline": {"红包": 3.0}, "business": {"噪音": 1.0}}, evidence_prior=1.0)

    verdict = classifier.classify("噪音的事民警收了红包")

    assert verdict.confidence == pytest.approx(0.6)
    assert dict(verdict.scores) == {"business": 1.0, "petition": 0.0, "discipline": 3.0, "other": 0.0}


def test_repeating_a_keyword_does_not_inflate_its_score() -> None:
    classifier = tiny({"business": {"噪音": 2.0}})

    assert classifier.classify("噪音，噪音，还是噪音").scores["business"] == 2.0


# --- matching ----------------------------------------------------------------------------


def test_a_short_keyword_straddling_two_words_does_not_match() -> None:
    # jieba reads 没收/钱包 ("confiscated the wallet"); 收钱 there is a coincidence.
    classifier = tiny({"discipline": {"收钱": 2.0}})

    assert classifier.classify("民警没收钱包").deciding_words == ()


def test_a_long_phrase_matches_even_when_the_segmenter_splits_it() -> None:
    classifier = tiny({"discipline": {"收了好处": 3.0}})

    assert classifier.classify("他肯定收了好处").deciding_words == ("收了好处",)


def test_full_width_letters_and_case_do_not_matter(classifier: KeywordClassifier) -> None:
    assert classifier.classify("ＫＴＶ噪音扰民").category == "business"
    assert "ktv" in classifier.tokenize("ＫＴＶ噪音扰民")


def test_domain_terms_stay_whole_when_tokenized(classifier: KeywordClassifier) -> None:
    tokens = classifier.tokenize("派出所门难进脸难看，还吃拿卡要")

    assert {"门难进", "脸难看", "吃拿卡要"} <= set(tokens)


def test_the_default_jieba_tokenizer_is_untouched(classifier: KeywordClassifier) -> None:
    classifier.tokenize("门难进脸难看")  # make sure the private tokenizer is built

    assert "门难进" not in jieba.lcut("群众反映门难进")
    assert "门难进" not in jieba.dt.FREQ
    assert jieba.dt.user_word_tag_tab == {}


# --- data and configuration --------------------------------------------------------------


def test_every_category_has_keywords_in_the_shipped_file(classifier: KeywordClassifier) -> None:
    for category, sample in [
        ("business", "户口"),
        ("petition", "有案不立"),
        ("discipline", "吃拿卡要"),
        ("other", "谢谢"),
    ]:
        assert classifier.classify(sample).category == category


def test_an_unknown_category_in_the_keyword_file_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown category"):
        KeywordClassifier({"traffic": {"红绿灯": 2.0}})


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan")])
def test_a_keyword_without_a_positive_weight_is_rejected(weight: float) -> None:
    with pytest.raises(ValueError, match="positive weight"):
        KeywordClassifier({"business": {"噪音": weight}})


def test_a_user_word_with_zero_frequency_is_rejected() -> None:
    # jieba would record it in a module-global list and change every tokenizer.
    with pytest.raises(ValueError, match="frequency 0"):
        KeywordClassifier({}, ["某词 0 n"])


def test_keywords_can_be_loaded_from_any_pair_of_files(tmp_path: Path) -> None:
    keywords = tmp_path / "keywords.toml"
    keywords.write_text('[discipline]\n"吃拿卡要" = 3.0\n', encoding="utf-8")
    userdict = tmp_path / "userdict.txt"
    userdict.write_text("吃拿卡要 2000 l\n", encoding="utf-8")

    verdict = KeywordClassifier.from_files(keywords, userdict).classify("民警吃拿卡要")

    assert verdict == Classification(
        category="discipline",
        confidence=0.75,
        deciding_words=("吃拿卡要",),
        scores={"business": 0.0, "petition": 0.0, "discipline": 3.0, "other": 0.0},
    )


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("民警收红包没有不是但是，。谢谢噪音立案 ab１"), max_size=40))
def test_any_text_gets_a_valid_classification(classifier: KeywordClassifier, text: str) -> None:
    verdict = classifier.classify(text)

    assert verdict.category in CATEGORIES
    assert 0.0 <= verdict.confidence <= 1.0
    assert tuple(verdict.scores) == CATEGORIES
    assert verdict.scores[verdict.category] == max(verdict.scores.values())
