"""The journal against real crashes: a child process working on paid messages
and mutes is killed with SIGKILL at random moments, then a new Journal on the
same directory is checked against everything the child had confirmed.

ISHOWTTS_KILL_RUNS sets how many kill runs the parametrized test makes
(default 4; the long variant is ISHOWTTS_KILL_RUNS=25).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ishowtts_live.queueing import Journal, SpeechQueue
from tests.queueing.journal_child import CFG, paid
from tests.queueing.procs import ROOT, Served, child_cmd, read_lines, wait_for_ready

KILL_RUNS = int(os.environ.get("ISHOWTTS_KILL_RUNS", "4"))

pytestmark = pytest.mark.slow


def expected_from(lines: list[dict]) -> tuple[dict[str, str], set[str], list[list[str]]]:
    """From a churn log: id -> "open" | "final" for every confirmed change,
    the ids whose last operation was under way at the kill (either outcome is
    right for them), and the mute lists the journal may hold (last confirmed,
    or the one under way)."""
    state: dict[str, str] = {}
    muted: list[list[str]] = [[]]
    in_flight: dict | None = None
    for line in lines[1:]:
        if line["ev"] == "begin":
            in_flight = line
            continue
        in_flight = None
        op = line["op"]
        if op == "put" and line["kept"]:
            state[line["id"]] = "open"
        elif op == "start":
            state[line["id"]] = "open"
        elif op == "finish":
            state[line["id"]] = "final"
        elif op == "purge":
            for msg_id in line["removed"]:
                state[msg_id] = "final"
        elif op == "mute":
            muted = [line["muted"]]
    ambiguous: set[str] = set()
    if in_flight is not None:
        if in_flight["op"] == "mute":
            muted.append(in_flight["muted"])
        else:
            ambiguous.add(in_flight["id"])
    return state, ambiguous, muted


def kill_run(tmp_path: Path, seed: int) -> dict:
    """One child, killed after a random delay; checks the journal it left behind."""
    rng = random.Random(seed)
    state_dir, out = tmp_path / "state", tmp_path / "out.jsonl"
    with open(out, "w") as stdout, open(tmp_path / "err.log", "w") as stderr:
        proc = subprocess.Popen(child_cmd("churn", str(state_dir), str(seed)), cwd=ROOT, stdout=stdout,
                                stderr=stderr)
    try:
        wait_for_ready(out, proc)
        time.sleep(rng.uniform(0.02, 0.5))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "err.log").read_text()
    state, ambiguous, muted = expected_from(read_lines(out))

    journal = Journal(state_dir)
    pending = [u.id for u in journal.pending_paid()]
    assert len(pending) == len(set(pending)), "a message is pending twice"
    cut_off = {rec.id for rec in journal._open.values() if rec.state == "started"}
    assert pending == sorted(pending, key=lambda i: (i in cut_off, i)), \
        "pending messages are out of acceptance order (the one cut off by the crash last)"
    must = {i for i, s in state.items() if s == "open"} - ambiguous
    never = {i for i, s in state.items() if s == "final"} - ambiguous
    assert must <= set(pending), f"accepted but lost: {sorted(must - set(pending))}"
    assert not (never & set(pending)), f"finished but pending again: {sorted(never & set(pending))}"
    assert set(pending) <= must | ambiguous, "a message the child never accepted is pending"
    got_muted, got_blocked = journal.load_moderation()
    assert got_muted in muted
    assert got_blocked == (["badword"] if got_muted else [])
    assert journal.counters["corrupt_reset"] == 0 and not journal.degraded

    # The restarted daemon speaks each pending message once …
    queue = SpeechQueue(CFG, journal)
    assert [u.id for u in queue.requeue_journaled()] == pending
    spoken = []
    while (utt := queue.get_nowait()) is not None:
        queue.started(utt)
        queue.finished(utt, spoken=True)
        spoken.append(utt.id)
    assert sorted(spoken) == sorted(pending)  # in fair-share order, each once
    journal.close()
    # … and never again, not even when a source re-delivers it.
    again = Journal(state_dir)
    assert again.pending_paid() == []
    assert all(not again.accept(paid(i)) for i in pending + sorted(never))
    assert again.load_moderation() == (got_muted, got_blocked)
    again.close()
    return {"ops": sum(1 for line in read_lines(out) if line.get("ev") == "ack"), "pending": len(pending),
            "in_flight": bool(ambiguous) or len(muted) > 1}


@pytest.mark.parametrize("seed", range(KILL_RUNS))
def test_sigkill_at_a_random_moment_loses_and_repeats_nothing(tmp_path, seed):
    """After SIGKILL, a new Journal returns every confirmed unspoken paid message once, none finished, and the mutes."""
    figures = kill_run(tmp_path, 1000 + seed)
    print(f"kill run {seed}: {figures}")
    assert figures["ops"] > 0


def test_a_message_cut_off_by_a_crash_is_read_again_after_the_others(tmp_path):
    """A paid message playing when the daemon was killed is read again, behind the ones it was not cut off."""
    state = tmp_path / "state"
    child = Served(state)
    for i in ("p1", "p2", "p3"):
        assert child.send("put", id=i)["kept"]
    assert child.send("start")["id"] == "p1"
    child.kill()

    child = Served(state)
    assert child.send("requeue")["queued"] == ["p2", "p3", "p1"]
    assert child.send("start")["id"] == "p2"
    child.kill()

    journal = Journal(state)
    assert [u.id for u in journal.pending_paid()] == ["p3", "p1", "p2"]  # each cut off once now: oldest first
    journal.close()


def test_a_message_cut_off_by_three_crashes_is_not_read_a_fourth_time(tmp_path):
    """A message that keeps crashing the daemon is read again twice; cut off a third time, it is given up and logged."""
    state = tmp_path / "state"
    child = Served(state)
    assert child.send("put", id="p1")["kept"]
    assert child.send("start")["id"] == "p1"
    child.kill()

    for _ in range(2):
        child = Served(state)
        assert child.send("requeue")["queued"] == ["p1"]
        assert child.send("start")["id"] == "p1"
        child.kill()

    journal = Journal(state)
    assert journal.pending_paid() == []
    assert journal.abandoned == ["p1"] and journal.counters["abandoned"] == 1
    assert not journal.accept(paid("p1"))
    journal.close()


def test_a_second_process_on_the_same_directory_does_not_touch_the_journal(tmp_path):
    """A second daemon on the same state directory keeps its state in memory and leaves the first one's file alone."""
    state = tmp_path / "state"
    child = Served(state)
    assert child.send("put", id="p1")["kept"]
    second = Journal(state)
    assert second.degraded
    assert second.pending_paid() == []
    assert second.accept(paid("x1"))  # in memory only
    second.close()
    answer = child.send("put", id="p2")
    assert answer["pending"] == ["p1", "p2"] and not answer["degraded"]
    child.close()
    journal = Journal(state)
    assert [u.id for u in journal.pending_paid()] == ["p1", "p2"]
    journal.close()
