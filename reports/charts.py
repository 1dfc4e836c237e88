"""Charts rendered on the server (no internet, no browser): PNG bytes from plain figures.

Chinese labels need a CJK font; where none is installed (e.g. `apt-get install fonts-wqy-microhei`
adds one) the labels fall back to English instead of rendering as empty boxes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache

CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)


@dataclass(frozen=True)
class DayCounts:
    day: date
    received: int
    closed: int


@cache
def cjk_font() -> str | None:
    """The first installed font that can draw Chinese, if any."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _finish(figure, axes, title: str, unit: str, font: str | None, *more_texts) -> bytes:  # type: ignore[no-untyped-def]
    """The house style shared by every chart (whole-number axis, quiet frame), rendered as PNG."""
    axes.set_ylabel(unit)
    axes.set_title(title)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    if font:
        for text in [axes.title, axes.yaxis.label, *axes.get_legend().get_texts(), *more_texts]:
            text.set_fontfamily(font)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def trend_chart(days: Sequence[DayCounts], *, chinese: bool) -> bytes:
    """Grouped bars of tickets received and closed per day, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    font = cjk_font() if chinese else None
    labels = (
        (f"近{len(days)}日受理与办结", "受理", "办结", "件") if font
        else (f"Received and closed, last {len(days)} days", "received", "closed", "tickets")
    )
    title, received_label, closed_label, unit = labels
    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    axes = figure.subplots()
    positions = range(len(days))
    width = 0.38
    axes.bar([p - width / 2 for p in positions], [d.received for d in days], width, label=received_label, color="#2f6db5")
    axes.bar([p + width / 2 for p in positions], [d.closed for d in days], width, label=closed_label, color="#3a9d5d")
    # Two weeks of "11-10" labels side by side run into each other: slanted, they stay apart.
    axes.set_xticks(list(positions), [d.day.strftime("%m-%d") for d in days], rotation=45, ha="right", fontsize=8)
    return _finish(figure, axes, title, unit, font)


@dataclass(frozen=True)
class GroupCounts:
    """One bar group of the statistics chart: a department (or unit) with its Chinese and English name."""

    name: str
    name_en: str
    received: int
    closed: int
    on_time_rate: float | None


def figures_chart(groups: Sequence[GroupCounts], period: str, *, chinese: bool) -> bytes:
    """Grouped bars of tickets received and closed per group, the on-time rate above each, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    font = cjk_font() if chinese else None
    if font:
        title, received_label, closed_label, unit = f"{period} 受理与办结（标注：按期办结率）", "受理", "办结", "件"
    else:
        title, received_label, closed_label, unit = f"Received and closed, {period} (label: on time)", "received", "closed", "tickets"
    names = [g.name if font else g.name_en for g in groups]
    figure = Figure(figsize=(7.2, 4.0), dpi=100)
    axes = figure.subplots()
    positions = range(len(groups))
    width = 0.38
    axes.bar([p - width / 2 for p in positions], [g.received for g in groups], width, label=received_label, color="#2f6db5")
    bars = axes.bar([p + width / 2 for p in positions], [g.closed for g in groups], width, label=closed_label, color="#3a9d5d")
    for bar, group in zip(bars, groups):
        if group.on_time_rate is not None:
            axes.annotate(
                f"{group.on_time_rate:.0%}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center", va="bottom", fontsize=8,
            )
    axes.set_xticks(list(positions), names, rotation=15, ha="right", fontsize=8)
    return _finish(figure, axes, title, unit, font, *axes.get_xticklabels())
