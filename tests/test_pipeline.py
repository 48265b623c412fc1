"""The pipeline's small parts (the event clock, voice routing, backlog
degradation) in tables, and the backlog end to end: a daemon that falls
behind degrades visibly and recovers."""

from __future__ import annotations

import asyncio
import json

import pytest

from ishowtts_live.events import ChatEvent
from ishowtts_live.pipeline import Backlog, EventClock, RuntimeOverrides, VoiceRouter, utterance_id_for
from tests.kit import until, wait


def ev(kind="chat", user_id="", user_name="", amount=0.0) -> ChatEvent:
    return ChatEvent(platform="replay", msg_id="m", text="hi", user_id=user_id, user_name=user_name, kind=kind,
                     amount=amount)


def test_a_redelivered_message_gets_the_same_utterance_id():
    """Platform + message id name the utterance, so the queue and the journal
    recognise a message a source delivers again (after a reconnect or restart)."""
    a = ChatEvent(platform="twitch", msg_id="abc-1", text="hi")
    assert utterance_id_for(a) == utterance_id_for(ChatEvent(platform="twitch", msg_id="abc-1", text="hi", clock=9.0))
    assert utterance_id_for(a) != utterance_id_for(ChatEvent(platform="bilibili", msg_id="abc-1", text="hi"))
    assert utterance_id_for(a) != utterance_id_for(ChatEvent(platform="twitch", msg_id="abc-2", text="hi"))
    no_id = ChatEvent(platform="twitch", msg_id="", text="hi")
    assert utterance_id_for(no_id) != utterance_id_for(no_id)  # nothing to recognise it by: always new


@pytest.mark.parametrize("event,override,expected", [
    (ev(), None, ""),  # the default voice
    (ev(), "narrator", "narrator"),  # ctl voice
    (ev("superchat", amount=30), None, "streamer"),  # by kind
    (ev("superchat", amount=30), "narrator", "streamer"),  # kind beats the moderator's chat voice
    (ev(user_name="Alice"), None, "alice-voice"),  # by user name, case-insensitive
    (ev(user_name="ＡＬＩＣＥ"), None, "alice-voice"),  # full-width name
    (ev(user_id="42"), None, "vip"),  # by user id
    (ev("superchat", user_id="42", amount=5), None, "vip"),  # user beats kind
    (ev("gift", user_name="bob"), None, ""),  # a kind without a route
    (None, "narrator", "narrator"),  # no event (an announcement)
])
def test_voice_routing(event, override, expected):
    """User, then kind, then the moderator's choice, then the default."""
    router = VoiceRouter({"superchat": "streamer"}, {"alice": "alice-voice", "42": "vip"},
                         RuntimeOverrides(voice=override))
    assert router.voice_for(event) == expected


@pytest.mark.parametrize("waits,active,changes", [
    ([1, 5, 10], False, 0),
    ([1, 21], True, 1),  # past the threshold: degrade
    ([21, 10, 6], True, 1),  # stays degraded until below recover_s (hysteresis)
    ([21, 4], False, 2),  # and back
    ([21, 4, 30, 0], False, 4),
])
def test_backlog_hysteresis(waits, active, changes):
    """Degrade above threshold_s, recover only below recover_s; each change counted once."""
    seen = []
    b = Backlog(threshold_s=20, recover_s=5, speed=1.3, nfe_floor=5, compact=True,
                on_change=lambda a, w: seen.append(a))
    for w in waits:
        b.update(w)
    assert (b.active, b.changes, len(seen)) == (active, changes, changes)


@pytest.mark.parametrize("active,nfe,default,expected", [
    (False, None, 7, {"nfe_step": None}),
    (False, 16, 7, {"nfe_step": 16}),
    (True, None, 7, {"nfe_step": 5, "speed": 1.3}),
    (True, 16, 7, {"nfe_step": 5, "speed": 1.3}),
    (True, 4, 7, {"nfe_step": 4, "speed": 1.3}),  # already below the floor: kept
])
def test_backlog_synth_args(active, nfe, default, expected):
    """Degraded: faster speech and NFE lowered to the floor, never raised."""
    b = Backlog(threshold_s=20, recover_s=5, speed=1.3, nfe_floor=5, compact=True, active=active)
    assert b.synth_args(nfe, default) == expected


def test_event_clock_follows_events_and_rate():
    """The clock is the newest event's time, advancing at the replay rate; old events do not move it back."""
    clock = EventClock(rate=0.0, start=0.0)
    clock.observe(10.0)
    clock.observe(3.0)
    assert clock.now() == 10.0
    real = [500.0]  # the monotonic clock, moved by hand
    fast = EventClock(rate=100.0, start=0.0, monotonic=lambda: real[0])
    real[0] += 0.05
    assert fast.now() == pytest.approx(5.0)
    fast.observe(2.0)  # behind: ignored
    assert fast.now() == pytest.approx(5.0)
    fast.observe(9.0)
    real[0] += 0.01
    assert fast.now() == pytest.approx(10.0)


async def test_backlog_degrades_and_recovers(tiny_config, tmp_path):
    """A burst the daemon cannot keep up with: it degrades (event, metric, compact text, faster
    speech at the NFE floor) and goes back to normal once the queue drains."""
    from ishowtts_live.app import Daemon, load_checked
    from ishowtts_live.sinks.null import NullSink
    from tests.kit.daemon import fake_for

    log = tmp_path / "burst.jsonl"
    texts = ["大家好", "主播晚上好", "今天玩什么", "这个好看", "再来一局", "晚安"]
    log.write_text("\n".join(json.dumps({"t": i * 0.5, "user_name": f"viewer{chr(97 + i)}", "user_id": str(i),
                                         "msg_id": f"b{i}", "text": text}) for i, text in enumerate(texts)))
    loaded = load_checked(str(tiny_config), [
        f"state.dir={tmp_path / 'state'}", f"sources.replay.path={log}", "sources.replay.speed=1",
        "daemon.exit_when_replay_ends=false", "backlog.threshold_s=1", "backlog.recover_s=0.5",
        "backlog.nfe_floor=3", "control.enabled=false", "filters.user_rate_per_min=0"])
    synth = fake_for(loaded, seconds_per_char=0.1)  # chat at 0.5 s intervals, spoken in ~1.2 s each
    daemon = Daemon(loaded, synthesizer=synth, sink=NullSink(realtime=True))
    task = asyncio.create_task(daemon.run())
    recovered = lambda: [e["degraded"] for e in daemon.bus.recent if e["type"] == "backlog"][:2] == [True, False]  # noqa: E731
    try:
        await until(lambda: recovered() or task.done(), 120, "the backlog to degrade and recover")
    finally:
        daemon.shutdown.request("test over")
        assert await wait(task, 60) == 0
    seen = list(daemon.bus.recent)  # the whole run: fewer than its 100 events
    backlog = [e for e in seen if e["type"] == "backlog"]
    assert [e["degraded"] for e in backlog][:2] == [True, False], backlog
    assert daemon.backlog.changes >= 2
    start = next(i for i, e in enumerate(seen) if e["type"] == "backlog" and e["degraded"])
    end = next(i for i, e in enumerate(seen) if e["type"] == "backlog" and not e["degraded"])
    before = [e for e in seen[:start] if e["type"] == "queued"]
    during = [e for e in seen[start:end] if e["type"] == "queued"]
    # the chat template names the viewer; the compact one (while degraded) does not
    assert before and all("说：" in e["text"] for e in before), before
    assert during and all("说：" not in e["text"] for e in during), during
    # what was synthesized while degraded: faster, at the NFE floor
    compact = [r for r in synth.requests if "说：" not in r.text]
    assert compact and all((r.nfe_step, r.speed) == (3, 1.3) for r in compact), compact
