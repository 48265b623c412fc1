"""The optional login cookie: where it comes from and how it is read.

Bilibili shows guests every viewer as uid 0 with a masked name, so a login
cookie (``SESSDATA``) is what lets per-user mutes and rate limits work in
web mode. It may be written in the config (``cookie``), kept in a file
(``cookie_file``: a ``Cookie:`` header line or a browser's Netscape
``cookies.txt`` export) or passed in an environment variable
(``cookie_env``). The value is a secret: it is never logged.
"""

from __future__ import annotations

import os
from pathlib import Path

from ishowtts_live.errors import ConfigError


def parse_cookie_text(text: str) -> dict[str, str]:
    """Cookies from a header line (``a=1; b=2``, an optional ``Cookie:``
    prefix) or a Netscape cookies.txt (only ``bilibili.com`` rows)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if any(ln.count("\t") >= 6 for ln in lines):
        cookies = {}
        for line in lines:
            if line.startswith("#HttpOnly_"):
                line = line[len("#HttpOnly_") :]
            elif line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) >= 7 and cols[0].lstrip(".").endswith("bilibili.com"):
                cookies[cols[5].strip()] = cols[6].strip()
        return cookies
    header = " ".join(lines).strip()
    if header.lower().startswith("cookie:"):
        header = header[len("cookie:") :]
    cookies = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            cookies[name.strip()] = value.strip()
    return cookies


def load_cookies(inline: str, path: str, env_name: str) -> dict[str, str]:
    """The configured cookies: inline first, then the file, then the
    environment variable. Raises ConfigError naming the key at fault."""
    if inline:
        text, where = inline, "sources.bilibili.cookie"
    elif path:
        where = "sources.bilibili.cookie_file"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read {path}: {exc.__class__.__name__}") from None
    elif env_name and os.environ.get(env_name):
        text, where = os.environ[env_name], f"${env_name} (sources.bilibili.cookie_env)"
    else:
        return {}
    cookies = parse_cookie_text(text)
    if not cookies:
        raise ConfigError(f"{where}: no cookies found (expected 'SESSDATA=…; bili_jct=…' or a cookies.txt export)")
    return cookies


def header_value(cookies: dict[str, str]) -> str:
    # Values go out verbatim: SESSDATA is already URL-encoded, and quoting it
    # (as http.cookies would for its commas) changes it.
    return "; ".join(f"{k}={v}" for k, v in cookies.items())

