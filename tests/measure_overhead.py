"""What the daemon adds between a chat message arriving and its first audio
block reaching the sink, beyond the engine's own time to first block.

    python -m tests.measure_overhead [N]      (tiny random model, CPU; N ≥ 50)

Messages are fed one at a time into an idle daemon (each waits until the
previous one is spoken), through the real ingest → filters → queue → playback
→ synthesis worker → sink path; only the sink is an in-memory one that notes
when each utterance's first block arrives."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests import kit

TEXTS = ["主播晚上好", "今天玩什么游戏", "这波操作太秀了", "hello everyone", "再来一局吧", "666",
         "GPU好快", "晚安啦", "加油加油", "这个配音好像啊"]


class TimingSink:
    def __init__(self):
        self.first: dict[int, float] = {}
        self.current = 0
        self.sample_rate = 24000

    async def open(self): ...
    async def drain(self): ...
    async def cut(self): ...
    async def close(self): ...

    async def write(self, pcm):
        self.first.setdefault(self.current, time.monotonic())


async def measure(n: int) -> dict:
    from ishowtts_live.app import Daemon
    from ishowtts_live.config import load_config
    from ishowtts_live.events import ChatEvent

    tmp = Path(tempfile.mkdtemp())
    loaded = load_config(str(kit.tiny_daemon_config(tmp)), [f"state.dir={tmp / 'state'}", "control.enabled=false",
                                    "daemon.exit_when_replay_ends=false", "filters.user_rate_per_min=0",
                                    "filters.duplicate_window_s=0", "backlog.enabled=false"])
    sink = TimingSink()
    daemon = Daemon(loaded, sink=sink, sources=[])
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 300)
    streams = []
    real_stream = daemon.synth.stream

    def stream(request):
        s = real_stream(request)
        streams.append(s)
        return s

    def stream_ahead(requests):
        ahead = real_ahead(requests)
        streams.extend(ahead)
        return ahead

    real_ahead = daemon.synth.stream_ahead
    daemon.synth.stream = stream
    daemon.synth.stream_ahead = stream_ahead
    sub = daemon.bus.subscribe()
    e2e, engine, overhead = [], [], []
    for i in range(n):
        sink.current = i
        now = time.monotonic()
        event = ChatEvent(platform="replay", msg_id=f"m{i}", text=TEXTS[i % len(TEXTS)], user_id=str(i),
                          user_name=f"viewer{i}", received_mono=now, received_wall=time.time(), clock=float(i))
        daemon.ingest.take(event)
        async for msg in sub:
            if msg["type"] in ("spoken", "failed", "dropped"):
                break
        if msg["type"] != "spoken" or i not in sink.first:
            continue
        stats = next(s for s in reversed(streams) if s.stats.first_block is not None).stats
        total = sink.first[i] - now
        ttfb = stats.first_block - stats.submitted
        e2e.append(total)
        engine.append(ttfb)
        overhead.append(total - ttfb)
    daemon.shutdown.request("measured")
    await task

    def ms(values):
        ordered = sorted(values)
        return {"median_ms": round(statistics.median(values) * 1000, 2),
                "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2),
                "max_ms": round(max(values) * 1000, 2)}

    return {"messages": len(e2e), "received_to_first_audio": ms(e2e), "engine_time_to_first_block": ms(engine),
            "daemon_overhead": ms(overhead)}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    print(json.dumps(asyncio.run(measure(n)), indent=1))


if __name__ == "__main__":
    main()
