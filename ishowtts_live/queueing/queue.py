"""The speech queue between the filters and the synthesizer.

Bounded; three priority classes (paid > moderator announcement > chat); within
a class, oldest first with a per-user fair share; a time to live per class;
when full, the oldest item of the lowest class gives way to a higher-class
newcomer (counted ``evicted``), else the newcomer is dropped (``queue_full``).
Paid utterances are journaled (:mod:`ishowtts_live.queueing.journal`) when they
are accepted, start playing and finish, so a crash loses none and repeats none
that finished.

One event loop owns the queue: nothing here is thread-safe, on purpose.

Longer than 400 lines: one data structure whose parts (the heap, the arrival
deques, the per-user lists, lazy deletion) keep each other's invariants, and
that is clearer read in one place than split.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import msgspec
import structlog

from ishowtts_live.config.schema import QueueConfig
from ishowtts_live.events import KEPT, Utterance, Verdict
from ishowtts_live.users import Selector, user_key

if TYPE_CHECKING:
    from ishowtts_live.queueing.journal import Journal

log = structlog.get_logger(__name__)

PAID, ANNOUNCEMENT, CHAT = 0, 1, 2
CLASS_NAMES = ("paid", "announcement", "chat")

# (action, utterance, reason); action is "queued", "dropped", "evicted",
# "purged" or "stale".
Listener = Callable[[str, Utterance, str], None]


def priority_class(utt: Utterance) -> int:
    """PAID, ANNOUNCEMENT or CHAT, from the utterance's event (none = chat)."""
    event = utt.event
    if event is None:
        return CHAT
    if event.paid:
        return PAID
    if event.platform == "control" and event.kind == "system":
        return ANNOUNCEMENT
    return CHAT


def fair_share_key(utt: Utterance) -> str:
    """Who an utterance counts against for fair share. Bilibili sends uid 0
    for everyone when not logged in, so that is no id; an item with neither
    id nor name is its own user (the class then degrades to plain FIFO)."""
    event = utt.event
    if event is None:
        return f"utt:{utt.id}"
    if event.user_id and event.user_id != "0":
        return f"{event.platform}:id:{user_key(event.user_id)}"
    if event.user_name:
        return f"{event.platform}:name:{user_key(event.user_name)}"
    return f"utt:{utt.id}"


class QueueItem(msgspec.Struct, kw_only=True, dict=True):
    """One waiting item as ``ctl queue`` and the control API show it.

    ``item.utterance`` holds the queued :class:`Utterance` itself; it is an
    attribute outside the fields, so it is not part of the encoded form.
    """

    id: str
    msg_id: str
    user_name: str
    user_id: str
    platform: str
    kind: str
    amount: float
    text: str
    priority: str  # "paid", "announcement" or "chat"
    waited_s: float  # on the queue's clock
    voice: str


@dataclass(eq=False, slots=True)
class _Entry:
    utt: Utterance
    cls: int
    user: str
    round: int  # fair-share round: a user's k-th waiting item is in round ≥ k
    seq: int  # arrival order
    queued_at: float
    expires_at: float
    paused_before: float  # seconds the queue had been paused when this was queued
    alive: bool = True


class SpeechQueue:
    """See the module docstring and docs/queue.md."""

    def __init__(self, cfg: QueueConfig, journal: Journal | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.journal = journal
        self.clock = clock
        self.drops: collections.Counter[str] = collections.Counter()
        self.listeners: list[Listener] = []
        self.playing: dict[str, Utterance] = {}  # started, not yet finished
        self._ttl = (cfg.ttl_paid_s, cfg.ttl_announcement_s, cfg.ttl_chat_s)
        self._live: dict[str, _Entry] = {}
        # Lazy deletion: removed entries stay in the heap and the arrival
        # deques, marked dead, until met or compacted away.
        self._heap: list[tuple[int, int, int, _Entry]] = []
        self._arrivals: tuple[collections.deque[_Entry], ...] = tuple(collections.deque() for _ in CLASS_NAMES)
        self._dead = 0
        self._users: dict[tuple[int, str], list[_Entry]] = {}
        self._served_round = [0] * len(CLASS_NAMES)
        self._seq = itertools.count()
        self._paused = False
        self._paused_at = 0.0  # when the current pause began (queue clock)
        self._paused_total = 0.0  # seconds of the pauses that ended
        self._changed = asyncio.Event()
        self._taken: dict[str, _Entry] = {}  # given to playback, not finished: where it stood
        self._away_since: float | None = None  # synthesis is away (a remote server) since then

    # ------------------------------------------------------------ the loops' side

    def put(self, utt: Utterance) -> Verdict:
        """Queue ``utt``, or say why not. A paid utterance is journaled before
        this returns (it is "accepted" from then on)."""
        cls = priority_class(utt)
        now = self.clock()
        self._expire(now)
        if utt.id in self._live or utt.id in self.playing:
            return self._reject(utt, cls, "duplicate")
        expires_at = self._expiry(utt, cls, now)
        if expires_at <= now:
            return self._reject(utt, cls, "stale")
        user = fair_share_key(utt)
        if cls == CHAT and self.cfg.max_per_user and len(self._users.get((cls, user), ())) >= self.cfg.max_per_user:
            return self._reject(utt, cls, "user_queue_full")
        victim = None
        if len(self._live) >= self.cfg.max_items:
            victim = self._eviction_candidate()
            if victim is None or victim.cls <= cls:
                return self._reject(utt, cls, "queue_full")
        if cls == PAID and self.journal is not None and not self.journal.accept(utt):
            # Finished or dropped before (a source re-delivered it after a
            # reconnect or restart): speaking it again would repeat it.
            return self._reject(utt, cls, "duplicate")
        if victim is not None:
            self._remove(victim, "evicted", "evicted")
        self._insert(utt, cls, user, now, expires_at)
        self._emit("queued", utt, "")
        self._changed.set()
        return KEPT

    def get_nowait(self) -> Utterance | None:
        """The next utterance to speak, or None while paused or empty."""
        if self._paused:
            return None
        now = self.clock()
        while self._heap:
            _, _, _, entry = heapq.heappop(self._heap)
            if not entry.alive:
                continue
            if self._expired(entry, now):
                self._remove(entry, "stale", self._stale_reason)
                continue
            self._detach(entry)
            self._taken[entry.utt.id] = entry
            self._served_round[entry.cls] = max(self._served_round[entry.cls], entry.round)
            self._maybe_compact()
            return entry.utt
        return None

    def peek(self, n: int) -> list[Utterance]:
        """The next ``n`` utterances :meth:`get_nowait` would give, in order,
        left in place (none while paused)."""
        if self._paused or n <= 0:
            return []
        now = self.clock()
        live = (e for e in self._live.values() if not self._expired(e, now))
        return [e.utt for e in heapq.nsmallest(n, live, key=lambda e: (e.cls, e.round, e.seq))]

    async def get(self) -> Utterance:
        """Wait for the next utterance (while paused or empty); stale items
        met on the way are dropped."""
        while True:
            utt = self.get_nowait()
            if utt is not None:
                return utt
            self._changed.clear()
            await self._changed.wait()

    def started(self, utt: Utterance) -> None:
        """Playback of ``utt`` began (journaled for paid ones: a crash from
        here on re-speaks it once after restart)."""
        self.playing[utt.id] = utt
        if self.journal is not None and priority_class(utt) == PAID:
            self.journal.started(utt)

    def finished(self, utt: Utterance, *, spoken: bool) -> None:
        """Playback of ``utt`` ended: spoken fully, or skipped / failed. Either
        way a paid one is never spoken again."""
        self.playing.pop(utt.id, None)
        self._taken.pop(utt.id, None)
        if self.journal is not None and priority_class(utt) == PAID:
            self.journal.finished(utt, spoken=spoken)

    def requeue(self, utt: Utterance) -> bool:
        """Put ``utt``, taken for playback but not spoken (synthesis went away),
        back where it stood, with its own time to live; False when it was not
        taken from here. A paid one stays journaled as not yet spoken."""
        entry = self._taken.pop(utt.id, None)
        self.playing.pop(utt.id, None)
        if entry is None or utt.id in self._live:
            return False
        again = _Entry(utt, entry.cls, entry.user, entry.round, entry.seq, entry.queued_at, entry.expires_at,
                       entry.paused_before)
        mine = self._users.setdefault((again.cls, again.user), [])
        mine.insert(sum(1 for e in mine if e.seq < again.seq), again)
        self._live[utt.id] = again
        heapq.heappush(self._heap, (again.cls, again.round, again.seq, again))
        arrivals = self._arrivals[again.cls]
        arrivals.insert(sum(1 for e in arrivals if e.seq < again.seq), again)
        if self.journal is not None and again.cls == PAID:
            self.journal.requeued(utt)
        self._changed.set()
        return True

    def synthesis_away(self, away: bool) -> None:
        """While synthesis is away (a remote server lost), chat and
        announcements that outlive their time to live are dropped with reason
        ``synth_unavailable``; paid ones wait, and the time synthesis was away
        does not count against theirs."""
        now = self.clock()
        if away and self._away_since is None:
            self._away_since = now
        elif not away and self._away_since is not None:
            for entry in self._live.values():
                if entry.cls == PAID and math.isfinite(entry.expires_at):
                    entry.expires_at += now - max(self._away_since, entry.queued_at)
            self._away_since = None
            self._changed.set()

    def expire(self) -> None:
        """Drop what has outlived its time to live now (it is also done lazily)."""
        self._expire(self.clock())

    def requeue_journaled(self, admit: Callable[[Utterance], Verdict] | None = None) -> list[Utterance]:
        """Queue the paid utterances the journal holds as not yet spoken (call
        once at start, before sources run). ``admit`` re-checks each (e.g.
        mutes made after it was accepted); one it refuses is journaled as
        dropped with that reason. Returns those queued."""
        if self.journal is None:
            return []
        queued = []
        for utt in self.journal.pending_paid():
            verdict = admit(utt) if admit is not None else KEPT
            if not verdict.kept:
                self.journal.dropped(utt, verdict.reason)
                self.drops[verdict.reason] += 1
                self._emit("dropped", utt, verdict.reason)
                continue
            if self.put(utt).kept:
                queued.append(utt)
        left = len(self.journal.pending_paid()) - len(queued)
        if left > 0:
            log.warning("paid messages left in the journal: the queue is full; they are read after the next restart",
                        count=left, max_items=self.cfg.max_items)
        return queued

    # ------------------------------------------------------------ moderation

    def purge(self, selector: Selector | None = None, *, user_id: str = "", user_name: str = "", msg_id: str = "",
              platform: str = "") -> list[Utterance]:
        """Remove the waiting items ``selector`` names (:mod:`ishowtts_live.users`'s
        rule), or that the criteria name: every one given must hold; a user id
        and a name together mean either, each matched as any way of naming a
        user (name, id, ``platform:id``, case-insensitive)."""
        if selector is None:
            selector = Selector(users=frozenset(k for k in (user_key(user_id), user_key(user_name)) if k),
                                msg_id=msg_id, platform=platform)
        victims = sorted((e for e in self._live.values() if selector.matches(e.utt)), key=lambda e: e.seq)
        for entry in victims:
            self._remove(entry, "purged", "purged")
        return [e.utt for e in victims]

    def clear(self) -> list[Utterance]:
        """Remove every waiting item, paid ones included (a moderator's call)."""
        victims = sorted(self._live.values(), key=lambda e: e.seq)
        for entry in victims:
            self._remove(entry, "purged", "cleared")
        return [e.utt for e in victims]

    def pause(self) -> None:
        if not self._paused:
            self._paused, self._paused_at = True, self.clock()

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self._paused_total += max(0.0, self.clock() - self._paused_at)
        self._changed.set()

    def _paused_seconds(self, now: float) -> float:
        """Seconds the queue has been paused since it was made, up to ``now``."""
        return self._paused_total + (max(0.0, now - self._paused_at) if self._paused else 0.0)

    @property
    def paused(self) -> bool:
        return self._paused

    # ------------------------------------------------------------ views

    def snapshot(self) -> list[QueueItem]:
        """The waiting items, in the order they would be spoken."""
        now = self.clock()
        for entry in [e for e in self._live.values() if self._expired(e, now)]:
            self._remove(entry, "stale", self._stale_reason)
        items = []
        for entry in sorted(self._live.values(), key=lambda e: (e.cls, e.round, e.seq)):
            event = entry.utt.event
            item = QueueItem(
                id=entry.utt.id,
                msg_id=event.msg_id if event else "",
                user_name=event.user_name if event else "",
                user_id=event.user_id if event else "",
                platform=event.platform if event else "",
                kind=event.kind if event else "chat",
                amount=event.amount if event else 0.0,
                text=entry.utt.text,
                priority=CLASS_NAMES[entry.cls],
                waited_s=max(0.0, now - entry.queued_at),
                voice=entry.utt.voice,
            )
            item.utterance = entry.utt
            items.append(item)
        return items

    def oldest_wait(self) -> float:
        """Seconds the longest-waiting item has waited while the queue ran (0
        when empty): time paused is not waiting the daemon could catch up on,
        so it is not a backlog. The head of each class's arrivals waited longest."""
        now = self.clock()
        self._expire(now)
        paused = self._paused_seconds(now)
        waits = [now - e.queued_at - (paused - e.paused_before) for e in (d[0] for d in self._arrivals if d)]
        return max(0.0, *waits) if waits else 0.0

    def __len__(self) -> int:
        return len(self._live)

    # ------------------------------------------------------------ internals

    def _expiry(self, utt: Utterance, cls: int, now: float) -> float:
        ttl = self._ttl[cls]
        expires = now + ttl if ttl > 0 else math.inf
        if utt.deadline > 0:
            expires = min(expires, utt.deadline)
        return expires

    def _insert(self, utt: Utterance, cls: int, user: str, now: float, expires_at: float) -> None:
        mine = self._users.setdefault((cls, user), [])
        rnd = self._served_round[cls]
        if mine:
            # Behind this user's newest waiting item, so several items from
            # one user interleave with everyone else's instead of blocking them.
            rnd = max(rnd, mine[-1].round + 1)
        entry = _Entry(utt, cls, user, rnd, next(self._seq), now, expires_at, self._paused_seconds(now))
        mine.append(entry)
        self._live[utt.id] = entry
        heapq.heappush(self._heap, (cls, rnd, entry.seq, entry))
        self._arrivals[cls].append(entry)

    def _detach(self, entry: _Entry) -> None:
        entry.alive = False
        # Counted, not exact: the entry may linger in the heap and in its
        # arrival deque; compaction bounds what lingers.
        self._dead += 1
        del self._live[entry.utt.id]
        mine = self._users[(entry.cls, entry.user)]
        mine.remove(entry)
        if not mine:
            del self._users[(entry.cls, entry.user)]

    def _remove(self, entry: _Entry, action: str, reason: str) -> None:
        self._detach(entry)
        self.drops[reason] += 1
        if entry.cls == PAID:
            if self.journal is not None:
                self.journal.dropped(entry.utt, reason)
            log.warning("paid message removed from the queue", msg_id=entry.utt.id, reason=reason)
        self._emit(action, entry.utt, reason)
        self._maybe_compact()

    def _reject(self, utt: Utterance, cls: int, reason: str) -> Verdict:
        self.drops[reason] += 1
        if cls == PAID:
            log.warning("paid message not queued", msg_id=utt.id, reason=reason)
        else:
            log.debug("not queued", msg_id=utt.id, reason=reason)
        self._emit("dropped", utt, reason)
        return Verdict(kept=False, reason=reason)

    def _expire(self, now: float) -> None:
        """Drop stale items at the heads of the arrival deques (TTLs are per
        class, so within a class the oldest expires first)."""
        for arrivals in self._arrivals:
            while arrivals:
                head = arrivals[0]
                if not head.alive:
                    arrivals.popleft()
                elif self._expired(head, now):
                    self._remove(head, "stale", self._stale_reason)
                else:
                    break

    def _expired(self, entry: _Entry, now: float) -> bool:
        return entry.expires_at <= now and not (self._away_since is not None and entry.cls == PAID)

    @property
    def _stale_reason(self) -> str:
        return "synth_unavailable" if self._away_since is not None else "stale"

    def _eviction_candidate(self) -> _Entry | None:
        for cls in (CHAT, ANNOUNCEMENT, PAID):
            arrivals = self._arrivals[cls]
            while arrivals and not arrivals[0].alive:
                arrivals.popleft()
            if arrivals:
                return arrivals[0]
        return None

    def _maybe_compact(self) -> None:
        if self._dead <= len(self._live) + 64:
            return
        live = sorted(self._live.values(), key=lambda e: e.seq)
        self._heap = [(e.cls, e.round, e.seq, e) for e in live]
        heapq.heapify(self._heap)
        for cls, arrivals in enumerate(self._arrivals):
            arrivals.clear()
            arrivals.extend(e for e in live if e.cls == cls)
        self._dead = 0

    def _emit(self, action: str, utt: Utterance, reason: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(action, utt, reason)
            except Exception:  # a broken listener must not break the queue
                log.exception("queue listener failed", action=action, msg_id=utt.id)
