"""The control server: aiohttp on 127.0.0.1 (or a Unix socket) in the daemon.

Routes call the daemon's :class:`~ishowtts_live.controls.Controls` and nothing else.
One middleware guards them all, in this order: Host (DNS rebinding) → Origin
(403) → bearer token (401, except for the public paths: the overlay and the
panel's static files, which hold no secret) → the daemon's phase (503 while
it starts or stops, except for the routes that need no running stage) → body
problems (400 naming the field, 413 over ``control.max_body_bytes``).

The daemon starts this server first, so ``/healthz`` and ``ctl status`` show
the warm-up's progress instead of a refused connection, and stops it last.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import stat
import time
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import msgspec
import numpy as np
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from ishowtts_live.config.schema import ControlConfig
from ishowtts_live.control import security
from ishowtts_live.control.feeds import Feeds
from ishowtts_live.control.protocol import (
    MAX_ID, BadBody, Error, NfeBody, Result, SayBody, TtsBody, UserBody, VoiceBody, WordBody, decode_body,
)
from ishowtts_live.errors import IshowttsError, ModerationConflict, VoiceError

if TYPE_CHECKING:
    from ishowtts_live.controls import Change, Controls

log = structlog.get_logger(__name__)

PUBLIC = frozenset({"/healthz", "/metrics"})  # plus the pages below, their files and the overlay's feed
STATIC = Path(__file__).with_name("static")
PAGES = ("overlay", "panel")  # /NAME serves static/NAME.html; /NAME/FILE its files
STATIC_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}
STATIC_FILES = {f"{page}{ext}" for page in PAGES for ext in STATIC_TYPES}


# Routes that answer before the stages run and while they stop; every other one is then 503.
UNREADY = frozenset({"/healthz", "/metrics", "/api/status", "/api/events"})  # plus the pages (overlay, panel)


def is_public(path: str) -> bool:
    return path in PUBLIC or _is_page(path)


def works_unready(path: str) -> bool:
    return path in UNREADY or _is_page(path)


def _is_page(path: str) -> bool:
    return any(path == f"/{page}" or path.startswith(f"/{page}/") for page in PAGES)


def error(status: int, field: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = msgspec.json.encode(Error(error=f"{field}: {message}" if field else message, field=field))
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def reply(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=msgspec.json.encode(obj), content_type="application/json")


class ControlServer:
    """Started by the daemon before everything else, stopped last."""

    def __init__(self, controls: Controls, cfg: ControlConfig, state: str):
        self.controls = controls
        self.cfg = cfg
        self.token_path = security.token_path(cfg.token_file, state)
        self.token = ""
        self.url = ""
        self.feeds = Feeds(controls)
        self._runner: web.AppRunner | None = None
        self._tts_lock = asyncio.Lock()

    async def start(self) -> None:
        self.token = security.ensure_token(self.token_path)
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        try:
            if self.cfg.unix_socket:
                path = Path(self.cfg.unix_socket)
                _remove_stale_socket(path)
                site: web.BaseSite = web.UnixSite(self._runner, str(path))
                await site.start()
                path.chmod(0o660)
                self.url = f"unix:{path}"
            else:
                site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port)
                await site.start()
                host = f"[{self.cfg.host}]" if ":" in self.cfg.host else self.cfg.host
                self.url = f"http://{host}:{self.cfg.port}"
        except OSError as exc:
            await self._runner.cleanup()
            where = self.cfg.unix_socket or f"{self.cfg.host}:{self.cfg.port}"
            raise IshowttsError(f"control: cannot listen on {where}: {exc.strerror or exc} "
                                "(another ishowtts-live running? change control.port)") from None
        log.info("control server listening", url=self.url, token_file=str(self.token_path),
                 overlay=f"{self.url}/overlay" if self.url.startswith("http") else None)

    async def stop(self) -> None:
        await self.feeds.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.cfg.unix_socket:
            Path(self.cfg.unix_socket).unlink(missing_ok=True)

    # ------------------------------------------------------------------ app

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard], client_max_size=self.cfg.max_body_bytes)
        get, post = web.get, web.post
        app.add_routes([
            get("/healthz", self.healthz), get("/metrics", self.metrics),
            get("/api/status", self.status), get("/api/queue", self.queue), get("/api/events", self.feeds.events),
            get("/api/voices", self.voices), web.delete("/api/queue/{id:.+}", self.remove),
            post("/api/skip", self.skip), post("/api/pause", self.pause), post("/api/resume", self.resume),
            post("/api/clear", self.clear), post("/api/mute", self.mute), post("/api/unmute", self.unmute),
            post("/api/block", self.block), post("/api/unblock", self.unblock), post("/api/voice", self.voice),
            post("/api/nfe", self.nfe), post("/api/say", self.say), post("/api/tts", self.tts),
            get("/overlay/feed", self.feeds.overlay),
            *(get(f"/{page}", self.page) for page in PAGES), *(get(f"/{page}/{{name}}", self.page) for page in PAGES),
        ])
        return app

    @web.middleware
    async def guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        cfg = self.cfg
        if not security.host_allowed(request.host, cfg.allowed_hosts):
            response: web.StreamResponse = error(403, "host", f"{security.host_name(request.host)!r} is not allowed "
                                                 "(add it to control.allowed_hosts)")
        elif not security.origin_allowed(request.headers.get("Origin"), request.host, cfg.allowed_origins):
            response = error(403, "origin", "cross-origin requests are refused")
        elif not is_public(request.path) and not security.token_matches(_authorization(request), self.token):
            response = error(401, "authorization", f"missing or wrong bearer token (the daemon's token is in "
                             f"{self.token_path})", headers={"WWW-Authenticate": 'Bearer realm="ishowtts-live"'})
        elif ((why := self.controls.unavailable()) and not works_unready(request.path)
              and request.match_info.http_exception is None):  # an unknown path stays a 404
            response = error(503, "", f"{why}; try again once it is ready (GET /healthz answers 200)",
                             headers={"Retry-After": "5"})
        else:
            response = await self._handle(request, handler)
        route = request.match_info.route.resource
        label = route.canonical if route is not None else "other"
        self.controls.count_request(label, response.status)
        return response

    async def _handle(self, request: web.Request, handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadBody as exc:
            return error(400, exc.field, exc.message)
        except web.HTTPRequestEntityTooLarge:
            return error(413, "body", f"larger than control.max_body_bytes ({self.cfg.max_body_bytes} bytes)")
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return error(exc.status, "", exc.reason)

    async def _body(self, request: web.Request, body_type: type) -> Any:
        if request.content_length is not None and request.content_length > self.cfg.max_body_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=self.cfg.max_body_bytes, actual_size=request.content_length)
        return decode_body(await request.read(), body_type)

    # ------------------------------------------------------------------ public

    async def healthz(self, request: web.Request) -> web.Response:
        health = self.controls.health()
        return reply(health, health.http_status)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.controls.metrics_text(self.feeds.clients),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def page(self, request: web.Request) -> web.Response:
        """``/overlay`` or ``/panel``, or one of its own files (nothing else from static/)."""
        page = request.path.split("/")[1]
        name = request.match_info.get("name", f"{page}.html")
        if name not in STATIC_FILES or not name.startswith(f"{page}."):
            raise web.HTTPNotFound()
        headers = {
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            # nothing from elsewhere, no inline script, never inside another site's frame
            "Content-Security-Policy": "default-src 'self'; connect-src 'self'; frame-ancestors 'none'",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        }
        return web.Response(body=(STATIC / name).read_bytes(), content_type=STATIC_TYPES[Path(name).suffix],
                            charset="utf-8", headers=headers)

    # ------------------------------------------------------------------ reading

    async def status(self, request: web.Request) -> web.Response:
        return reply(self.controls.status())

    async def queue(self, request: web.Request) -> web.Response:
        return reply(self.controls.queued())

    async def voices(self, request: web.Request) -> web.Response:
        return reply(self.controls.voices())

    # ------------------------------------------------------------------ commands

    async def skip(self, request: web.Request) -> web.Response:
        return reply(Result(ok=True, changed=self.controls.skip()))

    async def pause(self, request: web.Request) -> web.Response:
        self.controls.pause()
        return reply(Result(ok=True, paused=True))

    async def resume(self, request: web.Request) -> web.Response:
        self.controls.resume()
        return reply(Result(ok=True, paused=False))

    async def remove(self, request: web.Request) -> web.Response:
        """``DELETE /api/queue/{id}``: that one message out of the queue (or cut, if it is being spoken)."""
        msg_id = _not_blank("id", request.match_info["id"])
        if len(msg_id) > MAX_ID:
            raise BadBody("id", f"longer than {MAX_ID} characters")
        removed = self.controls.remove(msg_id)
        if not (removed.purged or removed.cut):
            return error(404, "id", f"no waiting or speaking message has id {msg_id!r} (spoken already?)")
        return reply(Result(ok=True, count=removed.purged, cut=removed.cut))

    async def clear(self, request: web.Request) -> web.Response:
        return reply(Result(ok=True, count=self.controls.clear()))

    async def mute(self, request: web.Request) -> web.Response:
        user = _not_blank("user", (await self._body(request, UserBody)).user)
        return self._change("user", lambda: self.controls.mute(user), count=True)

    async def unmute(self, request: web.Request) -> web.Response:
        user = _not_blank("user", (await self._body(request, UserBody)).user)
        return self._change("user", lambda: self.controls.unmute(user))

    async def block(self, request: web.Request) -> web.Response:
        word = _not_blank("word", (await self._body(request, WordBody)).word)
        return self._change("word", lambda: self.controls.block(word))

    async def unblock(self, request: web.Request) -> web.Response:
        word = _not_blank("word", (await self._body(request, WordBody)).word)
        return self._change("word", lambda: self.controls.unblock(word))

    def _change(self, field: str, apply: Callable[[], Change], count: bool = False) -> web.Response:
        """409 when the config file sets the entry (a run-time change would change nothing)."""
        try:
            change = apply()
        except ModerationConflict as exc:
            return error(409, field, str(exc))
        except ValueError as exc:  # nothing left to match once normalised
            raise BadBody(field, str(exc)) from None
        return reply(Result(ok=True, changed=change.changed, count=change.removed.purged if count else None))

    async def voice(self, request: web.Request) -> web.Response:
        voice = _not_blank("voice", (await self._body(request, VoiceBody)).voice)
        try:
            await self.controls.set_voice(voice)
        except VoiceError as exc:
            raise BadBody("voice", str(exc)) from None
        return reply(Result(ok=True, voice=voice))

    async def nfe(self, request: web.Request) -> web.Response:
        body = await self._body(request, NfeBody)
        self.controls.set_nfe(body.nfe_step)
        return reply(Result(ok=True, nfe_step=body.nfe_step))

    async def say(self, request: web.Request) -> web.Response:
        body = await self._body(request, SayBody)
        text = _not_blank("text", body.text)
        if body.voice:
            await self._check_voice("voice", body.voice)
        verdict = self.controls.say(text, body.voice or None)
        return reply(Result(ok=verdict.kept, reason=verdict.reason, detail=verdict.detail))

    async def tts(self, request: web.Request) -> web.Response:
        """The seed project's endpoint: the whole WAV at once, outside the chat queue."""
        body = await self._body(request, TtsBody)
        text = _not_blank("text", body.text)
        if body.voice_id:
            await self._check_voice("voice_id", body.voice_id)
        async with self._tts_lock:  # one at a time: each waits for the engine thread anyway
            t0 = time.perf_counter()
            try:
                pcm, rate = await self.controls.tts(text, body.voice_id or None)
            except IshowttsError as exc:
                return error(500, "", f"synthesis failed: {exc}")
        log.info("api tts", chars=len(text), audio_s=round(len(pcm) / rate, 2),
                 seconds=round(time.perf_counter() - t0, 2))
        return web.Response(body=wav_bytes(pcm, rate), content_type="audio/wav")

    async def _check_voice(self, field: str, voice: str) -> None:
        try:
            await self.controls.check_voice(voice)
        except VoiceError as exc:
            raise BadBody(field, str(exc)) from None


def _authorization(request: web.Request) -> str | None:
    """The bearer header, or for a WebSocket handshake the token offered as a subprotocol (browsers)."""
    header = request.headers.get("Authorization")
    if header is None and request.headers.get("Upgrade", "").lower() == "websocket":
        return security.websocket_bearer(request.headers.get("Sec-WebSocket-Protocol"))
    return header


def _not_blank(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise BadBody(field, "must not be blank")
    return value


def wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    """Mono 16-bit PCM WAV."""
    samples = (np.clip(np.asarray(pcm, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def _remove_stale_socket(path: Path) -> None:
    """A socket left by a crashed daemon would block the bind; a live one is kept."""
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)
