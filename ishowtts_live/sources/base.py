"""What every chat source shares: the protocol, one reconnect loop, dedupe.

A platform implements ``connect_once()``: open one connection, yield what it
receives, raise when the connection ends or fails. :class:`ReconnectingSource`
turns that into a source that runs until closed — exponential backoff with
jitter and a cap, a read timeout that catches silent dead sockets, one warning
per outage (its retries are counted, and logged at debug), one line when chat
flows again, and no duplicate messages after a
reconnect where the platform gives message ids. What a platform sends that
the reader does not understand is reported through ``note_unknown`` /
``note_unparsable`` (see :mod:`ishowtts_live.sources.drift`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Protocol, runtime_checkable

import structlog

from ishowtts_live import compat
from ishowtts_live.events import ChatEvent, SourceItem
from ishowtts_live.sources.drift import Drift

log = structlog.get_logger(__name__)


@runtime_checkable
class ChatSource(Protocol):
    name: str  # "bilibili:123456", "twitch:somechannel", "replay:chat.jsonl"

    def events(self) -> AsyncIterator[SourceItem]:
        """Everything the source receives, until :meth:`aclose` (or, for
        finite sources like replay, until the end)."""

    async def aclose(self) -> None: ...


@dataclass
class Backoff:
    """Exponential backoff with full jitter, capped; reset after a healthy connection."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.5  # each delay is scaled by a random factor in [1 - jitter, 1]
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        # the exponent is capped: 2.0**1024 overflows after ~1000 failed tries
        base = min(self.cap, self.initial * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return base * (1.0 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempt = 0


class RecentIds:
    """A bounded set of recently seen message ids (dedupe across reconnects)."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, msg_id: str) -> bool:
        """True if ``msg_id`` was seen before; records it either way."""
        if not msg_id:
            return False
        if msg_id in self._ids:
            self._ids.move_to_end(msg_id)
            return True
        self._ids[msg_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return False


@dataclass
class SourceStats:
    connects: int = 0
    reconnects: int = 0
    received: int = 0
    duplicates: int = 0
    parse_errors: int = 0
    last_error: str = ""
    # connecting (first try) → connected (handshake done or chat read) → reconnecting (an outage,
    # until a connection works again) …; stopped once closed
    state: str = "connecting"
    drift: Drift = field(default_factory=lambda: Drift("?"))

    @property
    def last_minute(self) -> dict:
        """read / dropped / unknown / unparsable in the last minute (``/api/status``)."""
        return self.drift.last_minute()


HEALTHY_S = 30.0  # a connection that lasted this long ended a healthy spell, even if chat was quiet


class SourceDisconnected(Exception):
    """The connection ended (server closed, read timeout, protocol error)."""


class ReconnectingSource:
    """Run ``connect_once`` forever, reconnecting with backoff.

    ``connect_once`` is an async generator function for one connection; it
    should raise (anything) when that connection is over. A connection that
    delivered at least one item resets the backoff.
    """

    def __init__(
        self,
        name: str,
        connect_once: Callable[[], AsyncIterator[SourceItem]],
        *,
        backoff: Backoff | None = None,
        on_reconnect: Callable[[str, str], None] | None = None,
        sleep: Callable[[float], "asyncio.Future"] = asyncio.sleep,
    ):
        self.name = name
        self._connect_once = connect_once
        self.backoff = backoff or Backoff()
        self.stats = SourceStats(drift=Drift(name))
        self._recent = RecentIds()
        self.on_reconnect = on_reconnect  # the daemon counts reconnects in its metrics here
        self._sleep = sleep
        self._closed = asyncio.Event()
        self._down_since: float | None = None  # the current outage began (monotonic)
        self._down_tries = 0
        self.delays: list[float] = []  # the backoff schedule actually used (for tests and logs)

    async def events(self) -> AsyncIterator[SourceItem]:
        while not self._closed.is_set():
            self.stats.connects += 1
            delivered = False
            connected_at = time.monotonic()
            error = "connection closed"
            try:
                # aclosing: when the consumer stops, the connection's own
                # cleanup (closing the socket, ending a platform session)
                # runs now, not whenever the generator is collected.
                async with contextlib.aclosing(self._connect_once()) as connection:
                    async for item in connection:
                        if self._closed.is_set():
                            return
                        if isinstance(item, ChatEvent) and self._recent.seen(item.msg_id):
                            self.stats.duplicates += 1
                            self.stats.drift.drop("duplicate")
                            continue
                        if not delivered:
                            delivered = True
                            self.stats.state = "connected"
                            self.backoff.reset()
                            if self._down_since is not None:
                                log.info("chat source back", source=self.name, tries=self._down_tries,
                                         down_s=round(time.monotonic() - self._down_since, 2))
                                self._down_since = None
                        self.stats.received += 1
                        self.stats.drift.read()
                        yield item
            except asyncio.CancelledError:
                self.stats.state = "stopped"
                raise
            except Exception as exc:  # noqa: BLE001 - every failure means "reconnect"
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if self._closed.is_set():
                self.stats.state = "stopped"
                return
            self.stats.state = "reconnecting"
            delay = self.backoff.next_delay()
            self.delays.append(delay)
            self.stats.reconnects += 1
            self.stats.last_error = error
            if self._down_since is None or delivered or time.monotonic() - connected_at >= HEALTHY_S:
                # one warning per outage; the retries of the same outage are
                # counted (stats, metrics) and logged at debug only
                self._down_since, self._down_tries = time.monotonic(), 0
                log.warning("chat source disconnected; reconnecting", source=self.name, error=error,
                            retry_in_s=round(delay, 2), reconnects=self.stats.reconnects)
            else:
                log.debug("chat source still down", source=self.name, error=error, retry_in_s=round(delay, 2))
            self._down_tries += 1
            if self.on_reconnect is not None:
                self.on_reconnect(self.name, error)
            await self._wait(delay)

    async def _wait(self, delay: float) -> None:
        sleeper = asyncio.ensure_future(self._sleep(delay))
        closer = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({sleeper, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            closer.cancel()

    async def aclose(self) -> None:
        self._closed.set()
        self.stats.state = "stopped"

    def mark_connected(self) -> None:
        """The platform accepted this connection (welcome, auth reply, a chat
        page): a quiet room shows as connected before its first message."""
        self.stats.state = "connected"

    # ------------------------------------------------------------------ drift

    def note_unknown(self, name: str, sample: object = None) -> None:
        """A message type this reader has no rule for: counted by name, warned once per name."""
        self.stats.drift.unknown_kind(name, sample)

    def note_unparsable(self, kind: str, error: str, sample: object = None) -> None:
        """A message of a known type (or a frame) that could not be read: counted and warned with a sample."""
        self.stats.parse_errors += 1
        self.stats.drift.unparsable_kind(kind, error, sample)

    def note_dropped(self, reason: str, n: int = 1) -> None:
        """Items received but deliberately not handed on (backlog, over a limit, …)."""
        self.stats.drift.drop(reason, n)


async def within(aw, timeout: float):
    """``await aw`` with a deadline (raises ``asyncio.TimeoutError``).

    ``asyncio.wait_for`` loses a cancellation that arrives just as ``aw``
    completes (CPython gh-86296), which leaves a source running after it was
    cancelled; ``asyncio.timeout`` (its backport on 3.10) does not.
    """
    async with compat.timeout(timeout):
        return await aw


async def read_with_timeout(aw, timeout: float, what: str = "read"):
    """Await ``aw`` but treat a silent connection as dead after ``timeout`` s."""
    try:
        return await within(aw, timeout)
    except asyncio.TimeoutError:
        raise SourceDisconnected(f"no data for {timeout:.0f} s ({what})") from None
