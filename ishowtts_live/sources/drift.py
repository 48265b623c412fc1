"""Protocol drift made loud: what a source could not understand, counted and told.

Platforms change their wire formats without notice (Bilibili's gifts moved
to protobuf in ``SEND_GIFT_V2``; YouTube moved its chat views in October
2025). A daemon that silently skips what it does not know stops thanking
paying viewers and nobody learns why. So every source reports, through
:class:`Drift`:

* an **unknown** command / event type (by name): counted per name, warned
  the first time each name is seen in this run;
* an **unparsable** one (a known name whose payload does not have the shape
  the reader expects, or a frame that does not decode): counted per kind and
  warned with a truncated sample — the first time per kind, then at most
  once a minute per kind with how many more there were;
* items **read** (handed on) and **dropped** (received but deliberately not
  handed on: a duplicate re-sent after a reconnect, the backlog present
  when the source started, …).

The totals since start feed ``/metrics``; :class:`LastMinute` keeps the last
minute's counts for ``/api/status``, ``ctl status`` and ``doctor``.
"""

from __future__ import annotations

import reprlib
import time
from collections import Counter, deque
from typing import Any, Callable

import structlog

log = structlog.get_logger(__name__)

WINDOW_S = 60  # what "the last minute" means, in one-second buckets
MAX_NAMES = 256  # distinct unknown / unparsable names kept per source; the rest count as OTHER
OTHER = "(other)"
NAME_CHARS = 64  # a name from the wire is cut to this many characters
SAMPLE_CHARS = 300  # a payload shown in a warning is cut to this many characters
REWARN_S = 60.0  # an unparsable kind already warned about is warned again at most this often


class LastMinute:
    """Counts per key over the last :data:`WINDOW_S` seconds.

    One Counter per second that saw something, oldest first; reading drops the
    buckets that fell out of the window, so memory stays at most 60 buckets.
    """

    def __init__(self, window_s: int = WINDOW_S, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self._clock = clock
        self._buckets: deque[tuple[int, Counter[str]]] = deque()

    def add(self, key: str, n: int = 1) -> None:
        if n <= 0:
            return
        second = int(self._clock())
        if not self._buckets or self._buckets[-1][0] != second:
            self._expire(second)
            self._buckets.append((second, Counter()))
        self._buckets[-1][1][key] += n

    def counts(self) -> Counter[str]:
        self._expire(int(self._clock()))
        total: Counter[str] = Counter()
        for _, bucket in self._buckets:
            total.update(bucket)
        return total

    def _expire(self, now: int) -> None:
        while self._buckets and self._buckets[0][0] <= now - self.window_s:
            self._buckets.popleft()


# Parsed payloads (a YouTube action, a whole response) are shown through
# reprlib, so a warning about a huge hostile object costs no more than its head.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxstring, _REPR.maxother = 4, 12, 12, 120, 120


def clip(value: Any, limit: int = SAMPLE_CHARS) -> str:
    """A payload as one short line for a log: bytes decoded, newlines escaped, cut at ``limit``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        size = len(value)
        text = bytes(value[: limit * 4]).decode("utf-8", errors="replace")  # enough for ``limit`` characters
        more = f"{size} bytes in all"
    else:
        text = value if isinstance(value, str) else _REPR.repr(value)
        size, more = 0, f"+{len(text) - limit} chars"
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(text) > limit or size > limit * 4:
        return text[:limit] + f"…({more})"
    return text


class Drift:
    """The per-source tally of read / dropped / unknown / unparsable items."""

    def __init__(self, source: str, clock: Callable[[], float] = time.monotonic):
        self.source = source
        self.unknown: Counter[str] = Counter()  # since start, by name (what /metrics exports)
        self.unparsable: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()  # by reason
        self.recent = LastMinute(clock=clock)
        self._clock = clock
        self._warned_at: dict[str, float] = {}  # unparsable kind → when it was last warned about
        self._unwarned: Counter[str] = Counter()  # unparsable since that warning

    # ------------------------------------------------------------------ reporting

    def read(self, n: int = 1) -> None:
        self.recent.add("read", n)

    def drop(self, reason: str, n: int = 1) -> None:
        if n > 0:
            self.dropped[reason] += n
            self.recent.add("dropped", n)

    def unknown_kind(self, name: str, sample: Any = None) -> None:
        """Something this reader has no rule for (a new command name, a new renderer)."""
        name = _bounded(self.unknown, name)
        first = name not in self.unknown
        self.unknown[name] += 1
        self.recent.add("unknown")
        self.recent.add("unknown:" + name)
        if first:
            fields = {"sample": clip(sample)} if sample is not None else {}
            log.warning("chat source: unknown message type ignored (the platform may have changed; "
                        "it is counted in /metrics and ctl status)", source=self.source, kind=name, **fields)

    def unparsable_kind(self, kind: str, error: str, sample: Any = None) -> None:
        """Something this reader knows but could not read (a changed shape, a corrupt frame)."""
        kind = _bounded(self.unparsable, kind)
        self.unparsable[kind] += 1
        self.recent.add("unparsable")
        self.recent.add("unparsable:" + kind)
        now = self._clock()
        last = self._warned_at.get(kind)
        if last is not None and now - last < REWARN_S:
            self._unwarned[kind] += 1
            log.debug("chat source: unreadable item skipped", source=self.source, kind=kind, error=clip(error, 200))
            return
        self._warned_at[kind] = now
        more = self._unwarned.pop(kind, 0)
        fields: dict[str, Any] = {"more_since_last_warning": more} if more else {}
        if sample is not None:
            fields["sample"] = clip(sample)
        log.warning("chat source: unreadable item skipped (the platform may have changed its format)",
                    source=self.source, kind=kind, error=clip(error, 200), **fields)

    # ------------------------------------------------------------------ reading

    def last_minute(self) -> dict[str, Any]:
        """The last minute's counts, and which names the unknown / unparsable ones had."""
        counts = self.recent.counts()
        out: dict[str, Any] = {key: counts.get(key, 0) for key in ("read", "dropped", "unknown", "unparsable")}
        for what in ("unknown", "unparsable"):
            prefix = what + ":"
            out[what + "_kinds"] = {k[len(prefix):]: v for k, v in counts.most_common() if k.startswith(prefix)}
        return out


def _bounded(seen: Counter[str], name: str) -> str:
    """``name`` as a label: cut short, and OTHER once :data:`MAX_NAMES` distinct names were seen
    (a broken or hostile server must not grow the metrics without bound)."""
    name = (name or "(none)").replace("\n", " ")[:NAME_CHARS]
    if name not in seen and len(seen) >= MAX_NAMES:
        return OTHER
    return name
