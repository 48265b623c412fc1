"""The daemon end to end: replay → filters → queue → engine → sink, as a real
process where the behaviour is about processes (signals, crashes; those with
the kit's fake synthesizer, tests.kit.fakedaemon, as synthesis is not what
they test)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests import kit
from tests.kit import LogWatcher, log_events, next_event, until, wait
from tests.pulse import active_seconds, loud_seconds


def write_log(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def start_daemon(tiny_config: Path, *overrides: str, env: dict | None = None, fake: bool = False) -> subprocess.Popen:
    """``ishowtts-live run`` as a child process; ``fake``: with the kit's
    FakeSynthesizer (tests.kit.fakedaemon), for tests about the process, not synthesis."""
    from tests.kit.daemon import free_port

    entry = "tests.kit.fakedaemon" if fake else "ishowtts_live"
    # a port of its own: other daemons (other test runs on this machine) may hold the default one
    args = [sys.executable, "-m", entry, "run", "--config", str(tiny_config), "-o", f"control.port={free_port()}"]
    for o in overrides:
        args += ["-o", o]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=kit.ROOT,
                            env={**os.environ, **(env or {})})


SAMPLE = [
    {"t": 0.0, "user_name": "阿明", "user_id": "1", "text": "主播好！"},
    {"t": 0.1, "user_name": "小红", "user_id": "2", "text": "今天玩什么游戏？"},
    {"t": 0.2, "user_name": "spammer", "user_id": "3", "text": "加群领福利 http://spam.example"},
    {"t": 0.3, "user_name": "土豪", "user_id": "4", "kind": "superchat", "amount": 50, "text": "主播加油，支持一下"},
    {"t": 0.4, "user_name": "小红", "user_id": "2", "text": "今天玩什么游戏？"},
    {"t": 0.5, "user_name": "路人", "user_id": "5", "text": "这个真的笑死我了"},
]


def test_replay_through_the_whole_pipeline_to_a_wav(tiny_config, tmp_path):
    """A replay is filtered, queued (paid first), synthesized and written; drops are
    logged with their reasons; the spoken text is the normalised template."""
    log = write_log(tmp_path / "chat.jsonl", SAMPLE)
    wav = tmp_path / "out.wav"
    proc = start_daemon(tiny_config, f"sources.replay.path={log}", "sources.replay.speed=0",
                        "audio.output=wav", f"audio.wav_path={wav}", "filters.muted_users=['spammer']",
                        f"state.dir={tmp_path / 'state'}", "log.level=debug")  # drops are logged at debug
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    events = log_events(stderr)
    spoken = [e for e in events if e.get("event") == "speaking"]
    dropped = {e["msg_id"]: e["reason"] for e in events if e.get("event") == "dropped"}
    order = [e["msg_id"] for e in spoken]
    # the first chat was already playing when the superchat arrived; the superchat goes next
    assert order == ["replay-1", "replay-4", "replay-2", "replay-6"], order
    assert dropped == {"replay-3": "muted_user", "replay-5": "duplicate"}
    assert "阿明" in spoken[0]["text"] and "主播好" in spoken[0]["text"]
    audio, rate = sf.read(wav, dtype="float32")
    assert rate == 24000 and len(audio) / rate > 4.0 and np.isfinite(audio).all()
    assert any(e.get("event") == "stopping" and e.get("reason") == "replay finished" for e in events)


def test_sigterm_stops_cleanly_within_the_grace_period(tiny_config, tmp_path):
    """SIGTERM while speaking: the daemon says STOPPING, finishes or cuts within the
    grace period, and exits 0."""
    log = write_log(tmp_path / "chat.jsonl",
                    [{"t": i * 0.5, "user_name": f"u{i}", "text": "大家好，欢迎来到我的直播间，今天我们一起玩游戏。"}
                     for i in range(40)])
    proc = start_daemon(tiny_config, f"sources.replay.path={log}", "audio.output=null",
                        "daemon.shutdown_grace_s=2", f"state.dir={tmp_path / 'state'}", fake=True)
    watch = LogWatcher(proc)
    try:
        watch.wait_for(lambda e: e.get("event") == "speaking")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert elapsed < 2 + 5, elapsed
    reasons = [e.get("reason") for e in watch.events() if e.get("event") == "stopping"]
    assert reasons == ["SIGTERM"]


def test_sigkill_with_a_paid_message_queued_then_restart_speaks_it(tiny_config, tmp_path):
    """kill -9 while a superchat waits in the queue; the restarted daemon speaks it."""
    state = tmp_path / "state"
    rows = [{"t": 0, "user_name": f"u{i}", "text": "大家好，欢迎来到我的直播间，今天我们一起玩游戏。" * 2}
            for i in range(3)]
    rows.append({"t": 0.2, "user_name": "土豪", "kind": "superchat", "amount": 100, "msg_id": "sc-1",
                 "text": "主播辛苦了"})
    log = write_log(tmp_path / "chat.jsonl", rows)
    proc = start_daemon(tiny_config, f"sources.replay.path={log}", "sources.replay.speed=0",
                        "audio.output=null", f"state.dir={state}", "queue.max_items=50", fake=True)
    watch = LogWatcher(proc)
    try:
        watch.wait_for(lambda e: e.get("event") == "queued" and e.get("msg_id") == "sc-1")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    spoken_before = [e.get("msg_id") for e in watch.events() if e.get("event") == "speaking"]
    assert "sc-1" not in spoken_before
    empty = write_log(tmp_path / "empty.jsonl", [])
    proc2 = start_daemon(tiny_config, f"sources.replay.path={empty}", "audio.output=null", f"state.dir={state}",
                         fake=True)
    _, stderr = proc2.communicate(timeout=300)
    assert proc2.returncode == 0, stderr[-3000:]
    spoken_after = [e.get("msg_id") for e in log_events(stderr) if e.get("event") == "speaking"]
    assert spoken_after.count("sc-1") == 1


async def test_real_audio_reaches_pulseaudio_and_skip_cuts_it(pulse, tiny_loaded, tmp_path, monkeypatch):
    """Speech is heard on the `ishowtts` null sink's monitor for as long as it
    lasts, and `skip` cuts the message off within a block or two."""
    import asyncio

    from ishowtts_live.app import Daemon, load_checked
    from ishowtts_live.sinks.device import SoundDeviceSink
    from tests.kit.daemon import fake_for

    for k, v in pulse.env.items():
        monkeypatch.setenv(k, v)
    loaded = load_checked(str(tiny_loaded.path), [f"state.dir={tmp_path / 'state'}", "control.enabled=false",
                                                   "daemon.exit_when_replay_ends=false"])
    sink = SoundDeviceSink("pulse", 24000, latency=0.25)
    daemon = Daemon(loaded, synthesizer=fake_for(loaded), sink=sink, sources=[])
    task = asyncio.create_task(daemon.run())
    long_text = "今天我们来玩一个新游戏，希望大家喜欢，" * 6  # ~28 s of tone
    try:
        await wait(daemon.ready.wait(), 120)
        sub = daemon.bus.subscribe()
        rec = await wait(asyncio.to_thread(pulse.recorder), 30)
        daemon.controls.say("大家好，欢迎来到直播间。")
        spoken = await next_event(sub, "spoken", timeout=120)
        await wait(sink.drain(), 30)  # everything written has been heard
        first = loud_seconds(await wait(asyncio.to_thread(rec.stop), 30), 24000)

        rec = await wait(asyncio.to_thread(pulse.recorder), 30)
        daemon.controls.say(long_text)
        await next_event(sub, "speaking", timeout=60)
        # two seconds of it played (the first block may still be synthesizing on a loaded machine)
        await until(lambda: daemon.metrics.audio_seconds._value.get() - spoken["audio_s"] >= 2.0, 60,
                    "two seconds of the long message played")
        assert daemon.controls.skip()
        skipped = await next_event(sub, "skipped", timeout=10)
        await wait(sink.drain(), 30)
        second = active_seconds(await wait(asyncio.to_thread(rec.stop), 30), 24000)
    finally:
        daemon.shutdown.request("test over")
        await wait(task, 60)
    # all of it reached the sink, and nothing more
    assert spoken["audio_s"] > 1.0 and abs(first - spoken["audio_s"]) < 0.5, (first, spoken)
    assert skipped["reason"] == "moderator"
    # the ~28 s message stopped soon after the 2 s played (device buffer and underruns aside)
    assert 1.5 < second < 6.0, second


@pytest.fixture(autouse=True)
def _no_stray_pulse_env(monkeypatch):
    """Tests here never inherit a desktop's PulseAudio settings."""
    for key in ("PULSE_SERVER", "PULSE_SINK"):
        monkeypatch.delenv(key, raising=False)


async def test_a_paid_message_cut_off_by_shutdown_is_spoken_at_the_next_start(tiny_config, tmp_path):
    """Stopping with no grace cuts the superchat being spoken; it stays journaled
    (not marked skipped, which is a moderator's call) and the next start reads it."""
    from ishowtts_live.events import ChatEvent, now_pair
    from ishowtts_live.queueing.journal import Journal
    from tests.kit.daemon import start_daemon, stop_daemon

    r = await start_daemon(tiny_config, tmp_path, extra=["daemon.shutdown_grace_s=0"])
    sub = r.daemon.bus.subscribe()
    mono, wall = now_pair()
    r.daemon.ingest.take(ChatEvent(platform="bilibili", msg_id="sc-cut", text="感谢主播，" * 20, user_id="9",
                                   user_name="土豪", kind="superchat", amount=30, received_mono=mono,
                                   received_wall=wall, clock=mono))
    await next_event(sub, "speaking", timeout=60)
    await stop_daemon(r)
    skipped = [e for e in r.daemon.bus.recent if e["type"] == "skipped"]
    assert [e["reason"] for e in skipped] in ([], ["shutdown"])
    journal = Journal(tmp_path / "state")
    try:
        assert [u.event.msg_id for u in journal.pending_paid()] == ["sc-cut"]
    finally:
        journal.close()
