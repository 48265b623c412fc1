"""The token file, the state directory, and the Host/Origin rules."""

from __future__ import annotations

import stat

import pytest

from ishowtts_live.control import security
from ishowtts_live.control.protocol import TOKEN_FILE_NAME
from tests import kit


def test_token_file_is_created_private_and_kept(tmp_path):
    """First start writes a random token with mode 0600; later starts reuse it."""
    path = tmp_path / "state" / TOKEN_FILE_NAME
    token = security.ensure_token(path)
    assert len(token) >= 40 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert security.ensure_token(path) == token
    assert security.ensure_token(tmp_path / "other" / TOKEN_FILE_NAME) != token


def test_widened_token_file_is_narrowed_again(tmp_path):
    """A token file someone made group/world-readable is set back to 0600, token unchanged."""
    path = tmp_path / TOKEN_FILE_NAME
    token = security.ensure_token(path)
    path.chmod(0o644)
    assert security.ensure_token(path) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_state_dir_resolution(tmp_path, monkeypatch):
    """state.dir wins; else $STATE_DIRECTORY (systemd); else $XDG_STATE_HOME/ishowtts-live."""
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/sd:{tmp_path}/second")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert security.state_dir(str(tmp_path / "cfg")) == tmp_path / "cfg"
    assert security.state_dir("") == tmp_path / "sd"
    monkeypatch.delenv("STATE_DIRECTORY")
    assert security.state_dir("") == tmp_path / "xdg" / "ishowtts-live"
    assert security.token_path("", "") == tmp_path / "xdg" / "ishowtts-live" / TOKEN_FILE_NAME
    assert security.token_path(str(tmp_path / "t"), "") == tmp_path / "t"


@pytest.mark.parametrize(("header", "ok"), [
    ("Bearer s3cret", True), ("bearer s3cret", True), ("Bearer  s3cret ", True),
    ("Bearer s3cre", False), ("Bearer s3cret2", False), ("Basic s3cret", False), ("s3cret", False),
    ("", False), (None, False),
])
def test_bearer_token_matching(header, ok):
    """Only `Bearer <the token>` passes."""
    assert security.token_matches(header, "s3cret") is ok


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1:8765", True), ("localhost:8765", True), ("[::1]:8765", True), ("192.168.1.20:8765", True),
    ("evil.example:8765", False), ("localhost.evil.example", False), ("jetson.local:8765", False),
    ("[", False), ("[::1", False), ("]", False), ("", False),  # malformed: refused, never an exception
])
def test_host_check_stops_dns_rebinding(host, ok):
    """IP literals and localhost pass; any other name needs control.allowed_hosts."""
    assert security.host_allowed(host, []) is ok
    assert security.host_allowed("jetson.local:8765", ["jetson.local"])


@pytest.mark.parametrize(("origin", "ok"), [
    (None, True), ("http://127.0.0.1:8765", True), ("http://127.0.0.1:8765/", True),
    ("http://127.0.0.1:9999", False), ("https://evil.example", False), ("null", False),
    ("http://localhost:8765", False),
])
def test_origin_must_be_the_servers_own(origin, ok):
    """No Origin (ctl, curl) or this server's own origin; anything else is foreign."""
    assert security.origin_allowed(origin, "127.0.0.1:8765", []) is ok
    assert security.origin_allowed("https://dash.lan", "127.0.0.1:8765", ["https://dash.lan"])


def test_config_check_rejects_a_host_name_to_bind(tmp_path):
    """control.host must be an address; `config check` says so, naming the -o
    that set it with its section.key (exit 78)."""
    r = kit.run_cli("config", "check", "-c", str(kit.ROOT / "config" / "ishowtts.toml"), "-o", "control.host=myhost")
    assert r.returncode == 78
    assert "-o control.host=myhost: expected an IP address" in r.stderr and "'myhost'" in r.stderr
