"""QR codes for the service windows: scanning one opens the appraisal of that unit in Telegram.

The code holds the deep link ``https://t.me/<bot>?start=appraise_<unit>``; Telegram then sends
the bot ``/start appraise_<unit>``. The PNG is drawn by `segno` (pure Python). An optional
caption under the code (the unit's name) is drawn with Pillow when a font can draw it: Latin
text always can; Chinese needs a CJK font on the machine (see reports/charts.py), and without
one the caption is left out rather than printed as empty boxes.
"""

from __future__ import annotations

import io
import logging
import re
from typing import TYPE_CHECKING

import segno

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont, ImageFont

    CaptionFont = FreeTypeFont | ImageFont

log = logging.getLogger(__name__)

APPRAISE_PREFIX = "appraise_"
# Telegram: a start parameter is 1–64 characters of A–Z, a–z, 0–9, _ and -.
_START_PARAMETER = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Telegram: a username is 5–32 characters of letters, digits and _, starting with a letter.
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")

# Q (25 % recovery) survives the scratches and stickers of a service window; H would make the
# code denser for little gain. The border of 4 modules is the quiet zone the standard asks for.
ERROR_LEVEL = "q"
SCALE = 10
BORDER = 4


def unit_deep_link(bot_username: str, unit_code: str) -> str:
    """``https://t.me/<bot>?start=appraise_<unit>``; raises ValueError for what Telegram would refuse."""
    username = bot_username.removeprefix("@")
    if not _USERNAME.fullmatch(username):
        raise ValueError(f"{bot_username!r} is not a Telegram username (5–32 letters, digits or _)")
    parameter = APPRAISE_PREFIX + unit_code
    if not unit_code or not _START_PARAMETER.fullmatch(parameter):
        limit = 64 - len(APPRAISE_PREFIX)
        raise ValueError(f"unit code {unit_code!r} must be 1–{limit} characters of A–Z, a–z, 0–9, _ or -")
    return f"https://t.me/{username}?start={parameter}"


def unit_qr(bot_username: str, unit_code: str) -> segno.QRCode:
    """The QR symbol of the unit's deep link (never a Micro QR: phone cameras expect a full one)."""
    return segno.make_qr(unit_deep_link(bot_username, unit_code), error=ERROR_LEVEL)


def unit_qr_png(bot_username: str, unit_code: str, caption: str | None = None) -> bytes:
    """A PNG of the unit's QR code, with `caption` under it when a font on this machine can draw it."""
    buffer = io.BytesIO()
    unit_qr(bot_username, unit_code).save(buffer, kind="png", scale=SCALE, border=BORDER)
    png = buffer.getvalue()
    line = " ".join((caption or "").split())  # one line: newlines and runs of spaces become one space
    return _with_caption(png, line) if line else png


def _with_caption(png: bytes, caption: str) -> bytes:
    from PIL import Image, ImageDraw  # Pillow comes with matplotlib, which the reports already use

    code = Image.open(io.BytesIO(png)).convert("L")
    font = _fitting_font(caption, max_width=code.width - 4 * SCALE)
    if font is None:
        log.info("no font on this machine can draw %r; the QR code is made without its caption", caption)
        return png
    left, top, right, bottom = font.getbbox(caption)
    # The text starts below the code's quiet zone (which scanners need blank) and ends one module
    # above the bottom edge of the image.
    image = Image.new("L", (code.width, code.height + (bottom - top) + SCALE), color=255)
    image.paste(code, (0, 0))
    position = ((code.width - (right - left)) // 2 - left, code.height - top)
    ImageDraw.Draw(image).text(position, caption, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _fitting_font(caption: str, max_width: int) -> CaptionFont | None:
    """The largest font (3 modules high down to 12 px) that draws `caption` within `max_width`, or None."""
    for size in range(3 * SCALE, 11, -2):
        font = caption_font(caption, size)
        if font is None:
            return None
        left, _, right, _ = font.getbbox(caption)
        if right - left <= max_width:
            return font
    return None


def caption_font(caption: str, size: int) -> CaptionFont | None:
    """A Pillow font that can draw `caption`: Pillow's own for Latin text, else an installed CJK font."""
    from PIL import ImageFont

    if caption.isascii():
        return ImageFont.load_default(size=size)
    path = _cjk_font_path()
    return ImageFont.truetype(path, size=size) if path else None


def _cjk_font_path() -> str | None:
    from reports.charts import cjk_font

    name = cjk_font()
    if name is None:
        return None
    from matplotlib import font_manager

    return str(font_manager.findfont(font_manager.FontProperties(family=name), fallback_to_default=False))
