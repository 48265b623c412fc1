"""The Triton backend's client against a real Triton server that implements
only upstream F5-TTS's contract (no extras; tests/synth/upstream_triton.py,
one server for the module): the request shapes upstream's clients send,
chunking kept in the daemon, malformed answers failing one message, no
server at all, and a whole daemon on this backend without torch."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ishowtts_live.errors import SynthesisError, SynthUnavailable
from ishowtts_live.synth.protocol import SynthRequest, synthesize
from ishowtts_live.synth.triton import TritonSynthesizer, checked_waveform
from ishowtts_live.synth.wire import parse_url
from tests import kit
from tests.kit import wait
from tests.kit.daemon import free_port
from tests.kit.triton import Ports, upstream_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """The upstream-contract stand-in on loopback: (ports, its request log)."""
    folder = tmp_path_factory.mktemp("upstream-triton")
    ports = Ports()
    server = upstream_server(ports, folder).start()
    yield ports, folder / "requests.jsonl"
    server.stop()


def requests_logged(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


def client(tiny_loaded, url: str, *extra: str) -> TritonSynthesizer:
    from ishowtts_live.app import load_checked

    loaded = load_checked(str(tiny_loaded.path), ["engine.backend=triton", f"engine.triton.url={url}", *extra])
    return TritonSynthesizer(loaded)


# ------------------------------------------------------------------ pure parts


@pytest.mark.parametrize(("url", "address", "protocol"), [
    ("grpc://127.0.0.1:8001", "127.0.0.1:8001", "grpc"),
    ("grpc://gpu-box", "gpu-box:8001", "grpc"),
    ("http://10.0.0.5:8000", "10.0.0.5:8000", "http"),
    ("https://triton.example", "triton.example:443", "http"),
    ("grpc://[::1]:9001", "[::1]:9001", "grpc"),
])
def test_server_urls(url, address, protocol):
    """A server URL names the protocol and host:port, with Triton's default ports."""
    endpoint = parse_url(url)
    assert (endpoint.address, endpoint.protocol) == (address, protocol)


@pytest.mark.parametrize("url", ["127.0.0.1:8001", "ftp://x:1", "grpc://:8001", "grpc://h:99999",
                                 "http://h:8000/v2/models/f5_tts"])
def test_bad_server_urls_are_refused(url):
    """A URL without a known scheme or host, with a bad port or with a path is refused, saying why."""
    with pytest.raises(ValueError):
        parse_url(url)


def test_a_bad_url_is_a_config_error_in_one_line():
    """config check names engine.triton.url and exits 78."""
    result = kit.run_cli("config", "check", "-o", "engine.backend=triton", "-o", "engine.triton.url=tcp://x")
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "engine.triton.url" in lines[0] and "expected grpc://host:port" in lines[0]


@pytest.mark.parametrize(("wave", "why"), [
    (None, "no waveform"),
    (np.zeros((1, 100), np.int32), "not float32"),
    (np.zeros((2, 100), np.float32), "shape"),
    (np.zeros((1, 0), np.float32), "empty"),
    (np.array([[0.1, np.nan]], np.float32), "NaN"),
    (np.array([[0.1, np.inf]], np.float32), "NaN"),
])
def test_malformed_answers_are_synthesis_errors(wave, why):
    """Wrong dtype, wrong shape, no samples or non-finite samples: an error naming it."""
    with pytest.raises(SynthesisError, match=why):
        checked_waveform(wave, "text")


def test_a_good_answer_is_one_clipped_waveform():
    """[1, N] float32 becomes N samples within ±1."""
    out = checked_waveform(np.array([[0.5, 1.5, -2.0]], np.float32), "text")
    assert out.tolist() == [0.5, 1.0, -1.0]


# ------------------------------------------------------------------ against the upstream-contract server


async def test_client_works_with_only_the_upstream_contract(tiny_loaded, upstream):
    """Against a model with upstream's four inputs and no extras: each chunk is
    one request shaped as upstream's client shapes it ([1, N] FP32 reference at
    24 kHz, [1, 1] INT32 length, [1, 1] BYTES texts), the first chunk goes
    first and short, and the blocks come back at 24 kHz."""
    ports, log = upstream
    synth = client(tiny_loaded, ports.grpc_url)
    await wait(synth.start(), 30)
    try:
        assert synth.health().state == "ready"
        assert synth.info.extras == frozenset() and synth.info.reference_rate == 24000
        before = len(requests_logged(log))
        text = "大家好，欢迎来到直播间！今天我们一起聊聊天，玩玩游戏，谢谢大家的关注和支持。"
        pcm, stats = await wait(synthesize(synth, SynthRequest(text=text, seed=3)), 60)
        reference = (await synth.remote_voice(None, 24000)).samples
    finally:
        await wait(synth.stop(), 30)
    sent = requests_logged(log)[before:]
    assert len(stats.chunks) >= 2 and [r["target_text"] for r in sent] == stats.chunks
    assert "".join(stats.chunks).replace(" ", "") == text.replace(" ", "")
    first = sent[0]["inputs"]
    assert set(first) == {"reference_wav", "reference_wav_len", "reference_text", "target_text"}
    assert first["reference_wav"][0][0] == 1 and first["reference_wav"][1] == "float32"
    assert first["reference_wav_len"] == [[1, 1], "int32"]
    assert first["reference_text"][0] == [1, 1] and first["target_text"][0] == [1, 1]
    assert sent[0]["reference_text"].startswith("对，这就是我")
    assert first["reference_wav"][0][1] == len(reference)
    assert len(pcm) > 0 and stats.audio_seconds == pytest.approx(len(pcm) / 24000)
    assert stats.first_block is not None


async def test_a_malformed_answer_fails_that_message_only(tiny_loaded, upstream):
    """NaN or no samples in the server's answer: that message fails with one
    line naming it; the next message is spoken and the backend stays ready."""
    ports, _log = upstream
    synth = client(tiny_loaded, ports.http_url)  # the HTTP protocol, this time
    await wait(synth.start(), 30)
    try:
        for bad in ("坏的 [nan] 消息。", "空的 [empty] 消息。"):
            with pytest.raises(SynthesisError) as caught:
                await wait(synthesize(synth, SynthRequest(text=bad)), 30)
            assert not isinstance(caught.value, SynthUnavailable) and "\n" not in str(caught.value)
        pcm, _ = await wait(synthesize(synth, SynthRequest(text="好的消息。")), 30)
        assert len(pcm) and synth.health().state == "ready"
    finally:
        await wait(synth.stop(), 30)


async def test_skip_cancels_the_request_in_flight(tiny_loaded, tmp_path):
    """Cancelling a message while its chunk is on the server ends its stream at once."""
    ports = Ports()
    server = upstream_server(ports, tmp_path, delay=3.0).start()
    synth = client(tiny_loaded, ports.grpc_url)
    try:
        await wait(synth.start(), 30)
        stream = synth.stream(SynthRequest(text="一条要被跳过的消息。"))
        await asyncio.sleep(0)  # the request leaves
        stream.cancel()
        blocks = [b async for b in _within(stream, 2.0)]
        assert blocks == [] and stream.done
    finally:
        await wait(synth.stop(), 30)
        server.stop()


async def _within(stream, seconds: float):
    async def collect():
        return [b async for b in stream]
    for block in await wait(collect(), seconds):
        yield block


def test_say_without_a_server_fails_in_one_line(tiny_config):
    """say with no server at the URL: exit 1 within seconds, one line naming the URL, no traceback."""
    url = f"grpc://127.0.0.1:{free_port()}"
    result = kit.run_cli("say", "你好", "--config", str(tiny_config), "-o", "engine.backend=triton",
                         "-o", f"engine.triton.url={url}", "--out", "/dev/null", timeout=60)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("ishowtts-live: error:")]
    assert len(errors) == 1 and f"no Triton server at {url}" in errors[0]
    assert "Traceback" not in result.stderr


def test_the_daemon_on_the_triton_backend_never_imports_torch(tiny_config, upstream, tmp_path):
    """`run` with engine.backend = "triton" replays a chat log to the end,
    speaking through the server, and torch, f5-tts and vocos are never
    imported in that process."""
    ports, _log = upstream
    chat = tmp_path / "chat.jsonl"
    rows = [{"t": 0.0, "user_name": "甲", "text": "第一条弹幕"}, {"t": 0.1, "user_name": "乙", "text": "第二条弹幕"}]
    chat.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    script = (
        "import sys\n"
        "from ishowtts_live.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchaudio', 'f5_tts', 'vocos'))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    args = ["run", "--config", str(tiny_config), "-o", "engine.backend=triton",
            "-o", f"engine.triton.url={ports.grpc_url}", "-o", f"sources.replay.path={chat}", "-o", "sources.replay.speed=0", "-o", "audio.output=null",
            "-o", f"state.dir={tmp_path / 'state'}", "-o", "control.enabled=false"]
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120,
                            cwd=kit.ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "HEAVY []" in result.stderr
    spoken = [e for e in kit.log_events(result.stderr) if e.get("event") == "spoken"]
    assert len(spoken) == 2
