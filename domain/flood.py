"""Flood limit per resident: at most N messages in any sliding window of T seconds.

A resident (or a script) pasting fifty messages must not make the bot answer fifty times, nor
file fifty tickets. Messages over the limit are refused; the first refused message of a burst
is marked `first_refusal`, so the bot warns once ("please slow down, try again in 20 s") and
then stays silent until the resident may write again.

Only accepted messages count: refusing a message does not push the resident's next chance
further away, so someone who keeps typing is let through as soon as the window has room.
Time comes from an injected clock (seconds, e.g. `time.monotonic`); the limiter never sleeps.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

# Once this many people are tracked, the idle ones are forgotten, so memory stays bounded.
_PRUNE_THRESHOLD = 1024


@dataclass(frozen=True)
class FloodVerdict:
    allowed: bool
    retry_after: float  # seconds until a message would be accepted; 0.0 when allowed
    first_refusal: bool  # the first refused message since the last accepted one: warn now


@dataclass
class _Sender:
    accepted: deque[float] = field(default_factory=deque)  # ascending acceptance times in the window
    warned: bool = False


class FloodLimiter:
    def __init__(self, max_messages: int, per_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if max_messages < 1 or per_seconds <= 0:
            raise ValueError(f"a flood limit needs max_messages >= 1, per_seconds > 0: {max_messages}/{per_seconds}s")
        self.max_messages = max_messages
        self.per_seconds = per_seconds
        self._clock = clock
        self._senders: dict[Hashable, _Sender] = {}
        self._prune_at = _PRUNE_THRESHOLD

    def allow(self, user_id: Hashable) -> FloodVerdict:
        """Counts a message from `user_id` if the window has room, and says whether it may be handled."""
        now = self._clock()
        sender = self._senders.get(user_id)
        if sender is None:
            if len(self._senders) >= self._prune_at:
                self._prune(now)
            sender = self._senders[user_id] = _Sender()
        self._forget_old(sender, now)
        if len(sender.accepted) < self.max_messages:
            sender.accepted.append(now)
            sender.warned = False
            return FloodVerdict(allowed=True, retry_after=0.0, first_refusal=False)
        first_refusal = not sender.warned
        sender.warned = True
        retry_after = sender.accepted[0] + self.per_seconds - now
        return FloodVerdict(allowed=False, retry_after=retry_after, first_refusal=first_refusal)

    def tracked(self) -> int:
        """How many people the limiter remembers (for tests and monitoring)."""
        return len(self._senders)

    def _forget_old(self, sender: _Sender, now: float) -> None:
        # A message sent exactly `per_seconds` ago no longer counts: the window is half-open.
        while sender.accepted and sender.accepted[0] + self.per_seconds <= now:
            sender.accepted.popleft()

    def _prune(self, now: float) -> None:
        """Forgets people with nothing left in their window: to the limiter they are new again."""
        for sender in self._senders.values():
            self._forget_old(sender, now)
        self._senders = {user: sender for user, sender in self._senders.items() if sender.accepted}
        # Doubling the mark keeps pruning cheap on average even when most people stay active.
        self._prune_at = max(_PRUNE_THRESHOLD, 2 * len(self._senders))
