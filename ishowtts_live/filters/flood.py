"""Rules with memory: the same line again, the same line from everyone, and a
per-user token bucket.

Time is the event clock (``ChatEvent.clock``: the recorded offset for a
replay, monotonic receive time live), passed in by the caller, so a replay
gets the same verdicts at any speed. Memory is bounded: entries older than
their window are pruned as the clock moves on.
"""

from __future__ import annotations

from collections import deque

from ishowtts_live.filters.chars import clean, fold, squeeze

_PRUNE_EVERY = 256


def text_key(text: str) -> str:
    """Two lines are "the same" when they differ only in spacing, punctuation,
    case, width or stretching ("666" = "66666" = "６６６!")."""
    key = squeeze(fold(text))
    return key or clean(text).strip()


class DuplicateFilter:
    """The same user sending the same line again within ``window_s``. Every
    repeat restarts the window, so a line pasted every few seconds stays out."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self._seen: dict[tuple[str, str], float] = {}
        self._calls = 0

    def check(self, user: str, key: str, now: float) -> bool:
        """True if this is a duplicate (and remember it either way)."""
        if self.window_s <= 0:
            return False
        self._maybe_prune(now)
        k = (user, key)
        last = self._seen.get(k)
        self._seen[k] = now if last is None else max(last, now)
        return last is not None and now - last < self.window_s

    def _maybe_prune(self, now: float) -> None:
        self._calls += 1
        if self._calls % _PRUNE_EVERY == 0:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self.window_s}


class FloodFilter:
    """The same line from anyone: at most ``max_count`` within ``window_s``
    (a wave of 666 is read once or twice, not forty times)."""

    def __init__(self, window_s: float, max_count: int):
        self.window_s = window_s
        self.max_count = max_count
        self._times: dict[str, deque[float]] = {}
        self._calls = 0

    def check(self, key: str, now: float) -> bool:
        """True if this line is part of a flood. Dropped lines count too, so a
        flood that keeps going stays suppressed."""
        if self.window_s <= 0:
            return False
        self._calls += 1
        if self._calls % _PRUNE_EVERY == 0:
            self._times = {k: q for k, q in self._times.items() if q and now - q[-1] < self.window_s}
        times = self._times.setdefault(key, deque())
        while times and now - times[0] >= self.window_s:
            times.popleft()
        flooded = len(times) >= self.max_count
        times.append(now)
        if len(times) > self.max_count * 4:  # bounded even for an endless flood
            times.popleft()
        return flooded


class RateLimiter:
    """A token bucket per user: ``burst`` messages at once, then one every
    ``60 / rate_per_min`` seconds. Only kept messages take a token."""

    def __init__(self, rate_per_min: float, burst: int):
        self.rate = rate_per_min / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # user → (tokens, at)
        self._calls = 0

    def allow(self, user: str, now: float) -> bool:
        if self.rate <= 0:
            return True
        self._calls += 1
        if self._calls % _PRUNE_EVERY == 0:
            full_after = self.burst / self.rate
            self._buckets = {u: b for u, b in self._buckets.items() if now - b[1] < full_after}
        tokens, at = self._buckets.get(user, (self.burst, now))
        # an event clock that goes backwards (a replay looping) refills nothing
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[user] = (tokens, max(at, now))
            return False
        self._buckets[user] = (tokens - 1.0, max(at, now))
        return True
