from __future__ import annotations

import random

import pytest

from ishowtts_live.config.schema import BilibiliConfig, BilibiliOpenConfig
from ishowtts_live.sources.base import Backoff
from ishowtts_live.sources.bilibili import BilibiliSource
from tests.kit import wait
from tests.sources.bilibili import samples
from tests.sources.bilibili.fake import FakeBilibili


@pytest.fixture
async def fake():
    server = await FakeBilibili().start()
    yield server
    await server.stop()


def web_cfg(fake: FakeBilibili, **overrides) -> BilibiliConfig:
    """A config pointing every endpoint at the fake, with short timers."""
    values = dict(
        enabled=True, room=samples.SHORT_ROOM, transport="ws", live_api=fake.api, main_api=fake.api,
        home_url=fake.api + "/", fallback_url=fake.ws_url, heartbeat_s=0.2, read_timeout_s=5.0,
        connect_timeout_s=5.0, http_timeout_s=5.0, gift_combo_s=0.0,
    )  # fmt: skip
    values.update(overrides)
    return BilibiliConfig(**values)


def open_cfg(fake: FakeBilibili, **overrides) -> BilibiliConfig:
    open_ = BilibiliOpenConfig(app_id=fake.app_id, access_key_id=fake.key_id, access_key_secret=fake.key_secret,
                               code=fake.identity_code, api_base=fake.api, heartbeat_s=0.2)  # fmt: skip
    return web_cfg(fake, mode="open", open=open_, **overrides)


class FastSleep:
    """Records every backoff delay and sleeps only briefly."""

    def __init__(self):
        self.asked: list[float] = []

    async def __call__(self, delay: float) -> None:
        import asyncio

        self.asked.append(delay)
        await asyncio.sleep(0.01)


def make_source(cfg: BilibiliConfig, *, room: int | None = None, url: str | None = None, cookies=None,
                sleep=None) -> BilibiliSource:  # fmt: skip
    keys = None
    if cfg.mode == "open":
        keys = (cfg.open.access_key_id, cfg.open.access_key_secret, cfg.open.code)
    return BilibiliSource(cfg, room=cfg.room if room is None else room, url=url, cookies=cookies, open_keys=keys,
                          backoff=Backoff(initial=0.5, cap=4.0, rng=random.Random(7)),
                          sleep=sleep or FastSleep())  # fmt: skip


class Reader:
    """Runs a source in a task (as the daemon's ingest loop does) and hands
    out what it yields, with a deadline on every await."""

    def __init__(self, source: BilibiliSource):
        import asyncio

        self.source = source
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        async for item in self.source.events():
            await self.queue.put(item)

    async def next(self, timeout: float = 10.0):
        return await wait(self.queue.get(), timeout)

    async def take(self, n: int, timeout: float = 10.0) -> list:
        return [await self.next(timeout) for _ in range(n)]

    async def close(self) -> None:
        import asyncio

        await self.source.aclose()
        self.task.cancel()
        await wait(asyncio.gather(self.task, return_exceptions=True), 10.0)


async def until(predicate, timeout: float = 10.0) -> None:
    """Poll ``predicate`` (for state nobody signals) until true, with a deadline."""
    import asyncio

    async def poll():
        while not predicate():
            await asyncio.sleep(0.02)

    await wait(poll(), timeout)
