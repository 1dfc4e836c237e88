"""QR codes for the service windows: a PNG whose modules spell the unit's appraisal deep link."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import segno
from PIL import Image

from reports import qr
from reports.qr import BORDER, SCALE, unit_deep_link, unit_qr_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LINK = "https://t.me/OpenDoorTestBot?start=appraise_chengguan-ps"


def modules_of(png: bytes, size: int) -> tuple[tuple[bool, ...], ...]:
    """The dark/light modules of a `size`×`size` symbol, read from the centre pixel of each module."""
    image = Image.open(io.BytesIO(png)).convert("L")
    centre = lambda index: (index + BORDER) * SCALE + SCALE // 2  # noqa: E731
    return tuple(tuple(image.getpixel((centre(x), centre(y))) < 128 for x in range(size)) for y in range(size))


def test_the_deep_link_opens_the_appraisal_of_the_unit() -> None:
    assert unit_deep_link("OpenDoorTestBot", "chengguan-ps") == LINK
    assert unit_deep_link("@OpenDoorTestBot", "chengguan-ps") == LINK


def test_the_png_is_a_square_qr_code_of_the_deep_link() -> None:
    png = unit_qr_png("OpenDoorTestBot", "chengguan-ps")
    # The same link encoded independently, at the documented error correction level.
    expected = segno.make_qr(LINK, error="q")
    size = len(expected.matrix)

    assert png.startswith(PNG_SIGNATURE)
    assert Image.open(io.BytesIO(png)).size == ((size + 2 * BORDER) * SCALE,) * 2
    assert modules_of(png, size) == tuple(tuple(bool(m) for m in row) for row in expected.matrix)


def test_a_latin_caption_is_drawn_under_the_code_without_touching_it() -> None:
    plain = Image.open(io.BytesIO(unit_qr_png("OpenDoorTestBot", "chengguan-ps"))).convert("L")
    captioned = Image.open(io.BytesIO(unit_qr_png("OpenDoorTestBot", "chengguan-ps", "Chengguan Police Station")))
    captioned = captioned.convert("L")

    assert captioned.width == plain.width and captioned.height > plain.height
    assert captioned.crop((0, 0, plain.width, plain.height)).tobytes() == plain.tobytes()
    band = captioned.crop((0, plain.height, plain.width, captioned.height))
    darkest, _ = band.getextrema()
    assert darkest < 128, "the caption band holds dark text"


def test_a_chinese_caption_is_left_out_when_no_chinese_font_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qr, "_cjk_font_path", lambda: None)
    assert unit_qr_png("OpenDoorTestBot", "chengguan-ps", "城关派出所") == unit_qr_png("OpenDoorTestBot", "chengguan-ps")


def test_a_chinese_caption_is_drawn_with_the_installed_chinese_font(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stands in for a CJK font (none is installed here): what matters is that its file is used.
    import matplotlib

    stand_in = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    monkeypatch.setattr(qr, "_cjk_font_path", lambda: str(stand_in))
    plain = Image.open(io.BytesIO(unit_qr_png("OpenDoorTestBot", "chengguan-ps")))
    captioned = Image.open(io.BytesIO(unit_qr_png("OpenDoorTestBot", "chengguan-ps", "城关派出所")))
    assert captioned.height > plain.height


def test_a_blank_caption_is_no_caption() -> None:
    assert unit_qr_png("OpenDoorTestBot", "x", "  \n ") == unit_qr_png("OpenDoorTestBot", "x")


def test_a_unit_code_may_use_up_to_the_55_characters_telegram_leaves_after_the_prefix() -> None:
    longest = "u" * 55
    assert unit_deep_link("OpenDoorTestBot", longest).endswith("appraise_" + longest)
    with pytest.raises(ValueError, match="1–55 characters"):
        unit_deep_link("OpenDoorTestBot", longest + "u")


@pytest.mark.parametrize("unit_code", ["", "城关", "chengguan ps", "a/b", "x?y", "station.1"])
def test_a_unit_code_telegram_would_refuse_as_a_start_parameter_is_refused(unit_code: str) -> None:
    with pytest.raises(ValueError, match="unit code"):
        unit_qr_png("OpenDoorTestBot", unit_code)


@pytest.mark.parametrize("username", ["", "bot", "1OpenDoorBot", "open-door-bot", "t.me/OpenDoorBot", "a" * 33])
def test_a_string_that_is_no_telegram_username_is_refused(username: str) -> None:
    with pytest.raises(ValueError, match="not a Telegram username"):
        unit_deep_link(username, "chengguan")
