"""Crash-safe journal of paid utterances and moderation state (SQLite).

What a crash (``kill -9``, power loss) may and may not do, by design:

* A paid utterance is *accepted* when :meth:`SpeechQueue.put` returns kept;
  its row is committed before that. It is never lost: after a restart
  :meth:`Journal.pending_paid` returns it until it finishes or is removed.
* A finished one (spoken fully, or skipped by a moderator) is committed as
  such when playback ends and is never returned again, nor accepted again if
  a source re-delivers it.
* One that was playing when the process died was not heard fully, so it is
  spoken again (at least once), after the messages that were not cut off. If
  its playback is cut off ``give_up_after`` times (queue.give_up_after_crashes,
  default 3), it is marked ``abandoned`` and
  logged instead of being retried for ever: a message that crashes the daemon
  must not crash it in a loop.
  The only repeat of a finished message is a crash in the instant between its
  last audio block and the commit that follows it.
* Mutes and blocked words are committed before ``ModerationState.mute`` (and
  the rest) return, so every change a moderator saw succeed holds.

Longer than 400 lines: the crash and disk-failure policy is one state
machine (memory, disk, retry); :mod:`.store` holds the file's mechanics.

Each state change is one transaction in WAL mode with ``synchronous=FULL``.
The database is opened with ``locking_mode=EXCLUSIVE``: SQLite then keeps the
WAL index in process memory instead of a shared ``-shm`` mapping (a write to
that mapping on a failing disk kills the process with SIGBUS), and a second
daemon on the same state directory cannot interleave its writes.

When the disk fails, the daemon keeps going: a corrupt or unreadable database
is moved aside (one log line, counted) and a fresh one started; a read-only or
failing state directory leaves the journal in memory (one log line) and writes
are retried every ``retry_s`` seconds, and on :meth:`Journal.flush`.
"""

from __future__ import annotations

import collections
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import msgspec
import structlog

from ishowtts_live.events import Utterance
from ishowtts_live.queueing.store import (
    FILE_NAME,
    OPEN_STATES,
    UPSERT_MODERATION,
    UPSERT_PAID,
    Record,
    Unreadable,
    error_kind,
    prepare,
    read_state,
    state_dir,
)

if TYPE_CHECKING:
    from ishowtts_live.config.loading import LoadedConfig

log = structlog.get_logger(__name__)

GIVE_UP_AFTER_CRASHES = 3  # default of queue.give_up_after_crashes
RETRY_S = 5.0
KEEP_DAYS = 7.0  # finished rows are kept this long to recognise re-deliveries


class Journal:
    """Paid utterances and moderation state, on disk when the disk allows.

    Thread-safe (``ModerationState`` may call it from any thread); never
    raises for disk trouble.
    """

    def __init__(self, directory: str | os.PathLike[str], *, give_up_after: int = GIVE_UP_AFTER_CRASHES,
                 retry_s: float = RETRY_S,
                 keep_days: float = KEEP_DAYS, clock: Callable[[], float] = time.monotonic):
        self.path = Path(directory) / FILE_NAME
        self.retry_s = retry_s
        self.give_up_after = give_up_after  # 0 = never give up
        self.keep_days = keep_days
        self.clock = clock
        # corrupt_reset, write_failed, recovered, abandoned, unreadable_row
        self.counters: collections.Counter[str] = collections.Counter()
        self.abandoned: list[str] = []  # ids given up at start (see module docstring)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._open: dict[str, Record] = {}  # queued or started: the in-memory truth
        self._done: set[str] = set()  # ids that reached a final state this session
        self._dirty: dict[str, Record] = {}  # changes not yet on disk
        self._muted: list[str] = []
        self._blocked: list[str] = []
        self._moderation_dirty = False
        self._seq = 0
        self._loaded = False  # the disk's state was read at start
        self._foreign = False  # another process holds the database: never write it
        self._failing = False
        self._next_try = 0.0
        with self._lock:
            self._start()

    @classmethod
    def open(cls, loaded: LoadedConfig, **kwargs) -> Journal:
        """The journal in the configured state directory (``state.dir``, relative
        to the config file; see :func:`state_dir`)."""
        kwargs.setdefault("give_up_after", loaded.config.queue.give_up_after_crashes)
        return cls(state_dir(loaded.resolve(loaded.config.state.dir)), **kwargs)

    # ------------------------------------------------------------ paid utterances

    def accept(self, utt: Utterance) -> bool:
        """Journal a paid utterance as queued. False (and nothing written)
        when this id already finished or was dropped: do not speak it again."""
        with self._lock:
            if utt.id in self._open:
                return True
            if utt.id in self._done or self._final_on_disk(utt.id):
                self._done.add(utt.id)
                return False
            rec = self._open[utt.id] = self._new_record(utt)
            self._change(rec)
            return True

    def started(self, utt: Utterance) -> None:
        with self._lock:
            rec = self._open.get(utt.id)
            if rec is None:
                if utt.id in self._done:
                    return
                rec = self._open[utt.id] = self._new_record(utt)
            rec.state, rec.starts, rec.updated_at = "started", rec.starts + 1, time.time()
            self._change(rec)

    def requeued(self, utt: Utterance) -> None:
        """Back in the queue unspoken (synthesis went away before it was
        heard): queued again, and that start does not count as a crash."""
        with self._lock:
            rec = self._open.get(utt.id)
            if rec is None or rec.state != "started":
                return
            rec.state, rec.starts, rec.updated_at = "queued", max(0, rec.starts - 1), time.time()
            self._change(rec)

    def finished(self, utt: Utterance, *, spoken: bool) -> None:
        self._close(utt, "finished" if spoken else "skipped", "")

    def dropped(self, utt: Utterance, reason: str) -> None:
        """Removed unspoken (purged, cleared, stale, refused at restart)."""
        with self._lock:
            if utt.id in self._open:
                self._close(utt, "dropped", reason)

    def pending_paid(self) -> list[Utterance]:
        """Accepted paid utterances not yet finished or removed: oldest first,
        except that one a crash cut off goes behind those it cut off less
        often. So the others are read first when a message keeps crashing the
        daemon, and random crashes spread over many messages instead of
        hitting the same one until it is given up. Deadlines are cleared: they
        were on the previous run's clock."""
        with self._lock:
            out = []
            for rec in sorted(self._open.values(), key=lambda r: (r.starts, r.seq)):
                utt = msgspec.json.decode(rec.body, type=Utterance)
                out.append(msgspec.structs.replace(utt, deadline=0.0))
            return out

    # ------------------------------------------------------------ moderation

    def save_moderation(self, muted: list[str], blocked: list[str]) -> None:
        with self._lock:
            self._muted, self._blocked = list(muted), list(blocked)
            self._moderation_dirty = True
            self._write()

    def load_moderation(self) -> tuple[list[str], list[str]]:
        """(muted, blocked) as last saved: for ``ModerationState.restore``."""
        with self._lock:
            return list(self._muted), list(self._blocked)

    # ------------------------------------------------------------ health

    @property
    def degraded(self) -> bool:
        """True while some state lives only in memory."""
        with self._lock:
            return self._foreign or self._conn is None or bool(self._dirty) or self._moderation_dirty

    def flush(self) -> bool:
        """Write what is not on disk yet, now. True when nothing is pending."""
        with self._lock:
            if self._foreign:
                return False
            return self._try_write()

    def retry(self) -> None:
        """Write what is pending if the retry interval has passed. Cheap:
        call it from a housekeeping loop, so that a disk that comes back is
        used again even when nothing changes."""
        with self._lock:
            if self._dirty or self._moderation_dirty:
                self._write()

    def close(self) -> None:
        with self._lock:
            if not self.flush() and not self._foreign:
                log.error("state journal: changes could not be written before exit",
                          path=str(self.path), pending=len(self._dirty) + int(self._moderation_dirty))
            self._disconnect()

    # ------------------------------------------------------------ internals: state

    def _new_record(self, utt: Utterance) -> Record:
        self._seq += 1
        now = time.time()
        return Record(utt.id, self._seq, "queued", 0, "", msgspec.json.encode(utt), now, now)

    def _close(self, utt: Utterance, state: str, reason: str) -> None:
        with self._lock:
            rec = self._open.pop(utt.id, None)
            if rec is None:
                if utt.id in self._done:
                    return
                # Played without going through accept() (no queue): record the
                # outcome anyway, so a re-delivery is recognised.
                rec = self._new_record(utt)
            self._done.add(utt.id)
            rec.state, rec.reason, rec.updated_at = state, reason, time.time()
            self._change(rec)

    def _change(self, rec: Record) -> None:
        self._dirty[rec.id] = rec
        self._write()

    def _write(self) -> None:
        if self._foreign or (self._failing and self.clock() < self._next_try):
            return
        self._try_write()

    def _try_write(self) -> bool:
        if not (self._dirty or self._moderation_dirty):
            return True
        try:
            if self._conn is None:
                self._reconnect()
            self._commit()
        except (sqlite3.Error, OSError, Unreadable) as exc:
            kind = error_kind(exc)
            if kind == "unreadable":
                return self._replace_unreadable(exc)
            self._fail(exc)
            return False
        if self._failing:
            self._failing = False
            self.counters["recovered"] += 1
            log.warning("state journal is writable again; everything is on disk", path=str(self.path))
        return True

    def _commit(self) -> None:
        assert self._conn is not None
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for rec in self._dirty.values():
                conn.execute(UPSERT_PAID, rec.row())
            if self._moderation_dirty:
                conn.execute(UPSERT_MODERATION, (msgspec.json.encode(self._muted).decode(),
                                                  msgspec.json.encode(self._blocked).decode(), time.time()))
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        self._dirty.clear()
        self._moderation_dirty = False

    def _fail(self, exc: BaseException) -> None:
        self.counters["write_failed"] += 1
        self._next_try = self.clock() + self.retry_s
        # A fresh connection is the surest recovery once the disk is back.
        self._disconnect()
        if not self._failing:
            self._failing = True
            log.error("state journal cannot be written; paid messages and mutes are kept in memory "
                      "and written when it can be", path=str(self.path), error=str(exc), retry_s=self.retry_s)

    # ------------------------------------------------------------ internals: the file

    def _start(self) -> None:
        try:
            self._connect()
            self._load(self._conn)
            self._loaded = True
        except (sqlite3.Error, OSError, Unreadable) as exc:
            kind = error_kind(exc)
            self._disconnect()
            if kind == "locked":
                self._foreign = True
                log.error("state journal is held by another process (a second daemon with the same "
                          "state.dir?); this one keeps paid messages and mutes in memory only",
                          path=str(self.path))
                return
            if kind == "unreadable":
                self._replace_unreadable(exc)
                self._loaded = True
            else:
                self._load_copy()
                self._fail(exc)
        self._settle()

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=1.0, check_same_thread=False)
        try:
            prepare(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _reconnect(self) -> None:
        self._connect()
        if not self._loaded:
            # Nothing was read at start: keep what the disk holds. Its pending
            # messages stay journaled for the next start; its mutes join ours.
            assert self._conn is not None
            muted, blocked, last_seq, _ = read_state(self._conn)
            self._muted = list(dict.fromkeys(muted + self._muted))
            self._blocked = list(dict.fromkeys(blocked + self._blocked))
            self._moderation_dirty = True
            for rec in sorted(self._dirty.values(), key=lambda r: r.seq):
                last_seq += 1
                rec.seq = last_seq
            self._seq = max(self._seq, last_seq)
            self._loaded = True

    def _disconnect(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None

    def _load(self, conn: sqlite3.Connection | None) -> None:
        assert conn is not None
        self._muted, self._blocked, last_seq, records = read_state(conn)
        self._seq = max(self._seq, last_seq)
        for rec in records:
            try:
                msgspec.json.decode(rec.body, type=Utterance)
            except msgspec.DecodeError as exc:
                self.counters["unreadable_row"] += 1
                log.error("state journal: a paid message cannot be read back; it is skipped",
                          msg_id=rec.id, error=str(exc))
                rec.state, rec.reason = "dropped", "unreadable"
                self._dirty[rec.id] = rec
                continue
            self._open[rec.id] = rec

    def _load_copy(self) -> None:
        """Read a database that cannot be opened for writing (read-only
        directory) through a private copy, WAL included, so the last commits
        before a crash are seen, which SQLite's immutable mode would miss."""
        if not self.path.exists():
            self._loaded = True  # nothing to read: the empty state is the true one
            return
        try:
            with tempfile.TemporaryDirectory(prefix="ishowtts-journal-") as tmp:
                copy = Path(tmp) / FILE_NAME
                shutil.copyfile(self.path, copy)
                wal = self.path.with_name(self.path.name + "-wal")
                if wal.exists():
                    shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
                conn = sqlite3.connect(copy, isolation_level=None)
                try:
                    prepare(conn)
                    self._load(conn)
                finally:
                    conn.close()
            self._loaded = True
        except (sqlite3.Error, OSError, Unreadable) as exc:
            log.error("state journal cannot be read; starting without the paid messages and mutes it holds",
                      path=str(self.path), error=str(exc))

    def _replace_unreadable(self, exc: BaseException) -> bool:
        """Move a bad database aside, start a fresh one and write the
        in-memory state into it. True when that worked."""
        self._disconnect()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        moved = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while moved.exists():
            n += 1
            moved = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            for suffix in ("", "-wal", "-shm"):
                src = self.path.with_name(self.path.name + suffix)
                if src.exists():
                    os.replace(src, moved.with_name(moved.name + suffix))
        except OSError as move_exc:
            self._fail(move_exc)
            return False
        self.counters["corrupt_reset"] += 1
        log.error("state journal was unreadable; moved it aside and started a fresh one",
                  path=str(self.path), moved_to=str(moved), error=str(exc))
        for rec in self._open.values():
            self._dirty[rec.id] = rec
        self._moderation_dirty = True
        try:
            self._connect()
            self._commit()
        except (sqlite3.Error, OSError, Unreadable) as again:
            self._fail(again)
            return False
        return True

    def _settle(self) -> None:
        """At start: give up on messages cut off by ``give_up_after`` crashes, forget old final
        rows, then write."""
        for rec in list(self._open.values()):
            if rec.state == "started" and self.give_up_after and rec.starts >= self.give_up_after:
                del self._open[rec.id]
                self._done.add(rec.id)
                rec.state, rec.reason, rec.updated_at = "abandoned", "interrupted_by_crashes", time.time()
                self._dirty[rec.id] = rec
                self.abandoned.append(rec.id)
                self.counters["abandoned"] += 1
                log.warning("paid message was cut off by crashes too often; not read again", msg_id=rec.id,
                            crashes=rec.starts,
                            text=msgspec.json.decode(rec.body, type=Utterance).text)
        if self._conn is not None:
            try:
                cutoff = time.time() - self.keep_days * 86400
                self._conn.execute("DELETE FROM paid WHERE state NOT IN ('queued', 'started') AND updated_at < ?",
                                   (cutoff,))
            except sqlite3.Error as exc:
                self._fail(exc)
                return
        self._try_write()

    def _final_on_disk(self, msg_id: str) -> bool:
        if self._conn is None:
            return False
        try:
            row = self._conn.execute("SELECT state FROM paid WHERE id = ?", (msg_id,)).fetchone()
        except sqlite3.Error:
            return False
        return row is not None and row[0] not in OPEN_STATES
