"""The journal's life cycle, its state directory, and what it does when the
disk or the file goes bad (read-only directory, full disk, corruption)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from ishowtts_live.config import load_config
from ishowtts_live.queueing import Journal, SpeechQueue, state_dir
from ishowtts_live.queueing.store import FILE_NAME, error_kind
from tests.queueing.journal_child import CFG, paid
from tests.queueing.procs import Served, can_drop_dac


def ids(journal: Journal) -> list[str]:
    return [u.id for u in journal.pending_paid()]


def test_paid_message_life_cycle_survives_reopening(tmp_path):
    """Accepted and started messages stay pending across a reopen; finished, skipped and dropped ones never return."""
    j = Journal(tmp_path)
    for i in range(5):
        assert j.accept(paid(f"p{i}"))
    assert j.accept(paid("p0"))  # accepting again is harmless
    j.started(paid("p1"))
    j.started(paid("p2"))
    j.finished(paid("p2"), spoken=True)
    j.started(paid("p3"))
    j.finished(paid("p3"), spoken=False)  # skipped by a moderator
    j.dropped(paid("p4"), "purged")
    assert ids(j) == ["p0", "p1"]
    j.close()
    j = Journal(tmp_path)
    assert ids(j) == ["p0", "p1"]
    for gone in ("p2", "p3", "p4"):
        assert not j.accept(paid(gone)), f"{gone} would be spoken again"
    assert ids(j) == ["p0", "p1"]
    assert not j.degraded
    j.close()


def test_pending_messages_come_back_whole_without_their_old_deadline(tmp_path):
    """pending_paid returns the utterance with its chat event as accepted, minus the previous run's deadline."""
    import msgspec

    j = Journal(tmp_path)
    original = msgspec.structs.replace(paid("p1", user="大佬"), deadline=123.0, voice="streamer", speed=1.2)
    j.accept(original)
    j.close()
    (back,) = Journal(tmp_path).pending_paid()
    assert back == msgspec.structs.replace(original, deadline=0.0)


def test_moderation_state_survives_reopening(tmp_path):
    """save_moderation is on disk when it returns; load_moderation gives it back after a reopen."""
    j = Journal(tmp_path)
    assert j.load_moderation() == ([], [])
    j.save_moderation(["troll", "bilibili:42"], ["广告", "spam"])
    j.close()
    j = Journal(tmp_path)
    assert j.load_moderation() == (["troll", "bilibili:42"], ["广告", "spam"])
    j.close()


def test_moderation_state_class_round_trips_through_the_journal(tmp_path):
    """ModerationState writes its runtime mutes and blocks through the journal, and restore() reads them back."""
    from ishowtts_live.filters.moderation import ModerationState

    j = Journal(tmp_path)
    mod = ModerationState(["static"], [], j)
    mod.mute("Troll")
    mod.block("spam")
    j.close()
    j = Journal(tmp_path)
    fresh = ModerationState(["static"], [], j)
    fresh.restore(*j.load_moderation())
    assert fresh.muted_users() == ["static", "troll"] and fresh.blocked_words() == ["spam"]
    j.close()


@pytest.mark.parametrize(("configured", "env", "expected"), [
    ("/srv/state", {"STATE_DIRECTORY": "/var/lib/x"}, "/srv/state"),
    ("", {"STATE_DIRECTORY": "/var/lib/ishowtts-live:/var/lib/other"}, "/var/lib/ishowtts-live"),
    ("", {"XDG_STATE_HOME": "/home/u/.state"}, "/home/u/.state/ishowtts-live"),
    ("", {"XDG_STATE_HOME": "relative"}, str(Path.home() / ".local/state/ishowtts-live")),
    ("", {}, str(Path.home() / ".local/state/ishowtts-live")),
])
def test_state_dir_table(configured, env, expected):
    """The state directory: state.dir, else systemd's STATE_DIRECTORY, else XDG_STATE_HOME, else ~/.local/state."""
    assert state_dir(configured, env) == Path(expected)


@pytest.mark.parametrize(("exc", "kind"), [
    (sqlite3.OperationalError("database is locked"), "locked"),
    (sqlite3.OperationalError("database table is locked: paid"), "locked"),
    (sqlite3.DatabaseError("file is not a database"), "unreadable"),
    (sqlite3.DatabaseError("database disk image is malformed"), "unreadable"),
    (sqlite3.OperationalError("no such table: paid"), "unreadable"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "unavailable"),
    (sqlite3.OperationalError("disk I/O error"), "unavailable"),
    (sqlite3.OperationalError("database or disk is full"), "unavailable"),
])
def test_error_kind_without_sqlite_errorname(exc, kind):
    """Errors that carry no sqlite_errorname (every sqlite3 error on Python 3.10)
    are classified from SQLite's own message, so a corrupt file is still moved
    aside and a second daemon still noticed."""
    assert not hasattr(exc, "sqlite_errorname")
    assert error_kind(exc) == kind


def test_open_uses_state_dir_relative_to_the_config_file(tmp_path):
    """Journal.open(loaded) puts the database in state.dir, read relative to the config file."""
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "ishowtts.toml"
    config.write_text('[state]\ndir = "../state"\n', encoding="utf-8")
    j = Journal.open(load_config(str(config)))
    assert j.path == (tmp_path / "state" / FILE_NAME).resolve()
    j.accept(paid("p1"))
    j.close()
    assert j.path.is_file()


def test_garbage_file_is_set_aside_and_replaced(tmp_path):
    """A database file that is not SQLite is moved aside (kept for inspection) and a fresh journal works."""
    (tmp_path / FILE_NAME).write_bytes(b"this is not a database" * 100)
    j = Journal(tmp_path)
    assert j.counters["corrupt_reset"] == 1 and not j.degraded
    (aside,) = tmp_path.glob(f"{FILE_NAME}.corrupt-*")
    assert aside.read_bytes().startswith(b"this is not a database")
    j.accept(paid("p1"))
    j.save_moderation(["troll"], [])
    j.close()
    j = Journal(tmp_path)
    assert ids(j) == ["p1"] and j.load_moderation() == (["troll"], [])
    assert j.counters["corrupt_reset"] == 0
    j.close()


def test_damaged_pages_are_detected_and_set_aside(tmp_path):
    """A database whose pages were overwritten fails the integrity check at start and is replaced."""
    j = Journal(tmp_path)
    for i in range(200):
        j.accept(paid(f"p{i}"))
    j.close()
    path = tmp_path / FILE_NAME
    data = bytearray(path.read_bytes())
    assert len(data) > 4 * 4096
    data[2 * 4096:4 * 4096] = os.urandom(2 * 4096)
    path.write_bytes(bytes(data))
    j = Journal(tmp_path)
    assert j.counters["corrupt_reset"] == 1
    assert len(list(tmp_path.glob(f"{FILE_NAME}.corrupt-*"))) == 1
    assert j.accept(paid("new"))
    j.close()
    assert ids(Journal(tmp_path)) == ["new"]


def test_a_database_from_a_newer_version_is_set_aside(tmp_path):
    """A journal written by a newer schema is not misread: it is moved aside and a fresh one started."""
    conn = sqlite3.connect(tmp_path / FILE_NAME)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    j = Journal(tmp_path)
    assert j.counters["corrupt_reset"] == 1
    j.close()


def test_an_unreadable_row_is_skipped_and_counted(tmp_path):
    """One paid row that cannot be decoded is logged, counted and marked dropped; the others still come back."""
    j = Journal(tmp_path)
    j.accept(paid("good"))
    j.accept(paid("bad"))
    j.close()
    conn = sqlite3.connect(tmp_path / FILE_NAME)
    conn.execute("UPDATE paid SET body = ? WHERE id = 'bad'", (b"{not json",))
    conn.commit()
    conn.close()
    j = Journal(tmp_path)
    assert ids(j) == ["good"] and j.counters["unreadable_row"] == 1
    j.close()
    assert ids(Journal(tmp_path)) == ["good"]


def test_old_final_rows_are_forgotten_but_recent_ones_block_redelivery(tmp_path):
    """Finished rows older than keep_days are deleted at start; younger ones still refuse a re-delivered message."""
    j = Journal(tmp_path)
    j.accept(paid("old"))
    j.finished(paid("old"), spoken=True)
    j.accept(paid("recent"))
    j.finished(paid("recent"), spoken=True)
    j.close()
    conn = sqlite3.connect(tmp_path / FILE_NAME)
    conn.execute("UPDATE paid SET updated_at = ? WHERE id = 'old'", (time.time() - 30 * 86400,))
    conn.commit()
    conn.close()
    j = Journal(tmp_path, keep_days=7)
    assert j.accept(paid("old"))  # forgotten: a month later it is a new message
    assert not j.accept(paid("recent"))
    j.close()


def test_full_disk_keeps_the_queue_working_and_recovers(tmp_path):
    """When every write fails (file size limit), paid messages and mutes are kept in memory, one line is logged, and all is written once the disk is back."""
    state = tmp_path / "state"
    child = Served(state)
    assert child.send("put", id="p1")["kept"]
    child.send("fsize", bytes=1)
    answer = child.send("put", id="p2")
    assert answer["kept"] and answer["degraded"] and answer["len"] == 2
    assert answer["counters"]["write_failed"] >= 1
    for i in range(3, 6):
        assert child.send("put", id=f"p{i}")["kept"]
    assert child.send("play")["id"] == "p1"  # spoken while the disk is full
    assert child.send("mute", muted=["troll"])["moderation"] == [["troll"], []]
    assert child.send("flush")["flushed"] is False
    child.send("fsize", bytes=None)
    answer = child.send("retry")  # the daemon's housekeeping loop, with nothing new to write
    assert not answer["degraded"] and answer["counters"]["recovered"] == 1
    log = child.close()
    assert log.count("cannot be written") == 1, log
    assert log.count("writable again") == 1, log
    j = Journal(state)
    assert ids(j) == ["p2", "p3", "p4", "p5"]
    assert j.load_moderation() == (["troll"], [])
    assert not j.accept(paid("p1"))
    j.close()


def test_read_only_state_directory_degrades_and_recovers(tmp_path):
    """A read-only state directory: pending messages and mutes are still read, new ones kept in memory with one log line, and written once it is writable."""
    if os.geteuid() == 0 and not can_drop_dac():
        pytest.skip("running as root without CAP_SETPCAP: permissions cannot be enforced on the child")
    state = tmp_path / "state"
    j = Journal(state)
    j.accept(paid("p0"))
    j.save_moderation(["troll"], ["spam"])
    j.close()
    for f in state.iterdir():
        f.chmod(0o444)
    state.chmod(0o555)
    try:
        child = Served(state, unprivileged=True)
        answer = child.send("status")
        assert answer["degraded"]
        assert answer["pending"] == ["p0"] and answer["moderation"] == [["troll"], ["spam"]]
        assert child.send("put", id="p1")["kept"]
        assert child.send("mute", muted=["troll", "spammer"], blocked=["spam"])["degraded"]
        assert child.send("flush")["flushed"] is False
    finally:
        # The operator fixes the permissions while the daemon runs.
        state.chmod(0o700)
        for f in state.iterdir():
            f.chmod(0o600)
    answer = child.send("flush")
    assert answer["flushed"] and not answer["degraded"]
    log = child.close()
    assert log.count("cannot be written") == 1, log
    j = Journal(state)
    assert ids(j) == ["p0", "p1"]
    assert j.load_moderation() == (["troll", "spammer"], ["spam"])
    j.close()


def test_requeue_checks_each_pending_message_again(tmp_path):
    """requeue_journaled queues what admit() allows and journals the rest as dropped with admit's reason."""
    from ishowtts_live.events import KEPT, Verdict

    j = Journal(tmp_path)
    j.accept(paid("p1", user="fan"))
    j.accept(paid("p2", user="troll"))
    queue = SpeechQueue(CFG, j)
    seen = []
    queue.listeners.append(lambda action, u, reason: seen.append((action, u.id, reason)))
    queued = queue.requeue_journaled(
        lambda u: Verdict(kept=False, reason="muted_user") if u.event.user_name == "troll" else KEPT)
    assert [u.id for u in queued] == ["p1"]
    assert ("dropped", "p2", "muted_user") in seen and queue.drops["muted_user"] == 1
    j.close()
    assert ids(Journal(tmp_path)) == ["p1"]


@pytest.fixture
def small_fs(tmp_path):
    """A 64 KiB tmpfs (a really full disk), where this machine lets the suite mount one."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_really_full_disk_degrades_and_recovers_when_space_is_freed(small_fs):
    """On a filesystem that runs out of space (ENOSPC), the queue keeps accepting paid messages and all are written once space is back."""
    state = small_fs / "state"
    child = Served(state)
    kept, degraded_at = [], None
    for i in range(200):
        answer = child.send("put", id=f"p{i:03d}")
        assert answer["kept"]
        kept.append(f"p{i:03d}")
        if answer["degraded"]:
            degraded_at = i
            break
    assert degraded_at is not None, "the filesystem never filled up"
    for i in range(degraded_at + 1, degraded_at + 5):
        assert child.send("put", id=f"p{i:03d}")["kept"]
        kept.append(f"p{i:03d}")
    assert child.send("flush")["flushed"] is False
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_fs)], check=True)
    answer = child.send("flush")
    assert answer["flushed"] and not answer["degraded"]
    log = child.close()
    assert log.count("cannot be written") == 1, log
    j = Journal(state)
    assert ids(j) == kept and j.counters["corrupt_reset"] == 0
    j.close()
    print(f"full after {degraded_at} paid messages on 64 KiB")
