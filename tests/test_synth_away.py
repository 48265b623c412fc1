"""When synthesis is away and comes back by itself (a Triton server lost, then
back): the message it could not synthesize waits in its place and is spoken
once when synthesis returns, a paid one stays journaled until then, chat past
its time to live is dropped with reason ``synth_unavailable``, and the daemon
keeps running and says it is not ready. First on the fake synthesizer, then
with a real Triton server killed in the middle of a message and restarted."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest

from ishowtts_live.errors import SynthUnavailable
from ishowtts_live.events import ChatEvent
from tests.kit import FakeSynthesizer, next_event, until, wait
from tests.kit.daemon import start_daemon, stop_daemon
from tests.kit.triton import Ports, upstream_server

_ids = itertools.count()


class QueueSource:
    """A chat source the test feeds by hand."""

    name = "test:queue"

    def __init__(self) -> None:
        self.items: asyncio.Queue = asyncio.Queue()
        self._closed = asyncio.Event()

    async def events(self):
        while True:
            get = asyncio.ensure_future(self.items.get())
            closed = asyncio.ensure_future(self._closed.wait())
            done, _ = await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
            if closed in done:
                get.cancel()
                return
            closed.cancel()
            yield get.result()

    def say(self, text: str, *, paid: bool = False) -> str:
        msg_id = f"m{next(_ids)}"
        now = time.monotonic()
        self.items.put_nowait(ChatEvent(platform="test", msg_id=msg_id, text=text, user_id=msg_id,
                                        user_name=f"user-{msg_id}", kind="superchat" if paid else "chat",
                                        amount=30.0 if paid else 0.0, received_mono=now, received_wall=time.time(),
                                        clock=now))
        return msg_id

    async def aclose(self) -> None:
        self._closed.set()


def spoken_ids(events: list[dict]) -> list[str]:
    return [e["msg_id"] for e in events if e["type"] == "spoken"]


async def test_a_message_waits_while_synthesis_is_away(tiny_config, tmp_path):
    """The fake synthesizer goes away as a paid message starts: the message goes
    back to the queue (journaled, not failed), /healthz says 503, chat past its
    TTL is dropped as synth_unavailable; once synthesis is back the paid message
    is spoken exactly once and the journal holds nothing more."""
    fake = FakeSynthesizer(recovers=True, voices=("default", "zh16"))
    away = {"now": False}

    def fail(request):
        if away["now"]:
            fake._state = "unavailable"
            return SynthUnavailable("the fake server is away")
        return None

    fake.fail = fail
    source = QueueSource()
    running = await start_daemon(tiny_config, tmp_path, synth=fake, sources=[source],
                                 extra=["queue.ttl_chat_s=1", "engine.prefetch=0"])
    sub = running.daemon.bus.subscribe()
    try:
        away["now"] = True
        paid = source.say("谢谢老板的醒目留言", paid=True)
        requeued = await next_event(sub, "requeued", timeout=30)
        assert requeued["msg_id"] == paid and requeued["reason"] == "synth_unavailable"
        assert running.controls.health().status == "failing"
        assert running.controls.status().engine.state == "unavailable"
        source.say("这条会过期")
        await until(lambda: running.daemon.drops.counts["synth_unavailable"] == 1, 30, "stale chat dropped")
        assert [u.id for u in running.daemon.journal.pending_paid()] == [running.daemon.queue.snapshot()[0].id]
        away["now"] = False
        fake._state = "ready"
        events = []
        while paid not in spoken_ids(events):
            events.append(await next_event(sub, "spoken", "failed", timeout=30))
        assert spoken_ids(events) == [paid]
        assert running.daemon.journal.pending_paid() == []
        assert running.controls.health().status == "ok"
        assert not running.task.done()
        assert running.daemon.playback.outcomes["failed"] == 0
    finally:
        await stop_daemon(running)


async def test_local_style_unavailable_still_fails_the_message(tiny_config, tmp_path):
    """A synthesizer that does not recover (the local engine): SynthUnavailable
    fails the message as before, and playback goes on."""
    fake = FakeSynthesizer(voices=("default", "zh16"),
                           fail=lambda r: SynthUnavailable("engine thread gone") if "坏" in r.text else None)
    source = QueueSource()
    running = await start_daemon(tiny_config, tmp_path, synth=fake, sources=[source], extra=["engine.prefetch=0"])
    sub = running.daemon.bus.subscribe()
    try:
        bad = source.say("坏消息")
        failed = await next_event(sub, "failed", timeout=30)
        assert failed["msg_id"] == bad
        good = source.say("好消息")
        spoken = await next_event(sub, "spoken", timeout=30)
        assert spoken["msg_id"] == good
    finally:
        await stop_daemon(running)


@pytest.mark.slow
async def test_triton_server_killed_mid_message_and_restarted(tiny_config, tmp_path):
    """A real Triton server (upstream's contract) is killed with SIGKILL after
    a paid message's first chunk played: the daemon keeps running and reports
    503, chat past its TTL is dropped with reason synth_unavailable, and after
    the server restarts on the same ports the paid message is spoken once, in
    full."""
    ports = Ports()
    server = await asyncio.to_thread(upstream_server(ports, tmp_path, delay=0.4).start)
    source = QueueSource()
    running = await start_daemon(
        tiny_config, tmp_path, synth=_triton, sources=[source],
        extra=["engine.backend=triton", f"engine.triton.url={ports.grpc_url}", "engine.triton.timeout_s=5",
               "queue.ttl_chat_s=1", "engine.prefetch=0"])
    sub = running.daemon.bus.subscribe()
    log = tmp_path / "requests.jsonl"
    try:
        paid = source.say("谢谢老板的醒目留言！祝你天天开心，万事如意，心想事成，我们明天同一时间再见。", paid=True)
        speaking = await next_event(sub, "speaking", timeout=30)
        assert speaking["msg_id"] == paid
        await until(lambda: log.exists() and len(log.read_text().splitlines()) >= 1, 30, "the first chunk answered")
        await asyncio.to_thread(server.kill)
        requeued = await next_event(sub, "requeued", timeout=30)
        assert requeued["msg_id"] == paid
        assert running.controls.health().status == "failing"
        source.say("服务器不在的时候的弹幕")
        await until(lambda: running.daemon.drops.counts["synth_unavailable"] == 1, 30, "stale chat dropped")
        assert [u.event.msg_id for u in running.daemon.journal.pending_paid()] == [paid]
        await asyncio.to_thread(server.start)
        events = []
        while paid not in spoken_ids(events):
            events.append(await next_event(sub, "spoken", "failed", timeout=60))
        assert spoken_ids(events) == [paid]
        assert running.daemon.journal.pending_paid() == []
        assert running.controls.health().status == "ok" and not running.task.done()
        sent = [json.loads(line)["target_text"] for line in log.read_text(encoding="utf-8").splitlines()]
        assert sent[0] in sent[1:]  # spoken again from its first chunk after the restart
    finally:
        await stop_daemon(running)
        await asyncio.to_thread(server.stop)


def _triton(loaded):
    from ishowtts_live.synth.triton import TritonSynthesizer

    return TritonSynthesizer(loaded)


@pytest.mark.slow
async def test_run_starts_without_a_server_and_reports_it(tiny_config, tmp_path):
    """No server at start: the daemon starts anyway, /healthz and ctl status say
    synthesis is unavailable (naming the URL), and it connects once the server is up."""
    ports = Ports()
    running = await start_daemon(tiny_config, tmp_path, synth=_triton, sources=[],
                                 extra=["engine.backend=triton", f"engine.triton.url={ports.grpc_url}"])
    server = upstream_server(ports, tmp_path)
    try:
        health = running.controls.health()
        assert health.status == "failing" and ports.grpc_url in health.synthesis
        status = running.controls.status()
        assert status.engine.state == "unavailable" and ports.grpc_url in status.engine.detail
        await asyncio.to_thread(server.start)
        await until(lambda: running.controls.health().status == "ok", 60, "connected once the server is up")
    finally:
        await stop_daemon(running)
        await asyncio.to_thread(server.stop)
