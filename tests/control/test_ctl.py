"""`ishowtts-live ctl`, as a real child process, against a running daemon."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from tests import kit
from tests.kit import until, wait
from tests.kit.daemon import free_port, start_daemon, stop_daemon


async def ctl(running, *args: str, env: dict | None = None, timeout: float = 60) -> tuple[int, str, str]:
    """Run `ctl` with the daemon's own config (so it finds the port and the token file)."""
    overrides = [x for o in running.overrides for x in ("-o", o)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ishowtts_live", "ctl", *args, "--config", str(running.config), *overrides,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=kit.ROOT, env={**os.environ, **(env or {})},
    )
    out, err = await wait(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def test_ctl_status_and_queue_show_a_paused_queue(running):
    """pause + three `say`s: `ctl queue` is a table in speaking order, `ctl status` says paused and 3 waiting."""
    assert (await ctl(running, "pause"))[:2] == (0, "paused: queued messages wait until `ctl resume`\n")
    for text in ("欢迎大家来到直播间！", "下一局马上开始。", "Thanks for the follow!"):
        rc, out, err = await ctl(running, "say", text)
        assert (rc, out, err) == (0, f"queued: {text}\n", "")
    rc, out, err = await ctl(running, "queue")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["#", "ID", "USER", "KIND", "WAIT", "TEXT"]
    assert [line.split()[0] for line in lines[1:4]] == ["1", "2", "3"]
    assert "欢迎大家来到直播间！" in lines[1] and "Thanks for the follow!" in lines[3]
    assert lines[-1] == "3 messages waiting (paused)"
    rc, out, err = await ctl(running, "status")
    assert rc == 0 and "· paused" in out.splitlines()[0] and "queue     3 messages waiting (paused)" in out
    print(out, "\n", (await ctl(running, "queue"))[1])  # for the report
    status = json.loads((await ctl(running, "status", "--json"))[1])
    queue = json.loads((await ctl(running, "queue", "--json"))[1])
    assert status["queue_depth"] == 3 and status["paused"] and len(queue["items"]) == 3


async def test_ctl_each_command_changes_the_daemon(running):
    """Every ctl command reaches the daemon and says what it did in one line."""
    d = running.daemon
    expect = [
        (("skip",), "nothing is being spoken"),
        (("mute", "Troll"), "muted 'Troll'; 0 queued messages removed"),
        (("unmute", "Troll"), "unmuted 'Troll'"),
        (("unmute", "Troll"), "'Troll' was not muted"),
        (("block", "广告"), "blocked '广告'"),
        (("block", "广告"), "'广告' was already blocked"),
        (("voice", "zh16"), "voice: zh16"),
        (("nfe", "9"), "nfe_step: 9"),
        (("pause",), "paused: queued messages wait until `ctl resume`"),
        (("say", "大家好"), "queued: 大家好"),
        (("clear",), "cleared 1 queued message"),
        (("resume",), "resumed"),
        (("unblock", "广告"), "unblocked '广告'"),
    ]
    for args, line in expect:
        rc, out, err = await ctl(running, *args)
        assert (rc, out.strip(), err) == (0, line, ""), args
    status = d.controls.status()
    assert (status.voice, status.nfe_step, status.paused) == ("zh16", 9, False)
    assert "广告" not in status.blocked_words and "troll" not in status.muted_users


async def test_ctl_say_refused_and_skip_while_speaking(running):
    """A blocked `say` exits 1 with the reason; `skip` while speaking cuts it."""
    await ctl(running, "block", "广告")
    rc, out, err = await ctl(running, "say", "看广告")
    assert rc == 1 and out == "" and err.startswith("ishowtts-live: not queued: blocked_word")
    sub = running.daemon.bus.subscribe()
    await ctl(running, "say", "这是一条很长很长的消息，我们会在它说完之前跳过它，所以它不会被完整地读出来。")
    while (await wait(sub.__anext__(), 60))["type"] != "speaking":
        pass
    assert (await ctl(running, "skip"))[:2] == (0, "skipped\n")
    while (event := await wait(sub.__anext__(), 60))["type"] != "skipped":
        pass
    sub.close()
    assert event["reason"] == "moderator"


async def test_ctl_events_follows_the_stream(running):
    """`ctl events --limit 4` prints queued, speaking, synthesized and spoken as they happen, then exits 0."""
    overrides = [x for o in running.overrides for x in ("-o", o)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ishowtts_live", "ctl", "events", "--limit", "4", "--config", str(running.config),
        *overrides, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=kit.ROOT)
    await until(lambda: running.daemon.bus.subscribers, 30, "ctl's event stream subscribed")
    running.controls.say("你好。")
    out, err = await wait(proc.communicate(), 60)
    lines = out.decode().splitlines()
    assert proc.returncode == 0, err
    assert [line.split()[1] for line in lines] == ["queued", "speaking", "synthesized", "spoken"]
    assert lines[0].endswith("moderator: 你好。") and "s audio, RTF" in lines[3] and "first audio after" in lines[3]


async def test_ctl_json_events_and_history(running):
    """`ctl events --json --history N` first replays the last N events as JSON lines."""
    running.controls.pause()
    running.controls.resume()
    rc, out, err = await ctl(running, "events", "--json", "--history", "2", "--limit", "2")
    assert rc == 0, err
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["paused", "resumed"]


async def test_ctl_wrong_token_is_one_clear_line(running, tmp_path):
    """A token file with another token: exit 1, one line naming the file, no traceback."""
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token\n")
    rc, out, err = await ctl(running, "status", "--token-file", str(wrong))
    assert rc == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"ishowtts-live: error: the daemon refused the token in {wrong} (401)")
    rc, _, err = await ctl(running, "skip", env={"ISHOWTTS_LIVE_TOKEN": "nope"})
    assert rc == 1 and "refused the token in $ISHOWTTS_LIVE_TOKEN" in err
    rc, out, _ = await ctl(running, "status", env={"ISHOWTTS_LIVE_TOKEN": running.token})
    assert rc == 0 and out.startswith("ishowtts-live ")


async def test_ctl_missing_token_file_while_daemon_runs(running, tmp_path):
    """No readable token but a running daemon: the error says where it looked."""
    rc, _, err = await ctl(running, "status", "--token-file", str(tmp_path / "absent"))
    assert rc == 1 and "cannot read the control token" in err and str(tmp_path / "absent") in err


async def test_ctl_bad_input_is_a_usage_error(running):
    """An unknown voice or an NFE out of range: exit 2 and one line naming the problem."""
    rc, _, err = await ctl(running, "voice", "no-such-voice")
    assert rc == 2 and err.startswith("ishowtts-live: error: voice: ") and "no-such-voice" in err
    rc, _, err = await ctl(running, "nfe", "0")
    assert rc == 2 and "between 1 and 64" in err
    assert "Traceback" not in err


def test_ctl_without_a_daemon_says_it_is_not_running(tmp_path):
    """Nothing listening: exit 1 and one line saying the daemon is not running."""
    port = free_port()
    r = kit.run_cli("ctl", "status", "-c", str(kit.ROOT / "config" / "ishowtts.toml"), "-o", f"control.port={port}",
                    "-o", f"state.dir={tmp_path}")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip() == (f"ishowtts-live: error: the daemon is not running (nothing listens on "
                                f"http://127.0.0.1:{port}); start it with `ishowtts-live run` or check control.port / --url")


def test_ctl_takes_its_options_before_the_action_too(tmp_path):
    """`ctl -c FILE -o key=value status` reads the config and overrides given
    before the action; where both places set something, after the action wins."""
    config = str(kit.ROOT / "config" / "ishowtts.toml")
    before, after = free_port(), free_port()
    r = kit.run_cli("ctl", "-c", config, "-o", f"control.port={before}", "-o", f"state.dir={tmp_path}",
                    "--timeout", "5", "status")
    assert r.returncode == 1 and f"nothing listens on http://127.0.0.1:{before})" in r.stderr, r.stderr
    r = kit.run_cli("ctl", "-c", config, "-o", f"control.port={before}", "status", "-o", f"control.port={after}",
                    "-o", f"state.dir={tmp_path}")
    assert r.returncode == 1 and f"nothing listens on http://127.0.0.1:{after})" in r.stderr, r.stderr


def test_ctl_never_imports_torch(tmp_path):
    """ctl stays light: neither torch nor f5-tts is imported."""
    code = (
        "import sys\nfrom ishowtts_live.cli import main\n"
        f"rc = main(['ctl', 'status', '--url', 'http://127.0.0.1:{free_port()}', '--token-file', '/dev/null'])\n"
        "assert rc == 1, rc\nbad = [m for m in ('torch', 'f5_tts', 'torchaudio') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=kit.ROOT)
    assert r.returncode == 0, r.stderr


async def test_ctl_over_a_unix_socket(tiny_config, tmp_path):
    """With control.unix_socket set, the daemon listens there (not on TCP) and ctl follows the config."""
    sock = tmp_path / "run" / "control.sock"
    r = await start_daemon(tiny_config, tmp_path, extra=[f"control.unix_socket={sock}"])
    try:
        assert r.daemon.control.url == f"unix:{sock}" and sock.is_socket()
        rc, out, err = await ctl(r, "status")
        assert rc == 0 and out.startswith("ishowtts-live "), err
        assert (await ctl(r, "pause"))[0] == 0 and r.daemon.queue.paused
    finally:
        await stop_daemon(r)
    assert not sock.exists()


async def test_ctl_tells_the_truth_about_config_set_moderation(tiny_config, tmp_path):
    """`ctl block` of a word the config file blocks, `ctl unmute` of a user it mutes:
    exit 1 and one line naming the config key; a second `ctl mute` says the user was already muted."""
    r = await start_daemon(tiny_config, tmp_path, extra=["filters.muted_users=['Troll']",
                                                          "filters.blocked_words=['广告']"])
    try:
        for args, key in ((("block", "广告"), "filters.blocked_words"), (("unblock", "广告"), "filters.blocked_words"),
                          (("mute", "troll"), "filters.muted_users"), (("unmute", "TROLL"), "filters.muted_users")):
            rc, out, err = await ctl(r, *args)
            assert (rc, out, len(err.splitlines())) == (1, "", 1), (args, err)
            assert "in the config file" in err and key in err and err.endswith("(409)\n"), err
        assert (await ctl(r, "mute", "Spammer"))[:2] == (0, "muted 'Spammer'; 0 queued messages removed\n")
        assert (await ctl(r, "mute", "spammer"))[:2] == (0, "'spammer' was already muted\n")
    finally:
        await stop_daemon(r)
