"""Builds the runtime and the Telegram application from settings: the one place things are wired."""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import timedelta

import jieba
from aiohttp import web

from telegram import BotCommand, Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes
from telegram.warnings import PTBUserWarning

from bot.context import BotContext, attach_runtime
from bot.settings import Settings
from bot.telegram_bot import OpenDoorBot
from bot.telegram_http import AiohttpRequest
from bot.webhook import WebhookIntake, set_webhook
from domain.calendar import OfficeHours, WorkingCalendar, coverage_warning
from domain.clock import Clock, SystemClock
from handlers import appraisal, desk, guards, hotline, register, resident_replies, start, status, supervision, survey, task_card
from i18n import Texts
from scheduler.dispatcher import OutboxDispatcher, record_unrecorded_deliveries_soon
from scheduler.leader import Leadership
from scheduler.runner import SchedulerService
from services.learning import build_classifier
from services.runtime import Runtime
from storage.coordination import leader_lock, startup_lock, worker_name
from storage.database import Database
from storage.persistence import DatabasePersistence, WriteThroughUpdates

log = logging.getLogger(__name__)

# jieba announces every dictionary load at DEBUG level on its own handler.
jieba.setLogLevel(logging.WARNING)
# bot_data flag set by start_webhook: updates come through the webhook on the web side, not by polling.
RECEIVES_BY_WEBHOOK = "receives_by_webhook"
# Our conversations are keyed per chat and user on purpose; PTB warns about that choice.
warnings.filterwarnings("ignore", message=r"If 'per_message=False'", category=PTBUserWarning)


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    calendar = WorkingCalendar(
        extra_holidays=settings.calendar.extra_holidays, extra_workdays=settings.calendar.extra_workdays
    )
    return Runtime(
        settings=settings,
        db=Database(settings.database.url, echo=settings.database.echo),
        clock=clock or SystemClock(),
        calendar=calendar,
        hours=OfficeHours(start=settings.calendar.office_start, end=settings.calendar.office_end, tz=settings.calendar.zone),
        classifier=build_classifier(settings.classifier),
        texts=Texts.load(settings.default_locale),
    )


async def prepare_storage(rt: Runtime) -> None:
    """Migrates the schema, syncs configured departments, and warns about calendar gaps."""
    # Workers starting together would otherwise all try to create the same tables and rows.
    async with startup_lock(rt.db):
        await rt.db.migrate()
        async with rt.db.unit_of_work() as uow:
            await uow.departments.sync({code: (d.name, d.name_en) for code, d in rt.settings.departments.items()})
            await uow.commit()
    this_year = rt.local(rt.now()).year
    warning = coverage_warning(rt.calendar, [this_year, this_year + 1])
    if warning:
        log.warning(warning)


async def on_error(update: object, context: BotContext) -> None:
    """Logs the failure and tells the person something went wrong, without losing what they entered."""
    log.error("update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat and update.effective_chat.type == "private":
        await context.bot.send_message(update.effective_chat.id, context.text(update, "error.generic"))


async def on_stale_button(update: Update, context: BotContext) -> None:
    """Answers a button no handler knows (old, forged, or from before a restart)."""
    await update.callback_query.answer(context.text(update, "error.stale_button"), show_alert=True)


def register_handlers(application: Application) -> None:
    # Order matters! First the cross-cutting guards (groups -5 … -3): an emergency warning that lets
    # the message go on, then the flood limit, group chats and unsupported message types, which stop
    # it. A reply to a ticket's status message adds to that ticket (group -2), a resident's answer to
    # an officer's reply goes to the officer (group -1); both stop there, anything else falls through. Then conversations: inside one, a message belongs to it;
    # outside, to the menu.
    rt: Runtime = application.bot_data["runtime"]
    timeout = rt.settings.resident.conversation_timeout_minutes
    for group, handlers in guards.build().items():
        for handler in handlers:
            application.add_handler(handler, group=group)
    application.add_handler(status.build_replies(), group=-2)
    application.add_handler(resident_replies.build(), group=-1)
    # The appraisal conversation comes before the menu so that its deep link (/start appraise_<unit>) wins.
    application.add_handler(appraisal.build(timeout))
    for handler in start.build():
        application.add_handler(handler)
    application.add_handler(register.build())
    application.add_handler(hotline.build(timeout))
    for handler in status.build():
        application.add_handler(handler)
    application.add_handler(task_card.build())
    application.add_handler(survey.build())
    for handler in desk.build():
        application.add_handler(handler)
    for handler in supervision.build():
        application.add_handler(handler)
    for handler in start.build_fallback():
        application.add_handler(handler)
    application.add_handler(CallbackQueryHandler(on_stale_button))
    application.add_error_handler(on_error)


def build_application(rt: Runtime, *, background_jobs: bool = True) -> Application:
    """The PTB application; with background_jobs it also runs the dispatcher and the scheduler."""
    telegram = rt.settings.telegram
    # Conversation states and user_data live in the database and are written after every update,
    # so a restart (or a crash) loses no conversation in progress.
    updates = WriteThroughUpdates()
    bot = OpenDoorBot(
        telegram.token.get_secret_value(),
        base_url=telegram.base_url,
        base_file_url=telegram.base_file_url,
        # aiohttp rather than PTB's httpx: a Bot API call costs a quarter of the CPU (bot/telegram_http.py).
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )
    application = (
        Application.builder()
        .bot(bot)
        .context_types(ContextTypes(context=BotContext))
        .persistence(_MigratedPersistence(rt))
        .concurrent_updates(updates)
        .post_init(_start_background if background_jobs else _prepare)
        .post_shutdown(_stop_background)
        .build()
    )
    updates.attach(application)
    attach_runtime(application, rt)
    register_handlers(application)
    return application


class _MigratedPersistence(DatabasePersistence):
    """The database persistence, migrating the schema before PTB first reads from it.

    PTB loads persisted data in `Application.initialize`, before `post_init` runs, so the
    schema must be brought up to date here, at the first read.
    """

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt.db, clock=rt.clock)
        self._rt = rt
        self.prepared = False

    async def prepare(self) -> None:
        if not self.prepared:
            await prepare_storage(self._rt)
            self.prepared = True

    async def get_user_data(self):  # type: ignore[no-untyped-def]
        await self.prepare()
        return await super().get_user_data()

    async def get_conversations(self, name: str):  # type: ignore[no-untyped-def]
        await self.prepare()
        return await super().get_conversations(name)


async def _prepare(application: Application) -> None:
    rt: Runtime = application.bot_data["runtime"]
    persistence = application.persistence
    if isinstance(persistence, _MigratedPersistence):
        await persistence.prepare()
    else:
        await prepare_storage(rt)
    # Loading jieba's dictionary takes about a second: do it now, not while the first resident waits.
    await asyncio.to_thread(rt.classifier.warm_up)
    await application.bot.set_my_commands(
        [
            BotCommand("start", "开始 / menu"),
            BotCommand("help", "帮助 / help"),
            BotCommand("cancel", "取消 / cancel"),
            BotCommand("status", "查询进度 / progress"),
            BotCommand("mytasks", "我的工单（民警）/ my tasks"),
            BotCommand("stats", "统计（督办）/ statistics"),
        ]
    )


async def _start_background(application: Application) -> None:
    """Serves the web side and seeks leadership: the leader among the processes on this database runs
    the outbox dispatcher and the scheduler (scheduler/leader.py)."""
    rt: Runtime = application.bot_data["runtime"]
    await _prepare(application)
    worker = worker_name()
    workers = rt.settings.workers
    lock = leader_lock(
        rt.db,
        worker,
        clock=rt.clock,
        lease=timedelta(seconds=workers.leader_lease_seconds),
        renew_within=timedelta(seconds=workers.leader_poll_seconds),
    )

    async def lead() -> None:
        dispatcher = OutboxDispatcher(rt, application.bot)
        scheduler = SchedulerService(rt)
        application.bot_data["dispatcher"] = dispatcher
        application.bot_data["scheduler"] = scheduler
        rt.wake_dispatcher = dispatcher.wake
        dispatcher.start()
        scheduler.start()

    async def step_down() -> None:
        # Rows queued here from now on wait for the leader's dispatcher, which looks every
        # `dispatcher_idle_seconds`.
        rt.wake_dispatcher = lambda: None
        scheduler: SchedulerService | None = application.bot_data.pop("scheduler", None)
        dispatcher: OutboxDispatcher | None = application.bot_data.pop("dispatcher", None)
        if scheduler:
            scheduler.shutdown()
        if dispatcher:
            await dispatcher.stop()
        if rt.unrecorded_deliveries:  # sent by this leader, not yet recorded: no other leader must resend them
            application.create_task(
                record_unrecorded_deliveries_soon(rt, workers.leader_poll_seconds), name="record-unrecorded"
            )

    leadership = Leadership(lock, worker_id=worker, poll_seconds=workers.leader_poll_seconds, lead=lead, step_down=step_down)
    rt.leadership = leadership
    application.bot_data["leadership"] = leadership
    await leadership.start()
    webhook = application.bot_data.get(RECEIVES_BY_WEBHOOK)
    if rt.settings.web.serve_with_bot or webhook:
        intake = WebhookIntake(application, rt, worker) if webhook else None
        application.bot_data["web"] = await _serve_web(rt, intake)


async def _serve_web(rt: Runtime, intake: WebhookIntake | None = None) -> web.AppRunner:
    """The web side in the bot's own event loop, sharing its runtime and database; with `intake`, it
    also receives Telegram's webhook."""
    from web.app import build_web_app
    from web.webhook import Webhook

    telegram = rt.settings.telegram
    hook = Webhook(telegram.webhook_path, telegram.webhook_secret.get_secret_value(), intake) if intake else None
    runner = web.AppRunner(build_web_app(rt, webhook=hook))
    await runner.setup()
    await web.TCPSite(runner, rt.settings.web.host, rt.settings.web.port).start()
    host, port = runner.addresses[0][:2]
    log.info("web side on http://%s:%s/health", host, port)
    if hook:
        log.info("Telegram's webhook received at http://%s:%s%s", host, port, hook.path)
    return runner


async def _stop_web(application: Application) -> None:
    runner: web.AppRunner | None = application.bot_data.pop("web", None)
    if runner:
        await runner.cleanup()


async def _stop_background(application: Application) -> None:
    await _stop_web(application)
    leadership: Leadership | None = application.bot_data.pop("leadership", None)
    if leadership:
        await leadership.stop()


async def start_polling(application: Application) -> None:
    """Starts the application as run_polling would, but returns so the caller (a test, the demo) goes on."""
    rt: Runtime = application.bot_data["runtime"]
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    await application.start()
    await application.updater.start_polling(poll_interval=0, timeout=rt.settings.telegram.poll_timeout_seconds)


async def start_webhook(application: Application) -> None:
    """Starts the application receiving its updates through Telegram's webhook, served on the web side
    next to /health and the dashboard, and registers the webhook with Telegram; returns."""
    application.bot_data[RECEIVES_BY_WEBHOOK] = True
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    await application.start()
    await set_webhook(application, application.bot_data["runtime"])


async def stop_webhook(application: Application) -> None:
    """Stops taking updates first (requests still in progress finish), then everything else. The
    webhook stays registered: the other workers go on receiving."""
    await _stop_web(application)
    if application.running:
        await application.stop()
    if application.post_shutdown:
        await application.post_shutdown(application)
    await application.shutdown()


async def stop_polling(application: Application) -> None:
    if application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    if application.post_shutdown:
        await application.post_shutdown(application)
    await application.shutdown()
