"""Bilibili live danmaku: the web protocol and the open live platform.

``build(cfg, url=…, room=…)`` is the factory the source registry names.
See ``docs/bilibili.md`` for setup and for what each command becomes.
"""

from __future__ import annotations

import re

from ishowtts_live.config.schema import BilibiliConfig
from ishowtts_live.errors import ConfigError
from ishowtts_live.sources.bilibili.cookies import load_cookies
from ishowtts_live.sources.bilibili.settings import check, open_secret
from ishowtts_live.sources.bilibili.source import BilibiliSource

__all__ = ["BilibiliSource", "build", "parse_room"]

_ROOM_URL = re.compile(r"^(?:https?://)?live\.bilibili\.com/(?:h5/)?(\d+)(?:[/?#].*)?$")


def parse_room(text: str | int) -> int:
    """``732``, ``"732"`` or ``"https://live.bilibili.com/732?…"`` → 732.
    Raises ConfigError (one line) for anything else."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        raw = str(text).strip()
        match = _ROOM_URL.match(raw)
        digits = match.group(1) if match else raw
        if not digits.isdecimal() or not digits.isascii():
            raise ConfigError(f"ROOM: expected a room number or a live.bilibili.com/<room> address, got {raw!r}")
        value = int(digits)
    if not 0 < value < 2**63:
        raise ConfigError(f"ROOM: expected a positive room number, got {value}")
    return value


def build(cfg: BilibiliConfig, *, url: str | None = None, room: int | str | None = None) -> BilibiliSource:
    """A source for ``room`` (a number or a live.bilibili.com address; else
    ``cfg.room``). With ``url`` (else ``cfg.url``) it connects there
    directly: no discovery, an empty key. Raises ConfigError listing every
    problem with the section."""
    room = parse_room(room) if room not in (None, "", 0) else None
    problems = check(cfg, url=url, room=room, building=True)
    if problems:
        raise ConfigError(problems)
    room = room or cfg.room
    direct = url or cfg.url or None
    cookies = load_cookies(cfg.cookie, cfg.cookie_file, cfg.cookie_env) if not direct and cfg.mode == "web" else {}
    keys = None
    if cfg.mode == "open" and not direct:
        keys = (open_secret(cfg, "access_key_id"), open_secret(cfg, "access_key_secret"), open_secret(cfg, "code"))
    return BilibiliSource(cfg, room=room, url=direct, cookies=cookies, open_keys=keys)
