"""The FAQ matcher answers residents' questions at once and never answers a complaint or a report."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.faq import DEFAULT_FAQ_PATH, FaqEntry, FaqMatcher, load_faq, looks_like_question


@pytest.fixture(scope="module")
def matcher() -> FaqMatcher:
    return FaqMatcher.from_file(DEFAULT_FAQ_PATH)


QUESTIONS = [
    ("身份证丢了怎么办", "id_card_lost"),
    ("请问身份证掉了要去哪里补办", "id_card_lost"),
    ("我的身份证下个月到期，要怎么换", "id_card_renewal"),
    ("身份证过期了还能用吗，怎么换新的", "id_card_renewal"),
    ("坐高铁忘带身份证了怎么办", "temporary_id_card"),
    ("买了房想把户口迁过来需要什么材料", "hukou_transfer"),
    ("孩子刚出生，怎么上户口", "newborn_registration"),
    ("外地人在这边打工，怎么办居住证", "residence_permit"),
    ("单位让我开无犯罪记录证明，去哪开", "no_criminal_record"),
    ("开无犯罪证明要带什么", "no_criminal_record"),
    ("办护照要多久能拿到", "passport"),
    ("請問護照怎麼辦理", "passport"),
    ("我想去香港旅游，要办什么证件", "hk_macao_taiwan_permit"),
    ("港澳通行证签注怎么续", "hk_macao_taiwan_permit"),
    ("驾照快到期了怎么换证", "driving_licence"),
    ("我的车6年了要年检吗", "vehicle_inspection"),
    ("怎么查违章", "traffic_violation"),
    ("刚买的电动车怎么上牌", "ebike_registration"),
    ("电瓶车挂牌要钱吗", "ebike_registration"),
    ("跟别人车剐蹭了怎么处理", "minor_accident"),
    ("报警以后回执在哪里拿", "report_receipt"),
    ("我之前报的案子现在进展怎么查", "case_progress"),
    ("钱包丢了去哪里找", "lost_and_found"),
    ("捡到一个手机交到哪里", "lost_and_found"),
    ("钥匙锁在家里了，怎么找开锁的", "locksmith"),
    ("网上刷单被骗了三千怎么办", "online_fraud"),
    ("派出所周六上班吗", "office_hours"),
    ("户籍窗口中午办理业务吗", "office_hours"),
    ("亲属关系证明在哪开", "relationship_certificate"),
    ("想给孩子改名字需要什么手续", "name_change"),
    ("户口本丢了怎么补办", "hukou_booklet"),
    ("外国朋友来我家住需要登记吗", "foreigner_registration"),
    ("今年过年能放鞭炮吗", "fireworks"),
    ("养狗要办狗证吗", "dog_registration"),
]

# Bare topics, without a question word: residents write these expecting the answer.
BARE_TOPICS = [
    ("身份证丢了", "id_card_lost"),
    ("无犯罪记录证明", "no_criminal_record"),
    ("护照过期了", "passport"),
    ("电动车上牌", "ebike_registration"),
]

COMPLAINTS_AND_REPORTS = [
    "派出所办身份证的民警态度很差，让我跑了三趟还没办好",
    "我要举报楼下有人聚众赌博",
    "民警收了我的红包才给我办户口",
    "报警三个月了案子一直没人管",
    "隔壁装修噪音太大，晚上十一点还在施工",
    "小区门口经常有车乱停，堵住了消防通道",
    "我被网络诈骗了八千块钱，报案后派出所不立案",
    "我的电动车被偷了",
    "电动车被偷了怎么办",
    "交警乱罚款，我没有违章也被扣了分",
    "建议在学校门口增加护学岗",
    "谢谢你们，民警小王帮我找回了钱包",
    "出入境窗口的工作人员上班时间玩手机",
    "开锁公司乱收费，开个门要了五百",
    "开锁公司乱收费怎么办",
    "有人冒用我的身份证办了银行卡",
    "有外国人在工地非法务工",
    "外国人在小区里开车太快",
    "我要投诉某某派出所的民警不作为",
    "邻居家的狗天天叫，还咬了人",
    "户籍窗口的民警让我找关系才给办落户",
    "户口迁移被派出所卡着不给办怎么办",
    "办居住证的时候被要求交两百块钱好处费",
    "为什么报警三个月了还没有立案？",
    "办个身份证为什么要跑三趟？",
    "民警态度这么差，你们管不管？",
    "我的身份证被派出所扣了不还，怎么办？",
    "报警了警察一直不来怎么办",
    "护照办了两个月还没拿到，怎么回事",
    "我在派出所门口等了一上午没人理",
    "民警酒后驾驶警车",
    "你好",
    "谢谢",
    "",
]


@pytest.mark.parametrize(("text", "entry_id"), QUESTIONS)
def test_a_residents_question_is_answered_from_the_right_entry(matcher: FaqMatcher, text: str, entry_id: str) -> None:
    hit = matcher.match(text)
    assert hit is not None, matcher.ranking(text)[:2]
    assert hit.entry.id == entry_id


@pytest.mark.parametrize(("text", "entry_id"), BARE_TOPICS)
def test_a_bare_topic_without_a_question_word_is_answered_too(matcher: FaqMatcher, text: str, entry_id: str) -> None:
    hit = matcher.match(text)
    assert hit is not None and hit.entry.id == entry_id


@pytest.mark.parametrize("text", COMPLAINTS_AND_REPORTS)
def test_a_complaint_or_report_never_gets_an_faq_answer(matcher: FaqMatcher, text: str) -> None:
    assert matcher.match(text) is None, matcher.ranking(text)[:1]


def test_the_hit_says_which_wording_it_was_closest_to(matcher: FaqMatcher) -> None:
    hit = matcher.match("身份证丢了怎么办")
    assert hit is not None
    assert (hit.entry.id, hit.wording, hit.score) == ("id_card_lost", "身份证丢了怎么办", 1.0)


def test_a_complaint_word_the_entry_itself_uses_does_not_block_it(matcher: FaqMatcher) -> None:
    # 被骗 reads like a report, but the fraud entry is exactly about being cheated.
    hit = matcher.match("我被骗了怎么办")
    assert hit is not None and hit.entry.id == "online_fraud"


def test_questions_and_statements_are_told_apart() -> None:
    assert looks_like_question("身份证丢了怎么办？")
    assert looks_like_question("派出所周六上班吗")
    assert not looks_like_question("我的电动车被偷了")
    assert not looks_like_question("为什么三个月了还不立案？")


def test_the_faq_file_holds_about_25_complete_entries_in_chinese_and_english() -> None:
    entries = load_faq(DEFAULT_FAQ_PATH)
    assert len(entries) >= 25
    assert len({entry.id for entry in entries}) == len(entries)
    for entry in entries:
        assert entry.answer and entry.answer_en and entry.paraphrases and entry.keywords, entry.id


def test_the_tokenizer_can_be_injected() -> None:
    entries = [FaqEntry("hours", "几点上班", "九点", "nine", paraphrases=("上班时间",))]
    calls: list[str] = []

    def characters(text: str) -> list[str]:
        calls.append(text)
        return list(text)

    matcher = FaqMatcher(entries, tokenizer=characters)
    hit = matcher.match("你们几点上班?")
    assert hit is not None and hit.entry.id == "hours"
    assert "你们几点上班" in "".join(calls)


def test_a_faq_file_with_an_incomplete_entry_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "faq.toml"
    broken.write_text('[[faq]]\nid = "x"\nquestion = "几点上班"\nanswer = "九点"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="'x' is incomplete"):
        load_faq(broken)


def test_a_faq_file_with_a_repeated_id_is_refused(tmp_path: Path) -> None:
    entry = '[[faq]]\nid = "x"\nquestion = "几点上班"\nanswer = "九点"\nanswer_en = "nine"\n'
    broken = tmp_path / "faq.toml"
    broken.write_text(entry + entry, encoding="utf-8")
    with pytest.raises(ValueError, match="repeated: x"):
        load_faq(broken)
