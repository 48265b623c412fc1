"""Silence between chat messages when several are waiting: the daemon with
synthesis ahead (``engine.prefetch``) and without it, in one run.

    python -m tests.measure_gaps [N]      (tiny random model, CPU; N messages, default 12)

N messages arrive at once; a sink that plays in real time (it takes as long
as the audio lasts) notes when each block starts. Silence is wall time the
sink spent waiting for audio: between two messages (the next one was not
ready when the last one ended) and inside a message (a chunk was late)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ishowtts_live.sinks.null import NullSink
from tests import kit

TEXTS = ["主播晚上好，今天玩什么游戏？", "这波操作太秀了，再来一局吧！", "hello everyone, 晚上好", "这个配音好像啊，太厉害了。",
         "GPU好快，一点都不卡。", "晚安啦，明天见！"]


class PacedSink(NullSink):
    """Real-time pacing; (start, seconds, utterance number) for each block."""

    def __init__(self):
        super().__init__(realtime=True)
        self.blocks: list[tuple[float, float, int]] = []
        self.utterance = -1

    async def write(self, pcm) -> None:
        self.blocks.append((time.monotonic(), len(pcm) / self.sample_rate, self.utterance))
        await super().write(pcm)


async def run(folder: Path, n: int, prefetch: int) -> dict:
    from ishowtts_live.app import Daemon
    from ishowtts_live.config import load_config
    from ishowtts_live.events import ChatEvent

    loaded = load_config(str(kit.tiny_daemon_config(folder)), [
        f"state.dir={folder / f'state{prefetch}'}", "control.enabled=false", "daemon.exit_when_replay_ends=false",
        "filters.user_rate_per_min=0", "filters.duplicate_window_s=0", "backlog.enabled=false",
        "engine.warmup=true", f"engine.prefetch={prefetch}", "engine.seed=1", "queue.ttl_chat_s=0"])
    sink = PacedSink()
    daemon = Daemon(loaded, sink=sink, sources=[])
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 300)
    sub = daemon.bus.subscribe()
    for i in range(n):
        now = time.monotonic()
        daemon.ingest.take(ChatEvent(platform="replay", msg_id=f"m{i}", text=TEXTS[i % len(TEXTS)],
                                     user_id=str(i), user_name=f"viewer{i}", received_mono=now,
                                     received_wall=time.time(), clock=float(i)))
    done = 0
    async for msg in sub:
        if msg["type"] == "speaking":
            sink.utterance += 1
        if msg["type"] in ("spoken", "failed", "dropped", "skipped"):
            done += 1
            if done == n:
                break
    daemon.shutdown.request("measured")
    await task
    between, inside = [], []
    for (t0, dur, u0), (t1, _, u1) in zip(sink.blocks, sink.blocks[1:]):
        (between if u1 != u0 else inside).append(max(0.0, t1 - (t0 + dur)))
    audio = sum(d for _, d, _ in sink.blocks)
    return {
        "prefetch": prefetch, "messages": daemon.playback.spoken, "audio_s": round(audio, 2),
        "ahead_used": daemon.playback.ahead_used, "ahead_wasted": daemon.playback.ahead_wasted,
        "silence_between_messages_s": {"median": round(statistics.median(between), 3),
                                       "max": round(max(between), 3), "total": round(sum(between), 2)},
        "silence_inside_messages_s": round(sum(inside), 2),
        "wall_s": round(sink.blocks[-1][0] + sink.blocks[-1][1] - sink.blocks[0][0], 2),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    folder = Path(tempfile.mkdtemp())
    results = [asyncio.run(run(folder, n, prefetch)) for prefetch in (0, 1)]
    print(json.dumps({"device": f"CPU, {os.cpu_count()} cores", "model": "tiny random F5 (tests/kit.py), NFE 7",
                      "date": time.strftime("%Y-%m-%d"), "results": results}, indent=1))


if __name__ == "__main__":
    main()
