"""A YouTube live stream's chat without an API key, by polling.

One session: GET the watch page (innertube key, client context, first
continuation) — and, when the page no longer lists the chat views (YouTube's
October 2025 change) and the live view is wanted, the chat frame page that
does — then POST ``/youtubei/v1/live_chat/get_live_chat`` with the
continuation again and again, waiting between polls as long as the server
asks (``timeoutMs``), kept within ``poll_min_s``–``poll_max_s``. An HTTP
error, a timeout or an unusable response ends the session and the shared
reconnect loop starts a new one with backoff. A response without a
continuation ends the session cleanly; the next session's watch page then
says whether the stream ended (the source stops, with one log line) or chat
just paused. Messages already in chat when the source starts are skipped
unless ``read_backlog`` is set; items seen in an earlier session are not
yielded again.
"""

from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator

import aiohttp
import structlog

from ishowtts_live.config.schema import YouTubeConfig
from ishowtts_live.errors import UsageError
from ishowtts_live.events import ChatEvent, SourceItem, now_pair
from ishowtts_live.sources.base import Backoff, ReconnectingSource, RecentIds, SourceDisconnected
from ishowtts_live.sources.drift import clip
from ishowtts_live.sources.youtube.discovery import (
    PageError,
    WatchPage,
    extract_video_id,
    parse_chat_frame,
    parse_watch_page,
)
from ishowtts_live.sources.youtube.items import ChatResponseError, YouTubeConverter

log = structlog.get_logger(__name__)

# Body limits. A watch page is ~1–2 MiB, a chat response of a busy stream well
# under 1 MiB; decoded JSON takes up to ~25× its text (1-byte-per-object worst
# case), so these keep one response under ~100 MiB of Python objects.
MAX_PAGE = 4 << 20
MAX_RESPONSE = 2 << 20
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
# A stream that is over, or a video that will never have live chat: stop.
FINAL = {"ended", "not_live", "unavailable"}


class YouTubeSource(ReconnectingSource):
    """Chat of one YouTube live video as :class:`ChatEvent` / :class:`ModerationEvent`."""

    def __init__(self, cfg: YouTubeConfig, *, url: str, video_id: str, backoff: Backoff | None = None,
                 sleep=asyncio.sleep, poll_sleep=asyncio.sleep):
        self.cfg = cfg
        self.base_url = url.rstrip("/")
        self.video_id = extract_video_id(video_id)
        self.converter = YouTubeConverter(self.video_id)
        self.finished = ""  # why the source stopped for good ('' while running)
        self.polls = 0
        self._poll_sleep = poll_sleep
        self._seen = RecentIds(8192)  # chat item ids, across sessions (the backlog is re-sent)
        self._started = False  # True once the first session got its backlog
        super().__init__(f"youtube:{self.video_id}", self._connect_once,
                         backoff=backoff or Backoff(initial=cfg.backoff_initial_s, cap=cfg.backoff_max_s),
                         sleep=sleep)

    async def _connect_once(self) -> AsyncIterator[SourceItem]:
        timeout = aiohttp.ClientTimeout(total=self.cfg.request_timeout_s)
        headers = {"User-Agent": USER_AGENT, "Accept-Language": "en-US,en;q=0.9"}
        # SOCS=CAI: the consent choice, so EU visitors get the page, not a consent form
        async with aiohttp.ClientSession(timeout=timeout, headers=headers, cookies={"SOCS": "CAI"}) as http:
            page = await self._watch_page(http)
            continuation = page.continuation
            skip_backlog = not self._started and not self.cfg.read_backlog
            while True:
                data = await self._poll(http, page, continuation)
                mono, wall = now_pair()
                try:
                    chat = self.converter.page(data, mono, wall)
                except ChatResponseError as exc:
                    self.note_unparsable("response", str(exc), data)
                    raise SourceDisconnected(f"unusable chat response: {exc}") from None
                for kind, sample in chat.unknown:
                    self.note_unknown(kind, sample)
                for kind, error, sample in chat.unparsable:
                    self.note_unparsable(kind, error, sample)
                self.note_dropped("over_limit", chat.over_limit)
                self._started = True
                self.mark_connected()  # a chat page read: live even when nobody writes
                for item in chat.items:
                    # moderation is never deduplicated: a repeated purge does no harm; the backlog's ids
                    # are recorded too, so a later session does not read them as new
                    seen = isinstance(item, ChatEvent) and self._seen.seen(item.msg_id)
                    if seen or skip_backlog:
                        self.note_dropped("backlog" if skip_backlog else "duplicate")
                        continue
                    yield item
                skip_backlog = False
                if chat.continuation is None:
                    log.info("youtube chat has no continuation; checking the stream", source=self.name)
                    return
                continuation = chat.continuation
                wait_s = (chat.timeout_ms or 0) / 1000
                await self._poll_sleep(min(max(wait_s, self.cfg.poll_min_s), self.cfg.poll_max_s))

    async def _watch_page(self, http: aiohttp.ClientSession) -> WatchPage:
        html = await self._fetch(http, "GET", f"{self.base_url}/watch", MAX_PAGE, params={"v": self.video_id})
        try:
            page = parse_watch_page(html.decode("utf-8", errors="replace"), self.cfg.chat)
        except PageError as exc:
            self.stats.parse_errors += 1
            raise SourceDisconnected(f"watch page: {exc}") from None
        if page.status in FINAL:
            self.finished = f"{page.status}: {page.reason}"
            log.warning("youtube source stops", source=self.name, status=page.status, reason=page.reason,
                        title=page.title)
            await self.aclose()  # ends events() after this session instead of reconnecting
            raise SourceDisconnected(self.finished)
        if not page.continuation:
            raise SourceDisconnected(f"{page.status}: {page.reason}")
        if not page.views and self.cfg.chat == "live":
            await self._live_view(http, page)
        log.info("youtube chat found", source=self.name, status=page.status, title=page.title, chat=self.cfg.chat)
        return page

    async def _live_view(self, http: aiohttp.ClientSession, page: WatchPage) -> None:
        """Swap the watch page's default (Top chat) token for the Live chat one, read from the chat frame.

        Without it nothing fails but YouTube holds back what it takes for spam:
        so when the frame cannot be had or has no view selector this is warned
        (once per kind and minute) and counted, and Top chat is read rather
        than nothing (the next session tries again)."""
        fallback = "; reading YouTube's default Top chat view, which hides some messages"
        try:
            html = await self._fetch(http, "GET", f"{self.base_url}/live_chat", MAX_PAGE,
                                     params={"continuation": page.continuation})
        except SourceDisconnected as exc:
            self.note_unparsable("live_chat_page", f"chat frame page: {exc}{fallback}")
            return
        text = html.decode("utf-8", errors="replace")
        token = parse_chat_frame(text, "live")
        if token:
            page.continuation, page.views = token, True
            return
        self.note_unparsable("live_chat_page", "no chat view selector on the chat frame page" + fallback,
                             clip(text, 200))

    async def _poll(self, http: aiohttp.ClientSession, page: WatchPage, continuation: str):
        self.polls += 1
        headers = {"X-YouTube-Client-Name": "1", "X-YouTube-Client-Version": page.client_version,
                   "Origin": self.base_url, "Content-Type": "application/json"}
        if page.visitor_data:
            headers["X-Goog-Visitor-Id"] = page.visitor_data
        body = json.dumps({"context": page.context, "continuation": continuation}).encode()
        raw = await self._fetch(http, "POST", f"{self.base_url}/youtubei/v1/live_chat/get_live_chat", MAX_RESPONSE,
                                params={"key": page.api_key, "prettyPrint": "false"}, data=body, headers=headers)
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            self.stats.parse_errors += 1
            raise SourceDisconnected(f"chat response is not JSON: {str(exc)[:100]}") from None

    async def _fetch(self, http: aiohttp.ClientSession, method: str, url: str, limit: int, **kw) -> bytes:
        """The body of one request, or SourceDisconnected (HTTP error, timeout, too big)."""
        try:
            async with http.request(method, url, **kw) as resp:
                if resp.status != 200:
                    detail = (await resp.content.read(300)).decode("utf-8", "replace").strip()
                    raise SourceDisconnected(f"HTTP {resp.status} from {method} {resp.url.path}: {detail[:200]}")
                # counted after decompression, and reading stops at the limit (no gzip bomb)
                chunks, size = [], 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > limit:
                        raise SourceDisconnected(f"response over {limit >> 20} MiB from {method} {url}")
                    chunks.append(chunk)
        except asyncio.TimeoutError:
            raise SourceDisconnected(f"no answer within {self.cfg.request_timeout_s:g} s ({method} {url})") from None
        except aiohttp.ClientError as exc:
            raise SourceDisconnected(f"{type(exc).__name__}: {exc}") from None
        return b"".join(chunks)


def build(cfg: YouTubeConfig, *, url: str | None = None, video_id: str | None = None,
          backoff: Backoff | None = None, sleep=asyncio.sleep, poll_sleep=asyncio.sleep) -> YouTubeSource:
    """The source for ``cfg`` (``url`` / ``video_id`` override the config).

    Raises :class:`UsageError` (one line for the user) for a bad video id."""
    try:
        extract_video_id(video_id or cfg.video_id)
    except ValueError as exc:
        raise UsageError(f"youtube: {exc}") from None
    return YouTubeSource(cfg, url=url or cfg.url, video_id=video_id or cfg.video_id, backoff=backoff,
                         sleep=sleep, poll_sleep=poll_sleep)
