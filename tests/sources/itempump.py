"""Drive a chat source in the background and take its items with deadlines."""

from __future__ import annotations

import asyncio


class Pump:
    """Runs ``source.events()`` in a task; ``take`` waits (bounded) for items."""

    def __init__(self, source):
        self.source = source
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.source.events():
            await self.queue.put(item)

    async def take(self, n: int = 1, timeout: float = 10.0) -> list:
        async def collect():
            return [await self.queue.get() for _ in range(n)]
        return await asyncio.wait_for(collect(), timeout)

    async def one(self, timeout: float = 10.0):
        return (await self.take(1, timeout))[0]

    async def nothing_within(self, seconds: float) -> bool:
        """True if no item arrives within ``seconds`` (for 'no duplicate' checks)."""
        try:
            await asyncio.wait_for(self.queue.get(), seconds)
        except asyncio.TimeoutError:
            return True
        return False

    async def close(self) -> None:
        await self.source.aclose()
        self.task.cancel()
        try:
            await asyncio.wait_for(self.task, 5)  # a source that ignores cancellation fails here
        except asyncio.CancelledError:
            pass


class RecordingSleep:
    """A sleep for ReconnectingSource that records each delay and waits only
    ``scale`` of it, so backoff schedules are checked without waiting them out."""

    def __init__(self, scale: float = 0.0):
        self.scale = scale
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(delay * self.scale)
