"""The open live platform (开放平台): signed HTTP calls that open a session.

A streamer's own tool is sanctioned to read its room this way: the app id
and access keys identify the tool, the streamer's identity code (身份码)
the room. ``/v2/app/start`` returns a game id, the servers and an auth body
(sent verbatim as the op-7 packet); ``/v2/app/heartbeat`` must follow every
20 s or the session lapses after 60 s; ``/v2/app/end`` closes it.

Every request is signed: six ``x-bili-*`` headers (access key id, MD5 of the
body, method, a nonce, version, Unix time) are joined as ``name:value``
lines in name order, and ``Authorization`` is the hex HMAC-SHA256 of that
text under the access key secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import aiohttp
import msgspec

from ishowtts_live.sources.bilibili.commands import as_int, as_str

START, HEARTBEAT, END = "/v2/app/start", "/v2/app/heartbeat", "/v2/app/end"
ALREADY_ENDED = (7000, 7003)
MAX_BODY = 1 << 20


class OpenPlatformError(Exception):
    def __init__(self, what: str, code: int, message: str):
        super().__init__(f"{what}: {message or 'error'} (code {code})")
        self.code = code


def signed_headers(body: bytes, key_id: str, secret: str, *, nonce: str | None = None, ts: int | None = None) -> dict[str, str]:
    headers = {
        "x-bili-accesskeyid": key_id,
        "x-bili-content-md5": hashlib.md5(body).hexdigest(),
        "x-bili-signature-method": "HMAC-SHA256",
        "x-bili-signature-nonce": nonce or uuid.uuid4().hex,
        "x-bili-signature-version": "1.0",
        "x-bili-timestamp": str(int(time.time()) if ts is None else ts),
    }
    text = "\n".join(f"{k}:{headers[k]}" for k in sorted(headers))
    headers["Authorization"] = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["Content-Type"] = "application/json"
    headers["Accept"] = "application/json"
    return headers


@dataclass
class OpenGame:
    game_id: str
    auth_body: str
    urls: list[str] = field(default_factory=list)
    room_id: int = 0
    anchor_uid: int = 0
    anchor_name: str = ""


class OpenPlatform:
    def __init__(
        self,
        *,
        api_base: str,
        app_id: int,
        key_id: str,
        key_secret: str,
        code: str,
        session: Callable[[], Awaitable[aiohttp.ClientSession]],
    ):
        self.api_base = api_base.rstrip("/")
        self.app_id = app_id
        self._key_id, self._secret, self._code = key_id, key_secret, code
        self._session = session

    async def start(self) -> OpenGame:
        data = await self._post(START, {"code": self._code, "app_id": self.app_id}, "start")
        game = data.get("game_info") or {}
        ws = data.get("websocket_info") or {}
        anchor = data.get("anchor_info") or {}
        links = ws.get("wss_link")
        urls = [u for u in links if isinstance(u, str) and u] if isinstance(links, list) else []
        auth_body = ws.get("auth_body")
        if not urls or not isinstance(auth_body, str):
            raise OpenPlatformError("start", 0, "answer lacks websocket_info.wss_link or auth_body")
        return OpenGame(
            game_id=as_str(game.get("game_id")),
            auth_body=auth_body,
            urls=urls,
            room_id=as_int(anchor.get("room_id")),
            anchor_uid=as_int(anchor.get("uid")),
            anchor_name=as_str(anchor.get("uname")),
        )

    async def heartbeat(self, game_id: str) -> None:
        await self._post(HEARTBEAT, {"game_id": game_id}, "heartbeat")

    async def end(self, game_id: str) -> None:
        try:
            await self._post(END, {"app_id": self.app_id, "game_id": game_id}, "end")
        except OpenPlatformError as exc:
            if exc.code not in ALREADY_ENDED:
                raise

    async def _post(self, path: str, payload: dict[str, Any], what: str) -> dict[str, Any]:
        body = msgspec.json.encode(payload)
        session = await self._session()
        headers = signed_headers(body, self._key_id, self._secret)
        async with session.post(self.api_base + path, data=body, headers=headers) as resp:
            raw = await resp.content.read(MAX_BODY + 1)
            if resp.status != 200:
                raise OpenPlatformError(what, resp.status, f"HTTP {resp.status}")
        try:
            answer = msgspec.json.decode(raw[:MAX_BODY])
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            raise OpenPlatformError(what, -1, "answer is not JSON") from None
        if not isinstance(answer, dict):
            raise OpenPlatformError(what, -1, "answer is not a JSON object")
        code = as_int(answer.get("code"), -1)
        if code != 0:
            raise OpenPlatformError(what, code, as_str(answer.get("message")))
        data = answer.get("data")
        return data if isinstance(data, dict) else {}
