"""How long the daemon takes to start with torch.compile, with an empty
kernel cache and again with the cache the first start filled.

    python -m tests.measure_warmup [--out F.json] [-o section.key=value …]

Runs the real ``ishowtts-live run`` (tiny random model of the test kit,
``engine.compile = "default"``, the fast path on, the default buckets,
``engine.warmup = true``, an empty replay so it exits once ready) in a fresh
process three times: compile on with an empty cache directory (cold), compile
on again with the cache the first run filled (warm), and compile off (the
CPU default, for scale). Reports, from the daemon's own JSON log: model
loading, each warm-up step, the warm-up and the whole start; and, polled from
outside, when ``/healthz`` first answered (503, while starting) and when it
said 200. ``-o`` adds config overrides (e.g. another model)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests import kit
from tests.kit.daemon import free_port
from tests.kit.waiting import log_events


def poll_health(url: str, t0: float, seen: dict[str, float], stop: threading.Event) -> None:
    """Notes when /healthz first answered at all and when it first said 200."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                code = resp.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except OSError:
            code = 0
        if code and "first_answer_s" not in seen:
            seen["first_answer_s"] = round(time.monotonic() - t0, 2)
            seen["first_answer_status"] = code
        if code == 200:
            seen["healthy_s"] = round(time.monotonic() - t0, 2)
            return
        stop.wait(0.05)


def start_once(config: Path, cache: Path, state: Path, overrides: list[str]) -> dict:
    port = free_port()
    empty = state / "empty.jsonl"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_text("")
    args = [sys.executable, "-m", "ishowtts_live", "run", "--config", str(config)]
    for o in [f"control.port={port}", f"state.dir={state}", f"sources.replay.path={empty}", "audio.output=null",
              "daemon.exit_when_replay_ends=true", "log.format=json", "engine.warmup=true", *overrides]:
        args += ["-o", o]
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    for var in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "CACHE_DIRECTORY"):
        env.pop(var, None)  # the daemon's own rule: under XDG_CACHE_HOME
    seen: dict[str, float] = {}
    stop = threading.Event()
    t0 = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=kit.ROOT, env=env)
    poller = threading.Thread(target=poll_health, args=(f"http://127.0.0.1:{port}/healthz", t0, seen, stop))
    poller.start()
    _, err = proc.communicate(timeout=3600)
    stop.set()
    poller.join()
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"the daemon failed (exit {proc.returncode}):\n{err[-3000:]}")
    events = log_events(err)
    loaded = next(e for e in events if e.get("event") == "engine loaded")
    steps = [e for e in events if e.get("event") == "warm-up"]
    ready = next(e for e in events if e.get("event") == "ready")
    warm = next(e for e in events if e.get("event") == "engine ready")
    step_s, last = [], 0.0
    for e in steps[1:] + [{"seconds": warm["warmup_s"]}]:  # each step's length: to the next step's start
        step_s.append(round(e["seconds"] - last, 2))
        last = e["seconds"]
    return {
        "model_load_s": loaded["seconds"], "warmup_s": warm["warmup_s"], "startup_s": ready["startup_s"],
        "process_wall_s": round(wall, 2), **seen,
        "steps": [{"step": e["step"], "what": e["shape"], "seconds": s} for e, s in zip(steps, step_s)],
        "kernel_cache": loaded.get("kernel_cache"),
        "kernel_cache_mb": round(sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.measure_warmup")
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    parser.add_argument("-o", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="measure-warmup-"))
    config = kit.tiny_daemon_config(folder)
    compiled = ["engine.compile=default", "engine.fast_path=on", *args.overrides]
    cache = folder / "cache"
    runs = {
        "compile, empty kernel cache (first start)": start_once(config, cache, folder / "s1", compiled),
        "compile, kernel cache from the first start (second start)": start_once(config, cache, folder / "s2",
                                                                                 compiled),
        "no compile (the CPU default)": start_once(config, folder / "cache-off", folder / "s3",
                                                   ["engine.compile=off", "engine.fast_path=on", *args.overrides]),
    }
    emit("tests.measure_warmup", args.overrides, args.out, {
        "model": "tiny random F5 (tests/kit: dim 256, depth 4) + tiny Vocos, fp32, fast path on, default buckets, "
                 "max_batch 4",
        "runs": runs,
    })


def emit(script: str, overrides: list[str], out: Path | None, figures: dict, machine: str = "") -> None:
    """Print a measurement with its command, date, machine and versions (and write it to ``out``)."""
    import torch

    report = {
        "command": f"python -m {script} " + " ".join(f"-o {o}" for o in overrides),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores visible (shared with other jobs), no GPU"
                   + machine,
        "python": platform.python_version(), "torch": torch.__version__, **figures,
    }
    text = json.dumps(report, indent=1, ensure_ascii=False)
    print(text)
    if out:
        out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
