"""Business items reach the business unit whose configured keywords they use."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.analysis import KeywordLexicon, Reader
from domain.classifier import DEFAULT_DICTIONARY_PATH, DEFAULT_UNITS_PATH
from domain.segmenter import Segmenter
from domain.units import UnitRouter


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(Segmenter.from_files(DEFAULT_DICTIONARY_PATH), KeywordLexicon({}))


def route(router: UnitRouter, reader: Reader, text: str) -> str:
    return router.route(reader.read(text)).unit


def test_the_strongest_unit_keywords_win(reader: Reader) -> None:
    router = UnitRouter({"huzheng": {"户口": 3.0}, "traffic": {"驾照": 4.0, "违章": 2.0}}, "station")

    assert route(router, reader, "户口本丢了") == "huzheng"
    assert route(router, reader, "为了迁户口的事，驾照都忘了换，还有违章") == "traffic"


def test_an_item_without_unit_keywords_goes_to_the_default_unit(reader: Reader) -> None:
    router = UnitRouter({"huzheng": {"户口": 3.0}}, "station")

    decision = router.route(reader.read("昨晚钱包丢了"))

    assert (decision.unit, decision.words) == ("station", ())


def test_a_negated_unit_keyword_still_names_the_unit(reader: Reader) -> None:
    router = UnitRouter({"huzheng": {"户口": 3.0}, "fire": {"消防设施": 4.0}}, "station")

    assert route(router, reader, "出租屋里没有任何消防设施") == "fire"


def test_ties_go_to_the_unit_listed_first(reader: Reader) -> None:
    router = UnitRouter({"traffic": {"停车": 2.0}, "fire": {"通道": 2.0}}, "station")

    assert route(router, reader, "停车堵了通道") == "traffic"


def test_the_decision_names_the_words_behind_it(reader: Reader) -> None:
    router = UnitRouter({"immigration": {"护照": 4.0, "签证": 3.0}}, "station")

    assert router.route(reader.read("护照和签证都过期了")).words == ("护照", "签证")


def test_units_are_read_from_a_file_an_administrator_can_edit(tmp_path: Path, reader: Reader) -> None:
    path = tmp_path / "units.toml"
    path.write_text(
        'default = "station"\n[units.fire]\nname = "消防"\nkeywords = { "灭火器" = 4 }\n', encoding="utf-8"
    )

    router = UnitRouter.from_file(path)

    assert route(router, reader, "楼里的灭火器过期了") == "fire"
    assert route(router, reader, "路灯坏了") == "station"


def test_a_units_file_without_a_default_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "units.toml"
    path.write_text('[units.fire]\nkeywords = { "灭火器" = 4 }\n', encoding="utf-8")

    with pytest.raises(ValueError, match="default"):
        UnitRouter.from_file(path)


def test_the_shipped_unit_keywords_route_the_labelled_unit_set_well() -> None:
    """data/training/units.jsonl: ~200 business items labelled with their unit."""
    import json

    from domain.classifier import DEFAULT_KEYWORDS_PATH, DEFAULT_USERDICT_PATH, DEFAULT_VARIANTS_PATH

    full_reader = Reader.from_files(
        dictionary_path=DEFAULT_DICTIONARY_PATH,
        userdict_path=DEFAULT_USERDICT_PATH,
        keywords_path=DEFAULT_KEYWORDS_PATH,
        variants_path=DEFAULT_VARIANTS_PATH,
    )
    router = UnitRouter.from_file(DEFAULT_UNITS_PATH)
    labelled = Path(DEFAULT_UNITS_PATH).parent / "training" / "units.jsonl"
    items = [json.loads(line) for line in labelled.read_text(encoding="utf-8").splitlines() if line.strip()]

    correct = sum(route(router, full_reader, item["text"]) == item["unit"] for item in items)

    assert len(items) >= 150
    assert correct / len(items) >= 0.9


def test_a_reader_that_reports_the_unit_keywords_routes_as_a_fresh_search_does() -> None:
    """The classifier's reader finds the units' keywords while it segments; the router then only
    selects among them. Both ways must give the same decision, overlaps and negations included."""
    lexicon = KeywordLexicon({"discipline": {"收钱": 3.0}, "business": {"消防通道": 3.0}})
    units = UnitRouter({"fire": {"消防": 2.0, "消防通道": 4.0}, "traffic": {"驾照": 4.0, "违章停车": 3.0}}, "station")
    reporting = Reader(Segmenter.from_files(DEFAULT_DICTIONARY_PATH), lexicon, also_report=units.words)
    texts = ["消防通道上违章停车，驾照该扣", "没有消防设施", "交警收钱不管违章停车", "路灯坏了", ""]

    assert reporting.reports(units.words)
    for text in texts:
        reading = reporting.read(text)
        assert units.route(reading, reported=True) == units.route(reading)
    assert units.route(reporting.read("消防通道上违章停车，驾照该扣"), reported=True).unit == "traffic"
