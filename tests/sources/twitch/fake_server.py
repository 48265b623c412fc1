"""A loopback Twitch chat server: IRC lines over a real WebSocket.

It speaks what Twitch's server says (per dev.twitch.tv/docs/irc): the CAP
ACK, the 001–004/375/372/376 welcome burst in one frame, the JOIN echo with
353/366 names, USERSTATE and ROOMSTATE, PONG for PING, NOTICE on a refused
login. Its line handling is written separately from the product's parser, and
tests/sources/twitch/test_peer.py checks it against twitchAPI's chat client,
so it is not shaped to fit the code under test.

Test controls: ``send`` lines (one frame, or one frame each), ``ping``,
``reconnect``, ``drop`` (abort TCP without a close frame), ``stall`` (go
silent, stop answering PINGs), ``refuse`` / ``accept`` (stop listening and
listen again on the same port).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

HOST = "tmi.twitch.tv"
_LINE = re.compile(r"^(?P<cmd>[A-Z]+)(?: (?P<args>.*))?$")


@dataclass
class Client:
    ws: ServerConnection
    received: list[str] = field(default_factory=list)
    nick: str = ""
    token: str | None = None
    welcomed: bool = False
    joined: set[str] = field(default_factory=set)


class FakeTwitchServer:
    def __init__(self, *, channels: dict[str, str] | None = None, valid_tokens: set[str] | None = None):
        self.channels = channels if channels is not None else {"pajlada": "11148817"}
        self.valid_tokens = valid_tokens  # None: any token is accepted
        self.port = 0
        self.clients: list[Client] = []
        self.connections = 0
        self.stalled = False
        self._server = None
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> "FakeTwitchServer":
        self._server = await serve(self._handle, "127.0.0.1", self.port, compression=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # ---------------------------------------------------------------- controls

    async def refuse(self) -> None:
        """Stop listening (new connections get ECONNREFUSED) and drop current ones."""
        await self.drop()
        await self.stop()

    async def accept(self) -> None:
        await self.start()

    async def drop(self) -> None:
        for client in self.live():
            client.ws.transport.abort()

    def stall(self, on: bool = True) -> None:
        self.stalled = on

    def live(self) -> list[Client]:
        return [c for c in self.clients if c.ws.state.name == "OPEN"]

    async def send(self, *lines: str, one_frame: bool = True) -> None:
        """Send lines to every client that joined, CRLF-terminated like Twitch."""
        for client in self.live():
            if not client.joined:
                continue
            if one_frame:
                await client.ws.send("".join(f"{line}\r\n" for line in lines))
            else:
                for line in lines:
                    await client.ws.send(f"{line}\r\n")

    async def send_raw(self, frame: str | bytes) -> None:
        for client in self.live():
            await client.ws.send(frame)

    async def ping(self) -> None:
        for client in self.live():
            await client.ws.send(f"PING :{HOST}\r\n")

    async def reconnect(self) -> None:
        for client in self.live():
            await client.ws.send(f":{HOST} RECONNECT\r\n")

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:
        async def waiter():
            async with self._changed:
                await self._changed.wait_for(predicate)
        await asyncio.wait_for(waiter(), timeout)

    async def wait_joined(self, count: int = 1, timeout: float = 10.0) -> None:
        """Until ``count`` connections (in all) have joined a channel."""
        await self.wait_for(lambda: sum(1 for c in self.clients if c.joined) >= count, timeout)

    def sent_by_clients(self) -> list[str]:
        return [line for c in self.clients for line in c.received]

    # ---------------------------------------------------------------- protocol

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, ws: ServerConnection) -> None:
        client = Client(ws)
        self.clients.append(client)
        self.connections += 1
        await self._notify()
        try:
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                for line in text.replace("\r\n", "\n").split("\n"):
                    if line:
                        client.received.append(line)
                        if not self.stalled:
                            await self._line(client, line)
                await self._notify()
        except ConnectionClosed:
            pass
        finally:
            await self._notify()

    async def _line(self, client: Client, line: str) -> None:
        match = _LINE.match(line)
        if not match:
            await client.ws.send(f":{HOST} 421 {client.nick or '*'} {line.split(' ')[0]} :Unknown command\r\n")
            return
        cmd, args = match["cmd"], match["args"] or ""
        if cmd == "CAP" and args.startswith("REQ :"):
            await client.ws.send(f":{HOST} CAP * ACK :{args[5:]}\r\n")
        elif cmd == "PASS":
            client.token = args.removeprefix("oauth:")
        elif cmd == "NICK":
            await self._login(client, args.strip())
        elif cmd == "JOIN" and client.welcomed:
            for channel in args.split(","):
                await self._join(client, channel.strip().lstrip("#"))
        elif cmd == "PING":
            await client.ws.send(f":{HOST} PONG {HOST} {args if args.startswith(':') else ':' + args}\r\n")

    async def _login(self, client: Client, nick: str) -> None:
        client.nick = nick
        anonymous = nick.startswith("justinfan") and client.token is None
        if not anonymous and (client.token is None or (self.valid_tokens is not None
                                                       and client.token not in self.valid_tokens)):
            await client.ws.send(f":{HOST} NOTICE * :Login authentication failed\r\n")
            await client.ws.close()
            return
        client.welcomed = True
        burst = [f":{HOST} 001 {nick} :Welcome, GLHF!", f":{HOST} 002 {nick} :Your host is {HOST}",
                 f":{HOST} 003 {nick} :This server is rather new", f":{HOST} 004 {nick} :-",
                 f":{HOST} 375 {nick} :-", f":{HOST} 372 {nick} :You are in a maze of twisty passages, all alike.",
                 f":{HOST} 376 {nick} :>"]
        await client.ws.send("".join(f"{line}\r\n" for line in burst))
        if not anonymous:
            await client.ws.send(f"@badge-info=;badges=;color=;display-name={nick};emote-sets=0;user-id=1;"
                                 f"user-type= :{HOST} GLOBALUSERSTATE\r\n")

    async def _join(self, client: Client, channel: str) -> None:
        nick = client.nick
        if channel not in self.channels:
            await client.ws.send(f"@msg-id=msg_channel_suspended :{HOST} NOTICE #{channel} "
                                 ":This channel does not exist or has been suspended.\r\n")
            return
        lines = [f":{nick}!{nick}@{nick}.{HOST} JOIN #{channel}",
                 f":{nick}.{HOST} 353 {nick} = #{channel} :{nick}",
                 f":{nick}.{HOST} 366 {nick} #{channel} :End of /NAMES list"]
        await client.ws.send("".join(f"{line}\r\n" for line in lines))
        await client.ws.send(f"@badge-info=;badges=;color=;display-name={nick};emote-sets=0;mod=0;subscriber=0;"
                             f"user-type= :{HOST} USERSTATE #{channel}\r\n")
        await client.ws.send(f"@emote-only=0;followers-only=-1;r9k=0;room-id={self.channels[channel]};slow=0;"
                             f"subs-only=0 :{HOST} ROOMSTATE #{channel}\r\n")
        client.joined.add(channel)
        await self._notify()
