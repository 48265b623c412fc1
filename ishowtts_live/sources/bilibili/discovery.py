"""Web mode discovery: which room, which servers, which token (aiohttp).

1. room init (``room/v1/Room/get_info``): a short room id → the real id and
   the streamer's uid;
2. nav (``x/web-interface/nav``): whether the cookie is logged in (and as
   whom) and the WBI keys, cached for 11 h 59 min (they rotate daily);
3. the home page, once, for the ``buvid3`` cookie getDanmuInfo wants;
4. getDanmuInfo, WBI-signed: the auth token and the server list. When it
   fails the fallback server is used with an empty key, as browsers do.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import aiohttp
import msgspec
import structlog

from ishowtts_live.sources.bilibili import wbi
from ishowtts_live.sources.bilibili.commands import as_int, as_str
from ishowtts_live.sources.bilibili.cookies import header_value

log = structlog.get_logger(__name__)

ROOM_INIT = "/room/v1/Room/get_info"
NAV = "/x/web-interface/nav"
DANMU_INFO = "/xlive/web-room/v1/index/getDanmuInfo"
WBI_TTL_S = 11 * 3600 + 59 * 60
MAX_BODY = 1 << 20
WBI_REJECTED = -352


class DiscoveryError(Exception):
    """Discovery failed this time (network, HTTP status, API error code)."""


@dataclass
class Endpoint:
    room_id: int  # the real (long) room id
    short_id: int
    anchor_uid: int
    uid: int  # the logged-in viewer, 0 for a guest
    token: str
    buvid: str
    urls: list[str] = field(default_factory=list)
    fallback: bool = False  # True: getDanmuInfo failed, fallback server, empty key


class WebDiscovery:
    def __init__(
        self,
        *,
        room: int,
        live_api: str,
        main_api: str,
        home_url: str,
        fallback_url: str,
        transport: str,
        user_agent: str,
        cookies: dict[str, str],
        session: Callable[[], Awaitable[aiohttp.ClientSession]],
    ):
        self.room = room
        self.live_api, self.main_api = live_api.rstrip("/"), main_api.rstrip("/")
        self.home_url, self.fallback_url, self.transport = home_url, fallback_url, transport
        self.user_agent = user_agent
        self.cookies = dict(cookies)
        self._session = session
        self._mixin = ""
        self._mixin_at = 0.0
        self.uid = 0

    async def discover(self) -> Endpoint:
        room = await self._get(self.live_api + ROOM_INIT, {"room_id": self.room}, "room init")
        room_id = as_int(room.get("room_id")) or self.room
        short_id = as_int(room.get("short_id"))
        anchor = as_int(room.get("uid"))
        if not self._mixin or time.monotonic() - self._mixin_at > WBI_TTL_S:
            await self._nav()
        if not self.cookies.get("buvid3"):
            await self._buvid()
        endpoint = Endpoint(room_id, short_id, anchor, self.uid, "", self.cookies.get("buvid3", ""))
        for attempt in (1, 2):
            try:
                info = await self._get(
                    self.live_api + DANMU_INFO,
                    wbi.sign({"id": room_id, "type": 0, "web_location": "444.8"}, self._mixin),
                    "getDanmuInfo",
                )
            except _ApiError as exc:
                if exc.code == WBI_REJECTED and attempt == 1:
                    await self._nav()  # keys rotated under us: fetch them and sign again
                    continue
                return self._fallback(endpoint, str(exc))
            except DiscoveryError as exc:
                return self._fallback(endpoint, str(exc))
            break
        endpoint.token = as_str(info.get("token"))
        hosts = info.get("host_list")
        for host in hosts if isinstance(hosts, list) else []:
            url = self._url(host)
            if url:
                endpoint.urls.append(url)
        if not endpoint.urls:
            return self._fallback(endpoint, "getDanmuInfo listed no usable server")
        return endpoint

    def _url(self, host: Any) -> str:
        if not isinstance(host, dict) or not as_str(host.get("host")):
            return ""
        port = as_int(host.get("wss_port" if self.transport == "wss" else "ws_port"))
        if not 0 < port < 65536:
            return ""
        return f"{self.transport}://{host['host']}:{port}/sub"

    def _fallback(self, endpoint: Endpoint, why: str) -> Endpoint:
        log.warning("bilibili: no danmaku token; using the fallback server with an empty key",
                    room=endpoint.room_id, reason=why, server=self.fallback_url)  # fmt: skip
        endpoint.token, endpoint.urls, endpoint.fallback = "", [self.fallback_url], True
        return endpoint

    async def _nav(self) -> None:
        data = await self._get(self.main_api + NAV, None, "nav", ok_codes=(0, -101))
        self.uid = as_int(data.get("mid")) if data.get("isLogin") else 0
        keys = data.get("wbi_img") if isinstance(data.get("wbi_img"), dict) else {}
        try:
            self._mixin = wbi.mixin_key(wbi.key_from_url(as_str(keys.get("img_url"))),
                                        wbi.key_from_url(as_str(keys.get("sub_url"))))  # fmt: skip
        except ValueError as exc:
            raise DiscoveryError(f"nav: no usable WBI keys ({exc})") from None
        self._mixin_at = time.monotonic()

    async def _buvid(self) -> None:
        session = await self._session()
        try:
            async with session.get(self.home_url, headers=self._headers()) as resp:
                morsel = resp.cookies.get("buvid3")
                if morsel is not None and morsel.value:
                    self.cookies["buvid3"] = morsel.value
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("bilibili: could not fetch the buvid3 cookie", error=type(exc).__name__)

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent, "Referer": "https://live.bilibili.com/"}
        if self.cookies:
            headers["Cookie"] = header_value(self.cookies)
        return headers

    async def _get(self, url: str, params: dict[str, Any] | None, what: str, ok_codes=(0,)) -> dict[str, Any]:
        session = await self._session()
        try:
            async with session.get(url, params=params, headers=self._headers()) as resp:
                raw = await resp.content.read(MAX_BODY + 1)
                if resp.status != 200:
                    raise DiscoveryError(f"{what}: HTTP {resp.status}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise DiscoveryError(f"{what}: {type(exc).__name__}: {exc}") from None
        if len(raw) > MAX_BODY:
            raise DiscoveryError(f"{what}: answer larger than {MAX_BODY} bytes")
        try:
            body = msgspec.json.decode(raw)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            raise DiscoveryError(f"{what}: answer is not JSON") from None
        if not isinstance(body, dict):
            raise DiscoveryError(f"{what}: answer is not a JSON object")
        code = as_int(body.get("code"), -1)
        if code not in ok_codes:
            raise _ApiError(code, f"{what}: {as_str(body.get('message') or body.get('msg'))} (code {code})")
        data = body.get("data")
        return data if isinstance(data, dict) else {}


class _ApiError(DiscoveryError):
    def __init__(self, code: int, text: str):
        super().__init__(text)
        self.code = code
