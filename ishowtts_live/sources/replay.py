"""Replay a JSON-lines chat log: the demo, ``listen replay``, and the tests.

Each line is an object with ``text`` (required) and optional ``user_name``,
``user_id``, ``platform`` (default ``replay``), ``kind`` (chat, superchat,
gift, member), ``amount``, ``currency``, ``msg_id``, ``t`` (seconds from the
start of the log) and ``moderator`` (bool). A line with ``"kind":
"moderation"`` and an ``action`` (delete_message, ban_user, timeout_user,
clear_chat) replays a platform moderator's action. Unknown fields are
ignored; a malformed line is reported with its line number and skipped.

The recorded ``t`` becomes each event's ``clock``, so time-based rules (dedupe
windows, rate limits, TTL) give the same verdicts at any replay speed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Iterator

import msgspec
import structlog

from ishowtts_live.events import ChatEvent, ModerationEvent, SourceItem, UserFlags
from ishowtts_live.sources.base import SourceStats
from ishowtts_live.sources.drift import Drift

log = structlog.get_logger(__name__)

MAX_LINE_BYTES = 64 * 1024
# CNY per unit for the currencies a log may name; used for amount_cents.
CNY_PER_UNIT = {"CNY": 1.0, "RMB": 1.0, "": 1.0}


class ReplayLine(msgspec.Struct, kw_only=True):
    text: str = ""
    user_name: str = ""
    user_id: str = ""
    platform: str = "replay"
    kind: str = "chat"
    amount: float = 0.0
    currency: str = "CNY"
    msg_id: str = ""
    t: float | None = None
    moderator: bool = False
    # moderation lines
    action: str = ""
    target_user_id: str = ""
    target_user_name: str = ""
    target_msg_id: str = ""


_decoder = msgspec.json.Decoder(ReplayLine)
_KINDS = {"chat", "superchat", "gift", "member", "system"}
_ACTIONS = {"delete_message", "ban_user", "timeout_user", "clear_chat", "delete_superchat"}


@dataclass
class ParsedLine:
    lineno: int
    t: float
    item: SourceItem


class ReplayError(ValueError):
    """One malformed line: the message says which and why."""


def parse_line(raw: bytes, lineno: int, *, last_t: float, path: str = "") -> ParsedLine | None:
    """One log line → an item (None for blank/comment lines); ReplayError if malformed."""
    stripped = raw.strip()
    if not stripped or stripped.startswith(b"#"):
        return None
    where = f"{path}:{lineno}" if path else f"line {lineno}"
    if len(raw) > MAX_LINE_BYTES:
        raise ReplayError(f"{where}: line longer than {MAX_LINE_BYTES} bytes")
    try:
        line = _decoder.decode(stripped)
    except msgspec.ValidationError as exc:
        raise ReplayError(f"{where}: {str(exc).replace('`', '')}") from None
    except msgspec.DecodeError as exc:
        raise ReplayError(f"{where}: not a JSON object ({exc})") from None
    t = last_t if line.t is None else line.t
    if not (t == t) or t < 0 or t > 1e9:  # NaN or absurd
        raise ReplayError(f"{where}: t must be seconds from the start (got {line.t!r})")
    now_mono, now_wall = time.monotonic(), time.time()
    if line.kind == "moderation":
        if line.action not in _ACTIONS:
            raise ReplayError(f"{where}: moderation action must be one of {', '.join(sorted(_ACTIONS))}")
        item: SourceItem = ModerationEvent(
            platform=line.platform, action=line.action, target_user_id=line.target_user_id,
            target_user_name=line.target_user_name, target_msg_id=line.target_msg_id,
            received_mono=now_mono, received_wall=now_wall,
        )
        return ParsedLine(lineno, t, item)
    if not line.text.strip():
        raise ReplayError(f"{where}: 'text' is required")
    if line.kind not in _KINDS:
        raise ReplayError(f"{where}: kind must be one of {', '.join(sorted(_KINDS))} (got {line.kind!r})")
    if line.amount < 0 or line.amount != line.amount:
        raise ReplayError(f"{where}: amount must be a non-negative number")
    rate = CNY_PER_UNIT.get(line.currency.upper())
    item = ChatEvent(
        platform=line.platform or "replay",
        msg_id=line.msg_id or f"replay-{lineno}",
        text=line.text,
        user_id=line.user_id,
        user_name=line.user_name,
        kind=line.kind,  # type: ignore[arg-type]
        amount=line.amount,
        currency=line.currency.upper(),
        amount_cents=round(line.amount * rate * 100) if rate is not None else 0,
        flags=UserFlags(moderator=line.moderator),
        received_mono=now_mono,
        received_wall=now_wall,
        clock=t,
    )
    return ParsedLine(lineno, t, item)


def read_log(path: Path) -> Iterator[ParsedLine | ReplayError]:
    """Every line of the log, parsed, with errors in place (never raises for content)."""
    last_t = 0.0
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                parsed = parse_line(raw, lineno, last_t=last_t, path=path.name)
            except ReplayError as exc:
                yield exc
                continue
            if parsed is not None:
                last_t = max(last_t, parsed.t)
                yield parsed


class ReplaySource:
    """Plays a chat log at its recorded pace times ``speed`` (0 = no waiting)."""

    def __init__(self, path: str | Path, speed: float = 1.0, loop: bool = False):
        self.path = Path(path)
        self.speed = speed
        self.loop = loop
        self.name = f"replay:{self.path.name}"
        # the same counters as a live source's, so `ctl status` shows what the
        # replay handed on (received) and what it could not read (parse_errors)
        self.stats = SourceStats(drift=Drift(self.name))
        self._closed = asyncio.Event()

    async def events(self) -> AsyncIterator[SourceItem]:
        offset = 0.0  # recorded time of earlier passes, so the clock keeps rising when looping
        rounds = 0
        while not self._closed.is_set():
            start = time.monotonic()
            last_t = 0.0
            for parsed in read_log(self.path):
                if isinstance(parsed, ReplayError):
                    self.stats.parse_errors += 1
                    log.warning("bad chat log line skipped", error=str(parsed))
                    continue
                if self.speed > 0:
                    due = start + parsed.t / self.speed
                    delay = due - time.monotonic()
                    if delay > 0 and await self._sleep(delay):
                        return
                elif self._closed.is_set():
                    return
                last_t = max(last_t, parsed.t)
                item = parsed.item
                if rounds and isinstance(item, ChatEvent):
                    item = msgspec.structs.replace(item, msg_id=f"{item.msg_id}#{rounds}", clock=item.clock + offset)
                self.stats.received += 1
                self.stats.drift.read()
                yield item
                await asyncio.sleep(0)  # a fast replay must not starve the loop
            if not self.loop:
                return
            rounds += 1
            offset += last_t + 1.0

    async def _sleep(self, delay: float) -> bool:
        """Sleep, waking early on close; True if closed."""
        try:
            await asyncio.wait_for(self._closed.wait(), delay)
            return True
        except asyncio.TimeoutError:
            return False

    async def aclose(self) -> None:
        self._closed.set()


def build(cfg, *, path: str | None = None, speed: float | None = None, loop: bool | None = None) -> ReplaySource:
    """From ``[sources.replay]`` (paths already resolved against the config file)."""
    target = Path(path or cfg.path)
    if not target.is_file():
        from ishowtts_live.errors import ConfigError

        raise ConfigError(f"sources.replay.path: chat log not found: {target}")
    return ReplaySource(target, cfg.speed if speed is None else speed, cfg.loop if loop is None else loop)
