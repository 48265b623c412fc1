"""Property tests: the IRC parser and the Twitch conversion take anything.

Bounds: a line is at most irc.MAX_LINE (64 KiB) characters, a frame at most
source.MAX_FRAME (1 MiB; larger frames close the connection, which is then
re-opened), at most MAX_QUEUE (16) frames wait in websockets' buffer.
"""

from __future__ import annotations

import asyncio
import random
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ishowtts_live.config.schema import TwitchConfig
from ishowtts_live.events import ChatEvent, ModerationEvent
from ishowtts_live.sources.base import Backoff
from ishowtts_live.sources.twitch import build
from ishowtts_live.sources.twitch.convert import TwitchConverter
from ishowtts_live.sources.twitch.irc import MAX_LINE, IrcMessage, IrcParseError, parse_line, parse_tags, split_frame
from ishowtts_live.sources.twitch.source import MAX_FRAME
from tests.sources.itempump import Pump
from tests.sources.twitch import lines
from tests.sources.twitch.fake_server import FakeTwitchServer

KNOWN_TAGS = ["badges", "bits", "display-name", "id", "user-id", "room-id", "source-room-id", "first-msg", "mod",
              "subscriber", "msg-id", "system-msg", "login", "msg-param-sub-plan", "msg-param-mass-gift-count",
              "msg-param-viewerCount", "msg-param-displayName", "msg-param-community-gift-id", "target-msg-id",
              "target-user-id", "ban-duration", "pinned-chat-paid-amount", "pinned-chat-paid-exponent",
              "pinned-chat-paid-currency", "reply-parent-user-login"]
tag_values = st.one_of(st.text(max_size=40), st.integers(-10**30, 10**30).map(str),
                       st.sampled_from(["", "1", "0", "1000", "Prime", "-1", "1e9", "NaN", "moderator/1,broadcaster/1"]))
commands = st.sampled_from(["PRIVMSG", "USERNOTICE", "CLEARMSG", "CLEARCHAT", "NOTICE", "PING", "JOIN", "001"])
messages = st.builds(
    IrcMessage, command=commands,
    params=st.lists(st.one_of(st.just("#pajlada"), st.text(max_size=30)), max_size=4),
    tags=st.dictionaries(st.sampled_from(KNOWN_TAGS), tag_values, max_size=12),
    prefix=st.text(max_size=30),
)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=2000))
def test_any_text_parses_or_is_a_parse_error(text):
    """parse_line on arbitrary text returns a message or raises IrcParseError — nothing else."""
    for line in split_frame(text):
        try:
            msg = parse_line(line)
        except IrcParseError:
            continue
        assert msg.command and all(isinstance(p, str) for p in msg.params)


@settings(max_examples=2000)
@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=20))
def test_any_tag_block_gives_string_tags(pairs):
    """Arbitrary (malformed) tag blocks give a dict of strings; values never keep a raw escape of ';' or ' '."""
    raw = ";".join(f"{k}={v}" for k, v in pairs)
    tags = parse_tags(raw.replace(" ", "_"))
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())


@settings(max_examples=3000)
@given(messages, st.booleans())
def test_conversion_never_raises(msg, shared):
    """Any combination of known tags with arbitrary values converts to an event or None."""
    item = TwitchConverter("pajlada", include_shared_chat=shared).convert(msg, 1.0, 2.0)
    assert item is None or isinstance(item, (ChatEvent, ModerationEvent))
    if isinstance(item, ChatEvent):
        assert item.amount >= 0 and item.amount_cents >= 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("line", [
    "@" + "\\" * (MAX_LINE - 20) + " PING",
    "@" + "a=b;" * ((MAX_LINE - 20) // 4) + " PING",
    ":" + "x" * (MAX_LINE - 10) + " PING",
    "PRIVMSG " + " :" * ((MAX_LINE - 10) // 2),
    "PRIVMSG #c :" + "Cheer1 " * ((MAX_LINE - 20) // 7),
])
def test_worst_case_lines_finish_and_stay_small(line):
    """Lines at the size limit built to stress each branch parse (and convert) with bounded memory."""
    tracemalloc.start()
    try:
        msg = parse_line(line[:MAX_LINE])
        TwitchConverter("c").convert(IrcMessage(msg.command, msg.params, {**msg.tags, "bits": "9999"}, "a!a@a"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * MAX_LINE  # a few copies of the line, nowhere near quadratic


frames = st.lists(st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300),
    st.lists(st.one_of(st.text(max_size=80), st.sampled_from([lines.CLEARMSG, lines.CLEARCHAT_ALL, "PING :x",
                                                              "@a=\\ :x PRIVMSG #pajlada :\\"])),
             max_size=5).map("\r\n".join),
), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_source_survives_arbitrary_frames_over_the_socket(batch):
    """Arbitrary text and binary frames on a live connection never end it: a chat line sent after them arrives."""
    asyncio.run(asyncio.wait_for(_feed(batch), 30))


async def _feed(batch) -> None:
    server = await FakeTwitchServer().start()
    source = build(TwitchConfig(channel="pajlada", token_env=""), url=server.url,
                   backoff=Backoff(initial=0.01, cap=0.05, rng=random.Random(0)))
    pump = Pump(source)
    try:
        await server.wait_joined()
        for frame in batch:
            if isinstance(frame, str) and not frame:
                continue
            await server.send_raw(frame)
        await server.send(lines.privmsg("pajlada", "z", "sentinel", msg_id="sentinel-id"))
        while True:
            item = await pump.one(timeout=10)
            if getattr(item, "msg_id", "") == "sentinel-id":
                break
        assert source.stats.reconnects == 0
    finally:
        await pump.close()
        await server.stop()


async def test_oversized_frame_closes_the_connection_and_the_source_reconnects():
    """A frame over 1 MiB is refused by websockets (close 1009); the source reconnects and reads on."""
    server = await FakeTwitchServer().start()
    source = build(TwitchConfig(channel="pajlada", token_env=""), url=server.url,
                   backoff=Backoff(initial=0.01, cap=0.05, rng=random.Random(0)))
    pump = Pump(source)
    try:
        await server.wait_joined()
        await server.send_raw("PRIVMSG #pajlada :" + "x" * MAX_FRAME)
        await server.wait_joined(2)
        await server.send(lines.privmsg("pajlada", "z", "after"))
        assert (await pump.one()).text == "after"
        assert source.stats.reconnects == 1 and "1009" in source.stats.last_error
    finally:
        await pump.close()
        await server.stop()
