"""A real process that drives a SpeechQueue with its Journal, for the crash
and disk-failure tests. Logs go to stderr, protocol lines to stdout.

    python -m tests.queueing.journal_child churn DIR SEED
        Random queue work on paid messages and mutes until killed. Each
        operation prints {"ev": "begin", ...} before it starts and
        {"ev": "ack", ...} once the call returned (so was committed).
    python -m tests.queueing.journal_child serve DIR
        One JSON command per stdin line, one JSON answer per stdout line.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time

import structlog

from ishowtts_live.config.schema import QueueConfig
from ishowtts_live.events import ChatEvent, Utterance
from ishowtts_live.queueing import Journal, SpeechQueue

CFG = QueueConfig(max_items=10000, max_per_user=0, ttl_chat_s=0.0, ttl_announcement_s=0.0, ttl_paid_s=0.0)


def paid(msg_id: str, user: str = "fan") -> Utterance:
    event = ChatEvent(platform="bilibili", msg_id=msg_id, text=f"superchat {msg_id}", user_name=user,
                      user_id=user, kind="superchat", amount=30.0)
    return Utterance(id=msg_id, text=f"{user} says superchat {msg_id}", event=event)


def emit(**fields) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def churn(directory: str, seed: int) -> None:
    rng = random.Random(seed)
    journal = Journal(directory)
    q = SpeechQueue(CFG, journal, clock=time.monotonic)
    waiting: list[str] = []
    playing: Utterance | None = None
    muted: list[str] = []
    n = 0
    emit(ev="ready")
    while True:
        r = rng.random()
        if r < 0.4:
            n += 1
            utt = paid(f"p{n:05d}", user=f"fan{rng.randrange(5)}")
            emit(ev="begin", op="put", id=utt.id)
            kept = q.put(utt).kept
            emit(ev="ack", op="put", id=utt.id, kept=kept)
            if kept:
                waiting.append(utt.id)
        elif r < 0.65 and playing is None:
            utt = q.get_nowait()
            if utt is None:
                continue
            waiting.remove(utt.id)
            emit(ev="begin", op="start", id=utt.id)
            q.started(utt)
            emit(ev="ack", op="start", id=utt.id)
            playing = utt
        elif r < 0.85 and playing is not None:
            spoken = rng.random() < 0.75
            emit(ev="begin", op="finish", id=playing.id, spoken=spoken)
            q.finished(playing, spoken=spoken)
            emit(ev="ack", op="finish", id=playing.id, spoken=spoken)
            playing = None
        elif r < 0.92 and waiting:
            victim = rng.choice(waiting)
            emit(ev="begin", op="purge", id=victim)
            removed = [u.id for u in q.purge(msg_id=victim)]
            emit(ev="ack", op="purge", id=victim, removed=removed)
            waiting.remove(victim)
        elif r >= 0.92:
            muted = muted + [f"troll{n}"]
            emit(ev="begin", op="mute", muted=muted)
            journal.save_moderation(muted, ["badword"])
            emit(ev="ack", op="mute", muted=muted)


def serve(directory: str) -> None:
    journal = Journal(directory, retry_s=0.0)
    q = SpeechQueue(CFG, journal, clock=time.monotonic)
    emit(ev="ready")
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        answer: dict = {"ok": True}
        if op == "put":
            answer["kept"] = q.put(paid(cmd["id"])).kept
        elif op == "play":  # the next utterance, started and then finished
            utt = q.get_nowait()
            answer["id"] = utt.id if utt else None
            if utt is not None:
                q.started(utt)
                q.finished(utt, spoken=True)
        elif op == "start":  # the next utterance starts playing and never finishes
            utt = q.get_nowait()
            answer["id"] = utt.id if utt else None
            if utt is not None:
                q.started(utt)
        elif op == "requeue":
            answer["queued"] = [u.id for u in q.requeue_journaled()]
        elif op == "mute":
            journal.save_moderation(cmd["muted"], cmd.get("blocked", []))
        elif op == "flush":
            answer["flushed"] = journal.flush()
        elif op == "retry":
            journal.retry()
        elif op == "fsize":  # a file size limit makes every write past it fail like a full disk
            limit = cmd["bytes"] if cmd["bytes"] is not None else resource.RLIM_INFINITY
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        elif op == "status":
            pass
        elif op == "close":
            journal.close()
            emit(ok=True)
            return
        answer.update(degraded=journal.degraded, counters=dict(journal.counters), len=len(q),
                      pending=[u.id for u in journal.pending_paid()],
                      moderation=list(journal.load_moderation()))
        emit(**answer)


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    mode, directory = sys.argv[1], sys.argv[2]
    if mode == "churn":
        churn(directory, int(sys.argv[3]))
    else:
        serve(directory)


if __name__ == "__main__":
    main()
