"""A daemon whose warm-up is slow (a Jetson compiling its kernels): the
control API answers from the first second with the warm-up's progress, and
systemd hears of every step."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

import aiohttp
import pytest

from tests import kit
from tests.control.test_ctl import ctl
from tests.kit import until, wait
from tests.kit.daemon import fake_for, free_port, start_daemon, stop_daemon


def notify_socket(tmp_path) -> tuple[socket.socket, str]:
    """What systemd listens on for a Type=notify service: a datagram socket."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(60)
    return sock, path


async def collect(sock: socket.socket, into: list[bytes]) -> None:
    """Read notifications as they come (as systemd does: a full socket queue would block the sender)."""
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    while True:
        into.append(await loop.sock_recv(sock, 4096))


def datagrams_until(sock: socket.socket, last: bytes) -> list[bytes]:
    """Every notification up to and including the first that starts with ``last``."""
    seen = []
    while not (seen and seen[-1].startswith(last)):
        seen.append(sock.recv(4096))
    return seen


async def test_control_api_answers_while_the_engine_warms_up(tiny_config, tmp_path, http, monkeypatch):
    """The control server listens before the warm-up: /healthz is 503 with
    the warm-up's progress as JSON, `ctl status` says "starting (warm-up i/n:
    …)", commands that need the stages are 503 with one clear line, status,
    metrics, the overlay and the event stream answer; systemd gets a STATUS=
    line extending the start timeout at every stage and step, then READY=1;
    once warm, /healthz is 200 and commands work."""
    sock, path = notify_socket(tmp_path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)

    def slow(loaded):
        synth = fake_for(loaded, warmup_steps=3)
        synth.hold_warmup()  # each step waits for the test
        return synth

    told: list[bytes] = []
    reader = asyncio.create_task(collect(sock, told))
    r = await start_daemon(tiny_config, tmp_path, synth=slow, ready=False)
    try:
        synth = r.daemon.synth
        await until(lambda: r.daemon.startup.step == 1, 60, "the first warm-up step")
        async with http.get(r.url + "/healthz") as resp:
            body = await resp.json()
            assert resp.status == 503
        assert body.pop("progress").items() >= {"step": 1, "steps": 3, "what": "fake shape 1"}.items()
        assert body == {"status": "starting", "ready": False, "detail": "warm-up 1/3: fake shape 1"}

        rc, out, err = await ctl(r, "status")
        assert rc == 0, err
        assert out.splitlines()[0].endswith(" · starting (warm-up 1/3: fake shape 1)"), out
        rc, out, err = await ctl(r, "skip")
        assert (rc, out) == (1, "") and err.count("\n") == 1, err
        assert "the daemon is starting (warm-up 1/3: fake shape 1); try again once it is ready" in err

        for method, route, body in (("POST", "/api/say", {"text": "你好"}), ("GET", "/api/queue", None),
                                    ("POST", "/api/mute", {"user": "troll"})):
            async with http.request(method, r.url + route, json=body, headers=r.auth) as resp:
                assert resp.status == 503 and resp.headers["Retry-After"], route
                assert (await resp.json())["error"].startswith("the daemon is starting (warm-up 1/3"), route
        for route in ("/metrics", "/overlay"):
            async with http.get(r.url + route) as resp:
                assert resp.status == 200, route
        async with http.get(r.url + "/no/such/route", headers=r.auth) as resp:
            assert resp.status == 404
        async with http.get(r.url + "/api/status", headers=r.auth) as resp:
            status = await resp.json()
        assert (status["ready"], status["phase"], status["progress"]["step"]) == (False, "starting", 1)

        async with http.ws_connect(r.url + "/api/events?history=100", headers=r.auth) as ws:
            synth.release_warmup()
            seen = await r.events_until(ws, "starting")  # history first: the stages so far
            while not (seen[-1]["type"] == "starting" and seen[-1]["step"] == 2):
                seen.append(await wait(ws.receive_json(), 60))
            assert [e["what"] for e in seen if e["type"] == "starting"][:3] == [
                "opening the audio output", "loading the model", "fake shape 1"]
            synth.release_warmup(2)
            ready = await r.events_until(ws, "ready")
        assert [e["what"] for e in ready if e["type"] == "starting"][-1] == "starting the pipeline"
        await wait(r.daemon.ready.wait(), 60)

        async with http.get(r.url + "/healthz") as resp:
            assert resp.status == 200 and await resp.json() == {"status": "ok", "ready": True}
        async with http.post(r.url + "/api/skip", headers=r.auth) as resp:
            assert resp.status == 200
        assert (await ctl(r, "status"))[1].splitlines()[0].endswith(" · ready · idle")
    finally:
        await stop_daemon(r)
    await until(lambda: told and told[-1] == b"STOPPING=1", 60, "STOPPING=1")
    reader.cancel()
    extend = b"\nEXTEND_TIMEOUT_USEC=600000000"
    assert told[:7] == [b"STATUS=starting: opening the audio output" + extend,
                        b"STATUS=starting: loading the model" + extend,
                        *(b"STATUS=starting: warm-up %d/3: fake shape %d" % (i, i) + extend for i in (1, 2, 3)),
                        b"STATUS=starting: starting the pipeline" + extend,
                        b"READY=1\nSTATUS=speaking; 0 source(s)"]
    assert told[7:] == [b"STOPPING=1"]


def test_a_daemon_process_tells_systemd_each_warmup_step(tiny_config, tmp_path):
    """`ishowtts-live run` as a process under a Type=notify socket: every
    warm-up step is a STATUS= line with EXTEND_TIMEOUT_USEC from
    daemon.warmup_step_timeout_s, READY=1 follows the last, and SIGTERM
    sends STOPPING=1 before a clean exit."""
    sock, path = notify_socket(tmp_path)
    args = [sys.executable, "-m", "tests.kit.fakedaemon", "run", "--config", str(tiny_config)]
    for o in (f"control.port={free_port()}", f"state.dir={tmp_path / 'state'}", "audio.output=null",
              "daemon.exit_when_replay_ends=false", "daemon.warmup_step_timeout_s=45", "daemon.shutdown_grace_s=0"):
        args += ["-o", o]
    env = {**os.environ, "NOTIFY_SOCKET": path, "ISHOWTTS_FAKE_SYNTH": "warmup_steps=4,warmup_step_s=0.2"}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=kit.ROOT, env=env)
    try:
        try:
            told = datagrams_until(sock, b"READY=1")
        except TimeoutError:
            proc.kill()
            raise AssertionError(f"no READY=1; the daemon's log:\n{proc.stderr.read()[-3000:]}") from None
        proc.send_signal(signal.SIGTERM)
        assert sock.recv(4096) == b"STOPPING=1"
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    statuses = [d.decode().split("\n") for d in told[:-1]]
    assert all(extend == "EXTEND_TIMEOUT_USEC=45000000" for _status, extend in statuses), statuses
    assert [status for status, _ in statuses][2:6] == [f"STATUS=starting: warm-up {i}/4: fake shape {i}"
                                                       for i in (1, 2, 3, 4)]


async def test_a_stop_during_warmup_ends_the_start(tiny_config, tmp_path, http):
    """SIGTERM (or Ctrl-C) while the engine warms up, which takes minutes on a
    Jetson: the daemon does not wait for the warm-up; it stops what had
    started, its control server included, and exits 0."""
    def slow(loaded):
        synth = fake_for(loaded, warmup_steps=3)
        synth.hold_warmup()  # the warm-up never goes on by itself
        return synth

    r = await start_daemon(tiny_config, tmp_path, synth=slow, ready=False)
    await until(lambda: r.daemon.startup.step == 1, 60, "the first warm-up step")
    r.daemon.shutdown.request("SIGTERM")
    assert await wait(r.task, 60) == 0
    assert not r.daemon.ready.is_set() and r.daemon.startup.phase == "stopping"
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(r.url + "/healthz"):
            pass
