"""The typed messages that move between stages.

Frozen msgspec Structs: cheap to build, hashable where needed, and with an
explicit wire format for the control API and the journal.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import msgspec

Kind = Literal["chat", "superchat", "gift", "member", "system"]
KINDS: tuple[str, ...] = ("chat", "superchat", "gift", "member", "system")


def now_pair() -> tuple[float, float]:
    """(monotonic, wall) seconds for ``received_*`` stamps."""
    return time.monotonic(), time.time()


class UserFlags(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    moderator: bool = False
    broadcaster: bool = False
    subscriber: bool = False
    guard_level: int = 0  # Bilibili 舰长 3 / 提督 2 / 总督 1; 0 = none
    medal_level: int = 0
    first_message: bool = False


class ChatEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One thing a viewer did in chat, as a source saw it."""

    platform: str
    msg_id: str
    text: str
    channel: str = ""
    user_id: str = ""
    user_name: str = ""
    kind: Kind = "chat"
    amount: float = 0.0  # in the platform's unit (CNY for superchats, bits, …)
    currency: str = ""
    amount_cents: int = 0  # normalized: cents of CNY where known, else 0
    flags: UserFlags = UserFlags()
    received_mono: float = 0.0
    received_wall: float = 0.0
    # The clock time-based rules use: the recorded offset for replays, the
    # monotonic receive time for live sources.
    clock: float = 0.0
    extra: dict[str, Any] = {}

    @property
    def paid(self) -> bool:
        return self.kind in ("superchat", "gift", "member") and self.amount > 0


ModerationAction = Literal["delete_message", "ban_user", "timeout_user", "clear_chat", "delete_superchat"]


class ModerationEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A platform moderator removed something: purge it from the queue and cut
    it off if it is being spoken. Targets are whatever the platform gives."""

    platform: str
    action: ModerationAction
    channel: str = ""
    target_user_id: str = ""
    target_user_name: str = ""
    target_msg_id: str = ""
    duration_s: float = 0.0  # timeouts; 0 = permanent or not applicable
    received_mono: float = 0.0
    received_wall: float = 0.0


SourceItem = ChatEvent | ModerationEvent


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    kept: bool
    reason: str = ""  # machine-readable drop reason: muted_user, blocked_word, …
    detail: str = ""


KEPT = Verdict(kept=True)


class Utterance(msgspec.Struct, frozen=True, kw_only=True):
    """Text ready to speak, with how and when."""

    id: str
    text: str
    voice: str = ""
    priority: int = 0  # higher speaks first
    deadline: float = 0.0  # event clock; 0 = none
    nfe_step: int | None = None
    speed: float | None = None
    event: ChatEvent | None = None


def utterance_fields(utt: Utterance) -> dict[str, Any]:
    """What the event stream, the control API and the overlay show of an
    utterance (one definition for the pipeline and the control plane)."""
    ev = utt.event
    return {
        "id": utt.id, "text": utt.text, "voice": utt.voice,
        "user_name": ev.user_name if ev else "", "user_id": ev.user_id if ev else "",
        "platform": ev.platform if ev else "", "kind": ev.kind if ev else "system",
        "amount": ev.amount if ev else 0.0, "msg_id": ev.msg_id if ev else "",
    }


class AudioChunk(msgspec.Struct, kw_only=True):
    """A block of PCM on its way to a sink (≤ 100 ms, so skip lands at once)."""

    pcm: Any  # numpy float32 array, mono
    sample_rate: int
    utterance_id: str = ""
    index: int = 0
    is_last: bool = False
