"""Faults (issue 7 §2), the chat server: a real loopback Twitch server drops
the connection, stalls (silent, no PONG) and refuses connections, over and
over, during a run. Each time the daemon reconnects by itself, logs one
warning for the outage (not one per retry), counts the reconnects in
/api/status, reads and speaks what is sent after recovery, and does not speak
again a message the server re-delivers."""

from __future__ import annotations

import asyncio
import collections
import time

import aiohttp
import pytest

from tests.kit import until, wait
from tests.kit.daemon import start_daemon, stop_daemon
from tests.reliability import scale
from tests.reliability.faultkit import LogTap, report
from tests.sources.twitch.fake_server import FakeTwitchServer
from tests.sources.twitch.lines import privmsg

CYCLES = scale(2, 10)
ROOM = "faultroom"
FAST = ["sources.twitch.ping_interval_s=5", "sources.twitch.read_timeout_s=1", "sources.twitch.connect_timeout_s=1",
        "sources.twitch.backoff_initial_s=0.2", "sources.twitch.backoff_max_s=1", "backlog.enabled=false"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


async def test_chat_server_faults_reconnect_and_lose_nothing(tiny_config, tmp_path):
    """Drop, stall, refuse × N: reconnects counted, one warning per outage, later messages spoken once."""
    from ishowtts_live.config import load_config
    from ishowtts_live.sinks.null import NullSink
    from ishowtts_live.sources.twitch.source import build

    server = await wait(FakeTwitchServer(channels={ROOM: "5151"}).start(), 10)
    loaded = load_config(str(tiny_config), FAST)
    source = build(loaded.config.sources.twitch, url=server.url, channel=ROOM)
    sent: list[str] = []
    recoveries: dict[str, list[float]] = collections.defaultdict(list)  # fault cleared → chat read again
    detect: dict[str, list[float]] = collections.defaultdict(list)  # fault → the daemon noticed
    joins = 0
    with LogTap() as logs:
        running = await start_daemon(tiny_config, tmp_path, sources=[source],
                                     sink=NullSink(realtime=False), extra=FAST)
        daemon = running.daemon
        try:
            joins += 1
            await wait(server.wait_joined(joins, 30), 40)
            n = 0
            last_line = ""

            async def chat() -> None:
                """One new message (and the one before it again, as a server replaying history would)."""
                nonlocal n, last_line
                n += 1
                text = f"第{n}条弹幕"
                line = privmsg(ROOM, f"viewer{n}", text, room_id="5151", msg_id=f"fault-msg-{n}")
                before = daemon.ingest.received
                await wait(server.send(*([last_line] if last_line else []), line), 10)
                sent.append(text)
                last_line = line
                await until(lambda: daemon.ingest.received > before, 20, f"message {n} received")

            await chat()
            for _cycle in range(CYCLES):
                for fault in ("drop", "stall", "refuse"):
                    reconnects = source.stats.reconnects
                    if fault == "drop":
                        await wait(server.drop(), 10)
                    elif fault == "stall":
                        server.stall(True)
                    else:
                        await wait(server.refuse(), 10)
                    # the daemon noticed (a stall only by its PING going unanswered)
                    detect[fault].append(await until(lambda: source.stats.reconnects > reconnects, 30,
                                                     f"{fault} noticed"))
                    if fault != "drop":
                        await asyncio.sleep(1.5)  # a few retries meet the fault too
                    t0 = time.monotonic()
                    if fault == "stall":
                        server.stall(False)
                    elif fault == "refuse":
                        await wait(server.accept(), 10)
                    joins += 1
                    await wait(server.wait_joined(joins, 30), 40)
                    await chat()
                    recoveries[fault].append(time.monotonic() - t0)
            await until(lambda: daemon.playback.outcomes["spoken"] >= len(sent), scale(120, 600), "all spoken")
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                async with http.get(running.url + "/api/status", headers=running.auth) as resp:
                    status = await wait(resp.json(), 30)
        finally:
            await stop_daemon(running)
            await wait(server.stop(), 10)

    spoken = collections.Counter(e.get("text") for e in logs.events("speaking"))
    outages = logs.events("chat source disconnected; reconnecting")
    backs = logs.events("chat source back")
    src = status["sources"][0]
    faults = 3 * CYCLES
    figures = {
        "cycles": CYCLES, "faults": faults, "messages_sent": len(sent), "received": status["received"],
        "spoken": status["spoken"], "reconnects": src["reconnects"], "connects": src["connects"],
        "duplicates_dropped": src["duplicates"], "outage_warnings": len(outages), "back_lines": len(backs),
        "detect_s": {k: round(max(v), 2) for k, v in detect.items()},
        "recovery_s": {k: {"max": round(max(v), 2), "mean": round(sum(v) / len(v), 2)} for k, v in recoveries.items()},
        "retries_per_outage_max": max((e.get("tries", 0) for e in backs), default=0),
    }
    report("chat", figures)

    assert status["received"] == len(sent), "every message sent after a recovery was read"
    assert src["duplicates"] == faults, "each re-delivered message was recognised"
    # each message spoken once (its text as spoken: names and numbers read out), re-deliveries not again
    assert len(spoken) == len(sent) and set(spoken.values()) == {1}, spoken
    assert status["spoken"] == len(sent)
    assert src["reconnects"] >= faults
    metric = daemon.metrics.reconnects.labels(source.name)._value.get()
    assert src["reconnects"] == metric, "reconnects reach the metrics"
    assert len(outages) == faults, [e.get("error") for e in outages]  # one warning per outage, not per retry
    assert len(backs) == faults
    assert not logs.tracebacks()
    assert {e["event"] for e in logs.problems()} <= {"chat source disconnected; reconnecting"}, logs.problems()
