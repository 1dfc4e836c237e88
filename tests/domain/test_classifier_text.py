"""How the classifier reads raw resident text before scoring it: width, case, script, spelling,
segmentation, negation and contrast."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.analysis import KeywordLexicon, Reader
from domain.classifier import DEFAULT_DICTIONARY_PATH, DEFAULT_VARIANTS_PATH
from domain.segmenter import Segmenter
from domain.textnorm import SpellingVariants, normalize, prepare, to_simplified


@pytest.fixture(scope="module")
def variants() -> SpellingVariants:
    return SpellingVariants.from_file(DEFAULT_VARIANTS_PATH)


@pytest.fixture(scope="module")
def reader(variants: SpellingVariants) -> Reader:
    lexicon = KeywordLexicon({"discipline": {"红包": 3.0}, "petition": {"立案": 1.5}})
    return Reader(Segmenter.from_files(DEFAULT_DICTIONARY_PATH), lexicon, variants=variants)


def test_full_width_characters_case_and_spaces_are_folded() -> None:
    assert normalize("  ＫＴＶ　噪音１１０  ") == "ktv 噪音110"
    assert normalize("第一句\n\n  第二句") == "第一句\n第二句"


def test_traditional_characters_become_simplified() -> None:
    assert to_simplified("派出所民警收紅包，還態度惡劣") == "派出所民警收红包，还态度恶劣"


def test_simplified_text_is_left_exactly_as_it_was() -> None:
    text = "我的电动车被偷了，车锁都剪断了"

    assert to_simplified(text) is text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("民警，。！？ＡＢＣａｂ１２ KTV\u3000\n\t\u0301eé①㍿ﬁ紅😊")), max_size=30))
def test_normalising_is_nfkc_with_case_folded_and_whitespace_collapsed(text: str) -> None:
    # normalize() skips full NFKC where folding full-width ASCII is all it would do; same result.
    expected = re.sub(r"\s+", lambda run: "\n" if "\n" in run.group() else " ", unicodedata.normalize("NFKC", text).casefold())

    assert normalize(text) == expected.strip()


def test_traditional_characters_are_found_beside_emoji() -> None:
    assert to_simplified("收紅包😊") == "收红包😊"
    assert to_simplified("😊收红包") == "😊收红包"


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("身分证丢了", "身份证丢了"),
        ("警查同志你好", "警察同志你好"),
        ("车子被扣压了", "车子被扣押了"),
        ("俺家电驴子被偷了咋整", "我家电动车被偷了怎么办"),
        ("我哋报咗警", "我们报了警"),
    ],
)
def test_typos_and_dialect_words_are_read_as_the_standard_word(
    variants: SpellingVariants, typed: str, read: str
) -> None:
    assert prepare(typed, variants) == read


def test_the_longest_variant_starting_at_a_place_wins() -> None:
    variants = SpellingVariants({"唔": "不", "唔该": "谢谢", "唔该晒": "多谢", "jc": "警察"})

    assert prepare("唔该晒，唔该，唔好", variants) == "多谢,谢谢,不好"
    assert prepare("jc唔该", variants) == "警察谢谢"


def test_a_variant_does_not_break_a_real_word_sequence(variants: SpellingVariants) -> None:
    # "警查" is a typo for 警察 only in context; 交警查车 is "traffic police check cars".
    assert prepare("交警查车查得很严", variants) == "交警查车查得很严"


def test_a_latin_variant_only_replaces_a_whole_word(variants: SpellingVariants) -> None:
    assert prepare("jc来了", variants) == "警察来了"
    assert prepare("jcb信用卡", variants) == "jcb信用卡"


def test_variants_are_read_from_a_file_an_administrator_can_edit(tmp_path: Path) -> None:
    path = tmp_path / "variants.toml"
    path.write_text('[typos]\n"护找" = "护照"\n', encoding="utf-8")

    assert prepare("护找过期了", SpellingVariants.from_file(path)) == "护照过期了"


def test_a_variants_table_that_is_not_word_to_word_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "variants.toml"
    path.write_text('[typos]\n"护找" = 3\n', encoding="utf-8")

    with pytest.raises(ValueError, match="typos"):
        SpellingVariants.from_file(path)


def test_digits_and_latin_letters_are_tokens_of_their_own(reader: Reader) -> None:
    tokens = [token.word for token in reader.read("打了110，用APP和QQ都联系不上").tokens]

    assert {"110", "app", "qq"} <= set(tokens)


def test_token_offsets_point_into_the_prepared_text(reader: Reader) -> None:
    reading = reader.read("民警 收了 红包")

    assert all(reading.text[t.start : t.end] == t.word for t in reading.tokens)
    assert " " not in [t.word for t in reading.tokens]


def test_words_after_a_negation_in_the_same_clause_are_negated(reader: Reader) -> None:
    reading = reader.read("民警没有收红包，后来收了红包")

    negated = [hit.negated for hit in reading.hits]
    assert negated == [True, False]


def test_words_before_a_but_weigh_less_than_words_after_it(reader: Reader) -> None:
    reading = reader.read("收了红包，但是没有立案")

    red_envelope, case = reading.hits
    assert red_envelope.emphasis < 1.0 < case.emphasis


def test_keyword_phrases_the_dictionary_lacks_are_still_read_as_one_word() -> None:
    reader = Reader.from_files(
        dictionary_path=DEFAULT_DICTIONARY_PATH,
        userdict_path=DEFAULT_DICTIONARY_PATH.parent / "userdict.txt",
        keywords_path=DEFAULT_DICTIONARY_PATH.parent / "keywords.toml",
    )

    assert "酒驾" in [token.word for token in reader.read("有人酒驾，刚开走").tokens]
    assert "收钱" not in [token.word for token in reader.read("民警没收钱包").tokens]


def test_segmentation_is_word_for_word_what_jieba_cuts_without_hmm() -> None:
    """The fast route in Segmenter reproduces jieba's own cut(HMM=False) on the same dictionary."""
    import json

    segmenter = Segmenter.from_files(DEFAULT_DICTIONARY_PATH, DEFAULT_DICTIONARY_PATH.parent / "userdict.txt")
    segmenter.add_rare_words(["酒驾", "收钱", "销户"])
    texts = [
        normalize(json.loads(line)["text"])
        for path in sorted((DEFAULT_DICTIONARY_PATH.parent / "training").rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    texts += ["ＡＢＣ１２３ 混合 text_with-symbols 3.5万\n换行", "", "   "]

    mismatches = [t for t in texts if segmenter.words(t) != list(segmenter._tokenizer.cut(t, HMM=False))]

    assert len(texts) > 2000
    assert mismatches == []


def test_marked_words_are_reported_wherever_they_occur_and_change_no_word() -> None:
    plain = Segmenter.from_files(DEFAULT_DICTIONARY_PATH)
    marked = Segmenter.from_files(DEFAULT_DICTIONARY_PATH)
    text = "民警收红包，红包里有钱。zz收红"

    assert marked.mark(["红包", "收红", "zz收"]) is True
    tokens, marks = marked.tokens_and_marks(text)

    assert tokens == plain.tokens(text)
    assert sorted(marks) == [("zz收", 12, 15), ("收红", 2, 4), ("收红", 14, 16), ("红包", 3, 5), ("红包", 6, 8)]
    assert marked.mark(["红包!"]) is False  # "!" never sits inside a word block
