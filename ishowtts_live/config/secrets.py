"""Secrets (tokens, cookies) from the environment, a file, or the config itself.

A secret is looked up when it is needed (each connect), not once at start, so
a token file rotated by another tool takes effect on the next reconnect. The
value itself is never logged; errors name only where it was looked for.
"""

from __future__ import annotations

import os
from pathlib import Path

from ishowtts_live.errors import ConfigError


def resolve_secret(inline: str, file: str, env: str, *, where: str) -> str:
    """The secret from ``$env`` if set, else from ``file`` if given, else ``inline``.

    ``where`` names the file key in errors (``sources.twitch.token_file``).
    Raises :class:`ConfigError` when a named file cannot be read.
    """
    if env:
        value = os.environ.get(env, "").strip()
        if value:
            return value
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(f"{where}: cannot read {file}: {reason}") from None
    return inline.strip()
