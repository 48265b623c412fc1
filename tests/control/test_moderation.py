"""Moderation through the public API, wherever the message is: one rule for
who a user is (``123``, ``twitch:123``, the name in any case) serves the
queue, the message being spoken and the filters; moderation the config file
sets is answered truthfully (409), never as a change."""

from __future__ import annotations

import pytest

from ishowtts_live.sinks.null import MemorySink
from tests.kit import events_until, next_event, until, wait
from tests.kit.daemon import start_daemon, stop_daemon
from tests.sources.twitch.fake_server import FakeTwitchServer
from tests.sources.twitch.lines import privmsg

ROOM, ROOM_ID = "modroom", "7070"
LONG = "这是一条很长很长的消息，主持人会在它读完之前处理掉，所以后面的话都不会被读出来。" * 3


@pytest.fixture
async def twitch():
    server = await wait(FakeTwitchServer(channels={ROOM: ROOM_ID}).start(), 10)
    yield server
    await wait(server.stop(), 10)


@pytest.fixture
async def chat_daemon(tiny_config, tmp_path, twitch):
    """A daemon reading the loopback Twitch room, speaking into a real-time memory sink."""
    from ishowtts_live.config import load_config
    from ishowtts_live.sources.twitch.source import build

    loaded = load_config(str(tiny_config))
    source = build(loaded.config.sources.twitch, url=twitch.url, channel=ROOM)
    sink = MemorySink(realtime=True)
    running = await start_daemon(tiny_config, tmp_path, sources=[source], sink=sink,
                                 extra=["backlog.enabled=false", "filters.user_rate_per_min=0"])
    await wait(twitch.wait_joined(1, 30), 40)
    yield running, sink
    await stop_daemon(running)


async def _speaking(running, twitch, sink) -> object:
    """CoolGuy (id 123) says a long message, then a second one that waits;
    returns a subscription once the first is being heard."""
    sub = running.daemon.bus.subscribe()
    await wait(twitch.send(
        privmsg(ROOM, "coolguy", LONG, room_id=ROOM_ID, user_id="123", display_name="CoolGuy"),
        privmsg(ROOM, "coolguy", "我还有第二条消息。", room_id=ROOM_ID, user_id="123", display_name="CoolGuy")), 10)
    await next_event(sub, "speaking", timeout=120)
    await until(lambda: sink.blocks, 120, "the first audio block")
    return sub


@pytest.mark.parametrize("user", ["123", "twitch:123", "CoolGuy", "COOLGUY", "coolguy"])
async def test_mute_cuts_the_speaker_within_one_block_however_named(chat_daemon, twitch, http, user):
    """POST /api/mute naming the user being spoken by id, platform:id or name in
    any case: the message stops within one audio block (skipped, reason muted)
    and their waiting message is purged."""
    running, sink = chat_daemon
    sub = await _speaking(running, twitch, sink)
    async with http.post(running.url + "/api/mute", json={"user": user}, headers=running.auth) as resp:
        answer = await resp.json()
    heard_at_answer = len(sink.blocks)
    seen = await events_until(sub, "skipped", "spoken", "failed", timeout=120)
    assert answer == {"ok": True, "changed": True, "count": 1}, answer
    assert (seen[-1]["type"], seen[-1]["reason"]) == ("skipped", "muted"), seen[-1]
    assert len(sink.blocks) - heard_at_answer <= 1
    dropped = [e for e in seen if e["type"] == "dropped"]
    assert [(e["reason"], e["user_id"]) for e in dropped] == [("purged", "123")], dropped


@pytest.mark.parametrize("line", [
    f"@room-id={ROOM_ID};target-user-id=123;tmi-sent-ts=1 :tmi.twitch.tv CLEARCHAT #{ROOM} :coolguy",
    f"@room-id={ROOM_ID};target-user-id=999;tmi-sent-ts=1 :tmi.twitch.tv CLEARCHAT #{ROOM} :COOLGUY",
])
async def test_platform_ban_cuts_the_speaker_by_the_same_rule(chat_daemon, twitch, line):
    """A Twitch ban (CLEARCHAT) naming the user being spoken, by id or by name in
    another case, cuts the message within one block, as a mute does."""
    running, sink = chat_daemon
    sub = await _speaking(running, twitch, sink)
    await wait(twitch.send(line), 10)
    ended = await next_event(sub, "skipped", "spoken", "failed", timeout=120)
    assert (ended["type"], ended["reason"]) == ("skipped", "ban_user"), ended


@pytest.fixture
async def config_moderated(tiny_config, tmp_path):
    r = await start_daemon(tiny_config, tmp_path, extra=[
        "filters.muted_users=['Troll', 'twitch:42']", "filters.blocked_words=['广告']"])
    yield r
    await stop_daemon(r)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/block", {"word": "广告"}, "word"),
    ("/api/block", {"word": "广 告"}, "word"),  # the same word as the filter sees it
    ("/api/unblock", {"word": "广告"}, "word"),
    ("/api/mute", {"user": "troll"}, "user"),
    ("/api/mute", {"user": "TWITCH:42"}, "user"),
    ("/api/unmute", {"user": "TROLL"}, "user"),
])
async def test_what_the_config_file_sets_is_a_409(config_moderated, http, path, body, field):
    """Blocking or unblocking a word, muting or unmuting a user the config file
    already sets is 409 naming the config key; nothing changes."""
    r = config_moderated
    before = r.controls.status()
    async with http.post(r.url + path, json=body, headers=r.auth) as resp:
        answer = await resp.json()
        assert resp.status == 409, answer
    assert answer["field"] == field and "config file" in answer["error"], answer
    after = r.controls.status()
    assert (after.muted_users, after.blocked_words) == (before.muted_users, before.blocked_words)


async def test_run_time_moderation_answers_each_change_once(config_moderated, http):
    """Run-time entries: the first block/mute changes, the second does not, the
    undo changes once; status lists config and run-time entries alike."""
    r = config_moderated
    call = lambda path, body: http.post(r.url + path, json=body, headers=r.auth)  # noqa: E731
    for path, body, changed in [("/api/block", {"word": "香菜"}, True), ("/api/block", {"word": "香菜"}, False),
                                ("/api/mute", {"user": "Spammer"}, True), ("/api/mute", {"user": "spammer"}, False)]:
        async with call(path, body) as resp:
            assert (await resp.json())["changed"] is changed, (path, body)
    status = r.controls.status()
    assert {"troll", "twitch:42", "spammer"} <= set(status.muted_users)
    assert {"广告", "香菜"} <= set(status.blocked_words)
    for path, body, changed in [("/api/unblock", {"word": "香菜"}, True), ("/api/unblock", {"word": "香菜"}, False),
                                ("/api/unmute", {"user": "SPAMMER"}, True), ("/api/unmute", {"user": "spammer"}, False)]:
        async with call(path, body) as resp:
            assert (await resp.json())["changed"] is changed, (path, body)
