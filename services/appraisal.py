"""开门评警: a resident rates a unit; a 不满意 with a comment also becomes a ticket."""

from __future__ import annotations

from dataclasses import dataclass

from services.hotline import Accepted, Submission, submit_ticket
from services.runtime import Runtime
from storage.models import AppraisalRow

RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
SCORE_ASPECTS = ("attitude", "efficiency", "fairness", "integrity")
SCORE_RANGE = range(1, 6)


class UnknownUnit(LookupError):
    pass


@dataclass(frozen=True)
class Appraisal:
    telegram_user_id: int
    chat_id: int
    locale: str
    unit_code: str
    rating: str
    scores: dict[str, int]
    comment: str | None


def unit_name(rt: Runtime, locale: str, code: str) -> str:
    """The unit's name in the resident's language; UnknownUnit when config.toml has no such unit."""
    unit = rt.settings.units.get(code)
    if unit is None:
        raise UnknownUnit(code)
    return unit.name_en if locale == "en" else unit.name


def units(rt: Runtime, locale: str) -> list[tuple[str, str]]:
    """Every configured unit as (code, name), in config order."""
    return [(code, unit_name(rt, locale, code)) for code in rt.settings.units]


async def submit_appraisal(rt: Runtime, appraisal: Appraisal) -> Accepted | None:
    """Stores the appraisal; a 不满意 with a comment is filed as a ticket first and linked. Returns that ticket."""
    if appraisal.rating not in RATINGS:
        raise ValueError(f"unknown rating {appraisal.rating!r}")
    unit = unit_name(rt, "zh", appraisal.unit_code)
    scores = {k: v for k, v in appraisal.scores.items() if k in SCORE_ASPECTS and v in SCORE_RANGE}
    comment = (appraisal.comment or "").strip() or None
    accepted: Accepted | None = None
    if appraisal.rating == "unsatisfied" and comment:
        text = rt.texts.get("zh", "appraisal.ticket_text", unit=unit, comment=comment)
        accepted = await submit_ticket(
            rt,
            Submission(
                appraisal.telegram_user_id, appraisal.chat_id, appraisal.locale, "complaint", text, source="appraisal"
            ),
        )
    now = rt.now()
    async with rt.db.unit_of_work() as uow:
        resident = await uow.residents.upsert(appraisal.telegram_user_id, appraisal.chat_id, appraisal.locale, now)
        ticket = await uow.tickets.by_number(accepted.number) if accepted else None
        await uow.appraisals.add(
            AppraisalRow(
                resident_id=resident.id or 0,
                unit_code=appraisal.unit_code,
                rating=appraisal.rating,
                scores=scores,
                comment=comment,
                ticket_id=ticket.id if ticket else None,
                created_at=now,
            )
        )
        await uow.commit()
    return accepted
