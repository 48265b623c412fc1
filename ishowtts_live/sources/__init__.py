"""Chat sources: each an async iterator of ChatEvent / ModerationEvent.

Sources are chosen by name through :data:`SOURCES` (a name → import string
registry), so a platform's code is imported only when it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

# platform name → "module:factory"; factory(cfg, **overrides) -> ChatSource
SOURCES: dict[str, str] = {
    "replay": "ishowtts_live.sources.replay:build",
    "bilibili": "ishowtts_live.sources.bilibili:build",
    "twitch": "ishowtts_live.sources.twitch:build",
    "youtube": "ishowtts_live.sources.youtube:build",
}


def load_factory(name: str) -> Any:
    module, _, attr = SOURCES[name].partition(":")
    return getattr(importlib.import_module(module), attr)
