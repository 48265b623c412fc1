"""Builders shared by the queue and journal tests."""

from __future__ import annotations

import itertools

from ishowtts_live.config.schema import QueueConfig
from ishowtts_live.events import ChatEvent, Utterance

_ids = itertools.count(1)


class Clock:
    """An event clock the test moves by hand (the queue's clock callable)."""

    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def utt(text: str = "hello", *, user: str = "alice", uid: str = "", platform: str = "bilibili",
        kind: str = "chat", amount: float = 0.0, id: str = "", msg_id: str = "", deadline: float = 0.0,
        event: bool = True) -> Utterance:
    """An utterance as the filters would hand it to the queue."""
    n = next(_ids)
    uid_ = id or f"u{n}"
    ev = None
    if event:
        ev = ChatEvent(platform=platform, msg_id=msg_id or f"m{n}", text=text, user_id=uid, user_name=user,
                       kind=kind, amount=amount)
    return Utterance(id=uid_, text=text, deadline=deadline, event=ev)


def paid(text: str = "thanks", **kw) -> Utterance:
    kw.setdefault("kind", "superchat")
    kw.setdefault("amount", 30.0)
    return utt(text, **kw)


def announcement(text: str = "break in five minutes", **kw) -> Utterance:
    kw.setdefault("platform", "control")
    kw.setdefault("kind", "system")
    kw.setdefault("user", "moderator")
    return utt(text, **kw)


def cfg(**kw) -> QueueConfig:
    base = dict(max_items=100, max_per_user=0, ttl_chat_s=0.0, ttl_announcement_s=0.0, ttl_paid_s=0.0)
    base.update(kw)
    return QueueConfig(**base)
