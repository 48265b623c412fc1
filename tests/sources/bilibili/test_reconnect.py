"""Reconnects through the shared ReconnectingSource, against the fake over
real sockets: a dropped connection, a silently stalled one, refused
connections (with the backoff schedule checked), no duplicates after a
reconnect, and a prompt stop."""

from __future__ import annotations

import asyncio
import random

from ishowtts_live.sources.base import Backoff
from tests.kit import wait
from tests.sources.bilibili import samples
from tests.sources.bilibili.conftest import FastSleep, Reader, make_source, until, web_cfg

ALICE = 4242


def expected_delays(n: int, *, reset_after: set[int] = frozenset()) -> list[float]:
    """The delays make_source's Backoff gives, replayed with the same seed."""
    backoff = Backoff(initial=0.5, cap=4.0, rng=random.Random(7))
    out = []
    for i in range(n):
        if i in reset_after:
            backoff.reset()
        out.append(backoff.next_delay())
    return out


async def test_reconnects_after_the_server_drops_the_connection(fake):
    """A TCP-level drop is noticed, the source reconnects (reusing its token) and reads again."""
    source = make_source(web_cfg(fake))
    reader = Reader(source)
    try:
        await fake.send([samples.danmu(ALICE, "a", "before", ts_ms=1)])
        assert (await reader.next()).text == "before"
        fake.drop()
        await fake.connection(index=1)
        await fake.send([samples.danmu(ALICE, "a", "after", ts_ms=2)])
        assert (await reader.next()).text == "after"
        assert source.stats.reconnects == 1 and source.stats.connects == 2
        assert fake.calls.count("danmu_info") == 1  # the token is still good: no second discovery
    finally:
        await reader.close()


async def test_a_silent_server_is_detected_by_the_read_timeout(fake):
    """When heartbeat replies stop and nothing arrives, the read timeout ends the connection and a new one is made."""
    source = make_source(web_cfg(fake, heartbeat_s=0.1, read_timeout_s=0.8))
    reader = Reader(source)
    try:
        await fake.connection()
        fake.stalled = True
        await fake.wait_for(lambda: len(fake.auth_ok) >= 2)
        fake.stalled = False
        await fake.send([samples.danmu(ALICE, "a", "alive again")])
        assert (await reader.next()).text == "alive again"
        assert "read timeout" in source.stats.last_error
    finally:
        await reader.close()


async def test_refused_connections_follow_the_backoff_schedule(fake):
    """While connections are refused, retries follow the jittered, capped exponential schedule; then it reconnects."""
    sleep = FastSleep()
    source = make_source(web_cfg(fake), sleep=sleep)
    reader = Reader(source)
    try:
        await fake.connection()
        await fake.refuse()
        fake.drop()
        await until(lambda: len(sleep.asked) >= 7, 20)
        await fake.accept()
        await fake.connection(index=1)
        await fake.send([samples.danmu(ALICE, "a", "back")])
        assert (await reader.next()).text == "back"
        want = expected_delays(len(sleep.asked))
        assert sleep.asked == want == source.delays
        assert max(want) <= 4.0 and want[-1] >= 2.0  # capped at 4 s, jitter at most halves it
    finally:
        await reader.close()


async def test_backoff_resets_after_a_healthy_connection(fake):
    """After a connection that delivered something, the next failure starts from the first delay again."""
    sleep = FastSleep()
    source = make_source(web_cfg(fake), sleep=sleep)
    reader = Reader(source)
    try:
        for round_ in range(3):
            await fake.send([samples.danmu(ALICE, "a", f"r{round_}", ts_ms=round_)])
            assert (await reader.next()).text == f"r{round_}"
            fake.drop()
            await fake.connection(index=round_ + 1)
        assert sleep.asked == expected_delays(3, reset_after={1, 2})
        assert all(d <= 0.5 for d in sleep.asked)
    finally:
        await reader.close()


async def test_no_duplicate_messages_after_a_reconnect(fake):
    """A danmaku the server sends again on the new connection (same id_str) is read once."""
    source = make_source(web_cfg(fake))
    reader = Reader(source)
    try:
        again = samples.danmu(ALICE, "a", "once", id_str="same-id")
        await fake.send([again])
        assert (await reader.next()).text == "once"
        fake.drop()
        await fake.connection(index=1)
        await fake.send([again, samples.danmu(ALICE, "a", "new", ts_ms=3)])
        assert (await reader.next()).text == "new"
        assert source.stats.duplicates == 1
    finally:
        await reader.close()


async def test_aclose_stops_a_connected_source_promptly(fake):
    """aclose() alone (no task cancel) ends events() even while it waits on a quiet socket."""
    source = make_source(web_cfg(fake, read_timeout_s=60.0, heartbeat_s=30.0))
    got: list = []

    async def pump():
        async for item in source.events():
            got.append(item)

    task = asyncio.create_task(pump())
    conn = await fake.connection()
    await source.aclose()
    await wait(task, 5)
    await wait(conn.closed.wait(), 5)
    assert got == []

