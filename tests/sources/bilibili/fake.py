"""A loopback Bilibili: the HTTP APIs discovery and the open platform use,
and the danmaku WebSocket, speaking the real protocol over real sockets.

It checks what clients send (WBI signatures, the buvid3 cookie, the auth
packet and its token, open-platform request signatures) and reproduces the
server's quirks (the heartbeat reply whose length does not count the echo,
several packets per compressed body). Tests steer it: push commands, drop
connections, stall, refuse connections, revoke tokens.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from tests.sources.bilibili import samples, wire

HOST = "127.0.0.1"
SESSDATA = "fake%2Csessdata%2C42"  # URL-encoded like the real cookie
LOGGED_IN_MID = 10086


@dataclass
class Conn:
    ws: web.WebSocketResponse
    request: web.Request
    kind: str  # "web" or "open"
    encoding: str = "brotli"
    heartbeats: int = 0
    echoes: list[bytes] = field(default_factory=list)
    authed: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Game:
    auth_body: str
    heartbeats: int = 0
    ended: bool = False


class FakeBilibili:
    def __init__(self, *, require_wbi: bool = True, require_buvid: bool = True, allow_empty_key: bool = False,
                 tls: ssl.SSLContext | None = None):  # fmt: skip
        self.require_wbi, self.require_buvid, self.allow_empty_key = require_wbi, require_buvid, allow_empty_key
        self.tls = tls
        self.img_key, self.sub_key = secrets.token_hex(16), secrets.token_hex(16)
        self.buvid3 = f"{uuid.uuid4()}infoc".upper()
        self.popularity = 2466
        self.tokens: dict[str, int] = {}  # token → the mid it was issued to
        self.auths: list[object] = []  # every auth body received, in order
        self.auth_ok: list[bool] = []
        self.conns: list[Conn] = []
        self.calls: list[str] = []  # HTTP paths, in order
        self.stalled = False
        self.encoding: str | None = None  # None: by the auth packet's protover
        self.reject_auth = 0  # refuse this many otherwise valid auths
        self.danmu_info_error = 0  # non-zero: getDanmuInfo answers with this code
        self.dead_hosts: list[dict] = []  # listed before the live server
        # open platform
        self.app_id, self.key_id, self.key_secret = 1650000001, "AKID" + secrets.token_hex(6), secrets.token_hex(16)
        self.identity_code = "C" + secrets.token_hex(6).upper()
        self.games: dict[str, Game] = {}
        self.signature_failures: list[str] = []
        self._nonces: set[str] = set()
        self._changed = asyncio.Condition()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeBilibili:
        api = web.Application()
        api.router.add_get("/room/v1/Room/get_info", self._room_init)
        api.router.add_get("/xlive/web-room/v1/index/getInfoByRoom", self._info_by_room)
        api.router.add_get("/x/web-interface/nav", self._nav)
        api.router.add_get("/", self._home)
        api.router.add_get("/xlive/web-room/v1/index/getDanmuInfo", self._danmu_info)
        for path in ("/v2/app/start", "/v2/app/heartbeat", "/v2/app/end"):
            api.router.add_post(path, self._open_call)
        self._api_runner = web.AppRunner(api, access_log=None)
        await self._api_runner.setup()
        site = web.TCPSite(self._api_runner, HOST, 0)
        await site.start()
        self.api = f"http://{HOST}:{site._server.sockets[0].getsockname()[1]}"

        sockets = web.Application()
        sockets.router.add_get("/sub", self._socket)
        sockets.router.add_get("/openlive/sub", self._socket)
        self._ws_runner = web.AppRunner(sockets, access_log=None, shutdown_timeout=0.5)
        await self._ws_runner.setup()
        self._ws_site = web.TCPSite(self._ws_runner, HOST, 0, reuse_address=True)
        await self._ws_site.start()
        self.ws_port = self._ws_site._server.sockets[0].getsockname()[1]
        self.ws_url = f"ws://{HOST}:{self.ws_port}/sub"
        self.tls_port = 0
        if self.tls is not None:
            tls_site = web.TCPSite(self._ws_runner, HOST, 0, ssl_context=self.tls)
            await tls_site.start()
            self.tls_port = tls_site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for conn in self.conns:
            conn.request.transport and conn.request.transport.abort()
        await self._ws_runner.cleanup()
        await self._api_runner.cleanup()

    # ------------------------------------------------------------------ steering

    async def connection(self, *, index: int | None = None, timeout: float = 10.0) -> Conn:
        """The newest authenticated, open connection (or the index-th ever made)."""

        def ready() -> Conn | None:
            if index is not None:
                return self.conns[index] if len(self.conns) > index and self.conns[index].authed.is_set() else None
            live = [c for c in self.conns if c.authed.is_set() and not c.closed.is_set()]
            return live[-1] if live else None

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(ready), timeout)
            return ready()

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def send(self, cmds: list[dict], encoding: str | None = None, conn: Conn | None = None) -> None:
        conn = conn or await self.connection()
        await conn.ws.send_bytes(wire.message_frame(cmds, encoding or conn.encoding))

    async def send_raw(self, frame: bytes, conn: Conn | None = None) -> None:
        conn = conn or await self.connection()
        await conn.ws.send_bytes(frame)

    def drop(self) -> None:
        """Cut every connection at the TCP level (no close frame)."""
        for conn in self.conns:
            if not conn.closed.is_set() and conn.request.transport is not None:
                conn.request.transport.abort()

    async def refuse(self) -> None:
        """Stop listening: new connections are refused by the kernel."""
        await self._ws_site.stop()

    async def accept(self) -> None:
        self._ws_site = web.TCPSite(self._ws_runner, HOST, self.ws_port, reuse_address=True)
        await self._ws_site.start()

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ web HTTP API

    @staticmethod
    def _json(body: dict) -> web.Response:
        return web.json_response(body, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    def _wbi_img(self) -> dict:
        return {"img_url": f"https://i0.hdslb.com/bfs/wbi/{self.img_key}.png",
                "sub_url": f"https://i0.hdslb.com/bfs/wbi/{self.sub_key}.png"}  # fmt: skip

    def _mid(self, request: web.Request) -> int:
        return LOGGED_IN_MID if request.cookies.get("SESSDATA") == SESSDATA else 0

    async def _room_init(self, request: web.Request) -> web.Response:
        self.calls.append("room_init")
        if request.query.get("room_id") not in (str(samples.SHORT_ROOM), str(samples.REAL_ROOM)):
            return self._json({"code": 1, "msg": "未找到该房间", "message": "未找到该房间", "data": []})
        return self._json({"code": 0, "msg": "ok", "message": "ok", "data": {
            "room_id": samples.REAL_ROOM, "short_id": samples.SHORT_ROOM, "uid": samples.ANCHOR_UID,
            "live_status": 1}})  # fmt: skip

    async def _info_by_room(self, request: web.Request) -> web.Response:
        self.calls.append("info_by_room")
        return self._json({"code": 0, "message": "0", "data": {"room_info": {
            "room_id": samples.REAL_ROOM, "short_id": samples.SHORT_ROOM, "uid": samples.ANCHOR_UID}}})  # fmt: skip

    async def _nav(self, request: web.Request) -> web.Response:
        self.calls.append("nav")
        mid = self._mid(request)
        if mid:
            return self._json({"code": 0, "message": "0", "ttl": 1,
                               "data": {"isLogin": True, "mid": mid, "uname": "房管", "wbi_img": self._wbi_img()}})  # fmt: skip
        return self._json({"code": -101, "message": "账号未登录", "ttl": 1,
                           "data": {"isLogin": False, "wbi_img": self._wbi_img()}})  # fmt: skip

    async def _home(self, request: web.Request) -> web.Response:
        self.calls.append("home")
        resp = web.Response(text="<!DOCTYPE html><title>哔哩哔哩</title>", content_type="text/html")
        resp.set_cookie("buvid3", self.buvid3, path="/", max_age=3600 * 24 * 365)
        return resp

    async def _danmu_info(self, request: web.Request) -> web.Response:
        self.calls.append("danmu_info")
        query = dict(request.query)
        if self.require_wbi:
            w_rid = query.pop("w_rid", "")
            wts = query.get("wts", "")
            fresh = wts.isdigit() and abs(time.time() - int(wts)) < 300
            if not fresh or w_rid != wire.wbi_rid(query, self.img_key, self.sub_key):
                return self._json({"code": -352, "message": "-352", "data": {"v_voucher": "voucher_fake"}})
        if self.require_buvid and request.cookies.get("buvid3") != self.buvid3:
            return self._json({"code": -352, "message": "-352", "data": {"v_voucher": "voucher_buvid"}})
        if self.danmu_info_error:
            return self._json({"code": self.danmu_info_error, "message": "服务繁忙", "data": {}})
        if query.get("id") != str(samples.REAL_ROOM):
            return self._json({"code": 1, "message": "room id is not the real id", "data": {}})
        token = secrets.token_urlsafe(48)
        self.tokens[token] = self._mid(request)
        live = {"host": HOST, "port": 2243, "wss_port": self.tls_port or 443, "ws_port": self.ws_port}
        return self._json({"code": 0, "message": "0", "ttl": 1, "data": {
            "group": "live", "business_id": 0, "refresh_row_factor": 0.125, "refresh_rate": 100, "max_delay": 5000,
            "token": token, "host_list": [*self.dead_hosts, live]}})  # fmt: skip

    # ------------------------------------------------------------------ open platform HTTP API

    async def _open_call(self, request: web.Request) -> web.Response:
        what = request.path.rsplit("/", 1)[-1]
        self.calls.append("open_" + what)
        body = await request.read()
        problem = wire.open_signature_problem(request.headers, body, self.key_id, self.key_secret)
        ts, nonce = request.headers.get("x-bili-timestamp", ""), request.headers.get("x-bili-signature-nonce", "")
        if not problem and not (ts.isdigit() and abs(time.time() - int(ts)) < 600):
            problem = "stale timestamp"
        if not problem and nonce in self._nonces:
            problem = "nonce reused"
        if problem:
            self.signature_failures.append(problem)
            return self._json({"code": 4000, "message": problem, "request_id": "r", "data": {}})
        self._nonces.add(nonce)
        payload = json.loads(body)
        if what == "start":
            if payload.get("code") != self.identity_code or payload.get("app_id") != self.app_id:
                return self._json({"code": 7007, "message": "身份码错误", "request_id": "r", "data": {}})
            game_id = str(uuid.uuid4())
            auth = json.dumps({"roomid": samples.REAL_ROOM, "protover": 2, "uid": 0, "group": "open",
                               "key": secrets.token_hex(24)})  # fmt: skip
            self.games[game_id] = Game(auth)
            return self._json({"code": 0, "message": "0", "request_id": "r", "data": {
                "game_info": {"game_id": game_id},
                "websocket_info": {"auth_body": auth, "wss_link": [f"ws://{HOST}:{self.ws_port}/openlive/sub"]},
                "anchor_info": {"room_id": samples.REAL_ROOM, "uname": "主播", "uface": "", "uid": samples.ANCHOR_UID,
                                "open_id": "anchor-open-id"}}})  # fmt: skip
        game = self.games.get(payload.get("game_id", ""))
        if game is None or game.ended:
            return self._json({"code": 7003, "message": "心跳不存在或已过期", "request_id": "r", "data": {}})
        if what == "heartbeat":
            game.heartbeats += 1
        else:
            game.ended = True
        await self._notify()
        return self._json({"code": 0, "message": "0", "request_id": "r", "data": {}})

    # ------------------------------------------------------------------ the danmaku socket

    def _auth_problem(self, conn: Conn, body: bytes) -> str:
        if conn.kind == "open":
            live = {g.auth_body for g in self.games.values() if not g.ended}
            return "" if body.decode("utf-8", "replace") in live else "unknown open-platform auth body"
        try:
            auth = json.loads(body)
        except ValueError:
            return "auth body is not JSON"
        if auth.get("roomid") != samples.REAL_ROOM:
            return f"wrong room {auth.get('roomid')!r}"
        key, uid = auth.get("key"), auth.get("uid")
        if key in self.tokens:
            if self.tokens[key] != uid:
                return "uid does not match the token's owner"
        elif not (self.allow_empty_key and not key and uid == 0):
            return "bad key"
        conn.encoding = {3: "brotli", 2: "zlib"}.get(auth.get("protover"), "plain")
        return ""

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Conn(ws, request, "open" if request.path.startswith("/openlive") else "web")
        self.conns.append(conn)
        try:
            try:
                first = await asyncio.wait_for(ws.receive(), 5.0)  # the real server waits 5 s for auth
            except asyncio.TimeoutError:
                return ws
            packets = wire.split_packets(first.data) if first.type == WSMsgType.BINARY else []
            if not packets or packets[0][0] != 7:
                return ws
            body = packets[0][2]
            self.auths.append(body.decode("utf-8", "replace") if conn.kind == "open" else json.loads(body))
            problem = self._auth_problem(conn, body)
            if not problem and self.reject_auth > 0:
                self.reject_auth -= 1
                problem = "rejected on purpose"
            self.auth_ok.append(not problem)
            if problem:
                await ws.send_bytes(wire.auth_reply(-101))
                await ws.close()
                return ws
            if conn.kind == "open":
                conn.encoding = "zlib"
            if self.encoding:
                conn.encoding = self.encoding
            await ws.send_bytes(wire.auth_reply(0))
            conn.authed.set()
            await self._notify()
            async for msg in ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                for op, _ver, payload in wire.split_packets(msg.data):
                    if op == 2 and not self.stalled:
                        conn.heartbeats += 1
                        conn.echoes.append(payload)
                        await ws.send_bytes(wire.heartbeat_reply(self.popularity, payload))
                        await self._notify()
            return ws
        finally:
            conn.closed.set()
            await self._notify()
