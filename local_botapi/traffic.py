"""Ways the fake can misbehave on purpose: Telegram's flood limits and injected faults."""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from local_botapi.errors import too_many_requests
from local_botapi.state import ChatRecord

# (messages, seconds): Telegram's documented broadcasting limits for bots.
PRIVATE_CHAT_LIMIT = (1, 1.0)
GROUP_CHAT_LIMIT = (20, 60.0)
OVERALL_LIMIT = (30, 1.0)


class _SlidingWindow:
    """At most `limit` events in any `period` seconds."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._events: deque[float] = deque()

    def wait_needed(self, now: float) -> float:
        while self._events and self._events[0] <= now - self.period:
            self._events.popleft()
        if len(self._events) < self.limit:
            return 0.0
        return self._events[0] + self.period - now

    def record(self, now: float) -> None:
        self._events.append(now)


class RateLimiter:
    """Answers 429 like Telegram when a bot sends faster than its limits allow."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.enabled = False
        self._overall = _SlidingWindow(*OVERALL_LIMIT)
        self._per_chat: dict[int, _SlidingWindow] = {}

    def admit(self, chat: ChatRecord) -> None:
        """Counts one outgoing message to `chat`, or raises 429 (counting nothing)."""
        if not self.enabled:
            return
        now = self.clock()
        windows = (self._overall, self._window_for(chat))
        wait = max(window.wait_needed(now) for window in windows)
        if wait > 0:
            # Rounded first so that float noise in the clock cannot add a whole second.
            raise too_many_requests(max(1, math.ceil(round(wait, 3))))
        for window in windows:
            window.record(now)

    def _window_for(self, chat: ChatRecord) -> _SlidingWindow:
        if chat.id not in self._per_chat:
            limit = PRIVATE_CHAT_LIMIT if chat.type == "private" else GROUP_CHAT_LIMIT
            self._per_chat[chat.id] = _SlidingWindow(*limit)
        return self._per_chat[chat.id]


FaultStatus = int | Literal["timeout"]


@dataclass
class Fault:
    """The next `count` calls of `method` (any method when None) to `chat_id` (any chat when None) fail this way."""

    method: str | None
    status: FaultStatus
    count: int
    retry_after: int = 1
    delay: float = 30.0
    description: str | None = None
    chat_id: int | None = None

    def hits(self, method: str, chat_id: object) -> bool:
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or str(self.chat_id) == str(chat_id)


@dataclass
class RandomFaults:
    """Each call of `methods` (any method when None) fails with probability `rate`, in a way drawn
    from `statuses`. The draws come from a seeded generator: the same calls in the same order fail
    the same way in every run."""

    rate: float
    methods: frozenset[str] | None  # lower-cased
    statuses: tuple[FaultStatus, ...]
    seed: int
    retry_after: int = 1
    delay: float = 30.0
    drawn: Counter[str] = field(default_factory=Counter)  # faults handed out, by status

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"a fault rate is a probability between 0 and 1, not {self.rate}")
        if not self.statuses:
            raise ValueError("random faults need at least one status to choose from")
        self._rng = random.Random(self.seed)

    @classmethod
    def of(
        cls,
        rate: float,
        methods: Iterable[str] | None,
        statuses: Iterable[FaultStatus],
        seed: int,
        retry_after: int,
        delay: float,
    ) -> RandomFaults:
        wanted = None if methods is None else frozenset(method.lower() for method in methods)
        return cls(rate, wanted, tuple(statuses), seed, retry_after, delay)

    def draw(self, method: str) -> Fault | None:
        if self.methods is not None and method.lower() not in self.methods:
            return None
        if self._rng.random() >= self.rate:
            return None
        status = self._rng.choice(self.statuses)
        self.drawn[str(status)] += 1
        return Fault(method, status, 1, self.retry_after, self.delay)


class FaultPlan:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.random: RandomFaults | None = None

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()
        self.random = None

    def take(self, method: str, chat_id: object = None) -> Fault | None:
        """The fault for this call (to `chat_id`, if it names one): a planned one first, else perhaps a random one."""
        for fault in self._faults:
            if fault.hits(method, chat_id):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return self.random.draw(method) if self.random is not None else None
