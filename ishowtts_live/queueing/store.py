"""The journal's SQLite file: schema, pragmas, reading, and how errors are
classified. :class:`~ishowtts_live.queueing.journal.Journal` holds the policy."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import msgspec

from ishowtts_live.paths import state_dir  # noqa: F401 - the journal's directory, re-exported

FILE_NAME = "journal.sqlite3"
SCHEMA_VERSION = 1

OPEN_STATES = ("queued", "started")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS paid (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        state TEXT NOT NULL,  -- queued | started | finished | skipped | dropped | abandoned
        starts INTEGER NOT NULL,
        reason TEXT NOT NULL,
        body BLOB NOT NULL,  -- the Utterance with its ChatEvent, msgspec JSON
        accepted_at REAL NOT NULL,  -- wall clock
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS paid_by_state ON paid (state, seq)",
    """CREATE TABLE IF NOT EXISTS moderation (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        muted TEXT NOT NULL,  -- JSON lists
        blocked TEXT NOT NULL,
        updated_at REAL NOT NULL
    )""",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

UPSERT_PAID = """INSERT INTO paid (id, seq, state, starts, reason, body, accepted_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, state = excluded.state, starts = excluded.starts,
        reason = excluded.reason, updated_at = excluded.updated_at"""

UPSERT_MODERATION = """INSERT INTO moderation (id, muted, blocked, updated_at) VALUES (1, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET muted = excluded.muted, blocked = excluded.blocked,
        updated_at = excluded.updated_at"""


class Unreadable(Exception):
    """The database is not one this version can use: move it aside."""


@dataclass(slots=True)
class Record:
    id: str
    seq: int
    state: str
    starts: int
    reason: str
    body: bytes
    accepted_at: float
    updated_at: float

    def row(self) -> tuple:
        return (self.id, self.seq, self.state, self.starts, self.reason, self.body, self.accepted_at, self.updated_at)


def error_kind(exc: BaseException) -> str:
    """'locked', 'unavailable' (the disk or directory, retry later) or
    'unreadable' (the file itself is bad)."""
    if isinstance(exc, Unreadable):
        return "unreadable"
    if isinstance(exc, OSError):
        return "unavailable"
    name = sqlite_error_name(exc)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "locked"
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return "unreadable"
    if isinstance(exc, sqlite3.OperationalError) and name in ("", "SQLITE_ERROR") and "no such" in str(exc):
        return "unreadable"  # a database with some other schema under our name
    return "unavailable"  # READONLY, IOERR, CANTOPEN, FULL, PERM, …


# SQLite's own message for each result code the journal tells apart, for
# Python 3.10 (JetPack 6), whose sqlite3 errors lack ``sqlite_errorname``
# (added in 3.11). The messages are sqlite3_errstr()'s, stable for decades.
_MESSAGE_CODES = (
    ("database is locked", "SQLITE_BUSY"),
    ("database table is locked", "SQLITE_LOCKED"),
    ("database schema is locked", "SQLITE_LOCKED"),
    ("file is not a database", "SQLITE_NOTADB"),
    ("file is encrypted or is not a database", "SQLITE_NOTADB"),
    ("database disk image is malformed", "SQLITE_CORRUPT"),
    ("attempt to write a readonly database", "SQLITE_READONLY"),
    ("disk I/O error", "SQLITE_IOERR"),
    ("unable to open database file", "SQLITE_CANTOPEN"),
    ("database or disk is full", "SQLITE_FULL"),
)


def sqlite_error_name(exc: BaseException) -> str:
    """The SQLite result code's name (``SQLITE_BUSY``, …), or "" when unknown."""
    name = getattr(exc, "sqlite_errorname", None)
    if name is not None:
        return name or ""
    text = str(exc)
    for message, code in _MESSAGE_CODES:
        if text.startswith(message):
            return code
    return ""


def read_state(conn: sqlite3.Connection) -> tuple[list[str], list[str], int, list[Record]]:
    """(muted, blocked, highest seq, open records in order) as on disk."""
    muted: list[str] = []
    blocked: list[str] = []
    row = conn.execute("SELECT muted, blocked FROM moderation WHERE id = 1").fetchone()
    if row is not None:
        try:
            muted = msgspec.json.decode(row[0], type=list[str])
            blocked = msgspec.json.decode(row[1], type=list[str])
        except msgspec.DecodeError as exc:
            raise Unreadable(f"moderation state: {exc}") from None
    last_seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM paid").fetchone()[0]
    query = ("SELECT id, seq, state, starts, reason, body, accepted_at, updated_at FROM paid "
             "WHERE state IN ('queued', 'started') ORDER BY seq")
    records = []
    for values in conn.execute(query):
        rec = Record(*values)
        rec.body = bytes(rec.body)
        records.append(rec)
    return muted, blocked, last_seq, records


def prepare(conn: sqlite3.Connection) -> None:
    """Locking, durability and schema; raises :class:`Unreadable` for a file
    this version cannot use."""
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch the journal to WAL mode (got {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    check = conn.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise Unreadable(f"integrity check failed: {check}")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise Unreadable(f"written by a newer version (schema {version}, this one reads {SCHEMA_VERSION})")
    if version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
