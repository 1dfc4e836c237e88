"""What processes sharing a database coordinate through: claimed updates and the leader lock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from domain.clock import FakeClock
from storage.coordination import (
    AdvisoryLock,
    Claim,
    LeaseLock,
    UpdateClaims,
    forget_processed_updates,
    leader_lock,
)
from storage.database import Database
from tests.conftest import make_settings

LEASE = timedelta(seconds=20)
POLL = timedelta(seconds=5)
CLAIM_TIME = timedelta(seconds=60)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    # The test run's database (SQLite, or PostgreSQL with --database=postgresql).
    database = Database(make_settings(tmp_path).database.url)
    await database.migrate()
    yield database
    await database.dispose()


@pytest.fixture
async def second_connection_pool(db: Database) -> AsyncIterator[Database]:
    """The same database through an engine of its own, as another process would reach it."""
    other = Database(db.url)
    yield other
    await other.dispose()


class UnreachableDatabase:
    def unit_of_work(self) -> None:
        raise ConnectionRefusedError("the database server is down")


def lease(db: Database, holder: str, clock: FakeClock) -> LeaseLock:
    return LeaseLock(db, holder, clock=clock, lease=LEASE, renew_within=POLL)


# --- claimed updates ------------------------------------------------------------------------


async def test_an_update_is_taken_once_and_a_later_delivery_is_a_duplicate(db: Database, clock: FakeClock) -> None:
    a, b = UpdateClaims(db, "a"), UpdateClaims(db, "b")
    now = clock.now()

    first = await a.claim(7, now, now - CLAIM_TIME)
    while_handling = await b.claim(7, now, now - CLAIM_TIME)
    await a.finish(7, now)
    afterwards = await b.claim(7, now, now - CLAIM_TIME)

    assert (first, while_handling, afterwards) == (Claim.TAKEN, Claim.BUSY, Claim.DONE)


async def test_an_unfinished_claim_of_a_worker_presumed_dead_is_taken_over(db: Database, clock: FakeClock) -> None:
    dead, alive = UpdateClaims(db, "dead"), UpdateClaims(db, "alive")
    await dead.claim(7, clock.now(), clock.now() - CLAIM_TIME)

    clock.advance(CLAIM_TIME + timedelta(seconds=1))
    taken = await alive.claim(7, clock.now(), clock.now() - CLAIM_TIME)
    again = await dead.claim(7, clock.now(), clock.now() - CLAIM_TIME)

    assert (taken, again) == (Claim.TAKEN, Claim.BUSY)


async def test_a_claim_its_worker_keeps_confirming_is_not_taken_over(db: Database, clock: FakeClock) -> None:
    slow, other = UpdateClaims(db, "slow"), UpdateClaims(db, "other")
    await slow.claim(7, clock.now(), clock.now() - CLAIM_TIME)

    for _ in range(3):
        clock.advance(CLAIM_TIME / 2)
        await slow.renew(7, clock.now())
    meanwhile = await other.claim(7, clock.now(), clock.now() - CLAIM_TIME)

    assert meanwhile is Claim.BUSY


async def test_a_released_claim_lets_the_next_delivery_be_handled(db: Database, clock: FakeClock) -> None:
    claims = UpdateClaims(db, "a")
    await claims.claim(7, clock.now(), clock.now() - CLAIM_TIME)

    await claims.release(7)

    assert await claims.claim(7, clock.now(), clock.now() - CLAIM_TIME) is Claim.TAKEN


async def test_old_update_ids_are_forgotten_and_recent_ones_kept(db: Database, clock: FakeClock) -> None:
    claims = UpdateClaims(db, "a")
    await claims.claim(1, clock.now(), clock.now())
    clock.advance(hours=49)
    await claims.claim(2, clock.now(), clock.now())

    forgotten = await forget_processed_updates(db, clock.now() - timedelta(hours=48))

    assert forgotten == 1
    assert await claims.claim(2, clock.now(), clock.now() - CLAIM_TIME) is Claim.BUSY
    assert await claims.claim(1, clock.now(), clock.now() - CLAIM_TIME) is Claim.TAKEN


# --- the lease (SQLite) -------------------------------------------------------------------------


async def test_one_holder_gets_the_lease_and_renews_it_while_the_other_waits(db: Database, clock: FakeClock) -> None:
    a, b = lease(db, "a", clock), lease(db, "b", clock)

    assert await a.acquire() is True
    assert await b.acquire() is False
    clock.advance(seconds=15)
    assert await a.acquire() is True  # renewed: 20 s from now again
    clock.advance(seconds=15)
    assert await b.acquire() is False


async def test_a_lease_nobody_renews_is_taken_over_once_it_expires(db: Database, clock: FakeClock) -> None:
    a, b = lease(db, "a", clock), lease(db, "b", clock)
    await a.acquire()

    clock.advance(LEASE + timedelta(seconds=1))

    assert await b.acquire() is True
    assert await a.acquire() is False  # the old holder learns it lost


async def test_a_released_lease_is_free_at_once(db: Database, clock: FakeClock) -> None:
    a, b = lease(db, "a", clock), lease(db, "b", clock)
    await a.acquire()

    await a.release()

    assert await b.acquire() is True


async def test_a_holder_that_cannot_reach_the_database_keeps_leading_only_while_its_lease_surely_holds(
    db: Database, clock: FakeClock
) -> None:
    a = lease(db, "a", clock)
    await a.acquire()
    a.db = UnreachableDatabase()  # type: ignore[assignment]

    assert await a.acquire() is True  # the lease runs 20 s more; the next check is within 5 s
    clock.advance(seconds=16)
    assert await a.acquire() is False  # it might lapse before the next check: step down


# --- the advisory lock (PostgreSQL) ----------------------------------------------------------------


async def test_on_postgresql_the_advisory_lock_is_used_and_freed_with_its_connection(
    db: Database, second_connection_pool: Database, clock: FakeClock
) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's advisory lock; run with --database=postgresql (tests/postgres.py's throwaway cluster)")
    a = leader_lock(db, "a", clock=clock, lease=LEASE, renew_within=POLL)
    b = leader_lock(second_connection_pool, "b", clock=clock, lease=LEASE, renew_within=POLL)
    assert isinstance(a, AdvisoryLock) and isinstance(b, AdvisoryLock)

    assert await a.acquire() is True
    assert await a.acquire() is True  # still held: its connection answers
    assert await b.acquire() is False
    await a.abandon()  # the connection is dropped without unlocking, as when the process dies
    assert await b.acquire() is True
    await b.release()
    assert await a.acquire() is True
    await a.release()


async def test_on_sqlite_the_lease_is_used(db: Database, clock: FakeClock) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's lease; this run is on PostgreSQL")
    assert isinstance(leader_lock(db, "a", clock=clock, lease=LEASE, renew_within=POLL), LeaseLock)
