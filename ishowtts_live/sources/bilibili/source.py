"""The Bilibili chat source: one connection at a time, in one of three modes.

* ``web``: discovery over HTTP (room, WBI keys, token, servers), then the
  danmaku WebSocket with the token;
* ``direct``: a given WebSocket URL, no discovery, an empty key (``listen
  bilibili ROOM --url …`` and tests);
* ``open``: the open live platform's signed start call, its auth body and
  servers, and its 20 s project heartbeat beside the socket.

All three share the framing, the op-7/op-8 handshake, the op-2 heartbeat
every ``heartbeat_s``, the read timeout and the command mapping.
:class:`~ishowtts_live.sources.base.ReconnectingSource` reconnects.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

import aiohttp
import msgspec
import structlog
import websockets
from websockets.exceptions import ConnectionClosed

from ishowtts_live.config.schema import BilibiliConfig
from ishowtts_live.events import SourceItem
from ishowtts_live.sources.base import (
    Backoff, ReconnectingSource, RecentIds, SourceDisconnected, read_with_timeout, within,
)
from ishowtts_live.sources.bilibili import commands, open_commands
from ishowtts_live.sources.bilibili.commands import Handler, RoomContext
from ishowtts_live.sources.bilibili.discovery import Endpoint, WebDiscovery
from ishowtts_live.sources.bilibili.framing import Op, decode_frame, pack
from ishowtts_live.sources.bilibili.gifts import GiftCombiner
from ishowtts_live.sources.bilibili.mapping import FrameMapping, ProtocolStats
from ishowtts_live.sources.bilibili.openplatform import OpenPlatform, OpenPlatformError

log = structlog.get_logger(__name__)

# What browsers send; 15 bytes, so the server's uncounted echo of it after a
# heartbeat reply can never be mistaken for a packet header.
HEARTBEAT_BODY = b"[object Object]"
MAX_FRAME = 1 << 20  # larger WebSocket messages close the connection (websockets' max_size)


class AuthRejected(SourceDisconnected):
    """The server refused the op-7 auth packet (stale token, wrong uid)."""


class BilibiliSource(FrameMapping, ReconnectingSource):
    def __init__(
        self,
        cfg: BilibiliConfig,
        *,
        room: int = 0,
        url: str | None = None,
        cookies: dict[str, str] | None = None,
        open_keys: tuple[str, str, str] | None = None,
        backoff: Backoff | None = None,
        sleep: Any = asyncio.sleep,
    ):
        self.cfg = cfg
        self.mode = "direct" if url else cfg.mode
        self.url = url or ""
        super().__init__(
            "bilibili:open" if self.mode == "open" else f"bilibili:{room}",
            self._connect_once,
            backoff=backoff or Backoff(initial=cfg.backoff_initial_s, cap=cfg.backoff_max_s),
            sleep=sleep,
        )
        self.protocol = ProtocolStats()
        self.gifts = GiftCombiner(cfg.gift_combo_s, cfg.gift_combo_max_s)
        self.gift_ids = RecentIds(1024)  # gifts mapped lately, by msg id (see FrameMapping._map)
        self.ctx = RoomContext(channel=str(room), room_ids=frozenset({room}))
        self.room = room
        self._http: aiohttp.ClientSession | None = None
        self._ws: Any = None  # the open danmaku socket, closed by aclose()
        self._game_id = ""  # the open-platform session in progress, ended by whoever stops first
        self._endpoint: Endpoint | None = None
        self._host = 0  # index into the server list; moves on after every failure
        self._streak = 0  # failed connections since the last good one
        self._fatal = ""  # why a helper task closed the socket
        self._warned_guest = False
        self._discovery = WebDiscovery(
            room=room, live_api=cfg.live_api, main_api=cfg.main_api, home_url=cfg.home_url,
            fallback_url=cfg.fallback_url, transport=cfg.transport, user_agent=cfg.user_agent,
            cookies=cookies or {}, session=self._session,
        )  # fmt: skip
        key_id, secret, code = open_keys or ("", "", "")
        self._open = OpenPlatform(api_base=cfg.open.api_base, app_id=cfg.open.app_id, key_id=key_id,
                                  key_secret=secret, code=code, session=self._session)  # fmt: skip

    # ------------------------------------------------------------------ lifecycle

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.cfg.http_timeout_s),
                cookie_jar=aiohttp.DummyCookieJar(),  # cookies go out explicitly (see discovery)
                headers={"User-Agent": self.cfg.user_agent},
            )
        return self._http

    async def aclose(self) -> None:
        await super().aclose()
        if self._game_id:
            # End the open-platform session here, before the caller cancels
            # the reading task (which would cut the end call short).
            game_id, self._game_id = self._game_id, ""
            await self._end_game(game_id)
        if self._ws is not None:
            # wakes a recv() that would otherwise wait up to read_timeout_s
            await self._ws.close()
        if self._http is not None:
            await self._http.close()

    def _connect_once(self) -> AsyncIterator[SourceItem]:
        return self._open_once() if self.mode == "open" else self._web_once()

    # ------------------------------------------------------------------ web and direct

    async def _web_once(self) -> AsyncIterator[SourceItem]:
        if self.mode == "direct":
            url = self.url
            auth: dict[str, Any] = {"uid": 0, "roomid": self.room, "protover": 3, "platform": "web", "type": 2, "key": ""}
        else:
            if self._endpoint is None:
                self._endpoint = await self._discovery.discover()
                self.protocol.discoveries += 1
                self._use_endpoint(self._endpoint)
            ep = self._endpoint
            url = ep.urls[self._host % len(ep.urls)]
            auth = {"uid": ep.uid, "roomid": ep.room_id, "protover": 3, "platform": "web", "type": 2}
            if ep.buvid:
                auth["buvid"] = ep.buvid
            auth["key"] = ep.token
        try:
            async with self._connect(url) as ws:
                first = await self._authenticate(ws, msgspec.json.encode(auth))
                self.mark_connected()
                async for item in self._session_loop(ws, first, commands.HANDLERS, commands.IGNORED, None):
                    yield item
        except AuthRejected:
            self._endpoint = None  # the token is stale: discover again
            raise
        except Exception:
            self._failed()
            raise

    def _use_endpoint(self, ep: Endpoint) -> None:
        self.ctx.channel = str(ep.room_id)
        self.ctx.room_ids = frozenset(i for i in (ep.room_id, ep.short_id, self.room) if i)
        self.ctx.anchor_uid = ep.anchor_uid
        log.info("bilibili room found", room=ep.room_id, short_id=ep.short_id or None, servers=len(ep.urls),
                 logged_in=bool(ep.uid), fallback=ep.fallback)  # fmt: skip
        if not ep.uid:
            self._warn_guest()

    def _failed(self) -> None:
        self._host += 1
        self._streak += 1
        urls = self._endpoint.urls if self._endpoint else []
        if self._endpoint is not None and self._streak >= max(3, len(urls)):
            self._endpoint = None  # every server failed in turn: ask for a fresh list

    # ------------------------------------------------------------------ open platform

    async def _open_once(self) -> AsyncIterator[SourceItem]:
        game = await self._open.start()
        self._game_id = game.game_id
        self.ctx.channel = str(game.room_id)
        self.ctx.room_ids = frozenset({game.room_id})
        self.ctx.anchor_uid = game.anchor_uid
        log.info("bilibili open platform session started", room=game.room_id, game_id=game.game_id or None)
        project: asyncio.Task | None = None
        try:
            async with self._connect(game.urls[self._host % len(game.urls)]) as ws:
                first = await self._authenticate(ws, game.auth_body.encode("utf-8"))
                self.mark_connected()
                if game.game_id:
                    project = asyncio.create_task(self._project_heartbeats(ws, game.game_id))
                async for item in self._session_loop(ws, first, open_commands.HANDLERS, open_commands.IGNORED,
                                                     open_commands.END):  # fmt: skip
                    yield item
        except Exception:
            self._host += 1
            raise
        finally:
            if project is not None:
                project.cancel()
            if game.game_id and self._game_id == game.game_id:
                self._game_id = ""
                await self._end_game(game.game_id)

    async def _end_game(self, game_id: str) -> None:
        try:
            await asyncio.wait_for(self._open.end(game_id), self.cfg.http_timeout_s)
        except (OpenPlatformError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("bilibili open platform: could not end the session", error=str(exc) or type(exc).__name__)

    async def _project_heartbeats(self, ws: Any, game_id: str) -> None:
        misses = 0
        while True:
            await asyncio.sleep(self.cfg.open.heartbeat_s)
            try:
                await asyncio.wait_for(self._open.heartbeat(game_id), self.cfg.http_timeout_s)
            except OpenPlatformError as exc:
                self._fatal = f"project heartbeat refused: {exc}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                misses += 1
                log.warning("bilibili open platform: project heartbeat failed", error=type(exc).__name__, misses=misses)
                if misses >= 2:  # the session lapses 60 s after the last good one
                    self._fatal = "project heartbeat failed twice"
            else:
                misses = 0
                self.protocol.project_heartbeats += 1
            if self._fatal:
                await ws.close()
                return

    # ------------------------------------------------------------------ one socket

    def _connect(self, url: str) -> Any:
        return websockets.connect(
            url,
            user_agent_header=self.cfg.user_agent,
            origin="https://live.bilibili.com" if self.mode != "open" else None,
            max_size=MAX_FRAME,
            open_timeout=self.cfg.connect_timeout_s,
            close_timeout=2,
            # The protocol has its own heartbeat; WebSocket pings are not
            # known to be answered by Bilibili's servers.
            ping_interval=None,
        )

    async def _authenticate(self, ws: Any, body: bytes) -> bytes | str:
        self._fatal = ""
        await ws.send(pack(Op.AUTH, body))
        try:
            frame = await read_with_timeout(ws.recv(), self.cfg.connect_timeout_s, "auth reply")
        except ConnectionClosed:
            self.protocol.auth_failures += 1
            raise AuthRejected("server closed the connection instead of answering auth") from None
        replies = [p for p in decode_frame(frame).packets if p.op == Op.AUTH_REPLY] if isinstance(frame, bytes) else []
        if not replies:
            raise SourceDisconnected("the first packet was not an auth reply")
        try:
            code = msgspec.json.decode(replies[0].body).get("code")
        except (msgspec.DecodeError, AttributeError, UnicodeDecodeError, RecursionError):
            code = "unreadable"
        if code != 0:
            self.protocol.auth_failures += 1
            raise AuthRejected(f"auth rejected (code {code})")
        self._streak = 0
        return frame

    async def _session_loop(
        self, ws: Any, first: bytes | str, handlers: dict[str, Handler], ignored: frozenset[str], end_cmd: str | None
    ) -> AsyncIterator[SourceItem]:
        self._ws = ws
        beats = asyncio.create_task(self._heartbeats(ws))
        try:
            frame: bytes | str | None = first
            last_rx = time.monotonic()
            while True:
                if frame is not None:
                    items, ended = self.items_from_frame(frame, handlers, ignored, end_cmd)
                    for item in items:
                        yield item
                    if ended:
                        raise SourceDisconnected(ended)
                    frame = None
                now = time.monotonic()
                for event in self.gifts.due(now):
                    yield event
                left = self.cfg.read_timeout_s - (now - last_rx)
                if left <= 0:
                    raise SourceDisconnected(f"no data for {self.cfg.read_timeout_s:g} s (read timeout)")
                if self._closed.is_set():
                    return
                due = self.gifts.next_deadline()
                try:
                    frame = await _recv(ws, left if due is None else min(left, max(0.0, due - now)))
                except asyncio.TimeoutError:
                    continue
                last_rx = time.monotonic()
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else "none"
            for event in self.gifts.flush():
                yield event
            raise SourceDisconnected(self._fatal or f"server closed the connection (close code {code})") from None
        except Exception:
            for event in self.gifts.flush():  # a gift held for merging is not lost to a disconnect
                yield event
            raise
        finally:
            self._ws = None
            beats.cancel()

    async def _heartbeats(self, ws: Any) -> None:
        try:
            while True:
                await ws.send(pack(Op.HEARTBEAT, HEARTBEAT_BODY))
                await asyncio.sleep(self.cfg.heartbeat_s)
        except ConnectionClosed:
            return


async def _recv(ws: Any, timeout: float) -> bytes | str:
    # not wait_for: it loses a cancel that lands as recv() completes (CPython
    # gh-86296), and the source would run on after the daemon stopped it
    return await within(ws.recv(), timeout)
