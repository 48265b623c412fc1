"""Frames → events: the part of the Bilibili source that turns one WebSocket
message into ChatEvents and ModerationEvents, counting what it skips.

A mixin for :class:`~ishowtts_live.sources.bilibili.source.BilibiliSource`,
which provides ``ctx``, ``gifts``, ``protocol``, ``stats``, ``name`` and
``mode``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog

from ishowtts_live.events import ChatEvent, SourceItem, now_pair
from ishowtts_live.sources.bilibili.commands import Handler, command_name
from ishowtts_live.sources.bilibili.framing import Op, decode_frame

log = structlog.get_logger(__name__)

MAX_UNKNOWN_NAMES = 256
GUEST_WARNING = (
    "bilibili: not logged in, so Bilibili sends every viewer as uid 0 with a masked name; "
    "per-user mutes and rate limits cannot tell viewers apart. Set sources.bilibili.cookie_file "
    "(a logged-in SESSDATA cookie) or use the open platform (mode = \"open\")."
)


@dataclass
class ProtocolStats:
    frames: int = 0
    packets: int = 0
    heartbeat_replies: int = 0
    popularity: int = 0
    auth_failures: int = 0
    discoveries: int = 0
    project_heartbeats: int = 0
    ignored_commands: int = 0
    unknown_commands: Counter[str] = field(default_factory=Counter)


class FrameMapping:
    """Mapping of frames to events, counting parse errors and unknown commands."""

    def items_from_frame(
        self, frame: bytes | str, handlers: dict[str, Handler], ignored: frozenset[str], end_cmd: str | None = None
    ) -> tuple[list[SourceItem], str]:
        """The events in one WebSocket message, and a reason to reconnect
        ('' if none). Never raises: bad pieces are counted as parse errors."""
        stamp = now_pair()
        self.ctx.stamp = stamp
        out: list[SourceItem] = []
        ended = ""
        if not isinstance(frame, bytes):
            self._parse_error("text frame (the protocol is binary)")
            return out, ended
        self.protocol.frames += 1
        decoded = decode_frame(frame)
        for error in decoded.errors:
            self._parse_error(error)
        for packet in decoded.packets:
            self.protocol.packets += 1
            if packet.op == Op.HEARTBEAT_REPLY:
                if len(packet.body) < 4:
                    self._parse_error("heartbeat reply without a popularity value")
                    continue
                self.protocol.heartbeat_replies += 1
                self.protocol.popularity = int.from_bytes(packet.body[:4], "big")
            elif packet.op == Op.MESSAGE:
                try:
                    msg = msgspec.json.decode(packet.body)
                except (msgspec.DecodeError, RecursionError, UnicodeDecodeError, ValueError) as exc:
                    self._parse_error(f"body is not JSON: {type(exc).__name__}")
                    continue
                if not isinstance(msg, dict):
                    self._parse_error("body is not a JSON object")
                    continue
                out.extend(self._map(msg, handlers, ignored, stamp[0]))
                if end_cmd and command_name(msg) == end_cmd:
                    ended = "the server ended the session (" + end_cmd + ")"
        if self.ctx.guests_seen and not self._warned_guest and self.mode != "open":
            self._warn_guest()
        return out, ended

    def _map(self, msg: dict[str, Any], handlers: dict[str, Handler], ignored: frozenset[str], now: float) -> list[SourceItem]:
        name = command_name(msg)
        handler = handlers.get(name)
        if handler is None:
            if name in ignored:
                self.protocol.ignored_commands += 1
            else:
                self._unknown(name)
            return []
        try:
            items = handler(msg, self.ctx)
        except Exception as exc:  # noqa: BLE001 - one bad packet must never end the source
            self._parse_error(f"{name}: {type(exc).__name__}: {exc}")
            return []
        out: list[SourceItem] = []
        for item in items:
            if isinstance(item, ChatEvent) and item.kind == "gift":
                out.extend(self.gifts.add(item, now))
            else:
                out.append(item)
        return out

    def _unknown(self, name: str) -> None:
        counts = self.protocol.unknown_commands
        if name not in counts and len(counts) >= MAX_UNKNOWN_NAMES:
            name = "(other)"
        if name not in counts:
            log.debug("bilibili: unknown command ignored", cmd=name[:64], source=self.name)
        counts[name] += 1

    def _parse_error(self, reason: str) -> None:
        self.stats.parse_errors += 1
        if not self._parse_warned:
            self._parse_warned = True
            log.warning("bilibili: unreadable packet skipped (further ones are logged at debug level)",
                        source=self.name, reason=reason[:200])  # fmt: skip
        else:
            log.debug("bilibili: unreadable packet skipped", source=self.name, reason=reason[:200])

    def _warn_guest(self) -> None:
        if not self._warned_guest:
            self._warned_guest = True
            log.warning(GUEST_WARNING, source=self.name)
