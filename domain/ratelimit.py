"""Telegram's flood limits as a pure pacing rule: how long until a chat may be sent its next message.

Telegram allows a bot about 30 messages a second overall, one a second per private chat and 20 a
minute per group, and answers 429 ("retry after N") above that. The outbox dispatcher asks
`SendLimiter.wait(chat_id)` before each send and waits that long itself; the limiter never sleeps.

Why this yields no 429: Telegram counts a message at some moment between our request leaving and its
answer arriving, and we cannot know which. So a send occupies its windows from the moment it starts
(while in flight it counts as "now") until one period after its answer arrived. Whatever moment
Telegram counted it at, that moment lies inside what we counted, so Telegram never sees more than the
limit in any period. The price is one round trip per period: 30 / (1 s + round trip) per second.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# Once this many chats are tracked, quiet ones are forgotten, so the map does not grow without end.
_PRUNE_THRESHOLD = 1024


@dataclass(frozen=True)
class Limit:
    """At most `messages` in any `seconds`."""

    messages: int
    seconds: float


OVERALL = Limit(30, 1.0)
PRIVATE_CHAT = Limit(1, 1.0)
GROUP_CHAT = Limit(20, 60.0)


def is_group_chat(chat_id: int) -> bool:
    """Groups, supergroups and channels have negative ids; people have positive ones."""
    return chat_id < 0


class _Window:
    """The sends that count against one limit: those in flight, and when each of the others finished."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self.in_flight = 0
        self._finished: deque[float] = deque()  # ascending: the clock never goes back

    def wait(self, now: float) -> float:
        """Seconds until one more send fits; infinite when only a send in flight finishing can make room."""
        self._forget(now)
        excess = self.in_flight + len(self._finished) - self.limit.messages + 1
        if excess <= 0:
            return 0.0
        if excess > len(self._finished):
            return math.inf
        return self._finished[excess - 1] + self.limit.seconds - now

    def start(self) -> None:
        self.in_flight += 1

    def finish(self, now: float) -> None:
        self.in_flight -= 1
        self._finished.append(now)

    def is_idle(self, now: float) -> bool:
        self._forget(now)
        return self.in_flight == 0 and not self._finished

    def _forget(self, now: float) -> None:
        # The same sum as in wait(), so the two never disagree about a send at the very edge of its period.
        while self._finished and self._finished[0] + self.limit.seconds <= now:
            self._finished.popleft()


@dataclass(eq=False)
class Send:
    """A message on its way: counted from `SendLimiter.start` until `SendLimiter.finish`."""

    chat_id: int
    finished: bool = False


class SendLimiter:
    """Paces sends to Telegram's limits; time comes from `clock` (seconds, e.g. `time.monotonic`)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        overall: Limit = OVERALL,
        private_chat: Limit = PRIVATE_CHAT,
        group_chat: Limit = GROUP_CHAT,
    ) -> None:
        self.clock = clock
        self._private_chat = private_chat
        self._group_chat = group_chat
        self._overall = _Window(overall)
        self._chats: dict[int, _Window] = {}
        self._held_until = -math.inf
        self._chat_held_until: dict[int, float] = {}
        self._prune_at = _PRUNE_THRESHOLD

    def wait(self, chat_id: int) -> float:
        """Seconds until a message to `chat_id` may start (0.0: now)."""
        return max(self.overall_wait(), self.chat_wait(chat_id))

    def overall_wait(self) -> float:
        """Seconds until the bot may send anything at all."""
        now = self.clock()
        return max(0.0, self._held_until - now, self._overall.wait(now))

    def chat_wait(self, chat_id: int) -> float:
        """Seconds until `chat_id`'s own limit allows a message, ignoring the overall one."""
        now = self.clock()
        held = self._chat_held_until.get(chat_id, -math.inf) - now
        window = self._chats.get(chat_id)
        return max(0.0, held, window.wait(now) if window else 0.0)

    def start(self, chat_id: int) -> Send:
        """Counts a message to `chat_id` as in flight from now; only allowed when `wait` says 0."""
        wait = self.wait(chat_id)
        if wait > 0:
            raise RuntimeError(f"a message to chat {chat_id} may not start for another {wait:.3f}s")
        self._overall.start()
        self._window_for(chat_id).start()
        return Send(chat_id)

    def finish(self, send: Send) -> None:
        """The answer to `send` arrived (success or error alike): it counts from now until a period passes.

        Finishing twice is harmless, so a caller may finish whatever it is unsure about when cancelled.
        """
        if send.finished:
            return
        send.finished = True
        now = self.clock()
        self._overall.finish(now)
        self._window_for(send.chat_id).finish(now)
        if len(self._chats) > self._prune_at:
            self._prune(now)

    def hold_chat(self, chat_id: int, seconds: float) -> None:
        """Telegram asked us to wait before writing to this chat again (a 429's retry_after)."""
        until = self.clock() + seconds
        self._chat_held_until[chat_id] = max(until, self._chat_held_until.get(chat_id, -math.inf))

    def hold_all(self, seconds: float) -> None:
        """Nothing may be sent for `seconds` (flood control, or the network is down)."""
        self._held_until = max(self._held_until, self.clock() + seconds)

    def _window_for(self, chat_id: int) -> _Window:
        window = self._chats.get(chat_id)
        if window is None:
            limit = self._group_chat if is_group_chat(chat_id) else self._private_chat
            window = self._chats[chat_id] = _Window(limit)
        return window

    def _prune(self, now: float) -> None:
        """Forgets chats with nothing in flight or in their window: they are as new again."""
        self._chats = {chat_id: w for chat_id, w in self._chats.items() if not w.is_idle(now)}
        self._chat_held_until = {chat_id: t for chat_id, t in self._chat_held_until.items() if t > now}
        # Doubling the mark keeps pruning cheap on average even when most chats stay busy.
        self._prune_at = max(_PRUNE_THRESHOLD, 2 * len(self._chats))
