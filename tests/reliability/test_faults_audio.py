"""Faults (issue 7 §2), the audio device: the PulseAudio server the daemon
plays to is killed in the middle of an utterance and started again on the
same socket (what a desktop audio server restart or crash does). The sink
reopens the device by itself, logs one line for the outage, and later
messages are heard on the sink's monitor (what OBS captures)."""

from __future__ import annotations

import asyncio

import pytest

from tests.kit import until, wait
from tests.kit.daemon import start_daemon, stop_daemon
from tests.pulse import PulseServer, loud_seconds
from tests.reliability import scale
from tests.reliability.faultkit import LogTap, report

RESTARTS = scale(1, 5)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def own_pulse(tmp_path, monkeypatch):
    """A PulseAudio server of this test's own (it gets killed), reached the way the daemon's unit reaches one."""
    if not PulseServer.available():
        pytest.skip("PulseAudio is not installed (apt-get install pulseaudio pulseaudio-utils)")
    server = PulseServer(tmp_path / "pulse").start()
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    yield server
    server.stop()


async def speak(daemon, text: str, timeout: float = 120) -> None:
    before = daemon.playback.outcomes["spoken"]
    assert daemon.controls.say(text).kept
    await until(lambda: daemon.playback.outcomes["spoken"] > before, timeout, f"{text!r} spoken")


async def test_audio_server_killed_and_restarted(own_pulse, tiny_config, tmp_path):
    """PulseAudio killed mid-utterance and restarted: the sink reopens, later speech is heard on the monitor."""
    with LogTap() as logs:
        running = await start_daemon(tiny_config, tmp_path, sink=None,
                                     extra=["audio.output=device", "audio.device=pulse", "backlog.enabled=false"])
        daemon = running.daemon
        sink = daemon.sink
        recover_s, heard, said = [], [], []
        try:
            assert type(sink).__name__ == "SoundDeviceSink"
            await speak(daemon, "声卡出问题之前的一句话")
            for i in range(RESTARTS):
                played = daemon.metrics.audio_seconds._value.get()
                assert daemon.controls.say("这句话说到一半的时候，音频服务器会被杀掉，然后重新启动，我们继续。").kept
                # the kill lands in the middle of the utterance: some of it heard, most of it to come
                await until(lambda: daemon.playback.current is not None
                            and daemon.metrics.audio_seconds._value.get() > played + 0.3, 120, "speech under way")
                own_pulse.proc.kill()  # SIGKILL: no goodbye to clients
                own_pulse.proc.wait(10)
                await asyncio.sleep(1.5)  # gone for a while: the sink retries meanwhile
                reopens = sink.reopens
                await wait(asyncio.to_thread(own_pulse.start), 30)
                recover_s.append(await until(lambda: sink.reopens > reopens, 60, "the sink reopened"))
                # the utterance the kill interrupted goes on where it stopped
                await until(lambda: daemon.playback.current is None, 120, "the cut-off utterance finished")
                await wait(sink.drain(), 30)
                # what is said after recovery is heard where OBS listens
                rec = await wait(asyncio.to_thread(own_pulse.recorder), 30)
                await speak(daemon, f"声卡回来了，第{i + 1}次")
                said.append(logs.events("spoken")[-1]["audio_s"])
                audio = await wait(asyncio.to_thread(rec.stop), 30)
                heard.append(loud_seconds(audio, rec.rate))
        finally:
            await stop_daemon(running)

    figures = {"restarts": RESTARTS, "reopen_after_restart_s": [round(s, 2) for s in recover_s],
               "heard_after_recovery_s": [round(h, 2) for h in heard], "said_after_recovery_s": said,
               "reopens": sink.reopens,
               "problem_lines": [e["event"] for e in logs.problems()],
               "spoken": daemon.playback.outcomes["spoken"], "failed": daemon.playback.outcomes["failed"]}
    report("audio", figures)

    assert sink.reopens == RESTARTS
    # the message after each recovery was heard on the monitor, all of it
    assert all(abs(h - s) < 0.5 for h, s in zip(heard, said)), (heard, said)
    assert daemon.playback.outcomes["failed"] == 0
    assert not logs.tracebacks()
    problems = [e["event"] for e in logs.problems()]
    assert problems.count("audio device failed; reopening") == RESTARTS, problems  # one line per outage
    assert len(problems) == RESTARTS, problems  # and no line per retry
