"""Runs the periodic sweep with APScheduler; what is due always comes from the database."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.sweep import sweep
from services.learning import learn_from_corrections
from services.runtime import Runtime
from storage.coordination import forget_processed_updates

log = logging.getLogger(__name__)


class SchedulerService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    async def _sweep(self) -> None:
        try:
            fired = await sweep(self.rt)
        except Exception:  # the next sweep retries; a failed one must not stop the schedule
            log.exception("scheduler sweep failed")
            return
        if fired:
            log.info("scheduler sweep fired %d reminders", fired)

    async def _learn(self) -> None:
        try:
            await learn_from_corrections(self.rt)
        except Exception:  # a failed retraining leaves the current model in place
            log.exception("weekly classifier retraining failed")

    async def _forget_old_updates(self) -> None:
        keep = timedelta(hours=self.rt.settings.workers.processed_updates_keep_hours)
        try:
            forgotten = await forget_processed_updates(self.rt.db, self.rt.now() - keep)
        except Exception:  # the table only grows a little until the next hour
            log.exception("forgetting old processed updates failed")
            return
        if forgotten:
            log.info("forgot %d processed update ids", forgotten)

    def start(self) -> None:
        """Starts sweeping now (to catch up on anything that fell due while we were down), then periodically."""
        self._scheduler.add_job(
            self._sweep,
            "interval",
            seconds=self.rt.settings.scheduler.sweep_seconds,
            # APScheduler keeps real time; what is due is decided by the injected clock inside sweep().
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            id="sweep",
        )
        self._scheduler.add_job(
            self._forget_old_updates, "interval", hours=1, max_instances=1, coalesce=True, id="forget-updates"
        )
        settings = self.rt.settings.classifier
        self._scheduler.add_job(
            self._learn,
            "cron",
            day_of_week=settings.retrain_weekday,
            hour=settings.retrain_at.hour,
            minute=settings.retrain_at.minute,
            timezone=self.rt.hours.tz,
            max_instances=1,
            coalesce=True,
            id="retrain",
        )
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
