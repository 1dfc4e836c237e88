"""The shipped router sends resident messages where the bureau's rule says, and says why.

Texts here are written for these tests from the product spec; none come from the dev corpus
or the training set.
"""

from __future__ import annotations

import jieba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.classifier import (
    CATEGORIES,
    DEFAULT_MODEL_DIR,
    Classification,
    RoutingClassifier,
)
from domain.linear_model import LinearModel, current_model_path


@pytest.fixture(scope="module")
def router() -> RoutingClassifier:
    """The shipped router: data/models/current and the data files beside it."""
    return RoutingClassifier.from_files()


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
def test_routine_police_work_goes_to_business(router: RoutingClassifier, text: str) -> None:
    assert router.classify(text).category == "business"


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
def test_complaints_about_case_handling_go_to_petition(router: RoutingClassifier, text: str) -> None:
    assert router.classify(text).category == "petition"


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
def test_officer_misconduct_goes_to_discipline(router: RoutingClassifier, text: str) -> None:
    assert router.classify(text).category == "discipline"


@pytest.mark.parametrize(
    "text",
    ["你好", "大家辛苦了，多谢！", "给昨天帮我找回钱包的民警点个赞", "祝全体民警新年快乐，身体健康", "哈哈哈，测试一下这个机器人"],
)
def test_thanks_greetings_and_chit_chat_go_to_other(router: RoutingClassifier, text: str) -> None:
    assert router.classify(text).category == "other"


def test_the_walking_skeleton_petition_is_a_confident_petition(router: RoutingClassifier) -> None:
    verdict = router.classify("我去年被人打伤后报了案，派出所一直有案不立，打电话问了好几次也没人管。")

    assert verdict.category == "petition"
    assert verdict.confidence >= 0.9
    assert "有案不立" in verdict.deciding_words


# --- nothing to go on --------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\u3000\u3000"])
def test_empty_or_whitespace_text_is_other_with_zero_confidence(router: RoutingClassifier, text: str) -> None:
    verdict = router.classify(text)

    assert verdict.category == "other"
    assert verdict.confidence == 0.0
    assert verdict.deciding_words == ()
    assert dict(verdict.scores) == dict.fromkeys(CATEGORIES, 0.0)


def test_gibberish_is_not_confidently_sent_to_a_department(router: RoutingClassifier) -> None:
    verdict = router.classify("zxqv")

    assert verdict.category == "other" or verdict.confidence < router.recommended_threshold


# --- negation and contrast ---------------------------------------------------------------


def test_saying_it_is_not_a_complaint_about_an_officer_routes_the_actual_question(router: RoutingClassifier) -> None:
    verdict = router.classify("我不是投诉哪个警察，就是想问问居住证怎么办理")

    assert verdict.category == "business"
    assert verdict.scores["discipline"] < 0.1


def test_denying_a_bribe_is_not_a_discipline_report(router: RoutingClassifier) -> None:
    took = router.classify("办身份证的时候窗口民警收了我的红包")
    did_not = router.classify("办身份证的时候窗口民警没有收红包，我就想问问多久能拿到")

    assert took.category == "discipline"
    assert did_not.category != "discipline"


def test_a_police_action_that_never_happened_still_counts_as_a_petition(router: RoutingClassifier) -> None:
    verdict = router.classify("报了案以后民警一直没给立案")

    assert verdict.category == "petition"


def test_the_clause_after_but_outweighs_praise_before_it(router: RoutingClassifier) -> None:
    assert router.classify("民警态度很好，但是案子三个月没人管").category == "petition"
    assert router.classify("民警态度很好。但是案子三个月没人管。").category == "petition"


def test_praise_after_but_outweighs_the_worry_before_it(router: RoutingClassifier) -> None:
    verdict = router.classify("本来以为要跑好几趟，但是民警很快就帮我办好了，谢谢")

    assert verdict.category == "other"


# --- several issues, one dominant --------------------------------------------------------


def test_a_bribe_mentioned_beside_a_business_errand_goes_to_discipline(router: RoutingClassifier) -> None:
    verdict = router.classify("户口迁移的手续总算办完了，不过窗口那个民警收了我五百块钱才给盖章，这个必须查")

    assert verdict.category == "discipline"


def test_thanks_in_passing_do_not_hide_a_new_request(router: RoutingClassifier) -> None:
    verdict = router.classify("谢谢你们上次帮忙，这次想问问孩子的护照怎么办理")

    assert verdict.category == "business"


# --- how residents really type -----------------------------------------------------------


def test_traditional_characters_are_read_like_simplified_ones(router: RoutingClassifier) -> None:
    traditional = router.classify("派出所民警收紅包，還對群眾態度惡劣")
    simplified = router.classify("派出所民警收红包，还对群众态度恶劣")

    assert traditional.category == simplified.category == "discipline"
    assert traditional.deciding_words == simplified.deciding_words


@pytest.mark.parametrize(
    ("typo", "category"),
    [("身分证掉了，怎么补办", "business"), ("警查同志收了对方的好处，处理得一点都不公平", "discipline")],
)
def test_common_typos_are_read_as_the_intended_word(router: RoutingClassifier, typo: str, category: str) -> None:
    verdict = router.classify(typo)

    assert verdict.category == category


def test_dialect_words_are_understood(router: RoutingClassifier) -> None:
    verdict = router.classify("俺家的电驴子昨晚上被人偷了，咋整")

    assert verdict.category == "business"
    assert "电动车" in router.tokenize("俺家的电驴子昨晚上被人偷了，咋整")


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("打了3次110，过了1个多小时才来人", "petition"),
        ("在APP上买东西被骗了800块，对方QQ把我删了", "business"),
        ("ＫＴＶ噪音扰民，每天吵到凌晨３点", "business"),
    ],
)
def test_digits_and_latin_letters_are_read_as_words(router: RoutingClassifier, text: str, category: str) -> None:
    assert router.classify(text).category == category


@pytest.mark.parametrize(("text", "category"), [("有案不立", "petition"), ("吃拿卡要", "discipline"), ("谢谢", "other")])
def test_a_message_of_one_word_is_routed_by_that_word(router: RoutingClassifier, text: str, category: str) -> None:
    assert router.classify(text).category == category


def test_a_long_rambling_message_is_routed_by_what_it_is_about(router: RoutingClassifier) -> None:
    text = (
        "事情是这样的，今年三月份我在菜市场门口摆摊卖水果，有一天和旁边卖菜的因为摊位吵了起来，"
        "对方叫了几个人把我的摊子掀了，我报了警，派出所的民警来了以后做了笔录，说会调查处理，"
        "让我回去等通知。我等了一个月没有消息，打电话去问，接电话的人说承办民警出差了，"
        "又等了两个月，我再去派出所，他们说这个案子证据不足，不能立案，可是当时很多人都看到了，"
        "菜市场门口也有监控。我不明白为什么不能立案，现在对方还天天在那里摆摊，见了我还笑，"
        "我希望上级能过问一下这个案子，给我一个说法。这件事拖了这么久，我每天都睡不好，"
        "家里人也劝我算了，可是我觉得不能就这么算了。"
    )

    assert len(text) > 250
    assert router.classify(text).category == "petition"


# --- explanation, scores, version, unit --------------------------------------------------


def test_deciding_words_name_the_words_that_decided(router: RoutingClassifier) -> None:
    verdict = router.classify("派出所民警吃拿卡要，还充当保护伞")

    assert verdict.category == "discipline"
    assert {"吃拿卡要", "保护伞"} <= set(verdict.deciding_words)


def test_deciding_words_are_words_of_the_message(router: RoutingClassifier) -> None:
    text = "交警罚款不开票，还把钱揣进了自己兜里"

    verdict = router.classify(text)

    assert verdict.deciding_words
    assert all(word in text for word in verdict.deciding_words)


def test_scores_are_probabilities_that_favour_the_chosen_category(router: RoutingClassifier) -> None:
    verdict = router.classify("护照过期了要带什么材料去换")

    assert tuple(verdict.scores) == CATEGORIES
    assert sum(verdict.scores.values()) == pytest.approx(1.0)
    assert verdict.scores[verdict.category] == max(verdict.scores.values()) == verdict.confidence


def test_confidence_is_higher_for_a_clear_text_than_for_an_ambiguous_one(router: RoutingClassifier) -> None:
    clear = router.classify("民警吃拿卡要，收红包，还给赌场当保护伞")
    ambiguous = router.classify("我想反映一个情况")

    assert clear.confidence > 0.9
    assert ambiguous.confidence < router.recommended_threshold


def test_every_classification_names_the_model_that_made_it(router: RoutingClassifier) -> None:
    shipped = LinearModel.load(current_model_path(DEFAULT_MODEL_DIR))

    assert router.classify("你好").model_version == shipped.version
    assert router.classify("").model_version == shipped.version


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("新生儿上户口需要带什么", "huzheng"),
        ("驾驶证到期了怎么换证", "traffic"),
        ("护照丢了，下周要出国", "immigration"),
        ("隔壁KTV天天吵到凌晨两点", "public_order"),
        ("接到冒充公安的电话，让我转钱到安全账户", "criminal"),
        ("楼道里有人飞线给电动车充电", "fire"),
        ("我在公园捡到一个钱包，交给谁", "station"),
    ],
)
def test_business_items_name_their_business_unit(router: RoutingClassifier, text: str, unit: str) -> None:
    verdict = router.classify(text)

    assert verdict.category == "business"
    assert verdict.unit == unit


def test_items_outside_business_have_no_unit(router: RoutingClassifier) -> None:
    assert router.classify("派出所一直有案不立").unit is None
    assert router.classify("谢谢").unit is None


# --- the process around it ---------------------------------------------------------------


def test_the_default_jieba_tokenizer_is_untouched(router: RoutingClassifier) -> None:
    router.tokenize("门难进脸难看")  # make sure the private tokenizer is built

    assert "门难进" not in jieba.lcut("群众反映门难进")
    assert jieba.dt.user_word_tag_tab == {}


def test_domain_terms_stay_whole_when_tokenized(router: RoutingClassifier) -> None:
    tokens = router.tokenize("派出所门难进脸难看，还吃拿卡要")

    assert {"门难进", "脸难看", "吃拿卡要"} <= set(tokens)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("民警收红包没有不是但是，。谢谢噪音立案 ab１紅"), max_size=40))
def test_any_text_gets_a_valid_classification(router: RoutingClassifier, text: str) -> None:
    verdict = router.classify(text)

    assert isinstance(verdict, Classification)
    assert verdict.category in CATEGORIES
    assert 0.0 <= verdict.confidence <= 1.0
    assert tuple(verdict.scores) == CATEGORIES
    assert verdict.scores[verdict.category] == max(verdict.scores.values())
