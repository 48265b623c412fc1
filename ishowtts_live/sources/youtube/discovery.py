"""What the watch page tells a chat reader: the web client's innertube key and
context, the live chat's first continuation, and whether the stream is live.

The page embeds three JSON blobs in script tags — ``ytcfg.set({...})``,
``ytInitialData = {...}`` and ``ytInitialPlayerResponse = {...}`` — which are
read with the JSON decoder from where each starts (no regex over JSON).

Chat views. YouTube offers two views of a live chat: *Top chat* (its
default, with messages it judges likely spam held back) and *Live chat*
(every message), each with its own continuation token. Until October 2025
the watch page's ``liveChatRenderer`` listed both in its header; since then
it carries only ``continuations[0]``, the default (Top chat) token, and the
view selector is in the header of the chat frame page
(``/live_chat?continuation=<that token>``). :func:`parse_watch_page` says
whether it found the views (``WatchPage.views``); when it did not and the
config asks for the live view, the source reads the chat frame and
:func:`parse_chat_frame` picks the view there. See docs/youtube.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

_DECODER = json.JSONDecoder()
_YTCFG = re.compile(r"ytcfg\.set\s*\(\s*(?=\{)")
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")


class PageError(ValueError):
    """The page is not a watch page this reader understands."""


def extract_video_id(value: str) -> str:
    """'dQw4w9WgXcQ', 'https://www.youtube.com/watch?v=…', 'https://youtu.be/…',
    '…/live/…' → the 11-character id; ValueError otherwise."""
    value = value.strip()
    if _VIDEO_ID.fullmatch(value):
        return value
    url = urlparse(value if "://" in value else f"https://{value}")
    candidates = parse_qs(url.query).get("v", []) + [p for p in url.path.split("/") if p]
    for candidate in reversed(candidates):
        if _VIDEO_ID.fullmatch(candidate):
            return candidate
    raise ValueError(f"not a YouTube video id or URL: {value!r}")


def dig(data: Any, *path: Any) -> Any:
    """``data[p0][p1]…`` or None when any step is missing or of the wrong type."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(data, list) or not -len(data) <= key < len(data):
                return None
        elif not isinstance(data, dict):
            return None
        data = data[key] if isinstance(key, int) else data.get(key)
    return data


def json_object_at(text: str, start: int) -> Any:
    """The JSON value that starts at ``text[start]`` (None if it does not parse)."""
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    return value


def find_assigned(html: str, name: str) -> dict | None:
    """The object assigned to ``name`` (``var name = {…}`` / ``window["name"] = {…}``)."""
    pattern = re.compile(r"""(?:\b%s|\[\s*["']%s["']\s*\])\s*=\s*(?=\{)""" % (name, name))
    for match in pattern.finditer(html):
        value = json_object_at(html, match.end())
        if isinstance(value, dict):
            return value
    return None


def find_ytcfg(html: str) -> dict:
    """Every ``ytcfg.set({...})`` on the page merged (later calls win)."""
    merged: dict = {}
    for match in _YTCFG.finditer(html):
        value = json_object_at(html, match.end())
        if isinstance(value, dict):
            merged.update(value)
    return merged


@dataclass
class WatchPage:
    status: str  # live | upcoming | ended | not_live | unavailable | no_chat
    reason: str = ""
    api_key: str = ""
    context: dict = field(default_factory=dict)
    continuation: str = ""
    title: str = ""
    views: bool = False  # the page listed both chat views (so ``continuation`` is the one asked for)

    @property
    def client_version(self) -> str:
        return str(dig(self.context, "client", "clientVersion") or "")

    @property
    def visitor_data(self) -> str:
        return str(dig(self.context, "client", "visitorData") or "")


def parse_watch_page(html: str, chat: str = "live") -> WatchPage:
    """Read a watch page; ``chat`` 'live' (all messages) or 'top' picks the view."""
    ytcfg = find_ytcfg(html)
    initial = find_assigned(html, "ytInitialData")
    player = find_assigned(html, "ytInitialPlayerResponse") or {}
    if initial is None and not ytcfg:
        raise PageError("no ytcfg and no ytInitialData on the page (a consent or error page?)")
    details = dig(player, "videoDetails") or {}
    live = dig(player, "microformat", "playerMicroformatRenderer", "liveBroadcastDetails") or {}
    title = str(details.get("title") or "")
    renderer = dig(initial, "contents", "twoColumnWatchNextResults", "conversationBar", "liveChatRenderer") or {}
    continuation, views = _continuation(renderer, chat)
    playability = dig(player, "playabilityStatus") or {}
    if renderer.get("isReplay") or live.get("endTimestamp"):
        return WatchPage("ended", "the live stream has ended", title=title)
    if not continuation:
        if playability.get("status") in ("ERROR", "LOGIN_REQUIRED", "UNPLAYABLE"):
            reason = str(playability.get("reason") or playability.get("status"))
            return WatchPage("unavailable", reason, title=title)
        if details and not details.get("isLiveContent") and not details.get("isUpcoming"):
            return WatchPage("not_live", "the video is not a live stream", title=title)
        return WatchPage("upcoming" if details.get("isUpcoming") else "no_chat",
                         "no live chat on the page yet", title=title)
    api_key = str(ytcfg.get("INNERTUBE_API_KEY") or "")
    if not api_key:
        raise PageError("no INNERTUBE_API_KEY in ytcfg")
    context = ytcfg.get("INNERTUBE_CONTEXT")
    if not isinstance(context, dict) or not isinstance(context.get("client"), dict):
        context = {"client": {"clientName": "WEB",
                              "clientVersion": str(ytcfg.get("INNERTUBE_CLIENT_VERSION") or "")}}
    if ytcfg.get("VISITOR_DATA") and not dig(context, "client", "visitorData"):
        context["client"]["visitorData"] = ytcfg["VISITOR_DATA"]
    status = "upcoming" if details.get("isUpcoming") else "live"
    return WatchPage(status, api_key=api_key, context=context, continuation=continuation, title=title, views=views)


def _view_token(header: Any, chat: str) -> str:
    """The continuation of the chosen view from a chat header's view selector, '' if it has none.

    The views are told apart by position — Top chat first, Live chat second —
    as both public fixes do: their titles are localized (chat-downloader's
    fork had to stop matching "Live chat" for viewers with a non-English
    locale)."""
    items = dig(header, "liveChatHeaderRenderer", "viewSelector", "sortFilterSubMenuRenderer", "subMenuItems")
    tokens = [dig(item, "continuation", "reloadContinuationData", "continuation") for item in items or []]
    tokens = [t for t in tokens if isinstance(t, str) and t]
    if len(tokens) < 2:
        return ""
    return tokens[0] if chat == "top" else tokens[1]


def _continuation(renderer: dict, chat: str) -> tuple[str, bool]:
    """(the first continuation, whether it is of the chosen view): from the header (pre-October-2025 pages),
    else the default view's token (``views`` False)."""
    token = _view_token(renderer.get("header"), chat)
    if token:
        return token, True
    fallback = dig(renderer, "continuations", 0, "reloadContinuationData", "continuation")
    return (fallback if isinstance(fallback, str) else ""), False


def parse_chat_frame(html: str, chat: str = "live") -> str:
    """The continuation of the chosen view from the chat frame page (``/live_chat?continuation=…``), '' when
    the page has no view selector."""
    initial = find_assigned(html, "ytInitialData") or {}
    for header in (dig(initial, "continuationContents", "liveChatContinuation", "header"),
                   dig(initial, "contents", "liveChatRenderer", "header")):
        token = _view_token(header, chat)
        if token:
            return token
    return ""
