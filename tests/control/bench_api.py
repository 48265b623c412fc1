"""Control-API latency against a real, idle daemon process (the figures in docs/control.md).

    python -m tests.control.bench_api CONFIG [--calls 200] [--json FILE]

CONFIG is any config the daemon can run (the tests' tiny-model config works:
the speech engine is not involved). The daemon gets a null audio output, an
empty replay log and a private state directory; it is stopped at the end.
Prints p50/p99/max of GET /api/status over one keep-alive connection and the
wall time of whole `ishowtts-live ctl status` processes; ``--json`` writes
them with the date, the machine and the load average (docs/benchmarks/).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from tests import kit
from tests.kit.daemon import free_port


def percentile(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(p / 100 * (len(sorted_ms) - 1)))]


async def wait_ready(proc: subprocess.Popen, http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(1200):
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {proc.returncode}")
        try:
            async with http.get(url + "/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.25)
    raise SystemExit("the daemon did not become ready in 300 s")


async def measure(config: str, calls: int, work: Path) -> dict:
    chat = work / "empty.jsonl"
    chat.write_text("")
    port = free_port()
    overrides = [f"control.port={port}", f"state.dir={work / 'state'}", "audio.output=null",
                 f"sources.replay.path={chat}", "daemon.exit_when_replay_ends=false"]
    args = ["--config", config, *(x for o in overrides for x in ("-o", o))]

    def ctl(*words: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ishowtts_live", "ctl", *words, *args], capture_output=True,
                              text=True, timeout=60, cwd=kit.ROOT)

    url = f"http://127.0.0.1:{port}"
    with (work / "daemon.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ishowtts_live", "run", *args], stdout=log,
                                stderr=subprocess.STDOUT, cwd=kit.ROOT)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            await wait_ready(proc, http, url)
            auth = {"Authorization": f"Bearer {(work / 'state' / 'control.token').read_text().strip()}"}
            times = []
            for n in range(20 + calls):  # the first 20 warm the connection and the handlers
                t0 = time.perf_counter()
                async with http.get(url + "/api/status", headers=auth) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                if n >= 20:
                    times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"GET /api/status x{calls} (keep-alive): p50 {percentile(times, 50):.2f} ms, "
              f"p99 {percentile(times, 99):.2f} ms, max {times[-1]:.2f} ms")
        walls = []
        for _ in range(10):
            t0 = time.perf_counter()
            assert ctl("status").returncode == 0
            walls.append((time.perf_counter() - t0) * 1000)
        walls.sort()
        print(f"ishowtts-live ctl status x10 (whole process): median {statistics.median(walls):.0f} ms, "
              f"min {walls[0]:.0f} ms, max {walls[-1]:.0f} ms")
        return {
            "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()} Linux, {os.cpu_count()} CPU cores, no GPU",
            "load_average_1min": round(os.getloadavg()[0], 1),
            "command": "python -m tests.control.bench_api CONFIG (tiny test model, audio.output=null, idle daemon)",
            "status_calls": calls,
            "status_p50_ms": round(percentile(times, 50), 2),
            "status_p99_ms": round(percentile(times, 99), 2),
            "status_max_ms": round(times[-1], 2),
            "ctl_status_runs": len(walls),
            "ctl_status_median_ms": round(statistics.median(walls)),
            "ctl_status_min_ms": round(walls[0]),
            "ctl_status_max_ms": round(walls[-1]),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", metavar="FILE", help="also write the figures, with date and machine, here")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ishowtts-bench-api-") as work:
        figures = asyncio.run(measure(str(Path(opts.config).resolve()), opts.calls, Path(work)))
    if opts.json:
        Path(opts.json).write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
