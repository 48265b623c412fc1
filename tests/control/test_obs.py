"""The OBS audio route of docs/obs.md, end to end: a real PulseAudio server with
a null sink named ``ishowtts``, the daemon playing into it through ALSA's
``pulse`` device, a moderator's `ctl say` (a real process), and the sink's
monitor (what OBS's "Audio Output Capture" records) carrying the speech."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
import pytest

from tests import kit
from tests.kit import wait
from tests.kit.daemon import start_daemon, stop_daemon

pytestmark = pytest.mark.pulse


def loud_seconds(audio: np.ndarray, rate: int, threshold: float = 1e-3) -> float:
    """Seconds of ``audio`` in 10 ms windows that are not silent."""
    win = rate // 100
    n = len(audio) // win
    rms = np.sqrt(np.mean(audio[: n * win].reshape(n, win) ** 2, axis=1))
    return float(np.count_nonzero(rms > threshold)) / 100


async def test_ctl_say_is_heard_on_the_ishowtts_sink_monitor(pulse, tiny_config, tmp_path, monkeypatch):
    """A daemon whose output is the `ishowtts` null sink plays a `ctl say` there: the monitor records speech."""
    for key, value in pulse.env.items():  # PULSE_SINK=ishowtts, as the user unit sets it
        monkeypatch.setenv(key, value)
    r = await start_daemon(tiny_config, tmp_path, sink=None,
                           extra=["audio.output=device", "audio.device=pulse"])
    try:
        assert type(r.daemon.sink).__name__ == "SoundDeviceSink"
        rec = await wait(asyncio.to_thread(pulse.recorder), 30)
        async with aiohttp.ClientSession() as http:
            ws = await wait(http.ws_connect(f"{r.url}/api/events", headers=r.auth), 30)
            args = [x for o in r.overrides for x in ("-o", o)]
            done = await wait(asyncio.to_thread(kit.run_cli, "ctl", "say", "大家好，欢迎来到我的直播间！", "--config",
                                                str(r.config), *args, timeout=60), 90)
            assert (done.returncode, done.stdout, done.stderr) == (0, "queued: 大家好，欢迎来到我的直播间！\n", "")
            while (event := await wait(ws.receive_json(), 120))["type"] != "spoken":
                assert event["type"] not in ("dropped", "skipped", "failed"), event
            await wait(ws.close(), 10)
        audio = await wait(asyncio.to_thread(rec.stop), 30)
    finally:
        await stop_daemon(r)
    said = event["audio_s"]
    # non-silent time, not the span: on a busy CPU synthesis can run slower than
    # real time, and the device then plays the speech with gaps between blocks
    heard = loud_seconds(audio, rec.rate)
    assert said > 1.0 and abs(heard - said) < 0.5, (said, heard)
