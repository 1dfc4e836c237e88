"""The keyword evidence the router reads, shown through the keyword-only baseline classifier.

Each test builds a tiny lexicon to show one mechanism at a time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.classifier import KeywordClassifier


def tiny(keywords: dict[str, dict[str, float]], **options: object) -> KeywordClassifier:
    return KeywordClassifier(keywords, **options)  # type: ignore[arg-type]


def test_negation_cancels_a_keyword_in_the_same_clause() -> None:
    classifier = tiny({"discipline": {"红包": 3.0}, "business": {"身份证": 2.0}})

    assert classifier.classify("办身份证的时候民警收了红包").category == "discipline"
    assert classifier.classify("办身份证的时候民警没有收红包").category == "business"


def test_negation_does_not_reach_into_the_next_clause() -> None:
    classifier = tiny({"discipline": {"红包": 3.0}})

    assert classifier.classify("没有办法，民警收了红包").category == "discipline"
    assert classifier.classify("民警没有收红包").category == "other"


def test_a_phrase_that_contains_a_negation_is_not_itself_negated() -> None:
    classifier = tiny({"business": {"无犯罪记录证明": 4.0}, "petition": {"没有立案": 3.0, "立案": 1.5}})

    assert classifier.classify("无犯罪记录证明怎么开").deciding_words == ("无犯罪记录证明",)
    assert classifier.classify("一直没有立案").deciding_words == ("没有立案",)


def test_petition_words_count_even_when_the_action_did_not_happen() -> None:
    classifier = tiny({"petition": {"立案": 1.5}})

    assert classifier.classify("民警一直没给立案").category == "petition"


def test_contrast_favours_whichever_side_comes_after_the_but() -> None:
    classifier = tiny({"business": {"噪音": 2.0}, "other": {"谢谢": 2.0}})

    assert classifier.classify("谢谢，但是噪音还在").category == "business"
    assert classifier.classify("噪音还在，但是谢谢").category == "other"


def test_a_sentence_opening_with_but_discounts_the_previous_sentence() -> None:
    classifier = tiny({"petition": {"没人管": 2.0}, "other": {"态度很好": 2.5}})

    assert classifier.classify("民警态度很好。但是案子三个月没人管。").category == "petition"


def test_deciding_words_put_the_most_influential_first_and_only_the_winners() -> None:
    classifier = tiny({"discipline": {"红包": 3.0, "喝酒": 1.0}, "business": {"噪音": 2.0}})

    verdict = classifier.classify("噪音的事，民警喝酒还收红包")

    assert verdict.category == "discipline"
    assert verdict.deciding_words == ("红包", "喝酒")


def test_confidence_follows_the_documented_formula() -> None:
    # confidence = top / (sum of scores + evidence_prior) = 3 / (3 + 1 + 1) = 0.6
    classifier = tiny({"discipline": {"红包": 3.0}, "business": {"噪音": 1.0}}, evidence_prior=1.0)

    verdict = classifier.classify("噪音的事民警收了红包")

    assert verdict.confidence == pytest.approx(0.6)
    assert dict(verdict.scores) == {"business": 1.0, "petition": 0.0, "discipline": 3.0, "other": 0.0}
    assert verdict.model_version == "keywords"


def test_repeating_a_keyword_does_not_inflate_its_score() -> None:
    classifier = tiny({"business": {"噪音": 2.0}})

    assert classifier.classify("噪音，噪音，还是噪音").scores["business"] == 2.0


def test_a_short_keyword_straddling_two_words_does_not_match() -> None:
    # jieba reads 没收/钱包 ("confiscated the wallet"); 收钱 there is a coincidence.
    classifier = tiny({"discipline": {"收钱": 2.0}})

    assert classifier.classify("民警没收钱包").deciding_words == ()


def test_a_long_phrase_matches_even_when_the_segmenter_splits_it() -> None:
    classifier = tiny({"discipline": {"收了好处": 3.0}})

    assert classifier.classify("他肯定收了好处").deciding_words == ("收了好处",)


def test_full_width_letters_and_case_do_not_matter() -> None:
    classifier = tiny({"business": {"ktv": 2.0}})

    assert classifier.classify("ＫＴＶ太吵").deciding_words == ("ktv",)


def test_a_text_without_any_keyword_is_other_with_zero_confidence() -> None:
    verdict = tiny({"business": {"噪音": 2.0}}).classify("嗯嗯，知道了")

    assert (verdict.category, verdict.confidence, verdict.deciding_words) == ("other", 0.0, ())


def test_an_unknown_category_in_the_keyword_file_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown category"):
        KeywordClassifier({"traffic": {"红绿灯": 2.0}})


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan"), True])
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

    assert (verdict.category, verdict.confidence, verdict.deciding_words) == ("discipline", 0.75, ("吃拿卡要",))
