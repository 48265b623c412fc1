"""YouTubeSource against a loopback YouTube over real HTTP: bootstrap, polling
at the server's pace, moderation, backlog, errors, stalls, refusals, the end."""

from __future__ import annotations

import asyncio
import random

import pytest
import structlog

from ishowtts_live.config.schema import YouTubeConfig
from ishowtts_live.errors import UsageError
from ishowtts_live.events import ChatEvent, ModerationEvent
from ishowtts_live.sources.base import Backoff
from ishowtts_live.sources.youtube import build
from tests.kit import wait
from tests.sources.itempump import Pump, RecordingSleep
from tests.sources.youtube import shapes
from tests.sources.youtube.fake_server import API_KEY, CLIENT_VERSION, FakeYouTubeServer

VIDEO = "jfKfPfyJRdk"


@pytest.fixture
async def server():
    fake = await FakeYouTubeServer(VIDEO).start()
    yield fake
    await fake.stop()


def config(**kw) -> YouTubeConfig:
    # Built directly (not decoded), so test-sized bounds below the config minimums are allowed.
    base = dict(enabled=True, video_id=VIDEO, poll_min_s=0.02, poll_max_s=0.2, request_timeout_s=5.0)
    base.update(kw)
    return YouTubeConfig(**base)


def source(server, cfg=None, *, sleep=None, poll_sleep=asyncio.sleep, initial=0.02, cap=0.2):
    return build(cfg or config(), url=server.url, backoff=Backoff(initial=initial, cap=cap, rng=random.Random(3)),
                 sleep=sleep or RecordingSleep(scale=1.0), poll_sleep=poll_sleep)


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


async def test_bootstrap_then_polls_with_key_context_and_continuation(server):
    """The watch page gives key, context and continuation; get_live_chat is called with them."""
    server.add(shapes.text_message("old-1", "@early", "UCearly", "before we started"))
    pump = Pump(source(server))
    try:
        await wait(_until(lambda: server.polls() >= 2))
        server.add(shapes.text_message("m-1", "@viewer", "UCviewer", "hello"))
        event = await pump.one()
        assert isinstance(event, ChatEvent)
        assert (event.platform, event.channel, event.msg_id, event.user_id, event.user_name, event.text) == (
            "youtube", VIDEO, "m-1", "UCviewer", "@viewer", "hello")
        method, path, query = server.requests[0]
        assert (method, path, query) == ("GET", "/watch", {"v": VIDEO})
        post = next(body for method, _, body in server.requests if method == "POST")
        assert post["context"]["client"]["clientVersion"] == CLIENT_VERSION and post["continuation"]
    finally:
        await pump.close()


async def test_todays_page_shape_reads_the_live_chat_view(server):
    """Today's watch page offers only the Top chat token: the source reads the chat frame, takes the Live chat
    token there, and polls that view (so a message Top chat hides is read)."""
    pump = Pump(source(server))
    try:
        await wait(_until(lambda: server.polls() >= 1))
        server.top_hidden.add("spammy-1")
        server.add(shapes.text_message("spammy-1", "@new", "UCnew", "first message, held back in Top chat"))
        assert (await pump.one()).msg_id == "spammy-1"
        assert [path for _, path, _ in server.requests[:2]] == ["/watch", "/live_chat"]
        assert set(server.views) == {"live"}
    finally:
        await pump.close()


async def test_old_page_shape_still_reads_the_live_chat_view():
    """A pre-October-2025 watch page lists both views: the live one is taken there, no chat frame is fetched."""
    fake = await FakeYouTubeServer(VIDEO, shape="2023").start()
    pump = Pump(source(fake))
    try:
        await wait(_until(lambda: fake.polls() >= 1))
        fake.top_hidden.add("h-1")
        fake.add(shapes.text_message("h-1", "@a", "UCa", "held back in Top chat"))
        assert (await pump.one()).msg_id == "h-1"
        assert "/live_chat" not in [path for _, path, _ in fake.requests] and set(fake.views) == {"live"}
    finally:
        await pump.close()
        await fake.stop()


async def test_top_chat_when_asked_for(server):
    """chat = "top" polls YouTube's default view straight from the watch page: no chat frame, hidden items unseen."""
    pump = Pump(source(server, config(chat="top")))
    try:
        await wait(_until(lambda: server.polls() >= 1))
        server.top_hidden.add("h-1")
        server.add(shapes.text_message("h-1", "@a", "UCa", "hidden"), shapes.text_message("v-1", "@b", "UCb", "seen"))
        assert (await pump.one()).msg_id == "v-1"
        assert "/live_chat" not in [path for _, path, _ in server.requests] and set(server.views) == {"top"}
    finally:
        await pump.close()


@pytest.mark.parametrize("breakage", ["no selector", "HTTP 404"])
async def test_a_chat_frame_without_views_is_loud_and_falls_back_to_top_chat(server, breakage):
    """When neither page lists the views (or the chat frame answers an error), the source warns and counts it,
    and reads Top chat rather than nothing."""
    if breakage == "no selector":
        server.frame_views = False
    else:
        server.frame_status = 404
    src = source(server)
    with structlog.testing.capture_logs() as logs:
        pump = Pump(src)
        try:
            await wait(_until(lambda: server.polls() >= 1))
            server.add(shapes.text_message("v-1", "@b", "UCb", "still read"))
            assert (await pump.one()).msg_id == "v-1"
        finally:
            await pump.close()
    assert set(server.views) == {"top"} and src.stats.drift.unparsable == {"live_chat_page": 1}
    assert any(e.get("kind") == "live_chat_page" and e["log_level"] == "warning" for e in logs)


async def test_unknown_renderer_is_counted_warned_and_reading_goes_on(server):
    """A renderer YouTube introduced is counted by name in the drift stats and warned once; chat goes on."""
    src = source(server)
    with structlog.testing.capture_logs() as logs:
        pump = Pump(src)
        try:
            await wait(_until(lambda: server.polls() >= 1))
            novel = {"addChatItemAction": {"item": {"liveChatPollRenderer2": {"id": "x-1"}}}}
            server.add(novel, novel, shapes.text_message("m-1", "@a", "UCa", "after it"))
            assert (await pump.one()).msg_id == "m-1"
        finally:
            await pump.close()
    assert src.stats.drift.unknown == {"liveChatPollRenderer2": 2}
    assert src.stats.last_minute["unknown_kinds"] == {"liveChatPollRenderer2": 2}
    assert [e["kind"] for e in logs if e["log_level"] == "warning" and "unknown" in e["event"]] == [
        "liveChatPollRenderer2"]


async def test_backlog_is_skipped_unless_asked_for(server):
    """Messages already in chat at start are not read; with read_backlog they are."""
    server.add(shapes.text_message("b-1", "@a", "UCa", "old one"), shapes.text_message("b-2", "@b", "UCb", "old two"))
    pump = Pump(source(server, config(read_backlog=True)))
    try:
        assert [e.msg_id for e in await pump.take(2)] == ["b-1", "b-2"]
    finally:
        await pump.close()
    pump = Pump(source(server))
    try:
        server.add(shapes.text_message("n-1", "@c", "UCc", "new"))
        # the backlog of this fresh source is b-1, b-2 and n-1; nothing of it is read
        assert await pump.nothing_within(0.3)
        server.add(shapes.text_message("n-2", "@c", "UCc", "newer"))
        assert (await pump.one()).msg_id == "n-2"
    finally:
        await pump.close()


async def test_every_item_kind_and_deletion(server):
    """Text, Super Chat, Super Sticker, memberships, gifts and both kinds of deletion come out right."""
    pump = Pump(source(server))
    try:
        await wait(_until(lambda: server.polls() >= 1))
        server.add(
            shapes.text_message("t-1", "@mod", "UCmod", shapes.runs("hi ", ("emoji", "😀", ":grinning:", False),
                                                                    " ", ("emoji", "UCx/abc", ":yt:", True)),
                                badges=[shapes.MODERATOR, shapes.MEMBER]),
            shapes.paid_message("p-1", "@rich", "UCrich", "$5.00", "take my money"),
            shapes.paid_sticker("s-1", "@sticker", "UCstick", "¥200", "A cat waving hello"),
            shapes.new_member("j-1", "@newbie", "UCnew", "Welcome to The Channel!"),
            shapes.member_milestone("j-2", "@loyal", "UCloyal", 6, "half a year!"),
            shapes.gift_purchase("g-1", "@giver", "UCgiver", 5),
            shapes.gift_redemption("g-2", "@lucky", "UClucky", "@giver"),
            shapes.ticker("tk-1", "@rich", "UCrich", "$5.00"),
            shapes.remove("t-1"), shapes.mark_deleted("p-1"),
            shapes.remove_by_author("UCspam"), shapes.mark_by_author("UCspam2"),
        )
        items = await pump.take(10)
    finally:
        await pump.close()
    text, paid, sticker, member, milestone, gift, *mods = items
    assert text.text == "hi 😀 :yt:" and text.flags.moderator and text.flags.subscriber
    assert (paid.kind, paid.amount, paid.currency, paid.amount_cents, paid.text) == (
        "superchat", 5.0, "USD", 3600, "take my money")
    assert (sticker.kind, sticker.amount, sticker.currency, sticker.text) == (
        "superchat", 200.0, "JPY", "A cat waving hello")
    assert (member.kind, member.text) == ("member", "Welcome to The Channel!")
    assert (milestone.kind, milestone.text) == ("member", "half a year!")
    assert (gift.kind, gift.text, gift.user_name, gift.user_id) == (
        "gift", "Gifted 5 The Channel memberships", "@giver", "UCgiver")
    assert all(isinstance(m, ModerationEvent) for m in mods)
    assert [(m.action, m.target_msg_id or m.target_user_id) for m in mods] == [
        ("delete_message", "t-1"), ("delete_message", "p-1"), ("ban_user", "UCspam"), ("ban_user", "UCspam2")]


async def test_placeholder_replaced_by_the_real_message_is_read_once(server):
    """A placeholder says nothing; the replaceChatItemAction that fills it is read."""
    pump = Pump(source(server))
    try:
        await wait(_until(lambda: server.polls() >= 1))
        real = shapes.text_message("ph-1", "@late", "UClate", "arrived late")
        server.add(shapes.placeholder("ph-1"), shapes.replace("ph-1", real))
        event = await pump.one()
        assert (event.msg_id, event.text) == ("ph-1", "arrived late")
        assert await pump.nothing_within(0.2)
    finally:
        await pump.close()


async def test_polling_waits_what_the_server_asks_within_bounds(server):
    """timeoutMs is honoured, clamped to [poll_min_s, poll_max_s]."""
    waits = RecordingSleep(scale=0.0)
    server.timeout_ms = 50
    pump = Pump(source(server, config(poll_min_s=0.1, poll_max_s=3.0), poll_sleep=waits))
    try:
        await wait(_until(lambda: len(waits.delays) >= 2))
        server.timeout_ms = 10_000
        await wait(_until(lambda: 3.0 in waits.delays))
        server.timeout_ms = 1500
        await wait(_until(lambda: 1.5 in waits.delays))
    finally:
        await pump.close()
    assert waits.delays[0] == 0.1 and set(waits.delays) <= {0.1, 3.0, 1.5}


async def test_http_errors_reconnect_with_backoff_and_no_duplicates(server):
    """503s end the session; the source re-bootstraps with growing delays and reads on without repeats."""
    src = source(server, initial=0.02, cap=1.0)
    pump = Pump(src)
    try:
        await wait(_until(lambda: server.polls() >= 1))
        server.add(shapes.text_message("a-1", "@a", "UCa", "one"))
        assert (await pump.one()).msg_id == "a-1"
        server.fail(503, 503, 503)
        await wait(_until(lambda: src.stats.reconnects >= 3))
        server.add(shapes.text_message("a-2", "@a", "UCa", "two"))
        assert (await pump.one()).msg_id == "a-2"  # a-1 is in the new session's backlog, not read again
        assert "HTTP 503" in src.stats.last_error
    finally:
        await pump.close()
    for k, delay in enumerate(src.delays[:3]):
        base = min(1.0, 0.02 * 2**k)
        assert base * 0.5 <= delay <= base


async def test_stalled_server_times_out_and_the_source_comes_back(server):
    """A request that gets no answer within request_timeout_s ends the session; the next one works."""
    src = source(server, config(request_timeout_s=0.3))
    pump = Pump(src)
    try:
        await wait(_until(lambda: server.polls() >= 1))
        server.stall_s = 1.0
        await wait(_until(lambda: src.stats.reconnects >= 1))
        assert "no answer within 0.3 s" in src.stats.last_error
        server.stall_s = 0.0
        server.add(shapes.text_message("s-1", "@a", "UCa", "after the stall"))
        assert (await pump.one()).text == "after the stall"
    finally:
        await pump.close()


async def test_refused_connections_back_off_then_recover(server):
    """While nothing listens the delays grow to the cap; when the port opens again chat flows."""
    src = source(server, initial=0.02, cap=0.08)
    pump = Pump(src)
    try:
        await wait(_until(lambda: server.polls() >= 1))
        await server.refuse()
        await wait(_until(lambda: src.stats.reconnects >= 5))
        await server.accept()
        server.add(shapes.text_message("r-1", "@a", "UCa", "back online"))
        assert (await pump.one()).text == "back online"
    finally:
        await pump.close()
    assert "Connect" in src.stats.last_error  # aiohttp's ClientConnectorError: connection refused
    assert all(d <= 0.08 for d in src.delays) and max(src.delays) >= 0.04


async def test_malformed_response_is_a_parse_error_and_a_new_session(server):
    """A get_live_chat answer that is not usable JSON counts as a parse error and the source re-bootstraps."""
    src = source(server)
    pump = Pump(src)
    try:
        await wait(_until(lambda: server.polls() >= 1))
        server.add({"addChatItemAction": "not an object"}, shapes.text_message("ok-1", "@a", "UCa", "fine"))
        assert (await pump.one()).msg_id == "ok-1"
        assert src.stats.parse_errors == 1 and src.stats.reconnects == 0
    finally:
        await pump.close()


async def test_ended_stream_stops_the_source(server):
    """No continuation ends the session; the watch page then says 'ended' and events() finishes."""
    src = source(server)
    pump = Pump(src)
    await wait(_until(lambda: server.polls() >= 1))
    server.end()
    await wait(pump.task, 10)
    assert src.finished.startswith("ended") and src.stats.reconnects == 1


@pytest.mark.parametrize(("state", "video", "reason"), [
    ("not_live", VIDEO, "not_live: the video is not a live stream"),
    ("live", "xxxxxxxxxxx", "unavailable: Video unavailable"),
])
async def test_videos_without_live_chat_stop_at_once(server, state, video, reason):
    """A video that is not live, or does not exist, stops the source with the reason."""
    server.state = state
    src = build(config(), url=server.url, video_id=video)
    pump = Pump(src)
    await wait(pump.task, 10)
    assert src.finished == reason and server.polls() == 0


async def test_build_accepts_urls_and_names_the_source(server):
    """build() takes a watch URL as the video id and --url as the site address."""
    src = build(config(video_id=""), url=server.url + "/", video_id=f"https://www.youtube.com/watch?v={VIDEO}&t=1")
    assert src.name == f"youtube:{VIDEO}" and src.base_url == server.url
    with pytest.raises(UsageError, match="youtube: not a YouTube video id or URL: 'not a video'"):
        build(config(video_id="not a video"))


async def test_wrong_key_is_an_http_error(server):
    """A key the API refuses gets a Google-style 400 error, which the source reports and retries."""
    server.api_key = API_KEY + "-rotated"
    src = source(server)
    pump = Pump(src)
    try:
        await wait(_until(lambda: src.stats.reconnects >= 1))
        assert "HTTP 400" in src.stats.last_error and "API key not valid" in src.stats.last_error
    finally:
        await pump.close()
