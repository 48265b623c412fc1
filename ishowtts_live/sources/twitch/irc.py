"""IRC lines with IRCv3 message tags, as Twitch sends them over WebSocket.

    @key=value;key2=value2 :nick!user@host COMMAND #channel param :trailing text

One WebSocket frame may hold several lines separated by CRLF. Tag values use
the IRCv3 escapes (``\\:`` ``;``, ``\\s`` space, ``\\\\`` backslash, ``\\r``,
``\\n``; any other escaped character stands for itself; a lone trailing
backslash is dropped). Parsing is linear in the line length and a line
longer than :data:`MAX_LINE` is refused, so a hostile frame costs bounded work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Twitch lines are at most a few KiB (8191 bytes of tags + 512 of message by
# the IRCv3 limits); anything far beyond is not chat.
MAX_LINE = 64 * 1024

_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n", "": ""}
_ESCAPE = re.compile(r"\\(.?)", re.DOTALL)
_COMMAND = re.compile(r"[A-Za-z]+|\d{3}")
_TAG_KEY = re.compile(r"\+?(?:[A-Za-z0-9.-]+/)?[A-Za-z0-9-]+")


class IrcParseError(ValueError):
    """One line that is not a valid IRC message."""


@dataclass(frozen=True)
class IrcMessage:
    command: str
    params: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    prefix: str = ""

    @property
    def nick(self) -> str:
        """The sender's nick (``nick!user@host`` → ``nick``); '' for server lines."""
        nick, bang, _ = self.prefix.partition("!")
        return nick if bang else ""

    @property
    def channel(self) -> str:
        """The first parameter without its '#', when it names a channel."""
        return self.params[0][1:].lower() if self.params and self.params[0].startswith("#") else ""

    @property
    def trailing(self) -> str:
        """The last parameter ('' when there is none beyond the channel)."""
        return self.params[-1] if len(self.params) > 1 else ""


def unescape_tag_value(value: str) -> str:
    if "\\" not in value:
        return value
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), value)


def escape_tag_value(value: str) -> str:
    """The inverse of :func:`unescape_tag_value` (used by tests and fakes)."""
    return (value.replace("\\", "\\\\").replace(";", "\\:").replace(" ", "\\s")
            .replace("\r", "\\r").replace("\n", "\\n"))


def parse_tags(raw: str) -> dict[str, str]:
    """``a=1;b=x\\sy;c`` → {'a': '1', 'b': 'x y', 'c': ''}. Tags whose key is
    not a valid IRCv3 key are skipped; a repeated key keeps its last value."""
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        key, _, value = item.partition("=")
        if key and _TAG_KEY.fullmatch(key):
            tags[key] = unescape_tag_value(value)
    return tags


def parse_line(line: str) -> IrcMessage:
    """One IRC line (without CRLF) → :class:`IrcMessage`, or :class:`IrcParseError`."""
    if len(line) > MAX_LINE:
        raise IrcParseError(f"line of {len(line)} characters exceeds {MAX_LINE}")
    rest = line
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw, sep, rest = rest[1:].partition(" ")
        if not sep:
            raise IrcParseError("tags but no command")
        tags = parse_tags(raw)
        rest = rest.lstrip(" ")
    prefix = ""
    if rest.startswith(":"):
        prefix, sep, rest = rest[1:].partition(" ")
        if not sep:
            raise IrcParseError("prefix but no command")
        rest = rest.lstrip(" ")
    head, sep, trailing = rest.partition(" :")
    if rest.startswith(":"):
        raise IrcParseError("no command")
    words = head.split(" ")
    words = [w for w in words if w]
    if not words:
        raise IrcParseError("no command")
    command = words[0]
    if not _COMMAND.fullmatch(command):
        raise IrcParseError(f"invalid command {command[:32]!r}")
    params = words[1:]
    if sep:
        params.append(trailing)
    return IrcMessage(command=command.upper(), params=params, tags=tags, prefix=prefix)


def split_frame(frame: str) -> list[str]:
    """The lines of one WebSocket frame (CRLF-separated; a bare LF is accepted)."""
    return [line.rstrip("\r") for line in frame.split("\n") if line.strip("\r")]
