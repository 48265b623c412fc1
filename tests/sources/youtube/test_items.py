"""Watch-page discovery, response/renderer conversion and money parsing (no sockets)."""

from __future__ import annotations

import json

import pytest

from ishowtts_live.events import ChatEvent, ModerationEvent
from ishowtts_live.sources.money import bits_to_cny_cents, cny_cents, parse_amount_text
from ishowtts_live.sources.youtube.discovery import (PageError, extract_video_id, find_assigned, find_ytcfg,
                                                     parse_chat_frame, parse_watch_page)
from ishowtts_live.sources.youtube.items import ChatResponseError, YouTubeConverter, text_of
from tests.sources.youtube import shapes


@pytest.mark.parametrize(("value", "video_id"), [
    ("jfKfPfyJRdk", "jfKfPfyJRdk"),
    ("https://www.youtube.com/watch?v=jfKfPfyJRdk&t=42s", "jfKfPfyJRdk"),
    ("https://youtu.be/jfKfPfyJRdk?si=abc", "jfKfPfyJRdk"),
    ("https://www.youtube.com/live/jfKfPfyJRdk", "jfKfPfyJRdk"),
    ("youtube.com/watch?v=jfKfPfyJRdk", "jfKfPfyJRdk"),
])
def test_video_ids_and_urls(value, video_id):
    """Ids, watch, youtu.be and /live/ URLs all give the 11-character id."""
    assert extract_video_id(value) == video_id


@pytest.mark.parametrize("value", ["", "short", "https://www.youtube.com/channel/UCxyz", "jfKfPfyJRdk!"])
def test_non_ids_are_rejected(value):
    """Anything without an 11-character id is a ValueError (a clear one-line config error)."""
    with pytest.raises(ValueError):
        extract_video_id(value)


def test_json_blobs_are_found_in_any_assignment_form():
    """var x = {…}; window["x"] = {…}; and merged ytcfg.set calls; braces inside strings do not confuse it."""
    html = ('<script>ytcfg.set({"A": 1, "S": "}{"}); ytcfg.set({"B": 2});</script>'
            '<script>window["ytInitialData"] = {"k": "a;}b"};</script>'
            '<script>var ytInitialPlayerResponse = {"p": [1, {"q": "}"}]};var meta = 1;</script>')
    assert find_ytcfg(html) == {"A": 1, "S": "}{", "B": 2}
    assert find_assigned(html, "ytInitialData") == {"k": "a;}b"}
    assert find_assigned(html, "ytInitialPlayerResponse") == {"p": [1, {"q": "}"}]}
    assert find_assigned(html, "missing") is None


def _page(initial: dict, player: dict | None = None, ytcfg: dict | None = None) -> str:
    cfg = ytcfg if ytcfg is not None else {"INNERTUBE_API_KEY": "KEY", "INNERTUBE_CLIENT_VERSION": "2.1",
                                           "VISITOR_DATA": "VIS"}
    return (f"<script>ytcfg.set({json.dumps(cfg)});</script><script>var ytInitialData = {json.dumps(initial)};"
            f"</script><script>var ytInitialPlayerResponse = {json.dumps(player or {})};</script>")


def _chat(*tokens: str, replay: bool = False) -> dict:
    items = [{"title": f"view {i}", "continuation": {"reloadContinuationData": {"continuation": t}}}
             for i, t in enumerate(tokens)]
    renderer = {"header": {"liveChatHeaderRenderer": {"viewSelector": {"sortFilterSubMenuRenderer": {
        "subMenuItems": items}}}}}
    if replay:
        renderer["isReplay"] = True
    return {"contents": {"twoColumnWatchNextResults": {"conversationBar": {"liveChatRenderer": renderer}}}}


def test_watch_page_gives_key_context_and_the_chosen_view():
    """Key and context come from ytcfg (context built from the version when absent); live = 2nd view, top = 1st."""
    html = _page(_chat("TOP", "LIVE"), {"videoDetails": {"isLive": True, "isLiveContent": True}})
    live = parse_watch_page(html)
    assert (live.status, live.api_key, live.continuation, live.client_version, live.visitor_data) == (
        "live", "KEY", "LIVE", "2.1", "VIS")
    assert live.context["client"]["clientName"] == "WEB"
    assert parse_watch_page(html, "top").continuation == "TOP"


def test_todays_watch_page_gives_the_default_token_and_says_the_views_are_missing():
    """A post-October-2025 page (continuations[0] only, no header) gives that token with views=False; an
    older page with the header gives the chosen view with views=True."""
    renderer = {"continuations": [{"reloadContinuationData": {"continuation": "DEFAULT"}}]}
    today = {"contents": {"twoColumnWatchNextResults": {"conversationBar": {"liveChatRenderer": renderer}}}}
    page = parse_watch_page(_page(today, {"videoDetails": {"isLive": True, "isLiveContent": True}}))
    assert (page.status, page.continuation, page.views) == ("live", "DEFAULT", False)
    old = parse_watch_page(_page(_chat("TOP", "LIVE"), {"videoDetails": {"isLive": True, "isLiveContent": True}}))
    assert (old.continuation, old.views) == ("LIVE", True)


def test_chat_frame_page_gives_the_chosen_view_by_position():
    """The chat frame's header lists Top chat then Live chat (titles localized): live = 2nd, top = 1st; a frame
    without a selector gives ''."""
    header = _chat("TOP", "LIVE")["contents"]["twoColumnWatchNextResults"]["conversationBar"]["liveChatRenderer"]
    frame = {"continuationContents": {"liveChatContinuation": {"header": header["header"], "actions": []}}}
    html = f'<script>window["ytInitialData"] = {json.dumps(frame)};</script>'
    assert (parse_chat_frame(html), parse_chat_frame(html, "top")) == ("LIVE", "TOP")
    older = {"contents": {"liveChatRenderer": {"header": header["header"]}}}
    assert parse_chat_frame(f"<script>var ytInitialData = {json.dumps(older)};</script>") == "LIVE"
    assert parse_chat_frame("<html>consent</html>") == ""
    single = _chat("ONLY")["contents"]["twoColumnWatchNextResults"]["conversationBar"]["liveChatRenderer"]
    one = {"continuationContents": {"liveChatContinuation": {"header": single["header"]}}}
    assert parse_chat_frame(f"<script>var ytInitialData = {json.dumps(one)};</script>") == ""


def test_unknown_actions_and_renderers_are_reported_by_name():
    """A new action or renderer is reported as unknown by its name, a known non-chat one is ignored, a known
    one of the wrong shape is unparsable; the good item beside them is read."""
    page = YouTubeConverter("v").page(_response(
        {"clickTrackingParams": "x", "liveChatNewThingAction": {"a": 1}},
        {"addChatItemAction": {"item": {"liveChatGiftCardRenderer": {"id": "n-1"}}}},
        shapes.ticker("tk", "@a", "UCa", "$1.00"),
        {"addChatItemAction": {"item": {"liveChatTextMessageRenderer": {"message": {"simpleText": "no id"}}}}},
        shapes.text_message("ok", "@a", "UCa", "fine"),
    ))
    assert [i.msg_id for i in page.items] == ["ok"] and page.ignored == 1
    assert [name for name, _ in page.unknown] == ["liveChatNewThingAction", "liveChatGiftCardRenderer"]
    assert [(name, error) for name, error, _ in page.unparsable] == [("addChatItemAction", "ValueError: item without id")]


@pytest.mark.parametrize(("initial", "player", "status"), [
    (_chat("T", "L", replay=True), {}, "ended"),
    (_chat("T", "L"), {"microformat": {"playerMicroformatRenderer": {"liveBroadcastDetails": {
        "endTimestamp": "2026-01-01T00:00:00Z"}}}}, "ended"),
    ({"contents": {}}, {"videoDetails": {"isLiveContent": False}}, "not_live"),
    ({"contents": {}}, {"playabilityStatus": {"status": "ERROR", "reason": "Video unavailable"}}, "unavailable"),
    ({"contents": {}}, {"videoDetails": {"isLiveContent": True, "isUpcoming": True}}, "upcoming"),
    ({"contents": {}}, {"videoDetails": {"isLiveContent": True}}, "no_chat"),
])
def test_watch_page_states(initial, player, status):
    """Ended, not-live, unavailable, upcoming-without-chat and chat-less pages are told apart."""
    assert parse_watch_page(_page(initial, player)).status == status


def test_consent_or_garbage_page_is_a_page_error():
    """A page with neither ytcfg nor ytInitialData (a consent form) raises PageError; so does a missing key."""
    with pytest.raises(PageError):
        parse_watch_page("<html><form action='https://consent.youtube.com/save'></form></html>")
    with pytest.raises(PageError):
        parse_watch_page(_page(_chat("T", "L"), ytcfg={"INNERTUBE_CLIENT_VERSION": "2.1"}))


def test_text_runs_with_emoji():
    """Text runs join; Unicode emoji stay characters; channel emoji become their :shortcut:."""
    value = shapes.runs("a ", ("emoji", "❤", ":red_heart:", False), " b ", ("emoji", "UCx/k", ":_cat:", True))
    assert text_of(value) == "a ❤ b :_cat:"
    assert text_of({"simpleText": "plain"}) == "plain"
    assert text_of({"runs": [{"bold": True}, 5, {"text": "x"}]}) == "x"


def _response(*actions, continuation="NEXT", timeout_ms=5000, kind="invalidationContinuationData"):
    chat = {"actions": list(actions)}
    if continuation:
        chat["continuations"] = [{kind: {"continuation": continuation, "timeoutMs": timeout_ms}}]
    return {"responseContext": {}, "continuationContents": {"liveChatContinuation": chat}}


@pytest.mark.parametrize("kind", ["invalidationContinuationData", "timedContinuationData", "reloadContinuationData"])
def test_every_continuation_kind_gives_token_and_timeout(kind):
    """Whatever kind of continuation the server sends, its token and timeoutMs are read."""
    page = YouTubeConverter("v").page(_response(kind=kind, timeout_ms=1234))
    assert (page.continuation, page.timeout_ms) == ("NEXT", 1234)


def test_response_without_continuation_is_the_end():
    """No continuationContents, or only a seek continuation, means the chat is over."""
    assert YouTubeConverter("v").page({"responseContext": {}}).continuation is None
    seek = {"continuationContents": {"liveChatContinuation": {
        "continuations": [{"playerSeekContinuationData": {"continuation": "X"}}]}}}
    assert YouTubeConverter("v").page(seek).continuation is None


def test_api_error_and_non_objects_raise_response_errors():
    """An error object or a non-object body is a ChatResponseError for the whole response."""
    for data in [{"error": {"code": 403, "message": "The caller does not have permission"}}, [], "x", None]:
        with pytest.raises(ChatResponseError):
            YouTubeConverter("v").page(data)


def test_bad_actions_are_counted_and_skipped():
    """Malformed actions count as errors; unknown ones as ignored; good ones still come through."""
    page = YouTubeConverter("v").page(_response(
        "text", {"addChatItemAction": {"item": {"a": {}, "b": {}}}}, {"removeChatItemAction": {}},
        {"addChatItemAction": {"item": {"liveChatTextMessageRenderer": {"message": {"simpleText": "no id"}}}}},
        {"updateLiveChatPollAction": {}}, shapes.ticker("tk", "@a", "UCa", "$1.00"),
        shapes.text_message("ok", "@a", "UCa", "fine")))
    assert [i.msg_id for i in page.items] == ["ok"] and page.errors == 4 and page.ignored == 2


def test_deletions_become_moderation_events():
    """Both deletion-by-id actions → delete_message; both by-author actions → ban_user (target = channel id)."""
    page = YouTubeConverter("vid").page(_response(shapes.remove("m1"), shapes.mark_deleted("m2"),
                                                  shapes.remove_by_author("UC1"), shapes.mark_by_author("UC2")))
    assert all(isinstance(i, ModerationEvent) and i.channel == "vid" and i.platform == "youtube" for i in page.items)
    assert [(i.action, i.target_msg_id, i.target_user_id) for i in page.items] == [
        ("delete_message", "m1", ""), ("delete_message", "m2", ""), ("ban_user", "", "UC1"), ("ban_user", "", "UC2")]


def test_badges_set_flags():
    """OWNER → broadcaster, MODERATOR → moderator, a custom-thumbnail badge → member; VERIFIED sets nothing."""
    page = YouTubeConverter("v").page(_response(
        shapes.text_message("a", "@o", "UCo", "x", badges=[shapes.OWNER]),
        shapes.text_message("b", "@v", "UCv", "x", badges=[shapes.VERIFIED]),
        shapes.text_message("c", "@m", "UCm", "x", badges=[shapes.MODERATOR, shapes.MEMBER])))
    owner, verified, mod = (i.flags for i in page.items)
    assert owner.broadcaster and not owner.moderator
    assert not (verified.broadcaster or verified.moderator or verified.subscriber)
    assert mod.moderator and mod.subscriber


def test_paid_message_without_text():
    """A Super Chat with no message still counts, with empty text and its amount."""
    event = YouTubeConverter("v").page(_response(shapes.paid_message("p", "@a", "UCa", "₩10,000"))).items[0]
    assert isinstance(event, ChatEvent)
    assert (event.kind, event.text, event.amount, event.currency, event.amount_cents) == (
        "superchat", "", 10000.0, "KRW", 5200)


@pytest.mark.parametrize(("text", "amount", "currency"), [
    ("$5.00", 5.0, "USD"), ("CA$10.00", 10.0, "CAD"), ("¥1,000", 1000.0, "JPY"), ("€5,00", 5.0, "EUR"),
    ("1.000,50 €", 1000.5, "EUR"), ("NT$75.00", 75.0, "TWD"), ("₹100.00", 100.0, "INR"), ("PLN 10,50", 10.5, "PLN"),
    ("R$ 10,00", 10.0, "BRL"), ("HK$ 1 000.00", 1000.0, "HKD"), ("CN¥30.00", 30.0, "CNY"), ("£2", 2.0, "GBP"),
    ("₩10,000", 10000.0, "KRW"), ("MYR 5.00", 5.0, "MYR"), ("5.00 ???", 5.0, ""), ("free", 0.0, ""),
])
def test_amount_texts(text, amount, currency):
    """Displayed amounts with symbols or codes, either side, with either decimal mark, parse to (amount, ISO code)."""
    assert parse_amount_text(text) == (amount, currency)


def test_cny_cents_table():
    """Conversion to CNY cents uses the static table; unknown or non-positive amounts give 0."""
    assert cny_cents(30, "CNY") == 3000 and cny_cents(5, "usd") == 3600
    assert cny_cents(5, "XXX") == 0 and cny_cents(-1, "USD") == 0 and cny_cents(float("nan"), "USD") == 0
    assert bits_to_cny_cents(100) == 720
