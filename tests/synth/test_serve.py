"""``ishowtts-live serve`` on the tiny model, in a real Triton server on
loopback (one server for the module): the Triton backend speaks through it
and hears what the local backend says for the same seed; several clients at
once are grouped into one engine batch by Triton's dynamic batcher (its
Prometheus metrics say so); upstream F5-TTS's own HTTP client request shape
is answered; the platform checks fail in one line."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from ishowtts_live.errors import IshowttsError
from ishowtts_live.synth import serve
from ishowtts_live.synth.protocol import SynthRequest, synthesize
from ishowtts_live.synth.reference import reference_at, reference_transcript
from ishowtts_live.synth.triton import TritonSynthesizer
from tests import kit
from tests.kit import wait
from tests.kit.triton import Ports, metric, serve_server

TEXT = "大家好，欢迎来到直播间！今天我们一起聊聊天。"


# ------------------------------------------------------------------ platform (no server)


def test_an_old_glibc_is_refused_in_one_line(monkeypatch):
    """glibc older than 2.35 (PyTriton's manylinux_2_35 wheels): one line naming both versions."""
    monkeypatch.setattr(serve.platform, "libc_ver", lambda: ("glibc", "2.31"))
    with pytest.raises(IshowttsError) as caught:
        serve.check_platform()
    message = str(caught.value)
    assert "glibc 2.35 or newer" in message and "glibc 2.31" in message and "\n" not in message


def test_another_c_library_is_refused_in_one_line(monkeypatch):
    """musl (Alpine) reports no glibc: refused, naming what is needed."""
    monkeypatch.setattr(serve.platform, "libc_ver", lambda: ("", ""))
    with pytest.raises(IshowttsError, match="glibc 2.35 or newer"):
        serve.check_platform()


def test_the_python_library_folder_leads_the_linker_path(monkeypatch):
    """LIBDIR goes in front of LD_LIBRARY_PATH once (the backend stub links libpython)."""
    monkeypatch.setattr(serve.sysconfig, "get_config_var", lambda name: "/opt/py/lib")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/cuda/lib64")
    assert serve.library_path_env() == "/opt/py/lib:/usr/local/cuda/lib64"
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/cuda/lib64:/opt/py/lib")
    assert serve.library_path_env() == "/usr/local/cuda/lib64:/opt/py/lib"
    monkeypatch.delenv("LD_LIBRARY_PATH")
    assert serve.library_path_env() == "/opt/py/lib"


def test_serve_overrides_are_checked(tiny_config):
    """A port out of range is a config error (78) naming the key, before anything loads."""
    result = kit.run_cli("serve", "--config", str(tiny_config), "-o", "serve.grpc_port=70000", timeout=60)
    assert result.returncode == 78
    assert "serve.grpc_port" in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------ against serve


@pytest.fixture(scope="module")
def served(tiny_config, tmp_path_factory):
    """serve on the tiny model: batches of up to 4, held 300 ms for others to
    join (so concurrent requests on a busy CI machine meet in one batch)."""
    folder = tmp_path_factory.mktemp("serve")
    ports = Ports()
    server = serve_server(tiny_config, ports, folder,
                          ["serve.max_batch=4", "serve.queue_delay_ms=300"]).start()
    yield ports
    assert server.stop() is not None, server.tail()


def client(tiny_loaded, url: str) -> TritonSynthesizer:
    from ishowtts_live.app import load_checked

    return TritonSynthesizer(load_checked(str(tiny_loaded.path), ["engine.backend=triton",
                                                                   f"engine.triton.url={url}"]))


@pytest.mark.slow
async def test_serve_speaks_as_the_local_backend(tiny_loaded, engine, served):
    """The same message, voice and seed: the audio from serve (our extras sent,
    the reference sent as samples) equals the local backend's within float
    rounding, chunk for chunk."""
    remote = client(tiny_loaded, served.grpc_url)
    local = kit.local_synth(tiny_loaded, engine)
    await wait(remote.start(), 30)
    await wait(local.start(warmup=False), 60)
    try:
        assert remote.info.extras >= {"nfe_step", "seed", "speed"}
        request = SynthRequest(text=TEXT, seed=11, nfe_step=4)
        there, there_stats = await wait(synthesize(remote, request), 120)
        here, here_stats = await wait(synthesize(local, request), 120)
    finally:
        await wait(remote.stop(), 30)
        await wait(local.stop(), 30)
    assert there_stats.chunks == here_stats.chunks and len(there_stats.chunks) >= 2
    assert len(there) == len(here)
    assert np.max(np.abs(np.asarray(there, np.float32) - np.asarray(here, np.float32))) < 2e-3


@pytest.mark.slow
async def test_clients_at_once_are_batched_by_the_server(tiny_loaded, served):
    """Two daemons' clients with two messages each, at once: Triton's metrics
    count more inferences than executions for f5_tts (batches larger than 1),
    and every message is spoken."""
    clients = [client(tiny_loaded, served.grpc_url) for _ in range(2)]
    before = metric(served, "nv_inference_count"), metric(served, "nv_inference_exec_count")
    for c in clients:
        await wait(c.start(), 30)
    try:
        texts = ["第一条。", "第二条。", "第三条。", "第四条。"]
        outs = await wait(asyncio.gather(*(synthesize(clients[i % 2], SynthRequest(text=t, seed=i))
                                           for i, t in enumerate(texts))), 180)
    finally:
        for c in clients:
            await wait(c.stop(), 30)
    assert all(len(pcm) > 0 for pcm, _ in outs)
    inferences = metric(served, "nv_inference_count") - before[0]
    executions = metric(served, "nv_inference_exec_count") - before[1]
    assert inferences == 4 and executions < inferences


@pytest.mark.slow
def test_upstreams_http_client_request_is_answered(tiny_loaded, served):
    """The request upstream's client_http.py posts (JSON over HTTP: reference
    [1, N] FP32, its length [1, 1] INT32, both texts [1, 1] BYTES) gets one
    FP32 waveform at 24 kHz back."""
    from ishowtts_live.synth import voices

    voice = voices.find_voice(tiny_loaded.config.voices.dir, "default")
    samples = reference_at(voice, 24000)
    body = {"inputs": [
        {"name": "reference_wav", "shape": [1, len(samples)], "datatype": "FP32", "data": samples.tolist()},
        {"name": "reference_wav_len", "shape": [1, 1], "datatype": "INT32", "data": [[len(samples)]]},
        {"name": "reference_text", "shape": [1, 1], "datatype": "BYTES",
         "data": [reference_transcript(voice.text)]},
        {"name": "target_text", "shape": [1, 1], "datatype": "BYTES", "data": ["你好，世界。"]},
    ]}
    request = urllib.request.Request(f"{served.http_url}/v2/models/f5_tts/infer?request_id=0",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        answer = json.loads(reply.read())
    (output,) = answer["outputs"]
    assert output["name"] == "waveform" and output["datatype"] == "FP32"
    wave = np.asarray(output["data"], np.float32)
    assert output["shape"] == [1, wave.size] and wave.size > 2400 and np.isfinite(wave).all()


@pytest.mark.slow
def test_a_malformed_request_is_refused_and_the_server_stays(tiny_loaded, served):
    """An empty target_text: Triton answers an error naming it; the model stays ready."""
    body = {"inputs": [{"name": "target_text", "shape": [1, 1], "datatype": "BYTES", "data": ["  "]},
                       {"name": "reference_text", "shape": [1, 1], "datatype": "BYTES", "data": ["x"]}]}
    request = urllib.request.Request(f"{served.http_url}/v2/models/f5_tts/infer",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert "target_text is missing or empty" in caught.value.read().decode()
    with urllib.request.urlopen(f"{served.http_url}/v2/models/f5_tts/ready", timeout=10) as reply:
        assert reply.status == 200


@pytest.mark.slow
def test_bench_compares_the_backends(tiny_config, served, tmp_path):
    """bench --backend triton: for each N, a local row and a Triton row (N
    clients at once), in the JSON and the Markdown; no timing is asserted."""
    out = tmp_path / "r.json"
    r = kit.run_cli("bench", "--config", str(tiny_config), "--backend", "triton", "--url", served.grpc_url,
                    "--nfe", "2", "--runs", "1", "--warmup-runs", "0", "--cases", "short-zh", "--concurrency", "1,2",
                    "--baseline", "none", "--json", str(out), env={"HF_HUB_OFFLINE": "1"}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = json.loads(out.read_text())["backends"]
    assert [(x["backend"], x["clients"]) for x in rows] == [("local", 1), ("triton", 1), ("local", 2), ("triton", 2)]
    assert all(x["audio_s"] > 0 and x["ttfa_s"]["worst"] > 0 for x in rows)
    assert "| triton | 2 |" in (tmp_path / "r.md").read_text()


@pytest.mark.parametrize(("args", "why"), [
    (["--url", "grpc://127.0.0.1:8001"], "--url needs --backend triton"),
    (["--backend", "triton", "--url", "tcp://x:1"], "--url: expected grpc://host:port"),
])
def test_bench_backend_usage_errors(tiny_config, args, why):
    """--url without --backend triton, or a URL of no known scheme: exit 2, one line."""
    r = kit.run_cli("bench", "--config", str(tiny_config), *args, timeout=120)
    assert r.returncode == 2 and why in r.stderr and "Traceback" not in r.stderr
