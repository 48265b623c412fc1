"""The control API over real HTTP on loopback, against a running daemon."""

from __future__ import annotations

import io
import socket
import stat
import wave

import aiohttp
import msgspec
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ishowtts_live.control.protocol import MUTATING
from tests.kit import wait

VALID_BODY = {
    "/api/mute": {"user": "matrix-user"},
    "/api/unmute": {"user": "matrix-user"},
    "/api/block": {"word": "matrixword"},
    "/api/unblock": {"word": "matrixword"},
    "/api/voice": {"voice": "zh16"},
    "/api/nfe": {"nfe_step": 8},
    "/api/say": {"text": "矩阵测试。"},
    "/api/tts": {"text": "你好。"},
}
FOREIGN = "https://evil.example"


def observable(daemon) -> dict:
    state = msgspec.structs.asdict(daemon.controls.status())
    state.pop("uptime_s")
    return {"status": state, "seq": daemon.bus.seq, "queue": len(daemon.queue)}


@pytest.mark.parametrize("path", sorted(MUTATING))
async def test_auth_matrix_on_every_mutating_endpoint(running, http, path):
    """No token or a wrong one: 401; the right token from a foreign Origin: 403;
    refused requests change nothing; the right token from no/own Origin: 200."""
    url, body = running.url + path, VALID_BODY.get(path)
    before = observable(running.daemon)
    cases = [
        ({}, 401, "authorization"),
        ({"Authorization": "Bearer wrong-token"}, 401, "authorization"),
        ({"Authorization": running.token}, 401, "authorization"),  # no scheme
        ({**running.auth, "Origin": FOREIGN}, 403, "origin"),
        ({"Origin": FOREIGN}, 403, "origin"),
    ]
    for headers, status, field in cases:
        async with http.post(url, json=body, headers=headers) as resp:
            assert resp.status == status, (headers, await resp.text())
            assert (await resp.json())["field"] == field
    assert observable(running.daemon) == before
    for headers in (running.auth, {**running.auth, "Origin": running.url}):
        async with http.post(url, json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            if path != "/api/tts":
                assert (await resp.json())["ok"] is True


async def test_daemon_creates_a_private_token_and_listens_on_loopback_only(running):
    """First start: control.token appears in the state dir with mode 0600; the server's only socket is on 127.0.0.1."""
    assert running.token_file.parent.name == "state" and len(running.token) >= 32
    assert stat.S_IMODE(running.token_file.stat().st_mode) == 0o600
    addresses = running.daemon.control._runner.addresses
    assert addresses and all(a[0] == "127.0.0.1" for a in addresses), addresses


async def test_reading_endpoints_need_the_token(running, http):
    """Status, queue and the event WebSocket answer 401 without the token."""
    for path in ("/api/status", "/api/queue", "/api/events"):
        async with http.get(running.url + path) as resp:
            assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    for path in ("/api/status", "/api/queue"):
        async with http.get(running.url + path, headers=running.auth) as resp:
            assert resp.status == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await wait(http.ws_connect(running.url + "/api/events"), 10)
    assert info.value.status == 401


async def test_public_endpoints_need_no_token_but_refuse_foreign_origins(running, http):
    """/healthz, /metrics and the overlay answer without a token, but never to another site."""
    for path, kind in [("/healthz", "application/json"), ("/metrics", "text/plain"), ("/overlay", "text/html"),
                       ("/overlay/overlay.js", "text/javascript"), ("/overlay/overlay.css", "text/css")]:
        async with http.get(running.url + path) as resp:
            assert resp.status == 200 and resp.content_type == kind, path
        async with http.get(running.url + path, headers={"Origin": FOREIGN}) as resp:
            assert resp.status == 403, path
    async with http.get(running.url + "/healthz") as resp:
        assert await resp.json() == {"status": "ok", "ready": True}
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await wait(http.ws_connect(running.url + "/overlay/feed", origin=FOREIGN), 10)
    assert info.value.status == 403
    async with http.get(running.url + "/overlay/../api/status") as resp:
        assert resp.status in (401, 404)


async def test_foreign_host_name_is_refused(running, http):
    """A request for another host name (DNS rebinding) is refused even with the token."""
    async with http.get(running.url + "/api/status", headers={**running.auth, "Host": "evil.example"}) as resp:
        assert resp.status == 403 and (await resp.json())["field"] == "host"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/mute", {}, "user"),
    ("/api/mute", {"user": 7}, "user"),
    ("/api/mute", {"user": "   "}, "user"),
    ("/api/block", {"wrod": "x"}, "wrod"),
    ("/api/nfe", {"nfe_step": 99}, "nfe_step"),
    ("/api/say", {"text": ""}, "text"),
    ("/api/say", {"text": "hi", "voice": "no-such-voice"}, "voice"),
    ("/api/voice", {"voice": "no-such-voice"}, "voice"),
    ("/api/tts", {"text": "hi", "voice_id": "no-such-voice"}, "voice_id"),
    ("/api/tts", b"{broken", "body"),
    ("/api/say", b"", "body"),
])
async def test_bad_bodies_get_400_naming_the_field(running, http, path, body, field):
    """A malformed or invalid body is a 400 whose error names the field, and changes nothing."""
    before = observable(running.daemon)
    kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
    async with http.post(running.url + path, headers=running.auth, **kwargs) as resp:
        answer = await resp.json()
        assert resp.status == 400, answer
    assert answer["field"] == field and answer["error"].startswith(f"{field}: ")
    assert observable(running.daemon) == before


async def test_body_over_the_limit_is_413(running, http):
    """A body over control.max_body_bytes is refused with 413; the server keeps working."""
    big = b'{"text": "' + b"a" * 70000 + b'"}'
    async with http.post(running.url + "/api/say", data=big, headers=running.auth) as resp:
        assert resp.status == 413 and (await resp.json())["field"] == "body"
    async with http.get(running.url + "/api/status", headers=running.auth) as resp:
        assert resp.status == 200


async def test_unknown_path_is_a_json_404(running, http):
    """Paths that do not exist get 404 with a JSON error."""
    async with http.get(running.url + "/api/nope", headers=running.auth) as resp:
        assert resp.status == 404 and "error" in await resp.json()


async def test_tts_returns_a_24khz_wav_without_touching_the_queue(running, http):
    """POST /api/tts answers a mono 16-bit 24 kHz WAV of plausible length; no chat event is raised."""
    seq = running.daemon.bus.seq
    text = "大家好，欢迎来到直播间。"
    async with http.post(running.url + "/api/tts", json={"text": text, "voice_id": "zh16"},
                         headers=running.auth) as resp:
        assert resp.status == 200 and resp.content_type == "audio/wav"
        data = await resp.read()
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        audio = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    assert 1.5 < len(audio) / 24000 < 12 and np.sqrt(np.mean(audio**2)) > 1e-3
    assert running.daemon.bus.seq == seq and running.daemon.playback.spoken == 0


async def test_said_message_streams_events_and_lands_in_metrics(running, http):
    """`say` → queued, speaking, spoken on /api/events; /metrics (parsed by
    prometheus-client) then counts it, with stage latencies and RTF."""
    async with http.ws_connect(running.url + "/api/events", headers=running.auth) as ws:
        async with http.post(running.url + "/api/say", json={"text": "测试一下。"}, headers=running.auth) as resp:
            assert (await resp.json()) == {"ok": True}
        events = await running.events_until(ws, "spoken")
    kinds = [e["type"] for e in events]
    assert kinds.index("queued") < kinds.index("speaking") < kinds.index("spoken")
    spoken = events[-1]
    assert spoken["user_name"] == "moderator" and spoken["audio_s"] > 0
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)

    async with http.get(running.url + "/metrics") as resp:
        text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("ishowtts_stage_latency_seconds", "ishowtts_rtf", "ishowtts_queue_depth", "ishowtts_drops",
                 "ishowtts_source_reconnects", "ishowtts_synth_errors", "ishowtts_messages",
                 "ishowtts_control_requests", "ishowtts_event_clients"):
        assert name in families, name
    samples = [s for f in families.values() for s in f.samples]

    def value(name, **labels):
        return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())

    assert value("ishowtts_messages_total", outcome="spoken") == 1
    assert value("ishowtts_rtf_count") == 1
    for stage in ("synth_start", "first_audio", "done"):
        assert value("ishowtts_stage_latency_seconds_count", stage=stage) == 1, stage
    assert value("ishowtts_control_requests_total", route="/api/say", status="200") == 1


async def test_skip_cuts_the_message_being_spoken(running, http):
    """POST /api/skip while speaking ends that message at once, as `skipped` by the moderator."""
    text = "这是一条很长很长的消息，我们会在它说完之前跳过它，所以它不会被完整地读出来。"
    async with http.ws_connect(running.url + "/api/events", headers=running.auth) as ws:
        async with http.post(running.url + "/api/say", json={"text": text}, headers=running.auth) as resp:
            assert resp.status == 200
        await running.events_until(ws, "speaking")
        async with http.post(running.url + "/api/skip", headers=running.auth) as resp:
            assert await resp.json() == {"ok": True, "changed": True}
        skipped = (await running.events_until(ws, "skipped"))[-1]
    assert skipped["reason"] == "moderator" and skipped["text"]
    async with http.post(running.url + "/api/skip", headers=running.auth) as resp:
        assert await resp.json() == {"ok": True, "changed": False}


async def test_pause_queue_clear_resume(running, http):
    """Paused: said messages wait in order and /api/queue lists them; clear removes them all."""
    call = lambda path, body=None: http.post(running.url + path, json=body, headers=running.auth)  # noqa: E731
    async with call("/api/pause") as resp:
        assert await resp.json() == {"ok": True, "paused": True}
    for text in ("第一条。", "第二条。", "第三条。"):
        async with call("/api/say", {"text": text}) as resp:
            assert (await resp.json())["ok"]
    async with http.get(running.url + "/api/queue", headers=running.auth) as resp:
        queue = await resp.json()
    assert queue["paused"] is True and [i["text"] for i in queue["items"]] == ["第一条。", "第二条。", "第三条。"]
    async with http.get(running.url + "/api/status", headers=running.auth) as resp:
        status = await resp.json()
    assert status["paused"] and status["queue_depth"] == 3 and status["speaking"] is None
    async with call("/api/clear") as resp:
        assert await resp.json() == {"ok": True, "count": 3}
    async with call("/api/resume") as resp:
        assert await resp.json() == {"ok": True, "paused": False}
    assert len(running.daemon.queue) == 0 and not running.daemon.queue.paused


async def test_moderation_and_settings_show_in_status(running, http):
    """mute/block/voice/nfe change what /api/status reports; a blocked word stops `say`."""
    call = lambda path, body=None: http.post(running.url + path, json=body, headers=running.auth)  # noqa: E731
    async with call("/api/mute", {"user": "Troll"}) as resp:
        assert (await resp.json()) == {"ok": True, "changed": True, "count": 0}
    async with call("/api/block", {"word": "广告"}) as resp:
        assert (await resp.json()) == {"ok": True, "changed": True}
    async with call("/api/block", {"word": "广告"}) as resp:
        assert (await resp.json()) == {"ok": True, "changed": False}
    async with call("/api/voice", {"voice": "zh16"}) as resp:
        assert (await resp.json()) == {"ok": True, "voice": "zh16"}
    async with call("/api/nfe", {"nfe_step": 12}) as resp:
        assert (await resp.json()) == {"ok": True, "nfe_step": 12}
    async with http.get(running.url + "/api/status", headers=running.auth) as resp:
        status = await resp.json()
    assert "troll" in status["muted_users"] and "广告" in status["blocked_words"]
    assert (status["voice"], status["nfe_step"]) == ("zh16", 12)
    async with call("/api/say", {"text": "看广告啦"}) as resp:
        answer = await resp.json()
    assert answer["ok"] is False and answer["reason"] == "blocked_word"
    async with call("/api/unblock", {"word": "广告"}) as resp:
        assert (await resp.json()) == {"ok": True, "changed": True}
    async with call("/api/unmute", {"user": "troll"}) as resp:
        assert (await resp.json()) == {"ok": True, "changed": True}


async def test_port_in_use_stops_the_daemon_with_one_clear_error(tiny_config, tmp_path):
    """control.port taken by another program: the daemon stops with an error naming the address and the fix."""
    from ishowtts_live.errors import IshowttsError
    from tests.kit.daemon import start_daemon

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(IshowttsError) as info:
            await start_daemon(tiny_config, tmp_path, extra=[f"control.port={port}"])
    message = str(info.value)
    assert message.startswith(f"control: cannot listen on 127.0.0.1:{port}: ") and "change control.port" in message
    assert "\n" not in message


async def test_muting_the_speaker_cuts_them_and_drops_their_next_message(tiny_config, tmp_path, http):
    """POST /api/mute on the user being read aloud: the stream shows moderation, then skipped
    (reason muted); their next chat line arrives as dropped with a mute reason, never spoken."""
    import json

    from ishowtts_live.sources.replay import ReplaySource
    from tests.kit.daemon import start_daemon, stop_daemon

    chat = tmp_path / "chat.jsonl"
    lines = [{"t": 0, "user_name": "Troll", "text": "这是一条很长很长的消息，主持人会在它读完之前把我禁言，所以后面的话都不会被读出来。"},
             {"t": 6, "user_name": "Troll", "text": "我又来了！"}]
    chat.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    r = await start_daemon(tiny_config, tmp_path, sources=[ReplaySource(chat, speed=1)])
    try:
        async with http.ws_connect(r.url + "/api/events?history=100", headers=r.auth) as ws:
            await r.events_until(ws, "speaking")
            async with http.post(r.url + "/api/mute", json={"user": "Troll"}, headers=r.auth) as resp:
                assert resp.status == 200 and (await resp.json())["ok"] is True
            seen = await r.events_until(ws, "dropped", timeout=60)
        kinds = [e["type"] for e in seen]
        assert "spoken" not in kinds and kinds.index("moderation") < kinds.index("skipped"), kinds
        skipped = next(e for e in seen if e["type"] == "skipped")
        assert skipped["reason"] == "muted" and skipped["user_name"] == "Troll"
        assert seen[-1]["text"] == "我又来了！" and "mute" in seen[-1]["reason"]
        assert r.daemon.playback.spoken == 0
    finally:
        await stop_daemon(r)
