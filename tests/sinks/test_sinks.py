from __future__ import annotations

import asyncio

import numpy as np
import pytest
import soundfile as sf

from ishowtts_live.errors import AudioDeviceError
from ishowtts_live.sinks.wav import WavSink
from tests import kit
from tests.kit import wait
from tests.pulse import active_seconds, loud_seconds


def tone(seconds: float, rate: int = 24000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


async def test_wav_sink_writes_16bit_mono(tmp_path):
    """The WAV sink appends blocks into one 24 kHz 16-bit file."""
    sink = WavSink(tmp_path / "out" / "a.wav")
    await sink.open()
    for block in np.array_split(tone(1.0), 20):
        await sink.write(block)
    await sink.close()
    data, rate = sf.read(tmp_path / "out" / "a.wav", dtype="float32")
    assert rate == 24000 and len(data) == 24000 and abs(np.max(data) - 0.3) < 1e-3


async def test_wav_sink_that_got_no_audio_leaves_no_file(tmp_path):
    """Opened and closed without a block (the engine never started): no
    header-only 44-byte WAV is left behind."""
    sink = WavSink(tmp_path / "out" / "a.wav")
    await asyncio.wait_for(sink.open(), 10)
    assert (tmp_path / "out" / "a.wav").exists()
    await asyncio.wait_for(sink.close(), 10)
    assert not (tmp_path / "out" / "a.wav").exists()


async def test_wav_sink_unwritable_path_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(AudioDeviceError, match="cannot write"):
        await WavSink(tmp_path / "file" / "a.wav").open()


def test_say_plays_on_a_pulseaudio_sink(pulse, tiny_config, tmp_path):
    """`say --device pulse` is heard on the null sink's monitor, as long as it is."""
    rec = pulse.recorder()
    r = kit.run_cli("say", "大家好，欢迎来到我的直播间！", "--config", str(tiny_config), "--device", "pulse",
                    "--seed", "1", env=pulse.env)
    audio = rec.stop()
    assert r.returncode == 0, r.stderr
    said = float(r.stderr.split("device 'pulse': ")[1].split(" s of audio")[0])
    heard = loud_seconds(audio, 24000)
    assert said > 2.0 and said - 0.5 < heard < said + 0.5, (said, heard, active_seconds(audio, 24000))


def test_unknown_device_names_the_available_ones(pulse, tiny_config):
    """A device name that matches nothing lists the devices there are."""
    r = kit.run_cli("say", "你好", "--config", str(tiny_config), "--device", "no-such-card", env=pulse.env)
    assert r.returncode == 1
    assert "audio.device 'no-such-card' matches no output device; available: 'pulse'" in r.stderr
    assert "Traceback" not in r.stderr


async def test_device_sink_paces_and_cuts(pulse, monkeypatch):
    """Blocks reach the device in real time; cut() silences it within a block."""
    for k, v in pulse.env.items():
        monkeypatch.setenv(k, v)
    from ishowtts_live.sinks.device import SoundDeviceSink

    rec = pulse.recorder(rate=24000)
    sink = SoundDeviceSink("pulse", 24000, latency=0.25)
    await wait(sink.open())
    t0 = asyncio.get_running_loop().time()
    blocks = np.array_split(tone(3.0), 60)  # 50 ms blocks
    for block in blocks[:20]:
        await wait(sink.write(block))
    await wait(sink.cut())
    elapsed = asyncio.get_running_loop().time() - t0
    await asyncio.sleep(0.5)
    await wait(sink.close())
    audio = rec.stop()
    heard = active_seconds(audio, 24000)
    # paced by the device (1 s written, minus its buffer and our 3-block queue), not dumped at once
    assert 0.45 < elapsed < 1.5
    assert heard < 1.3, heard  # 1.0 s written, then cut: nothing more


async def test_device_sink_resamples_to_the_device_rate(pulse, monkeypatch):
    """Opened at 48 kHz, the sink resamples 24 kHz blocks: same length, same pitch."""
    for k, v in pulse.env.items():
        monkeypatch.setenv(k, v)
    from ishowtts_live.sinks.device import SoundDeviceSink

    rec = pulse.recorder(rate=48000)
    sink = SoundDeviceSink("pulse", 24000, latency=0.25, device_rate=48000)
    await wait(sink.open())
    assert sink.device_rate == 48000
    for block in np.array_split(tone(1.5, freq=600.0), 30):
        await wait(sink.write(block))
    await wait(sink.drain())
    await wait(sink.close())
    audio = rec.stop()
    assert abs(active_seconds(audio, 48000) - 1.5) < 0.2
    start = int(np.flatnonzero(np.abs(audio) > 0.05)[0]) + 4800
    middle = audio[start : start + 48000 // 2]
    peak_hz = np.argmax(np.abs(np.fft.rfft(middle))) * 48000 / len(middle)
    assert abs(peak_hz - 600.0) < 10.0
