"""The clock time-based rules and TTLs run on."""

from __future__ import annotations

import time
from typing import Callable


class EventClock:
    """The latest event's clock, advanced between events at ``rate`` × real
    time (the replay speed; 1 for live sources, whose events carry monotonic
    time; 0 = only events move it)."""

    def __init__(self, rate: float = 1.0, start: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.rate = rate
        self._monotonic = monotonic
        self._mono = monotonic()
        self._at = self._mono if start is None else start

    def observe(self, event_clock: float) -> None:
        if event_clock >= self.now():
            self._at, self._mono = event_clock, self._monotonic()

    def now(self) -> float:
        return self._at + (self._monotonic() - self._mono) * self.rate
