"""One Twitch channel's chat over IRC-over-WebSocket, reconnecting forever.

A connection: ``CAP REQ :twitch.tv/tags twitch.tv/commands``, then
``PASS oauth:…`` (only with a token) and ``NICK``; after the server's 001
welcome, ``JOIN #channel``. The server's ``PING`` gets a ``PONG``; after
``ping_interval_s`` of silence the source sends its own ``PING`` and gives the
connection ``read_timeout_s`` more to show life. ``RECONNECT`` ends the
connection at once and the next one starts after the first backoff step. A login refused
by the server is logged once, clearly, and retried only at the slowest
backoff step (the token file is re-read on every try).
"""

from __future__ import annotations

import asyncio
import random
from typing import AsyncIterator

import structlog
from websockets.asyncio.client import connect

from ishowtts_live.config.schema import TwitchConfig
from ishowtts_live.config.secrets import resolve_secret
from ishowtts_live.errors import UsageError
from ishowtts_live.events import SourceItem, now_pair
from ishowtts_live.sources.base import Backoff, ReconnectingSource, SourceDisconnected, within
from ishowtts_live.sources.twitch.convert import NOTICE_KINDS, TwitchConverter
from ishowtts_live.sources.twitch.irc import IrcMessage, IrcParseError, parse_line, split_frame

log = structlog.get_logger(__name__)

CAPABILITIES = "twitch.tv/tags twitch.tv/commands"
MAX_FRAME = 1 << 20  # bytes; websockets refuses larger frames (and closes)
MAX_QUEUE = 16  # frames websockets may buffer: memory ≤ MAX_QUEUE × MAX_FRAME
# NOTICE texts that mean the login itself was refused.
LOGIN_FAILURES = ("login authentication failed", "improperly formatted auth", "invalid nick")
# NOTICE msg-ids that mean this channel cannot be read (no retry will fix it soon).
CHANNEL_FAILURES = {"msg_channel_suspended", "msg_banned", "tos_ban", "msg_room_not_found"}
# Commands Twitch's IRC sends that carry nothing to read aloud (the welcome
# and MOTD numerics, NAMES replies, state lines). Any other command is new:
# it is reported as unknown (see sources/drift.py).
QUIET_COMMANDS = {"001", "002", "003", "004", "353", "366", "372", "375", "376", "421", "CAP", "JOIN", "PART",
                  "PONG", "USERSTATE", "ROOMSTATE", "GLOBALUSERSTATE", "HOSTTARGET", "WHISPER"}
# USERNOTICE msg-ids Twitch documents besides those with a rule (NOTICE_KINDS): read as system notices.
KNOWN_NOTICES = {"rewardgift", "ritual", "sharedchatnotice", "charitydonation", "onetapgiftredeemed",
                 "primecommunitygiftreceived", "extendsub", "midnightsquid"}


class TwitchLoginError(SourceDisconnected):
    """The server refused the login or the channel; retrying fast will not help."""


def normalize_channel(channel: str) -> str:
    """'#SomeChannel' / 'twitch.tv/somechannel' → 'somechannel'."""
    name = channel.strip().rstrip("/").rsplit("/", 1)[-1]
    return name.lstrip("#").lower()


class TwitchSource(ReconnectingSource):
    """Chat of one Twitch channel as :class:`ChatEvent` / :class:`ModerationEvent`."""

    def __init__(self, cfg: TwitchConfig, *, url: str, channel: str, backoff: Backoff | None = None,
                 sleep=asyncio.sleep, rng: random.Random | None = None):
        self.cfg = cfg
        self.url = url
        self.channel = normalize_channel(channel)
        if not self.channel:
            raise ValueError("no Twitch channel given")
        self.converter = TwitchConverter(self.channel, include_shared_chat=cfg.include_shared_chat)
        self._rng = rng or random.Random()
        self._login_error_logged = ""
        super().__init__(f"twitch:{self.channel}", self._connect_once,
                         backoff=backoff or Backoff(initial=cfg.backoff_initial_s, cap=cfg.backoff_max_s),
                         sleep=sleep)

    # ---------------------------------------------------------------- login

    def _login(self) -> tuple[str, str]:
        """(nick, token) for this connect; token '' = anonymous."""
        token = resolve_secret(self.cfg.token, self.cfg.token_file, self.cfg.token_env,
                               where="sources.twitch.token_file")
        token = token.removeprefix("oauth:")
        if token and self.cfg.nick:
            return self.cfg.nick.strip().lower(), token
        if token:
            log.warning("twitch token set but sources.twitch.nick is empty; reading anonymously",
                        source=self.name)
        return f"justinfan{self._rng.randint(10_000, 99_999)}", ""

    def _refused(self, reason: str) -> TwitchLoginError:
        """Log a refused login once (per distinct reason) and slow retries to the cap."""
        if reason != self._login_error_logged:
            log.error("twitch refused the connection; check sources.twitch (token, nick, channel)",
                      source=self.name, reason=reason)
            self._login_error_logged = reason
        self.backoff.attempt = max(self.backoff.attempt, 64)  # every next delay = the cap
        return TwitchLoginError(reason)

    # ---------------------------------------------------------------- one connection

    async def _connect_once(self) -> AsyncIterator[SourceItem]:
        nick, token = self._login()
        async with connect(self.url, open_timeout=self.cfg.connect_timeout_s, max_size=MAX_FRAME,
                           max_queue=MAX_QUEUE, close_timeout=2, compression=None) as ws:
            await ws.send(f"CAP REQ :{CAPABILITIES}")
            if token:
                await ws.send(f"PASS oauth:{token}")
            await ws.send(f"NICK {nick}")
            welcomed = False
            ping_sent = False
            while True:
                if not welcomed:
                    timeout, what = self.cfg.connect_timeout_s, "login"
                else:
                    timeout = self.cfg.read_timeout_s if ping_sent else self.cfg.ping_interval_s
                    what = "PING reply"
                try:
                    frame = await within(ws.recv(), timeout)
                except asyncio.TimeoutError:
                    if welcomed and not ping_sent:
                        await ws.send("PING :tmi.twitch.tv")
                        ping_sent = True
                        continue
                    raise SourceDisconnected(f"no data for {timeout:g} s ({what})") from None
                ping_sent = False
                if isinstance(frame, bytes):
                    frame = frame.decode("utf-8", errors="replace")
                for line in split_frame(frame):
                    try:
                        msg = parse_line(line)
                    except IrcParseError as exc:
                        self.note_unparsable("line", str(exc), line)
                        continue
                    if not welcomed and msg.command == "001":
                        welcomed = True
                        self._login_error_logged = ""
                        await ws.send(f"JOIN #{self.channel}")
                        log.info("twitch connected", source=self.name, anonymous=not token)
                        self.mark_connected()
                        continue
                    item = await self._handle(ws, msg, nick)
                    if item is not None:
                        yield item

    async def _handle(self, ws, msg: IrcMessage, nick: str) -> SourceItem | None:
        command = msg.command
        if command == "PING":
            await ws.send(f"PONG :{msg.params[-1] if msg.params else 'tmi.twitch.tv'}")
            return None
        if command == "RECONNECT":
            # Twitch is about to drop this connection: come back promptly
            # (the first backoff step, under a second by default).
            self.backoff.reset()
            raise SourceDisconnected("server asked to reconnect (RECONNECT)")
        if command == "NOTICE":
            self._notice(msg)
            return None
        if command == "CAP" and len(msg.params) >= 2 and msg.params[1] == "NAK":
            log.warning("twitch refused the tags capability; names and ids will be missing", source=self.name)
            return None
        if command == "JOIN" and msg.nick.lower() == nick:
            log.info("twitch joined", source=self.name, channel=msg.channel)
            return None
        if command in ("PRIVMSG", "USERNOTICE", "CLEARMSG", "CLEARCHAT"):
            if msg.channel and msg.channel != self.channel:
                return None
            notice = msg.tags.get("msg-id", "")
            if command == "USERNOTICE" and notice not in NOTICE_KINDS and notice not in KNOWN_NOTICES:
                self.note_unknown(f"USERNOTICE/{notice}", msg.tags.get("system-msg", ""))  # still read, as system
            mono, wall = now_pair()
            return self.converter.convert(msg, mono, wall)
        if command not in QUIET_COMMANDS:
            self.note_unknown(command, msg.params[-1] if msg.params else "")
        return None

    def _notice(self, msg: IrcMessage) -> None:
        text = msg.trailing or (msg.params[-1] if msg.params else "")
        msg_id = msg.tags.get("msg-id", "")
        if any(failure in text.lower() for failure in LOGIN_FAILURES):
            raise self._refused(text)
        if msg_id in CHANNEL_FAILURES:
            raise self._refused(f"{msg_id}: {text}")
        log.info("twitch notice", source=self.name, msg_id=msg_id, text=text[:200])


def build(cfg: TwitchConfig, *, url: str | None = None, channel: str | None = None,
          backoff: Backoff | None = None, sleep=asyncio.sleep) -> TwitchSource:
    """The source for ``cfg`` (``url`` / ``channel`` override the config).

    Raises :class:`UsageError` (one line for the user) when no channel is given."""
    if not normalize_channel(channel or cfg.channel):
        raise UsageError("twitch: no channel given (sources.twitch.channel or the CHANNEL argument)")
    return TwitchSource(cfg, url=url or cfg.url, channel=channel or cfg.channel, backoff=backoff, sleep=sleep)


__all__ = ["TwitchSource", "TwitchLoginError", "build", "normalize_channel"]
