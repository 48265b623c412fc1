from __future__ import annotations

import asyncio
import random

from ishowtts_live.events import ChatEvent
from ishowtts_live.sources.base import Backoff, ReconnectingSource, RecentIds
from tests.kit import wait


def chat(msg_id: str) -> ChatEvent:
    return ChatEvent(platform="t", msg_id=msg_id, text=msg_id)


def scripted(sessions: list[list[str]]):
    """A connect_once whose n-th connection delivers sessions[n] (the last one
    from then on) and then drops."""
    calls = 0

    async def connect_once():
        nonlocal calls
        batch = sessions[min(calls, len(sessions) - 1)]
        calls += 1
        for msg in batch:
            yield chat(msg)
        raise ConnectionError("server went away")

    return connect_once


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    """Delays double up to the cap; jitter only ever shortens them; reset starts over."""
    b = Backoff(initial=1, factor=2, cap=10, jitter=0.5, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(6)]
    bases = [1, 2, 4, 8, 10, 10]
    assert all(base * 0.5 <= d <= base for d, base in zip(delays, bases))
    b.reset()
    assert b.next_delay() <= 1


def test_recent_ids_are_bounded():
    """The dedupe set remembers the last N ids only."""
    r = RecentIds(size=3)
    assert not r.seen("a") and r.seen("a")
    for x in "bcd":
        r.seen(x)
    assert not r.seen("a")


async def test_reconnects_with_backoff_and_dedupes_replayed_messages():
    """Each failed connection waits the next backoff delay; messages a server
    repeats after a reconnect are delivered once; a good connection resets the backoff."""
    connect_once = scripted([["1", "2"], [], [], ["2", "3"], []])

    slept: list[float] = []

    async def fake_sleep(d):
        slept.append(d)
        await asyncio.sleep(0)

    src = ReconnectingSource("t", connect_once, backoff=Backoff(initial=1, factor=2, cap=60, jitter=0.0),
                             sleep=fake_sleep)
    got = []
    async for ev in src.events():
        got.append(ev.msg_id)
        if ev.msg_id == "3":
            break
    assert got == ["1", "2", "3"] and src.stats.duplicates == 1
    # after session 1 (delivered): 1; empty sessions: 2, 4; session 4 delivered again → reset
    assert slept == [1, 2, 4] and src.stats.reconnects == 3 and "server went away" in src.stats.last_error


async def test_close_interrupts_the_backoff_wait():
    """aclose() during a long backoff ends the source promptly."""
    async def connect_once():
        raise ConnectionRefusedError
        yield  # pragma: no cover

    src = ReconnectingSource("t", connect_once, backoff=Backoff(initial=3600, jitter=0))

    async def run():
        return [e async for e in src.events()]

    task = asyncio.create_task(run())
    await asyncio.sleep(0.05)
    await src.aclose()
    assert await wait(task, 2) == []


async def test_one_warning_per_outage_and_one_line_when_chat_is_back():
    """Retries of one outage are counted, not each logged as a warning; chat flowing again is one info line."""
    from structlog.testing import capture_logs

    connect_once = scripted([["1"], [], [], [], ["2"], ["3"]])  # outage 1: four failed tries; outage 2: one

    async def no_sleep(_d):
        await asyncio.sleep(0)

    counted: list[str] = []
    src = ReconnectingSource("t", connect_once, backoff=Backoff(jitter=0.0), sleep=no_sleep,
                             on_reconnect=lambda name, error: counted.append(name))
    with capture_logs() as logs:
        async for ev in src.events():
            if ev.msg_id == "3":
                break
    warnings = [e for e in logs if e["log_level"] == "warning"]
    backs = [e for e in logs if e["event"] == "chat source back"]
    assert src.stats.reconnects == len(counted) == 5
    assert len(warnings) == 2, warnings
    assert [e["tries"] for e in backs] == [4, 1]


async def test_connection_state_follows_the_connection():
    """connecting at first, connected once the platform accepts (or chat arrives),
    reconnecting through an outage until a connection works, stopped when closed."""
    states: list[str] = []
    accepted = asyncio.Event()
    proceed = asyncio.Event()
    calls = 0

    async def connect_once():
        nonlocal calls
        calls += 1
        states.append(src.stats.state)
        if calls == 1:
            src.mark_connected()  # the welcome: connected before any chat
            accepted.set()
            await proceed.wait()
            raise ConnectionError("server went away")
        if calls == 2:
            raise ConnectionRefusedError("refused")
        yield chat("hello")
        await asyncio.Event().wait()  # a quiet, healthy connection

    async def no_sleep(delay):
        states.append(f"waiting:{src.stats.state}")

    src = ReconnectingSource("t", connect_once, backoff=Backoff(initial=1, jitter=0), sleep=no_sleep)
    events = src.events()
    reader = asyncio.ensure_future(events.__anext__())
    await wait(accepted.wait(), 10)
    assert src.stats.state == "connected"
    proceed.set()
    await wait(reader, 10)
    assert src.stats.state == "connected" and src.stats.last_error == "ConnectionRefusedError: refused"
    assert states == ["connecting", "waiting:reconnecting", "reconnecting", "waiting:reconnecting", "reconnecting"]
    await src.aclose()
    await wait(events.aclose(), 10)
    assert src.stats.state == "stopped"
