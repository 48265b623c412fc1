"""Hypothesis: random sequences of queue operations, with a real journal
underneath, keep the queue bounded, account for every paid message, and keep
the journal in agreement with the queue."""

from __future__ import annotations

import shutil
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ishowtts_live.queueing import CLASS_NAMES, PAID, Journal, SpeechQueue, priority_class
from tests.queueing.kit import Clock, announcement, cfg, paid, utt

USERS = ["alice", "Alice", "bob", "ＢＯＢ", "carol", "dave"]
PLATFORMS = ["bilibili", "twitch"]
REMOVALS = ("dropped", "evicted", "stale", "purged")


class QueueMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="ishowtts-prop-")
        self.clock = Clock()
        self.journal = Journal(self.dir)
        self.config = None
        self.queue: SpeechQueue | None = None
        self.status: dict[str, str] = {}  # paid id -> queued | playing | finished | removed:<reason>
        self.counted = 0  # drops the listener saw
        self.playing = None
        self.n = 0

    def teardown(self):
        self.journal.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _listen(self, action, u, reason):
        assert action in ("queued", *REMOVALS)
        if action == "queued":
            return
        assert reason, f"{action} without a reason"
        self.counted += 1
        if priority_class(u) == PAID:
            assert action != "evicted", "a paid message was evicted"
            if u.id in self.status:  # not for a paid newcomer refused before it was accepted
                if action != "dropped" or self.status[u.id] == "queued":
                    self.status[u.id] = f"removed:{reason}"

    def _make_queue(self):
        self.queue = SpeechQueue(self.config, self.journal, self.clock)
        self.queue.listeners.append(self._listen)

    @precondition(lambda self: self.queue is None)
    @rule(max_items=st.integers(1, 8), max_per_user=st.integers(0, 3),
          ttls=st.lists(st.sampled_from([0.0, 5.0, 20.0]), min_size=3, max_size=3))
    def configure(self, max_items, max_per_user, ttls):
        self.config = cfg(max_items=max_items, max_per_user=max_per_user, ttl_paid_s=ttls[0],
                          ttl_announcement_s=ttls[1], ttl_chat_s=ttls[2])
        self._make_queue()

    @precondition(lambda self: self.queue is not None)
    @rule(klass=st.sampled_from(CLASS_NAMES), user=st.sampled_from(USERS), platform=st.sampled_from(PLATFORMS))
    def put(self, klass, user, platform):
        self.n += 1
        make = {"paid": paid, "announcement": announcement, "chat": utt}[klass]
        kw = {} if klass == "announcement" else {"user": user, "platform": platform}
        u = make(f"t{self.n}", id=f"x{self.n}", **kw)
        if klass == "paid":
            self.status[u.id] = "pending"
        before = sum(self.queue.drops.values())
        verdict = self.queue.put(u)
        if klass == "paid":
            if verdict.kept:
                self.status[u.id] = "queued"
            else:
                del self.status[u.id]  # refused at the door: the sender's verdict says so, nothing accepted
        if not verdict.kept:
            assert verdict.reason and self.queue.drops[verdict.reason] >= 1
            assert sum(self.queue.drops.values()) >= before + 1

    @precondition(lambda self: self.queue is not None and self.playing is None)
    @rule()
    def get(self):
        expected = self.queue.snapshot()
        peeked = [u.id for u in self.queue.peek(3)]
        assert peeked == ([] if self.queue.paused else [i.id for i in expected[:3]]), "peek is not the next items"
        assert len(self.queue) == len(expected), "peek removed something"
        got = self.queue.get_nowait()
        if self.queue.paused or not expected:
            assert got is None
            return
        assert got is not None and got.id == expected[0].id, "get did not hand out the snapshot's first item"
        self.queue.started(got)
        self.playing = got
        if got.id in self.status:
            self.status[got.id] = "playing"

    @precondition(lambda self: self.playing is not None)
    @rule(spoken=st.booleans())
    def finish(self, spoken):
        self.queue.finished(self.playing, spoken=spoken)
        if self.playing.id in self.status:
            self.status[self.playing.id] = "finished"
        self.playing = None

    @precondition(lambda self: self.queue is not None)
    @rule(by=st.sampled_from(["user_name", "user_id", "platform", "msg_id"]), user=st.sampled_from(USERS),
          platform=st.sampled_from(PLATFORMS), k=st.integers(1, 200))
    def purge(self, by, user, platform, k):
        value = {"user_name": user, "user_id": user, "platform": platform, "msg_id": f"x{k}"}[by]
        removed = self.queue.purge(**{by: value})
        assert len({u.id for u in removed}) == len(removed)
        assert all(self.status.get(u.id, "removed:purged") == "removed:purged" for u in removed)

    @precondition(lambda self: self.queue is not None)
    @rule()
    def clear(self):
        self.queue.clear()
        assert len(self.queue) == 0

    @precondition(lambda self: self.queue is not None)
    @rule(seconds=st.sampled_from([0.5, 3.0, 10.0, 30.0]))
    def advance(self, seconds):
        self.clock.advance(seconds)

    @precondition(lambda self: self.queue is not None)
    @rule(pause=st.booleans())
    def pause_or_resume(self, pause):
        self.queue.pause() if pause else self.queue.resume()
        assert self.queue.paused == pause

    @precondition(lambda self: self.queue is not None and self.playing is None)
    @rule()
    def restart(self):
        """A clean restart: the journal is closed and reopened, paid messages come back."""
        self.journal.close()
        self.journal = Journal(self.dir)
        self.counted = 0  # a new queue counts afresh
        self._make_queue()
        for msg_id, state in self.status.items():
            if state == "queued":
                self.status[msg_id] = "journaled"
        for u in self.queue.requeue_journaled():
            assert self.status[u.id] == "journaled"
            self.status[u.id] = "queued"

    @invariant()
    def bounded_accounted_and_journaled(self):
        if self.queue is None:
            return
        q = self.queue
        assert len(q) <= self.config.max_items
        snap = q.snapshot()
        assert len(snap) == len(q)
        assert [CLASS_NAMES.index(s.priority) for s in snap] == sorted(CLASS_NAMES.index(s.priority) for s in snap)
        ttls = (self.config.ttl_paid_s, self.config.ttl_announcement_s, self.config.ttl_chat_s)
        for s in snap:
            ttl = ttls[CLASS_NAMES.index(s.priority)]
            assert ttl == 0 or s.waited_s < ttl
        assert sum(q.drops.values()) == self.counted
        queued_paid = {s.id for s in snap if s.priority == "paid"}
        assert queued_paid == {i for i, s in self.status.items() if s == "queued"}
        # Every paid message is somewhere: waiting, playing, finished, removed with a reason, or
        # left in the journal by a restart that found the queue full.
        journaled = {u.id for u in self.journal.pending_paid()}
        open_ids = {i for i, s in self.status.items() if s in ("queued", "playing", "journaled")}
        assert journaled == open_ids
        for state in self.status.values():
            assert state in ("queued", "playing", "finished", "journaled") or state.startswith("removed:")


TestQueueMachine = QueueMachine.TestCase
TestQueueMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])
