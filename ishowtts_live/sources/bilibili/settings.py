"""Checks of ``[sources.bilibili]`` that need more than one key, and the
open-platform secrets' environment fallbacks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ishowtts_live.config.schema import BilibiliConfig

P = "sources.bilibili."
# Used when the key in [sources.bilibili.open] is empty.
OPEN_ENV = {
    "access_key_id": "BILIBILI_OPEN_ACCESS_KEY_ID",
    "access_key_secret": "BILIBILI_OPEN_ACCESS_KEY_SECRET",
    "code": "BILIBILI_OPEN_CODE",
}


def open_secret(cfg: BilibiliConfig, key: str) -> str:
    return getattr(cfg.open, key) or os.environ.get(OPEN_ENV[key], "")


def _url_problem(key: str, value: str, schemes: tuple[str, ...]) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        return f"{key}: expected a {' or '.join(s + '://' for s in schemes)} URL, got {value!r}"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"{key}: bad port in {value!r}"
    return None


def check(cfg: BilibiliConfig, *, url: str | None = None, room: int | None = None, building: bool = False) -> list[str]:
    """Every problem with this section, as ``sources.bilibili.key: why``.

    ``building``: the source is about to be used (``run`` with the section
    enabled, or ``listen bilibili``), so the room or the open-platform
    credentials must be there; ``config check`` only asks that of an
    enabled section.
    """
    http, ws = ("http", "https"), ("ws", "wss")
    found = [
        _url_problem(P + "live_api", cfg.live_api, http),
        _url_problem(P + "main_api", cfg.main_api, http),
        _url_problem(P + "home_url", cfg.home_url, http),
        _url_problem(P + "fallback_url", cfg.fallback_url, ws),
        _url_problem(P + "open.api_base", cfg.open.api_base, http),
        _url_problem(P + "url", cfg.url, ws) if cfg.url else None,
        _url_problem("--url", url, ws) if url else None,
    ]
    problems = [p for p in found if p]
    if cfg.read_timeout_s <= cfg.heartbeat_s:
        problems.append(f"{P}read_timeout_s: must exceed heartbeat_s ({cfg.heartbeat_s:g}), or every quiet room times out")
    if cfg.gift_combo_s > 0 and cfg.gift_combo_max_s < cfg.gift_combo_s:
        problems.append(f"{P}gift_combo_max_s: must be at least gift_combo_s ({cfg.gift_combo_s:g})")
    if cfg.backoff_max_s < cfg.backoff_initial_s:
        problems.append(f"{P}backoff_max_s: must be at least backoff_initial_s ({cfg.backoff_initial_s:g})")
    if cfg.cookie_file and not Path(cfg.cookie_file).is_file():
        problems.append(f"{P}cookie_file: file not found: {cfg.cookie_file}")
    in_use = building or cfg.enabled
    direct = bool(url or cfg.url)
    if in_use and cfg.mode == "open" and not direct:
        if cfg.open.app_id <= 0:
            problems.append(f"{P}open.app_id: required in open mode (the project id from open-live.bilibili.com)")
        for key, env in OPEN_ENV.items():
            if not open_secret(cfg, key):
                problems.append(f"{P}open.{key}: required in open mode (or set ${env})")
    elif in_use and not (room or cfg.room):
        problems.append(f"{P}room: no room id (set it, or give ROOM to `listen bilibili`)")
    return problems
