"""Moderation state shared by the filters, the queue, the control API and the
journal: who is muted and which words are blocked, as changed at run time.

Static entries come from the config (``filters.muted_users``,
``filters.blocked_words``); runtime changes (``ctl mute``, a moderator's
``!mute`` in chat) are journaled so they survive a crash or restart.
"""

from __future__ import annotations

import threading
import unicodedata
from typing import Callable, Iterable, Protocol

from ishowtts_live.events import ChatEvent


def user_key(name_or_id: str) -> str:
    """How users are compared: NFKC, case-folded, stripped (so 'ＡＢＣ' == 'abc')."""
    return unicodedata.normalize("NFKC", name_or_id).casefold().strip()


class ModerationJournal(Protocol):
    def save_moderation(self, muted: list[str], blocked: list[str]) -> None: ...


class ModerationState:
    """Muted users (by name or id) and blocked words, static plus runtime.

    ``version`` increases on every change so filters can rebuild their
    matchers lazily; listeners are told (the control API's event stream).
    """

    def __init__(self, muted_users: Iterable[str] = (), blocked_words: Iterable[str] = (),
                 journal: ModerationJournal | None = None):
        self._lock = threading.Lock()
        self.static_muted = {user_key(u) for u in muted_users if u.strip()}
        self.static_blocked = [w for w in blocked_words if w.strip()]
        self.muted: set[str] = set()  # runtime
        self.blocked: list[str] = []  # runtime
        self.journal = journal
        self.version = 0
        self.listeners: list[Callable[[str, str], None]] = []

    def restore(self, muted: Iterable[str], blocked: Iterable[str]) -> None:
        """Load runtime state from the journal (no journal write, no events)."""
        with self._lock:
            self.muted = {user_key(u) for u in muted}
            self.blocked = list(dict.fromkeys(blocked))
            self.version += 1

    # ---------------------------------------------------------------- queries

    def is_muted(self, event: ChatEvent) -> bool:
        keys = {user_key(k) for k in (event.user_id, event.user_name) if k}
        if event.user_id:
            keys.add(user_key(f"{event.platform}:{event.user_id}"))
        both = self.static_muted | self.muted
        return bool(keys & both)

    def muted_users(self) -> list[str]:
        return sorted(self.static_muted | self.muted)

    def blocked_words(self) -> list[str]:
        return list(dict.fromkeys(self.static_blocked + self.blocked))

    # ---------------------------------------------------------------- changes

    def mute(self, user: str) -> bool:
        return self._change(lambda: self._add(self.muted, user_key(user)), "mute", user)

    def unmute(self, user: str) -> bool:
        key = user_key(user)
        if key in self.static_muted and key not in self.muted:
            raise ValueError(f"{user!r} is muted in the config file (filters.muted_users); remove it there")
        return self._change(lambda: self._discard(self.muted, key), "unmute", user)

    def block(self, word: str) -> bool:
        word = word.strip()
        if not word:
            raise ValueError("an empty word cannot be blocked")
        return self._change(lambda: word not in self.blocked and (self.blocked.append(word) or True), "block", word)

    def unblock(self, word: str) -> bool:
        word = word.strip()
        if word in self.static_blocked and word not in self.blocked:
            raise ValueError(f"{word!r} is blocked in the config file (filters.blocked_words); remove it there")
        return self._change(lambda: word in self.blocked and (self.blocked.remove(word) or True), "unblock", word)

    @staticmethod
    def _add(target: set[str], key: str) -> bool:
        if key in target:
            return False
        target.add(key)
        return True

    @staticmethod
    def _discard(target: set[str], key: str) -> bool:
        if key not in target:
            return False
        target.discard(key)
        return True

    def _change(self, apply: Callable[[], bool], action: str, subject: str) -> bool:
        with self._lock:
            changed = bool(apply())
            if changed:
                self.version += 1
                if self.journal is not None:
                    # Applied in memory first, so a mute holds at once even if
                    # the disk fails; the journal carries it across restarts.
                    self.journal.save_moderation(sorted(self.muted), list(self.blocked))
        if changed:
            for listener in list(self.listeners):
                listener(action, subject)
        return changed
