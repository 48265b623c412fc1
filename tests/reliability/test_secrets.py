"""Security (issue 7 §5): secrets given in the config file, the environment or
on the command line never appear in `config show`, in the daemon's log, or in
anything the control API serves."""

from __future__ import annotations

import asyncio
import os
import stat

import aiohttp
import pytest

from tests import kit
from tests.reliability.harness import DaemonProcess
from tests.sources.twitch.fake_server import FakeTwitchServer

TOKEN = "oauth:s3cr3tTwitchTokenZZ9"
COOKIE = "SESSDATA=s3cr3tBiliCookieQQ7; bili_jct=abc"
OPEN_SECRET = "s3cr3tOpenPlatformKK3"

pytestmark = pytest.mark.slow


def test_config_show_masks_secrets_from_every_source(tmp_path, tiny_config):
    """A secret in the file, in --set or in the environment is shown as a mask."""
    cfg = tmp_path / "secret.toml"
    cfg.write_text(tiny_config.read_text() + f'\n[sources.bilibili.open]\naccess_key_secret = "{OPEN_SECRET}"\n')
    r = kit.run_cli("config", "show", "--config", str(cfg), "-o", f"sources.twitch.token={TOKEN}",
                    "-o", f"sources.bilibili.cookie={COOKIE}", env={"ISHOWTTS_TWITCH_TOKEN": TOKEN})
    assert r.returncode == 0, r.stderr
    for secret in (TOKEN, "s3cr3tBiliCookie", OPEN_SECRET):
        assert secret not in r.stdout + r.stderr


async def test_daemon_never_logs_or_serves_a_secret(tiny_config, tmp_path):
    """A logged-in Twitch source: the token reaches the server, and nowhere else."""
    server = await FakeTwitchServer(channels={"secretroom": "77"}).start()
    state = tmp_path / "state"
    daemon = DaemonProcess(tiny_config, state, overrides=[
        "sources.twitch.enabled=true", "sources.twitch.channel=secretroom", f"sources.twitch.url={server.url}",
        "sources.twitch.nick=streamer", f"sources.twitch.token={TOKEN}", "audio.output=null",
        "log.level=debug", "log.format=json", "daemon.shutdown_grace_s=0"], fake=True)
    await asyncio.to_thread(daemon.start)
    try:
        await server.wait_joined(1, 60)
        async with aiohttp.ClientSession() as http:
            served = [await (await http.get(daemon.url + p, headers=daemon.auth)).text()
                      for p in ("/api/status", "/api/queue", "/metrics", "/healthz", "/overlay")]
    finally:
        assert daemon.stop() == 0
        await server.stop()
    assert any(TOKEN in line for line in server.sent_by_clients()), "the token was used to log in"
    log = "".join(daemon.lines)
    assert log and TOKEN not in log and "s3cr3t" not in log
    assert not any("s3cr3t" in body for body in served)
    mode = stat.S_IMODE(os.stat(state / "control.token").st_mode)
    assert mode == 0o600, oct(mode)
