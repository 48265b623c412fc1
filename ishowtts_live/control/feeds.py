"""The two WebSockets: ``/api/events`` (every event, for moderators; needs
the token) and ``/overlay/feed`` (read-only, no token: only what the overlay
shows, which is on stream anyway — the message being spoken and the next few).

Both follow the daemon's event stream (through its Controls); a burst of
events is coalesced, so a chat flood costs the overlay one snapshot per
burst, not one per message. A
foreign ``Origin`` never reaches these handlers (the server's guard refuses
it), so another web page cannot read them either.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import msgspec
import structlog
from aiohttp import WSMsgType, web

from ishowtts_live.control.protocol import WS_PROTOCOL, BadBody

if TYPE_CHECKING:
    from ishowtts_live.controls import Controls

log = structlog.get_logger(__name__)

HEARTBEAT_S = 20.0  # pings find a vanished OBS or terminal; the feed is then dropped
MAX_HISTORY = 100
MAX_NEXT = 10
_CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class Feeds:
    def __init__(self, controls: Controls):
        self.controls = controls
        self._closing = asyncio.Event()
        self._sockets: set[web.WebSocketResponse] = set()
        self._handlers: set[asyncio.Task] = set()

    @property
    def clients(self) -> int:
        return len(self._sockets)

    async def close_all(self) -> None:
        """At shutdown: every feed ends with a "going away" close frame."""
        self._closing.set()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        """Every bus event as one JSON text message; ``?history=N`` first
        replays the last N (up to 100) so a client that connects late has context."""
        history = _int_arg(request, "history", 0, MAX_HISTORY)
        encoder = msgspec.json.Encoder()

        async def send(ws: web.WebSocketResponse, batch: list[dict[str, Any]]) -> None:
            for event in batch:
                await ws.send_str(encoder.encode(event).decode())

        return await self._serve(request, self.controls.recent_events(history), send)

    async def overlay(self, request: web.Request) -> web.WebSocketResponse:
        """An :class:`OverlayState` now, then again whenever it changes."""
        count = _int_arg(request, "next", 3, MAX_NEXT)
        last = b""

        async def send(ws: web.WebSocketResponse, batch: list[dict[str, Any]]) -> None:
            nonlocal last
            state = msgspec.json.encode(self.controls.overlay(count))
            if state != last:
                last = state
                await ws.send_str(state.decode())

        return await self._serve(request, [{}], send)

    async def _serve(self, request: web.Request, first: list[dict[str, Any]],
                     send: Callable[[web.WebSocketResponse, list[dict[str, Any]]], Awaitable[None]]):
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, protocols=(WS_PROTOCOL,))  # the panel asks for it
        await ws.prepare(request)
        sub = self.controls.subscribe()  # before the first message, so nothing falls in between
        self._sockets.add(ws)
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            if first:
                await send(ws, first)
            await self._follow(ws, sub, send)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            sub.close()
            self._sockets.discard(ws)
            self._handlers.discard(task)
            if sub.lost:
                log.info("event feed was too slow; events dropped", lost=sub.lost, path=request.path)
            if not ws.closed:
                await ws.close(code=1001 if self._closing.is_set() else 1000,
                               message=b"daemon stopping" if self._closing.is_set() else b"")
        return ws

    async def _follow(self, ws, sub, send) -> None:
        """Forward bus events until the client leaves or the daemon stops."""
        closing = asyncio.ensure_future(self._closing.wait())
        reader = asyncio.ensure_future(ws.receive())
        getter: asyncio.Future | None = None
        try:
            while True:
                getter = asyncio.ensure_future(sub.__anext__())
                done, _ = await asyncio.wait({closing, reader, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    await send(ws, [getter.result(), *sub.take_ready()])
                    getter = None
                if closing in done:
                    return
                if reader in done:
                    if reader.result().type in _CLOSED:
                        return
                    reader = asyncio.ensure_future(ws.receive())  # clients have nothing to say; ignore it
        finally:
            for fut in (closing, reader, getter):
                if fut is not None and not fut.done():
                    fut.cancel()


def _int_arg(request: web.Request, name: str, default: int, most: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadBody(name, f"expected an integer, got {raw!r}") from None
    if not 0 <= value <= most:
        raise BadBody(name, f"expected 0 to {most}, got {value}")
    return value
