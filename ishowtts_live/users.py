"""Who wrote a message, and which messages a moderation action names: the one
rule that the queue, the message being spoken, the filters' mute check and
the journal all use, so a mute, a ban, a deletion or a clear behaves the same
wherever the message is.

A user is named by any of: their id (``123``), their id with the platform
(``twitch:123``), or their name; names and ids compare NFKC-normalised and
case-folded (``ＣｏｏｌＧｕｙ`` is ``coolguy``).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ishowtts_live.events import ChatEvent, Utterance


def user_key(name_or_id: str) -> str:
    """How users are compared: NFKC, case-folded, stripped (so 'ＡＢＣ' == 'abc')."""
    return unicodedata.normalize("NFKC", name_or_id).casefold().strip()


def user_keys(event: ChatEvent) -> frozenset[str]:
    """Every key that names the author of ``event``: id, platform:id, name."""
    keys = set()
    if event.user_id:
        keys.add(user_key(event.user_id))
        keys.add(user_key(f"{event.platform}:{event.user_id}"))
    if event.user_name:
        keys.add(user_key(event.user_name))
    keys.discard("")
    return frozenset(keys)


@dataclass(frozen=True)
class Selector:
    """Which utterances an action removes. Every criterion given must hold:
    ``users`` (keys, any of which names the author), ``msg_id`` (the platform's
    message id or the utterance id) and ``platform``."""

    users: frozenset[str] = frozenset()
    msg_id: str = ""
    platform: str = ""

    def __post_init__(self) -> None:
        if not (self.users or self.msg_id or self.platform):
            # an empty selector would match everything: a purge by mistake
            raise ValueError("a selector needs a user, a message id or a platform")

    @classmethod
    def user(cls, *names: str, platform: str = "") -> Selector:
        """Messages by the user ``names`` name (a moderator's ``123``,
        ``twitch:123`` or name; a platform ban's id and login), on ``platform``
        when given."""
        return cls(users=frozenset(k for k in map(user_key, names) if k), platform=platform)

    def matches(self, utt: Utterance) -> bool:
        event = utt.event
        if self.platform and (event is None or event.platform != self.platform):
            return False
        if self.msg_id and utt.id != self.msg_id and (event is None or event.msg_id != self.msg_id):
            return False
        if self.users and (event is None or not self.users & user_keys(event)):
            return False
        return True

    __call__ = matches
