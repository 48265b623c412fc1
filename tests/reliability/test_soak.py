"""Soak (issue 7 §6): the shipped sample chat replayed in a loop, accelerated,
through a daemon process with the tiny model and a real-time null sink.
Memory and open file descriptors stop growing once warm, and the queue never
gets stuck. The default run lasts 40 s; ``--long`` 15 minutes of wall time
(an hour of recorded chat at 4×). ``ISHOWTTS_SOAK_S`` overrides either."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import aiohttp
import pytest

from ishowtts_live import paths
from tests.reliability import is_long, scale
from tests.reliability.harness import DaemonProcess, open_fds

SECONDS = float(os.environ.get("ISHOWTTS_SOAK_S", scale(40, 900)))
SPEED = 4.0
RSS_GROWTH_MIB = 64  # stated bound: resident memory after warm-up grows by less than this
FD_GROWTH = 8

pytestmark = [pytest.mark.slow, pytest.mark.timeout(int(SECONDS) + 600)]


def test_soak(tiny_config, tmp_path):
    """Hours of chat compressed: RSS and fds level off, utterances keep finishing, the queue stays bounded."""
    daemon = DaemonProcess(tiny_config, tmp_path / "state", overrides=[
        f"sources.replay.path={paths.SAMPLE_CHAT}",
        f"sources.replay.speed={SPEED}", "sources.replay.loop=true", "daemon.exit_when_replay_ends=false",
        "audio.output=null", "daemon.shutdown_grace_s=0", "log.level=warning", "log.format=json",
        "engine.warmup=true"])
    daemon.start()
    samples = []
    try:
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < SECONDS:
            status = asyncio.run(_status(daemon))
            mem = daemon.memory()
            samples.append({"t": round(elapsed, 1), "rss_kib": mem["VmRSS"], "fds": open_fds(daemon.pid),
                            "spoken": status["spoken"], "depth": status["queue_depth"],
                            "received": status["received"]})
            time.sleep(min(5.0, max(0.5, SECONDS / 60)))
        final = asyncio.run(_status(daemon))
    finally:
        assert daemon.stop() == 0
    warm = [s for s in samples if s["t"] >= SECONDS * 0.25]
    base_rss, base_fds = warm[0]["rss_kib"], warm[0]["fds"]
    rss_growth = (max(s["rss_kib"] for s in warm) - base_rss) / 1024
    fd_growth = max(s["fds"] for s in warm) - base_fds
    # stuck = a stretch of a quarter of the run (at least 20 s) with chat waiting and nothing finished
    window = max(20.0, SECONDS / 4)
    stuck = []
    for s in samples:
        later = [x for x in samples if s["t"] < x["t"] <= s["t"] + window]
        if later and later[-1]["t"] - s["t"] >= window * 0.9 and s["depth"] and later[-1]["spoken"] == s["spoken"]:
            stuck.append(s["t"])
    figures = {"wall_s": SECONDS, "replay_speed": SPEED, "chat_s_replayed": round(SECONDS * SPEED),
               "received": final["received"], "spoken": final["spoken"], "drops": final["drops"],
               "rss_start_mib": round(samples[0]["rss_kib"] / 1024, 1),
               "rss_warm_mib": round(base_rss / 1024, 1), "rss_growth_after_warmup_mib": round(rss_growth, 1),
               "fds_warm": base_fds, "fd_growth_after_warmup": fd_growth,
               "max_queue_depth": max(s["depth"] for s in samples), "stuck_at_s": stuck, "long": is_long()}
    print("SOAK", json.dumps(figures, ensure_ascii=False))
    out = os.environ.get("ISHOWTTS_FIGURES")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        Path(out, "soak.json").write_text(json.dumps(figures, ensure_ascii=False, indent=1))
    assert final["spoken"] > 0 and not stuck, figures
    assert rss_growth < RSS_GROWTH_MIB, figures
    assert fd_growth <= FD_GROWTH, figures


async def _status(daemon: DaemonProcess) -> dict:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        return await daemon.get(http, "/api/status")
