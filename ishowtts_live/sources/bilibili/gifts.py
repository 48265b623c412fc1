"""Gift combos: one utterance for a burst of the same gift from one viewer.

A viewer clicking a gift ten times in a row sends ten ``SEND_GIFT``
packets; reading each aloud would flood the queue. Gifts with the same
(user, gift id) are held and merged while they keep coming within
``window_s`` of each other, and released at the latest ``max_hold_s`` after
the first one, so a long combo is still thanked while it is fresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from ishowtts_live.events import ChatEvent


def gift_text(action: str, gift_name: str, num: int) -> str:
    return f"{action or '投喂'}了{num}个{gift_name}"


@dataclass(slots=True)
class _Pending:
    first: ChatEvent
    num: int
    amount: float
    cents: int
    sends: int
    first_at: float
    deadline: float


class GiftCombiner:
    def __init__(self, window_s: float, max_hold_s: float):
        self.window_s = window_s
        self.max_hold_s = max(max_hold_s, window_s)
        self._pending: dict[tuple[str, str], _Pending] = {}
        self.merged = 0  # gifts folded into an earlier one

    def add(self, event: ChatEvent, now: float) -> list[ChatEvent]:
        """Hold ``event``; return whatever is due (``event`` itself when
        merging is off)."""
        if self.window_s <= 0:
            return [event]
        out = self.due(now)
        key = (event.user_id or event.user_name, str(event.extra.get("gift_id", "")))
        num = int(event.extra.get("num", 1))
        held = self._pending.get(key)
        if held is None:
            self._pending[key] = _Pending(event, num, event.amount, event.amount_cents, 1, now, now + self.window_s)
        else:
            held.num += num
            held.amount += event.amount
            held.cents += event.amount_cents
            held.sends += 1
            held.deadline = min(now + self.window_s, held.first_at + self.max_hold_s)
            self.merged += 1
        return out

    def next_deadline(self) -> float | None:
        return min((p.deadline for p in self._pending.values()), default=None)

    def due(self, now: float) -> list[ChatEvent]:
        keys = [k for k, p in self._pending.items() if p.deadline <= now]
        return [self._release(k) for k in keys]

    def flush(self) -> list[ChatEvent]:
        return [self._release(k) for k in list(self._pending)]

    def _release(self, key: tuple[str, str]) -> ChatEvent:
        p = self._pending.pop(key)
        if p.sends == 1:
            return p.first
        extra = dict(p.first.extra, num=p.num, sends=p.sends)
        text = gift_text(str(extra.get("action", "")), str(extra.get("gift_name", "")), p.num)
        return msgspec.structs.replace(p.first, text=text, amount=round(p.amount, 3), amount_cents=p.cents, extra=extra)
