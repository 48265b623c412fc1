"""Property tests: the YouTube readers take any page and any response.

Bounds: a watch page is read up to 4 MiB and a chat response up to 2 MiB
(decompressed; reading stops there); decoded JSON costs at most ~25× its
text; at most 2000 actions of one response are looked at; 8192 item ids are
remembered for dedupe.
"""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ishowtts_live.config.schema import YouTubeConfig
from ishowtts_live.events import ChatEvent, ModerationEvent
from ishowtts_live.sources.base import Backoff
from ishowtts_live.sources.money import parse_amount_text
from ishowtts_live.sources.youtube import build, extract_video_id
from ishowtts_live.sources.youtube.discovery import PageError, parse_watch_page
from ishowtts_live.sources.youtube.items import MAX_ACTIONS, ChatResponseError, YouTubeConverter
from ishowtts_live.sources.youtube.source import MAX_RESPONSE
from tests.sources.itempump import Pump
from tests.sources.youtube import shapes
from tests.sources.youtube.fake_server import FakeYouTubeServer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(
        st.sampled_from(["id", "message", "runs", "text", "emoji", "authorName", "simpleText", "item", "actions",
                         "continuations", "timeoutMs", "continuation", "targetItemId", "externalChannelId",
                         "purchaseAmountText", "header", "authorBadges", "addChatItemAction",
                         "removeChatItemAction", "liveChatTextMessageRenderer", "liveChatPaidMessageRenderer",
                         "liveChatContinuation", "continuationContents", "invalidationContinuationData"])
        | st.text(max_size=8), children, max_size=5),
    max_leaves=40)
REAL = [shapes.text_message("t", "@a", "UCa", shapes.runs("x", ("emoji", "😀", ":g:", False))),
        shapes.paid_message("p", "@b", "UCb", "$5.00", "m"), shapes.paid_sticker("s", "@c", "UCc", "€1,00", "st"),
        shapes.member_milestone("j", "@d", "UCd", 3, "hey"), shapes.gift_purchase("g", "@e", "UCe", 5),
        shapes.remove("t"), shapes.mark_by_author("UCx"), shapes.replace("ph", shapes.text_message("ph", "@f", "UCf", "y"))]


def _mutate(value, rnd: random.Random, replacement):
    """Replace one random subtree of ``value`` with ``replacement``."""
    if isinstance(value, dict) and value and rnd.random() < 0.8:
        key = rnd.choice(list(value))
        return {**value, key: _mutate(value[key], rnd, replacement)}
    if isinstance(value, list) and value and rnd.random() < 0.8:
        i = rnd.randrange(len(value))
        return value[:i] + [_mutate(value[i], rnd, replacement)] + value[i + 1:]
    return replacement


def _check(data) -> None:
    try:
        page = YouTubeConverter("v").page(data, 1.0, 2.0)
    except ChatResponseError:
        return
    for item in page.items:
        assert isinstance(item, (ChatEvent, ModerationEvent))
        if isinstance(item, ChatEvent):
            assert item.msg_id and item.amount >= 0 and item.amount_cents >= 0
    assert page.continuation is None or isinstance(page.continuation, str)


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_response_converts_or_is_a_response_error(data):
    """Arbitrary JSON: either a page of events (bad actions counted) or ChatResponseError — nothing else."""
    _check(data)


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(range(len(REAL))), min_size=1, max_size=6), st.integers(0, 2**32), json_values)
def test_real_shapes_with_one_subtree_replaced(picks, seed, replacement):
    """Real response shapes with any one subtree swapped for arbitrary JSON never make the converter raise."""
    rnd = random.Random(seed)
    actions = [REAL[i] for i in picks]
    response = {"continuationContents": {"liveChatContinuation": {
        "continuations": [{"invalidationContinuationData": {"continuation": "N", "timeoutMs": 1000}}],
        "actions": actions}}}
    _check(_mutate(response, rnd, replacement))


PAGE_BITS = ["ytcfg.set(", "{", "}", ");", "var ytInitialData = ", "window[\"ytInitialPlayerResponse\"] = ",
             '"INNERTUBE_API_KEY": "k"', '"contents"', '"conversationBar"', '"liveChatRenderer"', ",", ":", '"',
             "\\", "[", "]", "<script>", "</script>", "null", "1e999"]


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(PAGE_BITS), st.text(max_size=10)), max_size=40).map("".join), st.booleans())
def test_any_page_text_gives_a_page_or_a_page_error(html, top):
    """Fragments of watch-page syntax in any order give a WatchPage or PageError — nothing else."""
    try:
        page = parse_watch_page(html, "top" if top else "live")
    except PageError:
        return
    assert page.status in {"live", "upcoming", "ended", "not_live", "unavailable", "no_chat"}


@settings(max_examples=3000)
@given(st.text(max_size=80))
def test_amount_texts_never_raise(text):
    """Any amount text parses to a finite non-negative amount and a currency code (or '')."""
    amount, currency = parse_amount_text(text)
    assert amount >= 0 and amount != float("inf") and (currency == "" or len(currency) == 3)


@settings(max_examples=2000)
@given(st.text(max_size=60))
def test_video_id_extraction_never_raises_anything_else(text):
    """extract_video_id returns an 11-character id or raises ValueError."""
    try:
        assert len(extract_video_id(text)) == 11
    except ValueError:
        pass


@pytest.mark.timeout(60)
def test_hostile_pages_and_responses_stay_bounded():
    """Deep nesting, unterminated blobs and oversized action lists are refused or truncated, not crashes."""
    deep = "<script>var ytInitialData = " + "[" * 200_000 + ";</script><script>ytcfg.set(" + "{" * 100_000
    with pytest.raises(PageError):
        parse_watch_page(deep)
    many = {"continuationContents": {"liveChatContinuation": {"actions": [shapes.remove("x")] * (MAX_ACTIONS + 500)}}}
    page = YouTubeConverter("v").page(many)
    assert len(page.items) == MAX_ACTIONS and page.over_limit == 500


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"", b"{", b"[" * 100_000, b'{"continuationContents": {"liveChatContinuation": 5}}',
                     json.dumps({"error": {"code": 429, "message": "Too many requests"}}).encode(),
                     b"\xff\xfe\x00{}", b"x" * (MAX_RESPONSE + 1)]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(bodies, min_size=1, max_size=4))
def test_source_survives_any_response_body_over_http(batch):
    """Whatever bodies get_live_chat returns, the source keeps going and reads the next real message."""
    asyncio.run(asyncio.wait_for(_serve(batch), 60))


async def _serve(batch) -> None:
    server = await FakeYouTubeServer("jfKfPfyJRdk", timeout_ms=10).start()
    source = build(YouTubeConfig(video_id="jfKfPfyJRdk", poll_min_s=0.01, poll_max_s=0.05), url=server.url,
                   backoff=Backoff(initial=0.005, cap=0.02, rng=random.Random(0)))
    pump = Pump(source)
    try:
        while server.polls() < 1:
            await asyncio.sleep(0.005)
        server.bodies.extend(batch)
        while server.bodies:
            await asyncio.sleep(0.005)
        server.add(shapes.text_message("sentinel", "@z", "UCz", "still reading"))
        while True:
            item = await pump.one(timeout=20)
            if getattr(item, "msg_id", "") == "sentinel":
                break
        assert not source.finished
    finally:
        await pump.close()
        await server.stop()
