"""The control API's client (``ctl`` uses it; so can scripts).

Every failure is one :class:`ControlError` line a moderator can act on: the
daemon is not running, the token is wrong, the request was refused and why.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, TypeVar

import aiohttp
import msgspec

from ishowtts_live.control.protocol import Body, Error, Queue, Result, Status, Voices
from ishowtts_live.errors import IshowttsError, UsageError

T = TypeVar("T")


class ControlError(IshowttsError):
    """The daemon could not be reached, or refused or failed a request."""


class ControlClient:
    def __init__(self, url: str, token: str, *, timeout: float = 10.0, token_source: str = "the token"):
        self.url = url
        self.token = token
        self.timeout = timeout
        self.token_source = token_source
        self._session: aiohttp.ClientSession | None = None
        if url.startswith("unix:"):
            self._socket: str | None = url[len("unix:"):]
            self._base = "http://localhost"
        else:
            self._socket = None
            self._base = url.rstrip("/")

    async def __aenter__(self) -> ControlClient:
        connector = aiohttp.UnixConnector(path=self._socket) if self._socket else aiohttp.TCPConnector()
        self._session = aiohttp.ClientSession(
            connector=connector, headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_read=None),
        )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ calls

    async def reachable(self) -> None:
        """Raises ControlError only if nothing answers (any HTTP status will do)."""
        try:
            await self._raw("GET", "/healthz", None, None)
        except ControlError as exc:
            if "not running" in str(exc) or "did not answer" in str(exc):
                raise

    async def status(self) -> Status:
        return await self.request("GET", "/api/status", reply=Status)

    async def queue(self) -> Queue:
        return await self.request("GET", "/api/queue", reply=Queue)

    async def voices(self) -> Voices:
        return await self.request("GET", "/api/voices", reply=Voices)

    async def remove(self, msg_id: str) -> Result:
        """``DELETE /api/queue/{id}``; a ControlError (404) when no such message waits or is spoken."""
        from urllib.parse import quote

        return await self.request("DELETE", f"/api/queue/{quote(msg_id, safe='')}", reply=Result)

    async def command(self, path: str, body: Body | None = None, timeout: float | None = None) -> Result:
        return await self.request("POST", path, body, reply=Result, timeout=timeout)

    async def request(self, method: str, path: str, body: Body | None = None, *, reply: type[T],
                      timeout: float | None = None) -> T:
        data = await self._raw(method, path, body, timeout)
        try:
            return msgspec.json.decode(data, type=reply)
        except msgspec.DecodeError as exc:
            raise ControlError(f"{path}: unexpected answer from the daemon ({exc})") from None

    async def tts(self, text: str, voice_id: str = "", timeout: float = 300.0) -> bytes:
        from ishowtts_live.control.protocol import TtsBody

        return await self._raw("POST", "/api/tts", TtsBody(text=text, voice_id=voice_id), timeout)

    async def events(self, history: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Events as they happen, until the daemon closes the stream."""
        assert self._session is not None
        try:
            ws = await self._session.ws_connect(f"{self._base}/api/events?history={history}", heartbeat=30)
        except aiohttp.WSServerHandshakeError as exc:
            raise self._refused(exc.status, "/api/events", b"") from None
        except aiohttp.ClientConnectionError as exc:
            raise self._unreachable(exc) from None
        async with ws:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    yield msgspec.json.decode(msg.data)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    break
        code = ws.close_code
        if code not in (1000, 1001, None):
            raise ControlError(f"the event stream ended abnormally (close code {code})")

    # ------------------------------------------------------------------ plumbing

    async def _raw(self, method: str, path: str, body: Body | None, timeout: float | None) -> bytes:
        assert self._session is not None, "use `async with ControlClient(...)`"
        payload = msgspec.json.encode(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else None

        async def fetch() -> tuple[int, bytes]:
            async with self._session.request(method, self._base + path, data=payload, headers=headers) as resp:
                return resp.status, await resp.read()

        limit = timeout or self.timeout
        try:
            status, data = await asyncio.wait_for(fetch(), limit)
        except asyncio.TimeoutError:
            raise ControlError(f"{path}: the daemon did not answer within {limit:g} s") from None
        except aiohttp.ClientConnectionError as exc:
            raise self._unreachable(exc) from None
        if status >= 400:
            raise self._refused(status, path, data)
        return data

    def _unreachable(self, exc: Exception) -> ControlError:
        where = self._socket or self._base
        if isinstance(exc, aiohttp.ClientConnectorError):
            return ControlError(f"the daemon is not running (nothing listens on {where}); "
                                "start it with `ishowtts-live run` or check control.port / --url")
        return ControlError(f"lost the connection to the daemon at {where}: {exc}")

    def _refused(self, status: int, path: str, data: bytes) -> IshowttsError:
        try:
            message = msgspec.json.decode(data, type=Error).error
        except msgspec.DecodeError:
            message = data.decode(errors="replace").strip()[:200] or f"HTTP {status}"
        if status == 401:
            return ControlError(f"the daemon refused {self.token_source} (401): is it the token of the daemon "
                                "running there? Use --token-file or $ISHOWTTS_LIVE_TOKEN")
        if status == 400:
            return UsageError(message)
        return ControlError(f"{path}: {message} ({status})")
