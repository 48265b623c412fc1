"""Moderator commands typed in chat: ``!skip``, ``!mute NAME``, ``!unmute NAME``,
``!block WORD``, ``!unblock WORD``. Never spoken, whoever types them."""

from __future__ import annotations

import msgspec

from ishowtts_live.events import ChatEvent
from ishowtts_live.filters.chars import clean

NAMES = ("skip", "mute", "unmute", "block", "unblock")
_NEEDS_ARG = frozenset({"mute", "unmute", "block", "unblock"})


class Command(msgspec.Struct, frozen=True):
    name: str  # one of NAMES
    arg: str = ""


def looks_like_command(text: str, prefix: str) -> bool:
    """A line starting with the prefix and a letter (full-width ！ counts):
    "!skip" is a command, "!!!" and "！好耶" are not."""
    body = clean(text).strip()
    if not body.startswith(prefix):
        return False
    rest = body[len(prefix):]
    return bool(rest) and rest[0].isascii() and rest[0].isalpha()


def is_moderator(event: ChatEvent) -> bool:
    return event.flags.moderator or event.flags.broadcaster


def parse(text: str, prefix: str) -> tuple[Command | None, str]:
    """(command, "") or (None, why it is not a usable command)."""
    body = clean(text).strip()[len(prefix):]
    name, _, arg = body.partition(" ")
    name = name.casefold()
    arg = arg.strip()
    if name not in NAMES:
        return None, f"unknown command {prefix}{name}"
    if name in _NEEDS_ARG:
        arg = arg.removeprefix("@").strip()
        if not arg:
            return None, f"{prefix}{name} needs an argument"
    else:
        arg = ""
    return Command(name, arg), ""
