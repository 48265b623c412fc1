"""The live event stream (queued, dropped, speaking, spoken, skipped,
moderation, …) that the control API's WebSocket and the overlay follow.

Publishing never blocks: each subscriber has a bounded queue and a slow one
loses its oldest events (counted), not the daemon's time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int):
        self._bus = bus
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.lost = 0

    def _offer(self, event: dict[str, Any]) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.lost += 1
        self._queue.put_nowait(event)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        return await self._queue.get()

    def take_ready(self) -> list[dict[str, Any]]:
        """The events already waiting, without waiting (to coalesce a burst)."""
        ready = []
        while not self._queue.empty():
            ready.append(self._queue.get_nowait())
        return ready

    def close(self) -> None:
        self._bus._subs.discard(self)


class EventBus:
    def __init__(self, history: int = 100):
        self._subs: set[Subscription] = set()
        self.recent: deque[dict[str, Any]] = deque(maxlen=history)
        self.seq = 0

    def publish(self, type_: str, **data: Any) -> dict[str, Any]:
        self.seq += 1
        event = {"type": type_, "seq": self.seq, "ts": round(time.time(), 3), **data}
        self.recent.append(event)
        for sub in list(self._subs):
            sub._offer(event)
        return event

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subs.add(sub)
        return sub

    @property
    def subscribers(self) -> int:
        return len(self._subs)
