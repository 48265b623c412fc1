"""TwitchSource against a loopback Twitch server over a real WebSocket:
login, events, keepalive, RECONNECT, drops, stalls, refusals, bad tokens."""

from __future__ import annotations

import random

import pytest
from structlog.testing import capture_logs

from ishowtts_live.config.schema import TwitchConfig
from ishowtts_live.errors import UsageError
from ishowtts_live.events import ChatEvent, ModerationEvent
from ishowtts_live.sources.base import Backoff
from ishowtts_live.sources.twitch import TwitchSource, build
from tests.kit import wait
from tests.sources.itempump import Pump, RecordingSleep
from tests.sources.twitch import lines
from tests.sources.twitch.fake_server import FakeTwitchServer

CHANNEL = "pajlada"


@pytest.fixture
async def server():
    fake = await FakeTwitchServer().start()
    yield fake
    await fake.stop()


def config(**kw) -> TwitchConfig:
    # Built directly (not decoded), so test-sized timeouts below the config bounds are allowed.
    base = dict(enabled=True, channel=CHANNEL, token_env="", connect_timeout_s=5.0, ping_interval_s=30.0,
                read_timeout_s=5.0)
    base.update(kw)
    return TwitchConfig(**base)


def source(server: FakeTwitchServer, cfg: TwitchConfig | None = None, *, initial: float = 0.02,
           cap: float = 0.2, sleep=None) -> TwitchSource:
    backoff = Backoff(initial=initial, cap=cap, rng=random.Random(7))
    return build(cfg or config(), url=server.url, backoff=backoff, sleep=sleep or RecordingSleep(scale=1.0))


async def test_anonymous_login_requests_tags_and_joins(server):
    """Anonymous: CAP REQ tags+commands, NICK justinfanN (no PASS), then JOIN after the welcome."""
    pump = Pump(source(server))
    try:
        await server.wait_joined()
        sent = server.clients[0].received
        assert sent[0] == "CAP REQ :twitch.tv/tags twitch.tv/commands"
        assert sent[1].startswith("NICK justinfan") and sent[1][len("NICK justinfan"):].isdigit()
        assert sent[2] == f"JOIN #{CHANNEL}"
        assert not any(line.startswith("PASS") for line in sent)
    finally:
        await pump.close()


async def test_token_from_environment_is_sent_and_never_logged(server, monkeypatch):
    """A token from the named environment variable is sent as PASS oauth:… with NICK, and appears in no log."""
    monkeypatch.setenv("TEST_TWITCH_TOKEN", "oauth:s3cr3t-token")
    with capture_logs() as logs:
        pump = Pump(source(server, config(nick="MyBot", token_env="TEST_TWITCH_TOKEN")))
        try:
            await server.wait_joined()
            sent = server.clients[0].received
            assert sent[1:3] == ["PASS oauth:s3cr3t-token", "NICK mybot"]
            await server.send(lines.privmsg(CHANNEL, "viewer", "hi"))
            assert (await pump.one()).text == "hi"
        finally:
            await pump.close()
    assert logs and "s3cr3t" not in repr(logs)


async def test_token_from_file(server, tmp_path):
    """The token file is read at connect time (surrounding whitespace ignored)."""
    path = tmp_path / "token"
    path.write_text("filetoken\n")
    pump = Pump(source(server, config(nick="bot", token_file=str(path))))
    try:
        await server.wait_joined()
        assert "PASS oauth:filetoken" in server.clients[0].received
    finally:
        await pump.close()


async def test_several_lines_in_one_frame_each_become_an_event(server):
    """One frame with CRLF-separated PRIVMSG, USERNOTICE and CLEARMSG lines yields each, in order."""
    pump = Pump(source(server))
    try:
        await server.wait_joined()
        await server.send(
            lines.privmsg(CHANNEL, "a", "first", msg_id="id-1"),
            lines.usernotice(CHANNEL, "b", "sub", "b subscribed at Tier 1.", msg_param_sub_plan="1000"),
            lines.privmsg(CHANNEL, "c", "third", msg_id="id-3"),
            lines.CLEARMSG,
        )
        items = await pump.take(4)
        assert [type(i).__name__ for i in items] == ["ChatEvent", "ChatEvent", "ChatEvent", "ModerationEvent"]
        assert [items[0].text, items[1].kind, items[2].text, items[3].action] == [
            "first", "member", "third", "delete_message"]
    finally:
        await pump.close()


async def test_moderation_over_the_socket(server):
    """CLEARMSG, CLEARCHAT of a user (timeout and ban) and of the channel arrive as ModerationEvents."""
    pump = Pump(source(server))
    try:
        await server.wait_joined()
        await server.send(lines.CLEARMSG, lines.CLEARCHAT_TIMEOUT, lines.CLEARCHAT_BAN, lines.CLEARCHAT_ALL,
                          one_frame=False)
        items = await pump.take(4)
        assert all(isinstance(i, ModerationEvent) for i in items)
        assert [(i.action, i.target_msg_id or i.target_user_id) for i in items] == [
            ("delete_message", "3c92014f-340a-4dc3-a9c9-e5cf182f4a84"), ("timeout_user", "148973258"),
            ("ban_user", "70948394"), ("clear_chat", "")]
    finally:
        await pump.close()


async def test_server_ping_is_answered(server):
    """PING :tmi.twitch.tv from the server gets PONG :tmi.twitch.tv back."""
    pump = Pump(source(server))
    try:
        await server.wait_joined()
        await server.ping()
        await server.wait_for(lambda: "PONG :tmi.twitch.tv" in server.clients[0].received)
    finally:
        await pump.close()


async def test_reconnect_command_reconnects_promptly_and_rejoins(server):
    """RECONNECT ends the connection; the next one starts after the first backoff step and rejoins."""
    src = source(server, initial=0.05, cap=5.0)
    pump = Pump(src)
    try:
        await server.wait_joined()
        await server.send(lines.privmsg(CHANNEL, "a", "before"))
        await pump.one()
        src.backoff.attempt = 5  # as if earlier failures had grown the delay
        await server.reconnect()
        await server.wait_joined(2)
        assert src.stats.reconnects == 1 and "RECONNECT" in src.stats.last_error
        assert src.delays[-1] <= 0.05  # the first step, not 2**5 of it
        await server.send(lines.privmsg(CHANNEL, "a", "after"))
        assert (await pump.one()).text == "after"
    finally:
        await pump.close()


async def test_dropped_connection_comes_back_without_duplicates(server):
    """After a TCP drop the source reconnects; a message seen before (same id) is not yielded twice."""
    src = source(server)
    pump = Pump(src)
    try:
        await server.wait_joined()
        await server.send(lines.privmsg(CHANNEL, "a", "once", msg_id="dup-1"))
        assert (await pump.one()).msg_id == "dup-1"
        await server.drop()
        await server.wait_joined(2)
        await server.send(lines.privmsg(CHANNEL, "a", "once", msg_id="dup-1"),
                          lines.privmsg(CHANNEL, "b", "new", msg_id="new-2"))
        assert (await pump.one()).msg_id == "new-2"
        assert src.stats.duplicates == 1 and src.stats.reconnects == 1
    finally:
        await pump.close()


async def test_silent_server_is_pinged_then_abandoned(server):
    """A stalled server gets a PING after ping_interval_s, and the connection is dropped after read_timeout_s more."""
    src = source(server, config(ping_interval_s=0.3, read_timeout_s=0.3))
    pump = Pump(src)
    try:
        await server.wait_joined()
        server.stall()
        await server.wait_for(lambda: server.connections >= 2, timeout=10)
        assert "PING :tmi.twitch.tv" in server.clients[0].received
        assert "PING reply" in src.stats.last_error
        server.stall(False)
        await server.wait_joined(2)
        await server.send(lines.privmsg(CHANNEL, "a", "alive again"))
        assert (await pump.one()).text == "alive again"
    finally:
        await pump.close()


async def test_refused_connections_back_off_exponentially_then_recover(server):
    """While the port refuses connections the delays double up to the cap; on accept the source rejoins."""
    sleep = RecordingSleep(scale=1.0)
    src = source(server, initial=0.02, cap=0.16, sleep=sleep)
    pump = Pump(src)
    try:
        await server.wait_joined()
        await server.refuse()
        await wait(_until(lambda: src.stats.reconnects >= 6))
        await server.accept()
        await server.wait_joined(2)
        await server.send(lines.privmsg(CHANNEL, "a", "back"))
        assert (await pump.one()).text == "back"
    finally:
        await pump.close()
    bases = [min(0.16, 0.02 * 2**k) for k in range(6)]
    for delay, base in zip(src.delays, bases):
        assert base * 0.5 <= delay <= base  # full-jitter band of Backoff(jitter=0.5)
    assert sleep.delays[: len(src.delays)] == src.delays


async def test_bad_token_is_logged_once_and_retried_slowly(server, monkeypatch):
    """A refused login is one error line (not one per try), and later tries wait the full cap."""
    server.valid_tokens = {"good"}
    monkeypatch.setenv("TEST_TWITCH_TOKEN", "bad")
    src = source(server, config(nick="bot", token_env="TEST_TWITCH_TOKEN"), initial=0.01, cap=0.1)
    with capture_logs() as logs:
        pump = Pump(src)
        try:
            await wait(_until(lambda: src.stats.reconnects >= 3))
        finally:
            await pump.close()
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert len(errors) == 1 and "Login authentication failed" in errors[0]["reason"]
    assert all(0.05 <= d <= 0.1 for d in src.delays)  # at the cap from the first retry


async def test_unknown_channel_notice_is_reported(server):
    """A NOTICE that the channel does not exist is logged as an error and retried at the cap."""
    src = source(server, config(channel="nosuchchannel"), initial=0.01, cap=0.1)
    with capture_logs() as logs:
        pump = Pump(src)
        try:
            await wait(_until(lambda: src.stats.reconnects >= 2))
        finally:
            await pump.close()
    assert any(e["log_level"] == "error" and "msg_channel_suspended" in e["reason"] for e in logs)


async def test_garbage_and_invalid_utf8_are_counted_not_fatal(server):
    """Unparsable lines and a binary frame with invalid UTF-8 count as parse errors; good lines still arrive."""
    src = source(server)
    pump = Pump(src)
    try:
        await server.wait_joined()
        await server.send(":::", lines.privmsg(CHANNEL, "a", "good one"), "@only=tags")
        await server.send_raw(b"\xff\xfe PRIVMSG #pajlada :\xc3\r\n")
        await server.send(lines.privmsg(CHANNEL, "a", "still here"))
        items = await pump.take(2)
        assert [i.text for i in items] == ["good one", "still here"]
        assert src.stats.parse_errors == 3 and src.stats.reconnects == 0
        assert src.stats.drift.unparsable == {"line": 3}
    finally:
        await pump.close()


async def test_new_commands_and_notice_types_are_reported_as_unknown(server):
    """An IRC command Twitch adds is counted and warned once by name; a USERNOTICE of a new msg-id is still read
    (as a system notice) and counted as unknown; routine state lines are not."""
    src = source(server)
    with capture_logs() as logs:
        pump = Pump(src)
        try:
            await server.wait_joined()
            await server.send(f":tmi.twitch.tv NEWTHING #{CHANNEL} :x", f":tmi.twitch.tv NEWTHING #{CHANNEL} :y",
                              f"@badge-info=;badges= :tmi.twitch.tv ROOMSTATE #{CHANNEL}",
                              f"@msg-id=megacheer;system-msg=A\\smega\\scheer!;id=n-1;login=a :tmi.twitch.tv "
                              f"USERNOTICE #{CHANNEL}", lines.privmsg(CHANNEL, "a", "after"))  # fmt: skip
            notice, chat = await pump.take(2)
        finally:
            await pump.close()
    assert (notice.kind, notice.text, chat.text) == ("system", "A mega cheer!", "after")
    assert src.stats.drift.unknown == {"NEWTHING": 2, "USERNOTICE/megacheer": 1}
    warned = [e["kind"] for e in logs if e["log_level"] == "warning" and "unknown" in e["event"]]
    assert warned == ["NEWTHING", "USERNOTICE/megacheer"]


async def test_build_normalizes_the_channel_and_names_the_source(server):
    """build() takes --url / channel overrides; '#PajLada' joins #pajlada."""
    with pytest.raises(UsageError, match="twitch: no channel given"):
        build(config(channel=""), url=server.url)
    src = build(config(channel=""), url=server.url, channel="#PajLada")
    assert src.name == "twitch:pajlada" and isinstance(src, TwitchSource)
    pump = Pump(src)
    try:
        await server.wait_joined()
        await server.send(lines.privmsg(CHANNEL, "a", "x"))
        assert isinstance(await pump.one(), ChatEvent)
    finally:
        await pump.close()


async def _until(predicate, step: float = 0.01) -> None:
    import asyncio

    while not predicate():
        await asyncio.sleep(step)
