"""A loopback YouTube: the watch page bootstrap, the live_chat page and the
innertube get_live_chat endpoint, over real HTTP (aiohttp).

The watch page embeds ``ytcfg.set({...})``, ``var ytInitialData = {...}``
and ``var ytInitialPlayerResponse = {...}`` in script tags as youtube.com
does; get_live_chat checks the key and the client context, hands out
continuation tokens, and answers with ``continuationContents.
liveChatContinuation`` (an invalidation continuation with ``timeoutMs`` and
the actions since the token). tests/sources/youtube/test_peer.py checks it
against chat-downloader, an independent reader from PyPI.

Two page shapes (``shape``):

* ``"2025-10"`` (the default, today's): the watch page's ``liveChatRenderer``
  has only ``continuations[0]``, a token for YouTube's default view, *Top
  chat*; the two views (Top chat, Live chat) are offered only in the header
  of the ``/live_chat?continuation=…`` page. This is the change of mid-October
  2025 that chat-downloader's issues #271 / #281 and PR #277 describe.
* ``"2023"``: the watch page's ``liveChatRenderer`` also carries the header
  with both views (what chat-downloader 0.2.8 and this project were written
  against).

Each token belongs to a view: the Top chat view leaves out the items whose
ids are in ``top_hidden`` (YouTube hides likely spam there), so a test can
tell which view a reader polls; ``views`` records the view of every poll.

Test controls: ``add`` actions, ``end`` the stream, ``fail`` the next N
requests with a status, ``stall`` (answer after a delay), ``refuse`` /
``accept`` (stop listening and listen again on the same port).
"""

from __future__ import annotations

import asyncio
import base64
import json

from aiohttp import web

API_KEY = "AIzaSyFakeLoopbackKeyForTests-0000000"
CLIENT_VERSION = "2.20260101.01.00"
VISITOR = "CgtGYWtlVmlzaXRvcii4-aK6Bg%3D%3D"


def _script(statement: str) -> str:
    return f'<script nonce="n0nce">{statement}</script>'


class FakeYouTubeServer:
    def __init__(self, video_id: str = "jfKfPfyJRdk", *, backlog: int = 5, timeout_ms: int = 50,
                 shape: str = "2025-10"):
        if shape not in ("2025-10", "2023"):
            raise ValueError(shape)
        self.video_id = video_id
        self.shape = shape
        self.top_hidden: set[str] = set()  # item ids the Top chat view leaves out
        self.views: list[str] = []  # the view of every get_live_chat poll, in order
        self.frame_views = True  # False: the chat frame page has no view selector either
        self.frame_status = 200  # another status: the chat frame page answers only that
        self.backlog = backlog
        self.timeout_ms = timeout_ms
        self.actions: list[dict] = []
        self.state = "live"  # live | ended | not_live
        self.failures: list[int] = []
        self.bodies: list[bytes] = []  # raw 200 bodies to answer the next polls with, verbatim
        self.stall_s = 0.0
        self.api_key = API_KEY  # the key get_live_chat accepts (the page always shows API_KEY)
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, json body or query)
        self.agents: list[tuple[str, str]] = []  # (path, User-Agent) of every request
        self.port = 0
        self._tokens: dict[str, tuple[int, str]] = {}  # token → (first action index, view)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> "FakeYouTubeServer":
        app = web.Application()
        app.router.add_get("/watch", self._watch)
        app.router.add_get("/live_chat", self._live_chat_page)
        app.router.add_post("/youtubei/v1/live_chat/get_live_chat", self._get_live_chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self.accept()
        return self

    async def accept(self) -> None:
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        self.port = self._site._server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        """Stop listening and cut open (keep-alive) connections."""
        await self._site.stop()
        for handler in list(self._runner.server.connections):
            handler.force_close()
            if handler.transport is not None:
                handler.transport.abort()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def add(self, *actions: dict) -> None:
        self.actions.extend(actions)

    def end(self) -> None:
        self.state = "ended"

    def fail(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    def polls(self) -> int:
        return sum(1 for method, path, _ in self.requests if method == "POST")

    # ---------------------------------------------------------------- helpers

    def _token(self, index: int, view: str = "live") -> str:
        raw = f"0ofMyAN{self.video_id}:{view}:{index}:{len(self._tokens)}"
        token = base64.urlsafe_b64encode(raw.encode()).decode()
        self._tokens[token] = (index, view)
        return token

    @staticmethod
    def _item_id(action: dict) -> str:
        item = (action.get("addChatItemAction") or {}).get("item") or {}
        return next((r.get("id", "") for r in item.values() if isinstance(r, dict)), "")

    def _view_menu(self, top: str, everything: str) -> dict:
        """The header with the view selector: Top chat first (selected), Live chat second."""
        menu = [{"title": "Top chat", "selected": True,
                 "continuation": {"reloadContinuationData": {"continuation": top, "clickTrackingParams": "CDU"}},
                 "accessibility": {"accessibilityData": {"label": "Top chat"}}, "subtitle": "Some messages hidden"},
                {"title": "Live chat", "selected": False,
                 "continuation": {"reloadContinuationData": {"continuation": everything, "clickTrackingParams": "CDQ"}},
                 "accessibility": {"accessibilityData": {"label": "Live chat"}}, "subtitle": "All messages"}]
        return {"liveChatHeaderRenderer": {"viewSelector": {"sortFilterSubMenuRenderer": {"subMenuItems": menu}}}}

    def _chat_continuation(self, start: int, view: str = "live", header: dict | None = None) -> dict:
        """liveChatContinuation for the actions from ``start`` on, as ``view`` shows them ({} once ended)."""
        actions = self.actions[start:]
        if view == "top":
            actions = [a for a in actions if self._item_id(a) not in self.top_hidden]
        if self.state != "live":
            return {}
        nxt = self._token(len(self.actions), view)
        return {"liveChatContinuation": {
            "continuations": [{"invalidationContinuationData": {
                "invalidationId": {"objectSource": 1056, "objectId": f"Y2hhdH4{self.video_id}",
                                   "topic": f"chat~{self.video_id}~0", "subscribeToGcmTopics": True,
                                   "protoCreationTimestampMs": "1700000000000"},
                "timeoutMs": self.timeout_ms, "continuation": nxt}}],
            "actions": actions, **({"header": header} if header else {})}}

    async def _gate(self, request: web.Request):
        """Apply the test controls; a response to send instead, or None."""
        self.agents.append((request.path, request.headers.get("User-Agent", "")))
        if self.stall_s:
            await asyncio.sleep(self.stall_s)
        if self.failures:
            status = self.failures.pop(0)
            return web.Response(status=status, text=f"<html><title>Error {status}</title></html>",
                                content_type="text/html")
        return None

    # ---------------------------------------------------------------- pages

    async def _watch(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", "/watch", dict(request.query)))
        if (gated := await self._gate(request)) is not None:
            return gated
        video = request.query.get("v", "")
        ytcfg = {"INNERTUBE_API_KEY": API_KEY, "INNERTUBE_CLIENT_NAME": "WEB", "INNERTUBE_CONTEXT_CLIENT_NAME": 1,
                 "INNERTUBE_CLIENT_VERSION": CLIENT_VERSION, "VISITOR_DATA": VISITOR, "DATASYNC_ID": "Vfake||",
                 "INNERTUBE_CONTEXT": {"client": {"hl": "en", "gl": "US", "visitorData": VISITOR,
                                                  "clientName": "WEB", "clientVersion": CLIENT_VERSION,
                                                  "osName": "X11", "platform": "DESKTOP"},
                                       "user": {"lockedSafetyMode": False}, "request": {"useSsl": True}}}
        if video != self.video_id:
            player = {"playabilityStatus": {"status": "ERROR", "reason": "Video unavailable"}}
            initial = {"contents": {"twoColumnWatchNextResults": {}}}
        else:
            initial, player = self._video_page()
        html = ("<!DOCTYPE html><html><head><title>Live - YouTube</title>"
                + _script(f"(function() {{window.ytplayer={{}};\nytcfg.set({json.dumps(ytcfg)}); "
                          "window.ytcfg.obfuscatedData_ = [];})();")
                + _script('ytcfg.set({"EXPERIMENT_FLAGS": {"web_fake": true}});')
                + "</head><body>"
                + _script(f"var ytInitialPlayerResponse = {json.dumps(player)};var meta = "
                          "document.createElement('meta');")
                + _script(f"var ytInitialData = {json.dumps(initial)};")
                + "</body></html>")
        return web.Response(text=html, content_type="text/html")

    def _video_page(self) -> tuple[dict, dict]:
        live, ended = self.state == "live", self.state == "ended"
        details = {"videoId": self.video_id, "title": "A live stream", "channelId": "UCfakeChannel0000000000",
                   "isLiveContent": self.state != "not_live", "author": "The Channel"}
        if live:
            details["isLive"] = True
        broadcast = {"isLiveNow": live, "startTimestamp": "2026-01-01T10:00:00+00:00"}
        if ended:
            broadcast["endTimestamp"] = "2026-01-01T12:00:00+00:00"
        player = {"playabilityStatus": {"status": "OK", "playableInEmbed": True}, "videoDetails": details,
                  "microformat": {"playerMicroformatRenderer": {"liveBroadcastDetails": broadcast}}}
        if self.state == "not_live":
            return {"contents": {"twoColumnWatchNextResults": {"results": {}}}}, player
        start = max(0, len(self.actions) - self.backlog)
        top = self._token(start, "top")
        renderer = {"continuations": [{"reloadContinuationData": {"continuation": top}}],
                    "trackingParams": "CAEQl98B", "clientMessages": {}, "initialDisplayState": "LIVE_CHAT_DISPLAY_STATE_EXPANDED"}
        if self.shape == "2023":
            renderer["header"] = self._view_menu(top, self._token(start, "live"))
        if ended:
            renderer["isReplay"] = True
        initial = {"responseContext": {"visitorData": VISITOR},
                   "contents": {"twoColumnWatchNextResults": {"conversationBar": {"liveChatRenderer": renderer}}}}
        return initial, player

    async def _live_chat_page(self, request: web.Request) -> web.Response:
        """The /live_chat?continuation= page (the chat frame): the first actions of the token's view and, in
        its header, both views' tokens."""
        self.requests.append(("GET", "/live_chat", dict(request.query)))
        if (gated := await self._gate(request)) is not None:
            return gated
        found = self._tokens.get(request.query.get("continuation", ""))
        if found is None:
            return web.Response(status=400, text="bad continuation")
        if self.frame_status != 200:
            return web.Response(status=self.frame_status, text="<html>gone</html>", content_type="text/html")
        start, view = found
        header = self._view_menu(self._token(start, "top"), self._token(start, "live")) if self.frame_views else None
        initial = {"responseContext": {"visitorData": VISITOR},
                   "continuationContents": self._chat_continuation(start, view, header)}
        html = ("<html><body>" + _script(f'window["ytInitialData"] = {json.dumps(initial)};')
                + _script(f"ytcfg.set({json.dumps({'INNERTUBE_API_KEY': API_KEY})});") + "</body></html>")
        return web.Response(text=html, content_type="text/html")

    async def _get_live_chat(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.requests.append(("POST", request.path, body if isinstance(body, dict) else {}))
        if (gated := await self._gate(request)) is not None:
            return gated
        if self.bodies:
            return web.Response(body=self.bodies.pop(0), content_type="application/json")
        if request.query.get("key") != self.api_key:
            return _api_error(400, "API key not valid. Please pass a valid API key.")
        client = body.get("context", {}).get("client", {}) if isinstance(body, dict) else {}
        if client.get("clientName") != "WEB" or not client.get("clientVersion"):
            return _api_error(400, "Precondition check failed.", "FAILED_PRECONDITION")
        found = self._tokens.get(body.get("continuation", ""))
        if found is None:
            return _api_error(400, "Request contains an invalid argument.")
        start, view = found
        self.views.append(view)
        response = {"responseContext": {"visitorData": VISITOR, "serviceTrackingParams": [
            {"service": "CSI", "params": [{"key": "c", "value": "WEB"}]}]}}
        contents = self._chat_continuation(start, view)
        if contents:
            response["continuationContents"] = contents
        response["trackingParams"] = "CAAQ0b4BIhMI"
        return web.json_response(response)


def _api_error(code: int, message: str, status: str = "INVALID_ARGUMENT") -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "errors": [
        {"message": message, "domain": "global", "reason": "badRequest"}], "status": status}}, status=code)
