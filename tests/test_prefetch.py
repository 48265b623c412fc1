"""Synthesis ahead in the daemon: while one message plays, the next waiting
ones are synthesized, and moderation still wins over audio made in advance.
In process, a FakeSynthesizer (what is asked of synthesis is what is under
test), a real-time null sink."""

from __future__ import annotations

import asyncio
import json


from ishowtts_live.events import ChatEvent
from tests.kit import until, wait
from tests.kit.daemon import fake_for

LONG = "大家晚上好，今天我们一起来玩一个新的游戏，希望大家喜欢这个游戏，记得点个关注。"


def _rows(path, messages):
    path.write_text("\n".join(json.dumps({"t": 0.0, "user_name": user, "user_id": f"id-{user}",
                                          "msg_id": f"m{i}", "text": text}, ensure_ascii=False)
                              for i, (user, text) in enumerate(messages)), encoding="utf-8")
    return path


async def _daemon(tiny_config, tmp_path, messages, *overrides, **fake):
    from ishowtts_live.app import Daemon, load_checked
    from ishowtts_live.sinks.null import NullSink

    loaded = load_checked(str(tiny_config), [
        f"state.dir={tmp_path / 'state'}", f"sources.replay.path={_rows(tmp_path / 'chat.jsonl', messages)}",
        "sources.replay.speed=0", "daemon.exit_when_replay_ends=true", "control.enabled=false",
        "filters.user_rate_per_min=0", "backlog.enabled=false", *overrides])
    fake.setdefault("seconds_per_char", 0.05)  # a long message plays for about two seconds
    daemon = Daemon(loaded, synthesizer=fake_for(loaded, **fake), sink=NullSink(realtime=True))
    task = asyncio.create_task(daemon.run())
    await wait(daemon.ready.wait(), 120)
    seen: list[dict] = []
    sub = daemon.bus.subscribe()

    async def collect():
        async for event in sub:
            seen.append(event)

    return daemon, task, asyncio.create_task(collect()), seen


async def test_the_next_messages_are_synthesized_while_one_plays(tiny_config, tmp_path):
    """Four waiting messages, prefetch 1: every one after the first starts from
    audio made while the one before it played, in queue order, each asked for
    ahead only once the engine had finished the one being spoken."""
    users = ["ann", "ben", "cat", "dan"]
    daemon, task, collector, seen = await _daemon(
        tiny_config, tmp_path, [(u, f"{LONG[:12 + i]}") for i, u in enumerate(users)], "engine.prefetch=1",
        rtf=0.2)
    assert await wait(task, 300) == 0
    collector.cancel()
    spoken = [e["user_name"] for e in seen if e["type"] == "spoken"]
    assert spoken == users
    # the first one too, when the engine was idle as it arrived
    assert daemon.playback.ahead.used >= 3 and daemon.playback.ahead.wasted == 0
    synth = daemon.synth  # each synthesized once, in the order asked, one at a time
    assert [r.utterance_id for r in synth.started] == [r.utterance_id for r in synth.requests]
    assert len(synth.requests) == 4 and set(synth.ahead_groups) == {1}


async def test_prefetch_zero_synthesizes_only_the_message_playing(tiny_config, tmp_path):
    """engine.prefetch = 0: nothing is asked for ahead; each message is synthesized at its turn."""
    daemon, task, collector, seen = await _daemon(
        tiny_config, tmp_path, [("ann", LONG[:12]), ("ben", LONG[:14])], "engine.prefetch=0")
    assert await wait(task, 300) == 0
    collector.cancel()
    assert [e["user_name"] for e in seen if e["type"] == "spoken"] == ["ann", "ben"]
    assert (daemon.playback.ahead.used, daemon.playback.ahead.wasted) == (0, 0)
    assert daemon.synth.ahead_groups == [] and len(daemon.synth.requests) == 2


async def test_moderation_wins_over_audio_made_ahead(tiny_config, tmp_path):
    """Messages already synthesized ahead: a mute purges one (its synthesis is
    cancelled), a word blocked after it was synthesized drops another right
    before it would be spoken; the rest are spoken."""
    messages = [("ann", LONG), ("alice", "我是爱丽丝。"), ("bob", "我喜欢香菜。"), ("carol", "晚安大家。")]
    daemon, task, collector, seen = await _daemon(tiny_config, tmp_path, messages, "engine.prefetch=3",
                                                  "filters.duplicate_window_s=0", rtf=0.2, max_batch=3)
    playback = daemon.playback
    # the three asked for as one group, and served as one batch (once the first
    # message's synthesis has finished: the fake engine serves one batch at a time)
    await until(lambda: playback.current is not None and len(playback.ahead.made) == 3
                and daemon.synth.batches[-1:] == [3], 120,
                "three messages made ahead, as one batch, while the first plays")
    assert playback.current.event.user_name == "ann"
    assert daemon.synth.ahead_groups[-1] == 3
    by_user = {daemon.queue._live[i].utt.event.user_name: made for i, made in playback.ahead.made.items()}
    # a source delivering carol's message again (a reconnect) is refused as a duplicate
    # and leaves the audio made ahead for the one waiting alone
    redelivered = daemon.queue._live[next(iter(playback.ahead.made))].utt.event
    daemon.ingest.take(ChatEvent(platform=redelivered.platform, msg_id="m3", text="晚安大家。",
                                 user_id="id-carol", user_name="carol"))
    assert daemon.queue.drops["duplicate"] == 1 and not by_user["carol"].stream.cancelled
    assert daemon.controls.mute("alice").removed.purged == 1
    assert by_user["alice"].stream.cancelled and not by_user["bob"].stream.cancelled
    daemon.controls.block("香菜")
    assert await wait(task, 300) == 0
    collector.cancel()
    assert [e["user_name"] for e in seen if e["type"] == "spoken"] == ["ann", "carol"]
    assert not [e for e in seen if e["type"] == "speaking" and e["user_name"] in ("alice", "bob")]
    dropped = {e["user_name"]: e["reason"] for e in seen if e["type"] == "dropped"}
    assert dropped["alice"] == "purged" and dropped["bob"].startswith("blocked"), dropped
    assert playback.ahead.used >= 1 and playback.ahead.wasted == 2
