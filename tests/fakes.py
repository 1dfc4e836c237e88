"""Hand-written fakes shared by several test modules."""

from __future__ import annotations


class FakeSeconds:
    """A monotonic time source (seconds) that stands still until told."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
