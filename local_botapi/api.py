"""`LocalBotApi`: the fake server plus the handles tests use to play people and break things."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Literal

from local_botapi.server import BotApiServer
from local_botapi.sim import SimChat, SimUser
from local_botapi.state import ApiRequest, ServerState
from local_botapi.traffic import Fault, FaultPlan, FaultStatus, RandomFaults, RateLimiter
from local_botapi.webhook import WebhookDelivery, WebhookRetry


class LocalBotApi:
    """A Telegram Bot API server on 127.0.0.1 for the real python-telegram-bot client.

    Point PTB at it with `.base_url(api.base_url).base_file_url(api.base_file_url)`.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        bot_username: str = "OpenDoorTestBot",
        bot_name: str = "开门评",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        webhook_retry: WebhookRetry = WebhookRetry(),
    ) -> None:
        self.state = ServerState(token, bot_username, bot_name, clock)
        self._limiter = RateLimiter(clock)
        self._faults = FaultPlan()
        self._server = BotApiServer(
            self.state, self._limiter, self._faults, host=host, port=port, webhook_retry=webhook_retry
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        """Ends pending long polls and held requests, then closes the server."""
        await self._server.stop()

    async def __aenter__(self) -> LocalBotApi:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def bot_id(self) -> int:
        return self.state.bot.id

    @property
    def base_url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}/file/bot"

    @property
    def clock(self) -> Callable[[], float]:
        """Time source for message dates and rate limits.

        Waits and long polls still run on the event loop's real time.
        """
        return self.state.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.state.clock = clock
        self._limiter.clock = clock

    # -- people and chats ----------------------------------------------------------------------

    def user(
        self,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        started: bool = True,
    ) -> SimUser:
        """A new person. With started=False the bot cannot message them until they write first."""
        user, chat = self.state.add_user(
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            started=started,
        )
        return SimUser(self.state, user, chat)

    def group(
        self,
        title: str,
        *,
        kind: Literal["group", "supergroup"] = "group",
        username: str | None = None,
    ) -> SimChat:
        """A new group chat the bot is a member of (negative id)."""
        return SimChat(self.state, self.state.add_group(title, kind=kind, username=username))

    def block(self, user: SimUser) -> None:
        """From now on, sending to this person's private chat fails with 403 (bot blocked)."""
        self.state.chats[user.id].blocked = True

    def unblock(self, user: SimUser) -> None:
        self.state.chats[user.id].blocked = False

    # -- observation ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[ApiRequest]:
        """Every API call so far, in order of arrival (uploads summarized in params)."""
        return self.state.requests

    def calls(self, method: str) -> list[ApiRequest]:
        return [request for request in self.state.requests if request.method == method]

    @property
    def stats(self) -> Counter[str]:
        """Answers by HTTP status ("200", "400", "429", ...) plus "timeout" for dropped calls."""
        return self.state.stats

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every POST of an update to the webhook so far, failed ones included, oldest first."""
        return self.state.webhook_deliveries

    async def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
    ) -> None:
        """Waits until `predicate()` holds; it is re-checked after every API call the bot makes."""
        if not await self.state.wait_until(predicate, timeout):
            raise AssertionError(f"{what} did not become true within {timeout}s")

    # -- misbehaving on purpose ----------------------------------------------------------------

    @property
    def enforce_rate_limits(self) -> bool:
        """Answer 429 above 30 messages/s overall, 1/s per private chat, 20/min per group."""
        return self._limiter.enabled

    @enforce_rate_limits.setter
    def enforce_rate_limits(self, enabled: bool) -> None:
        self._limiter.enabled = enabled

    def inject_fault(
        self,
        method: str | None = None,
        *,
        status: FaultStatus = 429,
        retry_after: int = 1,
        count: int = 1,
        delay: float = 30.0,
        description: str | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Makes the next `count` calls of `method` (any method when None) fail; with `chat_id`,
        only calls to that chat count.

        `status` is an HTTP error status (429 carries `retry_after`; 5xx come with
        "Internal Server Error"/"Bad Gateway"/...), or "timeout": the request is
        held unanswered for `delay` seconds (or until stop) and its connection is
        then dropped, so the client times out.
        """
        self._faults.add(Fault(method, status, count, retry_after, delay, description, chat_id))

    def inject_random_faults(
        self,
        rate: float,
        *,
        methods: Iterable[str] | None = None,
        statuses: Iterable[FaultStatus] = (500, 502, 429, "timeout"),
        seed: int = 0,
        retry_after: int = 1,
        delay: float = 30.0,
    ) -> RandomFaults:
        """From now on, each call of `methods` (any method when None) fails with probability `rate`.

        The way it fails is drawn from `statuses`, as for `inject_fault`. A generator seeded with
        `seed` decides, so the same calls in the same order fail the same way in every run. Faults
        planned with `inject_fault` come first; `clear_faults` ends both. Returns the plan, whose
        `drawn` counts the faults handed out by status.
        """
        plan = RandomFaults.of(rate, methods, statuses, seed, retry_after, delay)
        self._faults.random = plan
        return plan

    def clear_faults(self) -> None:
        """Ends planned and random faults alike."""
        self._faults.clear()

    def lose_webhook_answers(self, count: int = 1) -> None:
        """The bot's answers to the next `count` accepted webhook deliveries never arrive, so those
        updates are delivered again: the duplicates a bot behind a webhook must expect."""
        self.state.lost_webhook_answers += count
