"""Telegram's HTML dialect and text measurements, as the fake implements them."""

import pytest

from local_botapi.content import command_entities, parse_html, utf16_len
from local_botapi.errors import ApiError


def test_tags_become_entities_over_the_plain_text() -> None:
    text, entities = parse_html("<b>工单</b> <i>已<u>受理</u></i>")

    assert text == "工单 已受理"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "italic", "offset": 3, "length": 3},
        {"type": "underline", "offset": 4, "length": 2},
    ]


def test_offsets_are_counted_in_utf16_code_units() -> None:
    text, entities = parse_html("🚓<b>到场</b>")

    assert utf16_len("🚓") == 2
    assert entities == [{"type": "bold", "offset": 2, "length": 2}]
    assert text == "🚓到场"


def test_links_code_blocks_and_spoilers_carry_their_attributes() -> None:
    _, entities = parse_html(
        '<a href="https://example.org/?a=1&amp;b=2">链接</a>'
        '<pre><code class="language-python">x = 1</code></pre>'
        '<span class="tg-spoiler">秘密</span>'
    )

    assert entities == [
        {"type": "text_link", "offset": 0, "length": 2, "url": "https://example.org/?a=1&b=2"},
        {"type": "pre", "offset": 2, "length": 5, "language": "python"},
        {"type": "spoiler", "offset": 7, "length": 2},
    ]


def test_only_the_four_named_entities_and_numeric_ones_are_decoded() -> None:
    text, _ = parse_html("&lt;&gt;&amp;&quot; &#20320;&#x597D; &nbsp; A & B")

    assert text == '<>&" 你好 &nbsp; A & B'


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("a <script>", 'Unsupported start tag "script" at byte offset 2'),
        ("<b>粗", 'Can\'t find end tag corresponding to start tag "b"'),
        ("粗</b>", "Unexpected end tag at byte offset 3"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("1 < 2 > 0", 'Unsupported start tag "" at byte offset 2'),
        ("a <b", "Unclosed start tag at byte offset 2"),
    ],
)
def test_malformed_html_cannot_be_parsed(source: str, reason: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_html(source)

    assert caught.value.status == 400
    assert caught.value.description == f"Bad Request: can't parse entities: {reason}"


def test_a_leading_slash_command_is_marked_as_a_bot_command() -> None:
    assert command_entities("/start@OpenDoorTestBot ref") == [
        {"type": "bot_command", "offset": 0, "length": 22}
    ]
    assert command_entities("not /a command") == []
