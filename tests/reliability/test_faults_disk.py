"""Faults (issue 7 §2), the state disk: the filesystem holding state.dir goes
read-only mid-run, the way a failing disk does (ext4 ``errors=remount-ro``,
triggered through ext4's own ``trigger_fs_error``), and comes back (unmounted,
checked, mounted again at the same place). The daemon keeps speaking, logs one
line for the outage, and writes the paid messages and mutes of the outage once
the disk is back (Journal.retry from the housekeeping loop).

Why not a tmpfs remounted ``ro``: the kernel refuses that (EBUSY) while a file
on it is open for writing, and the journal's database always is; a real disk
going read-only under open files is the emergency remount this test uses.
Needs root (mount, a loop device); skipped with the reason elsewhere."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import msgspec
import pytest

from tests.kit import until
from tests.kit.daemon import start_daemon, stop_daemon
from tests.reliability import scale
from tests.reliability.faultkit import LogTap, report

OUTAGE_S = scale(3, 20)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def sh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


class Ext4Disk:
    """A 16 MiB ext4 image on a loop device, mounted at ``mountpoint``."""

    def __init__(self, image: Path, mountpoint: Path):
        self.image, self.mountpoint = image, mountpoint

    def create(self) -> "Ext4Disk":
        if os.geteuid() != 0 or not shutil.which("mkfs.ext4") or not shutil.which("e2fsck"):
            pytest.skip("needs root, mkfs.ext4 and e2fsck to mount a disk that can fail")
        with open(self.image, "wb") as f:
            f.truncate(16 << 20)
        if (r := sh("mkfs.ext4", "-q", "-F", str(self.image))).returncode:
            pytest.skip(f"mkfs.ext4 failed: {r.stderr.strip()}")
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        if (r := sh("mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.mountpoint))).returncode:
            pytest.skip(f"mount is not permitted here: {r.stderr.strip()}")
        device = sh("findmnt", "-no", "SOURCE", str(self.mountpoint)).stdout.strip()
        self.trigger = Path("/sys/fs/ext4") / Path(device).name / "trigger_fs_error"
        if not self.trigger.exists():
            self.unmount()
            pytest.skip(f"{self.trigger} is missing (kernel without ext4 sysfs error trigger)")
        return self

    def fail(self) -> None:
        """What a disk error does: ext4 remounts itself read-only, open files and all."""
        self.trigger.write_text("ishowtts fault test\n")
        assert "emergency_ro" in self.options() or " ro," in f" {self.options()},", self.options()

    def options(self) -> str:
        return sh("findmnt", "-no", "OPTIONS", str(self.mountpoint)).stdout.strip()

    def repair(self) -> None:
        """What an administrator does: unmount, check, mount again at the same place."""
        self.unmount()
        sh("e2fsck", "-fy", str(self.image))  # exit 1: errors corrected (the flag the trigger set)
        r = sh("mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.mountpoint))
        assert r.returncode == 0, r.stderr

    def unmount(self) -> None:
        if sh("mountpoint", "-q", str(self.mountpoint)).returncode == 0:
            r = sh("umount", str(self.mountpoint))
            assert r.returncode == 0, r.stderr


def paid_event(n: int):
    from ishowtts_live.events import ChatEvent, now_pair

    mono, wall = now_pair()
    return ChatEvent(platform="bilibili", msg_id=f"sc-disk-{n}", text=f"醒目留言{n}号，主播辛苦了", user_id=f"u{n}",
                     user_name=f"payer{n}", kind="superchat", amount=30, currency="CNY", amount_cents=3000,
                     received_mono=mono, received_wall=wall, clock=mono)


async def test_read_only_state_disk(tiny_config, tmp_path):
    """State disk read-only mid-run: speech goes on, one log line, paid messages and mutes written once it is back."""
    from ishowtts_live.sinks.null import NullSink

    # the daemon's state dir (and control token) live on the disk that fails
    disk = Ext4Disk(tmp_path / "disk.img", tmp_path / "state").create()
    try:
        with LogTap() as logs:
            running = await start_daemon(tiny_config, tmp_path, sink=NullSink(realtime=False),
                                         extra=["backlog.enabled=false"])
            daemon = running.daemon
            journal = daemon.journal
            try:
                outcomes = daemon.playback.outcomes
                daemon.controls.say("磁盘出错之前")
                await until(lambda: outcomes["spoken"] >= 1, 120, "speech before the fault")
                disk.fail()
                t_fail = time.monotonic()
                # during the outage: a mute, a paid message spoken, one left waiting, and chat spoken
                daemon.controls.mute("troll")
                daemon.ingest.take(paid_event(1))
                daemon.controls.say("磁盘只读的时候也在说话")
                await until(lambda: outcomes["spoken"] >= 3, 120, "speech while the disk is read-only")
                daemon.controls.pause()
                daemon.ingest.take(paid_event(2))
                assert journal.degraded and journal.counters["write_failed"] >= 1
                await until(lambda: time.monotonic() - t_fail >= OUTAGE_S, OUTAGE_S + 5, "the outage")
                # repair right after a failed retry, so no retry lands while the disk is unmounted
                failed = journal.counters["write_failed"]
                await until(lambda: journal.counters["write_failed"] > failed, 30, "a retry on the read-only disk")
                disk.repair()
                t_back = time.monotonic()
                await until(lambda: not journal.degraded, 30, "the journal written again")
                recovered_s = time.monotonic() - t_back
                retries = journal.counters["write_failed"]
                daemon.controls.resume()
                daemon.controls.unmute("nobody")  # a change after recovery is written at once
            finally:
                await stop_daemon(running)
        conn = sqlite3.connect(tmp_path / "state" / "journal.sqlite3")
        muted = msgspec.json.decode(conn.execute("SELECT muted FROM moderation").fetchone()[0])
        states = {msgspec.json.decode(body)["event"]["msg_id"]: state
                  for state, body in conn.execute("SELECT state, body FROM paid")}
        conn.close()
    finally:
        disk.unmount()

    lines = logs.starting("state journal")
    figures = {"outage_s": round(t_back - t_fail, 1), "write_attempts_failed": retries,
               "recovered_after_remount_s": round(recovered_s, 2), "spoken": outcomes["spoken"],
               "journal_lines": [e["event"][:40] for e in lines], "paid_on_disk": states, "muted_on_disk": muted}
    report("disk", figures)

    assert outcomes["spoken"] >= 3 and outcomes["failed"] == 0
    assert "troll" in muted, "the mute made while read-only reached the disk"
    assert states.get("sc-disk-1") == "finished", states  # spoken during the outage, recorded after it
    # accepted during the outage and not lost: waiting, or cut off by the stop (spoken again at the next start)
    assert states.get("sc-disk-2") in ("queued", "started", "finished"), states
    failures = logs.events("state journal cannot be written; paid messages and mutes are kept in memory "
                           "and written when it can be")
    assert len(failures) == 1, [e["event"] for e in lines]  # one line for the outage, not one per retry
    assert len(logs.events("state journal is writable again; everything is on disk")) == 1
    assert retries >= 2
    assert not logs.tracebacks()
    assert {e["event"] for e in logs.problems()} == {failures[0]["event"],
                                                      "state journal is writable again; everything is on disk"}
