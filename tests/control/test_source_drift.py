"""Protocol drift, end to end: a running daemon reading the loopback Bilibili
shows what it could not understand in /metrics, /api/status, `ctl status`
and `doctor`."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from ishowtts_live.config.schema import BilibiliConfig
from ishowtts_live.control.cli import format_status
from ishowtts_live.control.client import ControlClient
from ishowtts_live.sources.bilibili import BilibiliSource
from tests.kit import until
from tests.kit.daemon import start_daemon, stop_daemon
from tests.sources.bilibili import samples
from tests.sources.bilibili.fake import FakeBilibili


async def test_unknown_and_unparsable_commands_show_in_metrics_status_ctl_and_doctor(tiny_config, tmp_path,
                                                                                      http, capsys):  # fmt: skip
    """Three SEND_GIFT_V3 and one broken SEND_GIFT_V2 beside a danmaku: /metrics counts them by source and kind,
    /api/status and `ctl status` show the last minute by name, and doctor asks the running daemon for it."""
    fake = await FakeBilibili(allow_empty_key=True).start()
    cfg = BilibiliConfig(room=samples.REAL_ROOM, heartbeat_s=0.5, read_timeout_s=10.0, gift_combo_s=0.0)
    source = BilibiliSource(cfg, room=samples.REAL_ROOM, url=fake.ws_url)
    r = await start_daemon(tiny_config, tmp_path, sources=[source])
    try:
        unknown = {"cmd": "SEND_GIFT_V3", "data": {"pb": "CgA="}}
        await fake.send([unknown, unknown, {"cmd": "SEND_GIFT_V2", "data": {"pb": "not base64!"}}, unknown,
                         samples.danmu(4242, "Alice", "你好")])  # fmt: skip
        await until(lambda: r.daemon.ingest.received >= 1, 30, "the danmaku read")

        async with http.get(r.url + "/metrics") as resp:
            families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
        name = f"bilibili:{samples.REAL_ROOM}"
        (unknown_sample,) = families["ishowtts_source_unknown"].samples
        assert (unknown_sample.labels, unknown_sample.value) == ({"source": name, "kind": "SEND_GIFT_V3"}, 3.0)
        (bad_sample,) = families["ishowtts_source_unparsable"].samples
        assert (bad_sample.labels, bad_sample.value) == ({"source": name, "kind": "SEND_GIFT_V2"}, 1.0)

        async with ControlClient(r.url, r.token) as client:
            status = await client.status()
        (src,) = status.sources
        minute = src.last_minute
        assert (minute.read, minute.unknown, minute.unparsable) == (1, 3, 1)
        assert (minute.unknown_kinds, minute.unparsable_kinds) == ({"SEND_GIFT_V3": 3}, {"SEND_GIFT_V2": 1})
        # the two lines docs/control.md quotes, as `ctl status` prints them
        assert name == "bilibili:22608112"
        assert ("source    bilibili:22608112 (received 1, reconnects 0)\n"
                "          last minute: read 1, dropped 0, unknown 3 (SEND_GIFT_V3 3), unparsable 1 (SEND_GIFT_V2 1)"
                ) in format_status(status)

        from ishowtts_live.config import load_config
        from ishowtts_live.doctor import Report, sources_report

        report = Report()
        loaded = load_config(str(r.config), r.overrides)
        await asyncio.to_thread(sources_report, report, loaded)  # doctor runs its own event loop
        out = capsys.readouterr().out
        assert f"[FAIL] source       {name} last minute: read 1" in out and report.problems == 1
    finally:
        await stop_daemon(r)
        await fake.stop()


def test_doctor_says_when_no_daemon_runs(tiny_config, tmp_path, capsys):
    """Without a running daemon doctor notes that the per-source counts need one, and counts no problem."""
    from ishowtts_live.config import load_config
    from ishowtts_live.doctor import Report, sources_report
    from tests.kit.daemon import daemon_overrides, free_port

    report = Report()
    loaded = load_config(str(tiny_config), daemon_overrides(tmp_path / "state", free_port()))
    sources_report(report, loaded)
    out = capsys.readouterr().out
    assert "[note] sources" in out and "no running daemon" in out and report.problems == 0
