"""Who may drive the daemon: the bearer token, its file, and the Host and
Origin checks that keep web pages in the streamer's browser out.

* The token is 32 random bytes (URL-safe base64) in a file of mode 0600 the
  daemon creates in its state directory on first start and keeps after.
* A browser always sends ``Origin`` on cross-site requests and on every
  WebSocket handshake; one that is not the server's own (or configured) is
  refused with 403 before the token is even looked at.
* DNS rebinding (a hostile name that resolves to 127.0.0.1) is stopped by the
  Host check: only IP literals, ``localhost`` and configured names pass.
* The panel page (``/panel``) holds the token only in its URL's fragment
  (never sent to a server) and then in ``sessionStorage``; it sends it as
  the bearer header, and on its event WebSocket as an offered subprotocol.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import stat
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from ishowtts_live.control.protocol import TOKEN_FILE_NAME, WS_BEARER
from ishowtts_live.errors import ConfigError
from ishowtts_live.paths import APP_NAME, state_dir

log = structlog.get_logger(__name__)

SYSTEM_STATE_DIR = Path("/var/lib") / APP_NAME  # systemd's StateDirectory= for the system unit


def token_path(token_file: str, state: str) -> Path:
    return Path(token_file) if token_file else state_dir(state) / TOKEN_FILE_NAME


def ensure_token(path: Path) -> str:
    """The token in ``path``, created (mode 0600) if there is none yet."""
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"control.token_file: cannot read {path}: {exc}") from None
    if existing:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            # Someone widened it; the token is still ours, so narrow it again.
            log.warning("control token file was readable by others; set it to 0600", path=str(path), mode=oct(mode))
            path.chmod(0o600)
        return existing
    token = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(token + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"control.token_file: cannot create {path}: {exc}") from None
    log.info("control token created", path=str(path))
    return token


def read_token(path: Path) -> str:
    """The token for a client; OSError when it cannot be read."""
    token = path.read_text(encoding="ascii").strip()
    if not token:
        raise OSError(f"{path} is empty")
    return token


def token_matches(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def websocket_bearer(protocols: str | None) -> str | None:
    """An ``Authorization`` value from a WebSocket handshake's offered
    subprotocols (``bearer.<token>``; see protocol.WS_BEARER), or None."""
    for offered in (protocols or "").split(","):
        offered = offered.strip()
        if offered.startswith(WS_BEARER) and len(offered) > len(WS_BEARER):
            return f"Bearer {offered[len(WS_BEARER):]}"
    return None


def host_name(host_header: str) -> str:
    """The name part of a Host header (brackets and port removed); "" when it
    does not parse (``[``, a bad port …), which no check lets through."""
    try:
        return urlsplit(f"//{host_header}").hostname or ""
    except ValueError:
        return ""


def is_ip_or_localhost(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(host_header: str, extra: list[str]) -> bool:
    name = host_name(host_header)
    return is_ip_or_localhost(name) or name in {h.lower() for h in extra}


def origin_allowed(origin: str | None, host_header: str, extra: list[str]) -> bool:
    """No Origin (curl, ctl, a page navigation) is fine; otherwise it must be
    this server's own origin or one listed in ``control.allowed_origins``."""
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    own = {f"http://{host_header}".lower(), f"https://{host_header}".lower()}
    return origin in own or origin in {o.rstrip("/").lower() for o in extra}


def check_bind_host(host: str) -> list[str]:
    """Config check: ``control.host`` must be an IP address or localhost."""
    if not is_ip_or_localhost(host):
        return [f"control.host: expected an IP address (127.0.0.1, ::1, 0.0.0.0, …) or 'localhost', got {host!r}"]
    return []
