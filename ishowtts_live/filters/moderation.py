"""Moderation state: who is muted and which words are blocked, each entry with
where it comes from, so every answer about it tells the truth.

* **config** entries come from the config file (``filters.muted_users``,
  ``filters.blocked_words``). They hold while the daemon runs; a moderator's
  ``mute``/``block`` of one changes nothing and ``unmute``/``unblock`` cannot
  undo it, so both are refused with
  :class:`~ishowtts_live.errors.ModerationConflict` naming the key (the
  control API answers 409).
* **run-time** entries come from ``ctl``, the control API and moderators'
  chat commands; they are journaled so they survive a crash or restart.

Users are compared by :func:`ishowtts_live.users.user_key` and matched by the
one rule in :mod:`ishowtts_live.users`; words by the blocklist's comparison
key (:func:`ishowtts_live.filters.chars.fold`), so "广 告" is the word "广告".
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable, Literal, Protocol

from ishowtts_live.errors import ModerationConflict
from ishowtts_live.events import ChatEvent
from ishowtts_live.filters.chars import fold
from ishowtts_live.users import user_key, user_keys

Origin = Literal["config", "run time"]
Action = Literal["mute", "unmute", "block", "unblock"]
CONFIG_KEYS = {"mute": "filters.muted_users", "unmute": "filters.muted_users",
               "block": "filters.blocked_words", "unblock": "filters.blocked_words"}


class ModerationJournal(Protocol):
    def save_moderation(self, muted: list[str], blocked: list[str]) -> None: ...


class ModerationState:
    """Muted users (keys of a name, an id or ``platform:id``) and blocked words.

    ``version`` increases on every change so the filters rebuild their word
    matcher only when the list changed. Thread-safe.
    """

    def __init__(self, muted_users: Iterable[str] = (), blocked_words: Iterable[str] = (),
                 journal: ModerationJournal | None = None):
        self._lock = threading.Lock()
        self.config_muted: frozenset[str] = frozenset(k for k in map(user_key, muted_users) if k)
        self.config_blocked: dict[str, str] = _words(blocked_words)  # fold key → the word as written
        self._muted: dict[str, str] = {}  # key → key: ordered, like the words
        self._blocked: dict[str, str] = {}
        self.journal = journal
        self.version = 0

    def restore(self, muted: Iterable[str], blocked: Iterable[str]) -> None:
        """Load the run-time entries from the journal (no journal write)."""
        with self._lock:
            self._muted = {k: k for k in map(user_key, muted) if k}
            self._blocked = _words(blocked)
            self.version += 1

    # ---------------------------------------------------------------- queries

    def is_muted(self, event: ChatEvent) -> bool:
        keys = user_keys(event)
        return bool(keys & self.config_muted or keys & self._muted.keys())

    def muted_users(self) -> list[str]:
        return sorted(self.config_muted | self._muted.keys())

    def blocked_words(self) -> list[str]:
        """Config words first, then run-time ones; each word once."""
        return list((self.config_blocked | {k: w for k, w in self._blocked.items()
                                            if k not in self.config_blocked}).values())

    def user_origin(self, user: str) -> Origin | None:
        key = user_key(user)
        return "config" if key in self.config_muted else "run time" if key in self._muted else None

    def word_origin(self, word: str) -> Origin | None:
        key = fold(word)
        return "config" if key in self.config_blocked else "run time" if key in self._blocked else None

    def conflict(self, action: Action, target: str) -> str:
        """Why the config file makes ``action`` on ``target`` a non-change ("" if it does not)."""
        origin = self.user_origin(target) if action in ("mute", "unmute") else self.word_origin(target)
        if origin != "config":
            return ""
        state = "muted" if action in ("mute", "unmute") else "blocked"
        return f"{target!r} is {state} in the config file ({CONFIG_KEYS[action]}); change it there"

    # ---------------------------------------------------------------- changes

    def mute(self, user: str) -> bool:
        """True when ``user`` was not muted before; ModerationConflict when the config mutes them."""
        key = self._key(user_key(user), "mute", user)
        return self._change(lambda: _add(self._muted, key, key))

    def unmute(self, user: str) -> bool:
        key = self._key(user_key(user), "unmute", user)
        return self._change(lambda: self._muted.pop(key, None) is not None)

    def block(self, word: str) -> bool:
        key = self._key(fold(word), "block", word)
        return self._change(lambda: _add(self._blocked, key, word.strip()))

    def unblock(self, word: str) -> bool:
        key = self._key(fold(word), "unblock", word)
        return self._change(lambda: self._blocked.pop(key, None) is not None)

    def _key(self, key: str, action: Action, target: str) -> str:
        if not key:
            raise ValueError(f"{target!r} has nothing to match once normalised")
        why = self.conflict(action, target)
        if why:
            raise ModerationConflict(why)
        return key

    def _change(self, apply: Callable[[], bool]) -> bool:
        with self._lock:
            changed = bool(apply())
            if changed:
                self.version += 1
                if self.journal is not None:
                    # Applied in memory first, so a mute holds at once even if
                    # the disk fails; the journal carries it across restarts.
                    self.journal.save_moderation(sorted(self._muted), list(self._blocked.values()))
        return changed


def _words(words: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for word in words:
        key = fold(word)
        if key and word.strip():
            out.setdefault(key, word.strip())
    return out


def _add(target: dict[str, str], key: str, value: str) -> bool:
    if key in target:
        return False
    target[key] = value
    return True
