"""Services on a real database: numbering, routing, reminders that survive restarts."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from bot.assembly import build_runtime, prepare_storage
from domain.clock import FakeClock
from scheduler.sweep import sweep
from services.deadlines import move_deadline
from services.hotline import Submission, TextTooLong, find_duplicate, submit_ticket
from services.officers import RegistrationRefused, create_invite, register_officer
from services.runtime import Runtime
from services.tasks import TaskRefused, close_ticket, sign_for
from services.timeline import ticket_timeline
from tests.conftest import MONDAY_MORNING

PETITION_TEXT = "报案三个月了派出所一直有案不立，也没有给我报警回执。"


def submission(text: str = PETITION_TEXT, user: int = 1001, kind: str = "complaint") -> Submission:
    return Submission(telegram_user_id=user, chat_id=user, locale="zh", kind=kind, text=text)


async def officer_of(rt: Runtime, department: str, user: int, role: str = "officer") -> int:
    code = await create_invite(rt, department, role)
    await register_officer(rt, code, telegram_user_id=user, chat_id=user, display_name=f"警官{user}", locale="zh")
    return user


async def outbox_texts(rt: Runtime) -> list[tuple[int, str]]:
    async with rt.db.unit_of_work() as uow:
        return [(row.chat_id, row.payload["text"]) for row in await uow.outbox.all()]


async def test_ticket_numbers_count_up_within_a_day_and_start_again_the_next(runtime: Runtime, clock: FakeClock) -> None:
    first = await submit_ticket(runtime, submission())
    second = await submit_ticket(runtime, submission(user=1002))
    clock.advance(days=1)
    third = await submit_ticket(runtime, submission())
    assert [first.number, second.number, third.number] == [
        "KM-20261123-0001",
        "KM-20261123-0002",
        "KM-20261124-0001",
    ]


async def test_the_number_uses_the_bureaus_local_day_not_utc(runtime: Runtime, clock: FakeClock) -> None:
    clock.set(MONDAY_MORNING.replace(hour=23, minute=30))  # 15:30 UTC, still Monday in Shanghai
    assert (await submit_ticket(runtime, submission())).number == "KM-20261123-0001"
    clock.advance(hours=1)  # Tuesday 00:30 in Shanghai, still Monday in UTC
    assert (await submit_ticket(runtime, submission())).number == "KM-20261124-0001"


async def test_the_same_draft_submitted_twice_makes_one_ticket_and_one_set_of_cards(runtime: Runtime, clock: FakeClock) -> None:
    """As when a worker died after filing the ticket but before saving the conversation, and Telegram's
    second delivery of 确认提交 was handled by another worker a little later."""
    await officer_of(runtime, "petition", 501)
    draft = dataclasses.replace(submission(), key="draft-7f3a")

    first = await submit_ticket(runtime, draft)
    clock.advance(seconds=40)
    again = await submit_ticket(runtime, draft)
    other = await submit_ticket(runtime, dataclasses.replace(draft, key="draft-8c21"))

    assert again == first and other.number != first.number
    assert await find_duplicate(runtime, 1001, PETITION_TEXT, "draft-8c21") == first.number  # never itself
    async with runtime.db.unit_of_work() as uow:
        assert await uow.tickets.count() == 2
    cards = [chat for chat, text in await outbox_texts(runtime) if text.startswith("📋")]
    assert cards == [501, 501]


async def test_an_over_long_description_is_refused_and_nothing_is_stored(runtime: Runtime) -> None:
    with pytest.raises(TextTooLong):
        await submit_ticket(runtime, submission("长" * (runtime.settings.tickets.max_text_chars + 1)))
    async with runtime.db.unit_of_work() as uow:
        assert await uow.tickets.count() == 0


async def test_every_active_officer_of_the_department_gets_the_card(runtime: Runtime) -> None:
    await officer_of(runtime, "petition", 501)
    await officer_of(runtime, "petition", 502)
    await officer_of(runtime, "business", 503)
    await submit_ticket(runtime, submission())
    cards = [chat for chat, text in await outbox_texts(runtime) if text.startswith("📋")]
    assert cards == [501, 502]


async def test_reminders_fire_once_across_repeated_sweeps_and_a_restart(
    runtime: Runtime, settings, clock: FakeClock
) -> None:
    await officer_of(runtime, "petition", 501)
    accepted = await submit_ticket(runtime, submission())
    clock.set(accepted.deadline_at + timedelta(hours=1))  # the bot was down across all four moments
    assert await sweep(runtime) == 4
    assert await sweep(runtime) == 0
    restarted = build_runtime(settings, clock)
    await prepare_storage(restarted)
    assert await sweep(restarted) == 0
    await restarted.db.dispose()
    notices = [text for chat, text in await outbox_texts(runtime) if chat == 501 and not text.startswith("📋")]
    assert [text.split("，")[0] for text in notices] == [
        f"⏰ 工单 {accepted.number} 派单后尚未签收",
        f"⏰ 提醒：工单 {accepted.number} 的办理期限为 2026年12月14日 18:00",
        f"⏰ 提醒：工单 {accepted.number} 的办理期限为 2026年12月14日 18:00",
        f"⚠️ 催办：工单 {accepted.number} 已超过办理期限（2026年12月14日 18:00）",
    ]


async def test_a_closed_ticket_gets_no_more_reminders_only_its_survey(runtime: Runtime, clock: FakeClock) -> None:
    officer = await officer_of(runtime, "petition", 501)
    accepted = await submit_ticket(runtime, submission())
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    await sign_for(runtime, ticket.id, officer)
    await close_ticket(runtime, ticket.id, officer, "已受理并告知。")
    clock.set(accepted.deadline_at + timedelta(days=5))
    assert await sweep(runtime) == 1
    async with runtime.db.unit_of_work() as uow:
        to_officer = [row.purpose for row in await uow.outbox.all() if row.chat_id == officer]
    assert set(to_officer) == {"task_card", "card_edit"}  # the card and its updates; no reminder
    survey = [text for chat, text in await outbox_texts(runtime) if chat == 1001][-1]
    assert survey.startswith(f"您的工单 {accepted.number} 已办结。请对办理结果作出评价")


async def test_the_overdue_notice_also_reaches_the_department_head(runtime: Runtime, clock: FakeClock) -> None:
    officer = await officer_of(runtime, "petition", 501)
    await officer_of(runtime, "petition", 509, role="head")
    accepted = await submit_ticket(runtime, submission())
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    await sign_for(runtime, ticket.id, officer)
    clock.set(accepted.deadline_at + timedelta(minutes=1))
    await sweep(runtime)
    overdue = [chat for chat, text in await outbox_texts(runtime) if text.startswith("⚠️")]
    assert sorted(overdue) == [501, 509]


async def test_nobody_closes_a_ticket_without_a_written_result(runtime: Runtime) -> None:
    officer = await officer_of(runtime, "petition", 501)
    accepted = await submit_ticket(runtime, submission())
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    await sign_for(runtime, ticket.id, officer)
    with pytest.raises(TaskRefused) as refusal:
        await close_ticket(runtime, ticket.id, officer, "  ")
    assert refusal.value.reason == "task.result_required"


async def test_an_officer_of_another_department_cannot_sign(runtime: Runtime) -> None:
    outsider = await officer_of(runtime, "business", 503)
    accepted = await submit_ticket(runtime, submission())
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    with pytest.raises(TaskRefused) as refusal:
        await sign_for(runtime, ticket.id, outsider)
    assert refusal.value.reason == "task.not_found"  # it does not even learn the ticket exists


async def test_the_second_officer_to_sign_is_told_it_is_taken(runtime: Runtime) -> None:
    first = await officer_of(runtime, "petition", 501)
    second = await officer_of(runtime, "petition", 502)
    accepted = await submit_ticket(runtime, submission())
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    await sign_for(runtime, ticket.id, first)
    with pytest.raises(TaskRefused) as refusal:
        await sign_for(runtime, ticket.id, second)
    assert refusal.value.reason == "task.taken"


async def test_an_invite_code_works_once(runtime: Runtime) -> None:
    code = await create_invite(runtime, "petition")
    await register_officer(runtime, code, telegram_user_id=1, chat_id=1, display_name="甲", locale="zh")
    with pytest.raises(RegistrationRefused) as refusal:
        await register_officer(runtime, code, telegram_user_id=2, chat_id=2, display_name="乙", locale="zh")
    assert refusal.value.reason == "register.invalid"


async def test_an_expired_invite_code_is_refused(runtime: Runtime, clock: FakeClock) -> None:
    code = await create_invite(runtime, "petition", valid_for=timedelta(hours=1))
    clock.advance(hours=2)
    with pytest.raises(RegistrationRefused) as refusal:
        await register_officer(runtime, code, telegram_user_id=1, chat_id=1, display_name="甲", locale="zh")
    assert refusal.value.reason == "register.expired"


async def test_invite_codes_are_typed_case_insensitively(runtime: Runtime) -> None:
    code = await create_invite(runtime, "business")
    registered = await register_officer(
        runtime, f" {code.lower()} ", telegram_user_id=1, chat_id=1, display_name="甲", locale="zh"
    )
    assert registered.department_code == "business"


async def test_a_year_outside_the_official_calendar_warns_and_still_gives_deadlines(
    settings, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(MONDAY_MORNING.replace(year=2027, month=3, day=1))
    rt = build_runtime(settings, clock)
    await prepare_storage(rt)
    accepted = await submit_ticket(rt, submission())
    await rt.db.dispose()
    assert "2027" in caplog.text and "config.toml" in caplog.text
    # Monday 1 March 2027 + 15 working days (weekends only) = Monday 22 March, 18:00 Shanghai.
    assert rt.local(accepted.deadline_at).strftime("%Y-%m-%d %H:%M") == "2027-03-22 18:00"


async def test_after_a_long_outage_every_due_reminder_fires_in_one_sweep(runtime: Runtime, clock: FakeClock, monkeypatch) -> None:
    monkeypatch.setattr("scheduler.sweep.SWEEP_BATCH", 3)  # smaller batches than the work waiting
    await officer_of(runtime, "petition", 501)
    accepted = [await submit_ticket(runtime, submission(user=1000 + n)) for n in range(3)]
    clock.set(accepted[0].deadline_at + timedelta(hours=1))
    assert await sweep(runtime) == 12  # 4 per ticket: sign-for, two reminders, overdue
    assert await sweep(runtime) == 0


async def test_an_extension_moves_the_reminders_and_the_history_keeps_both_deadlines(
    runtime: Runtime, clock: FakeClock
) -> None:
    officer = await officer_of(runtime, "petition", 501)
    accepted = await submit_ticket(runtime, submission())
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    await sign_for(runtime, ticket.id, officer)
    extended = accepted.deadline_at + timedelta(days=7)
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.get(ticket.id)
        await move_deadline(runtime, uow, ticket, extended, officer_id=1, reason="需调取外地监控")
        await uow.commit()
    clock.set(accepted.deadline_at + timedelta(hours=1))  # the old deadline passes: nothing overdue
    notices_before = len(await outbox_texts(runtime))
    await sweep(runtime)
    assert not any(text.startswith("⚠️") for _, text in (await outbox_texts(runtime))[notices_before:])
    clock.set(extended + timedelta(minutes=1))
    await sweep(runtime)
    assert any(text.startswith("⚠️ 催办") for _, text in await outbox_texts(runtime))
    timeline = await ticket_timeline(runtime, accepted.number)
    extension = next(entry for entry in timeline if entry.action == "extended")
    assert accepted.deadline_at.isoformat() in extension.note and extended.isoformat() in extension.note
    assert extension.note.endswith("需调取外地监控")
