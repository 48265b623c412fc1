"""What the panel added to the control API, over real HTTP against a running
daemon: ``DELETE /api/queue/{id}`` and ``ctl remove``, ``ctl panel``,
``/api/voices``, the panel's static page, the WebSocket token offered as a
subprotocol, and the status fields the panel shows."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import aiohttp
import pytest

from tests.control.test_ctl import ctl
from tests.kit import next_event, until, wait
from tests.kit.daemon import start_daemon, stop_daemon

FOREIGN = "https://evil.example"
LONG = "这是一条很长很长的消息，我们会在它说完之前把它移除，所以它不会被完整地读出来。" * 2


def paused_with(running, *texts: str) -> list[str]:
    """Pause and queue announcements; their ids in speaking order."""
    running.controls.pause()
    for text in texts:
        assert running.controls.say(text).kept
    return [item.id for item in running.controls.queue_items()]


async def test_delete_removes_exactly_one_queued_message(running, http):
    """DELETE /api/queue/{id} takes that message out and leaves the others in order;
    the event stream shows it as a moderation ``remove`` and a ``purged`` drop."""
    ids = paused_with(running, "第一条。", "第二条。", "第三条。")
    sub = running.daemon.bus.subscribe()
    async with http.delete(f"{running.url}/api/queue/{ids[1]}", headers=running.auth) as resp:
        assert resp.status == 200 and await resp.json() == {"ok": True, "count": 1, "cut": False}
    assert [i.id for i in running.controls.queue_items()] == [ids[0], ids[2]]
    dropped = await next_event(sub, "dropped", timeout=10)
    moderation = await next_event(sub, "moderation", timeout=10)
    assert (dropped["id"], dropped["reason"]) == (ids[1], "purged")
    assert (moderation["action"], moderation["target"], moderation["purged"]) == ("remove", ids[1], 1)
    sub.close()


async def test_delete_of_the_message_being_spoken_cuts_it(running, http):
    """Its id names the message being spoken: it is cut (``skipped``, reason removed), nothing else."""
    sub = running.daemon.bus.subscribe()
    running.controls.say(LONG)
    speaking = await next_event(sub, "speaking", timeout=60)
    async with http.delete(f"{running.url}/api/queue/{speaking['id']}", headers=running.auth) as resp:
        assert await resp.json() == {"ok": True, "count": 0, "cut": True}
    skipped = await next_event(sub, "skipped", timeout=30)
    assert (skipped["id"], skipped["reason"]) == (speaking["id"], "removed")
    sub.close()


@pytest.mark.parametrize(("path", "headers", "status", "field"), [
    ("/api/queue/{id}", "none", 401, "authorization"),
    ("/api/queue/{id}", "wrong", 401, "authorization"),
    ("/api/queue/{id}", "auth+foreign", 403, "origin"),
    ("/api/queue/no-such-id", "auth", 404, "id"),
    ("/api/queue/%20%20", "auth", 400, "id"),
    ("/api/queue/" + "x" * 201, "auth", 400, "id"),
])
async def test_delete_refusals_change_nothing(running, http, path, headers, status, field):
    """No or a wrong token: 401; another site: 403; an id nothing has: 404; a blank
    or over-long id: 400 naming it; the queue keeps every message."""
    ids = paused_with(running, "第一条。", "第二条。")
    headers = {"none": {}, "wrong": {"Authorization": "Bearer wrong"}, "auth": running.auth,
               "auth+foreign": {**running.auth, "Origin": FOREIGN}}[headers]
    async with http.delete(running.url + path.format(id=ids[0]), headers=headers) as resp:
        answer = await resp.json()
        assert resp.status == status, answer
    assert answer["field"] == field and answer["error"].startswith(f"{field}: "), answer
    assert [i.id for i in running.controls.queue_items()] == ids


async def test_ctl_remove(running):
    """`ctl remove ID` removes that message (one line); an id nothing has is exit 1
    with one line; a blank id is a usage error (exit 2); `ctl queue` shows the ids."""
    ids = paused_with(running, "第一条。", "第二条。")
    rc, out, err = await ctl(running, "queue")
    assert rc == 0 and out.splitlines()[0].split() == ["#", "ID", "USER", "KIND", "WAIT", "TEXT"]
    assert [line.split()[1] for line in out.splitlines()[1:3]] == ids
    assert await ctl(running, "remove", ids[0]) == (0, f"removed {ids[0]!r} from the queue\n", "")
    assert [i.id for i in running.controls.queue_items()] == ids[1:]
    rc, out, err = await ctl(running, "remove", "no-such-id")
    assert (rc, out) == (1, "") and len(err.splitlines()) == 1 and "no waiting or speaking message" in err, err
    rc, out, err = await ctl(running, "remove", "  ")
    assert (rc, out) == (2, "") and err.startswith("ishowtts-live: error: remove: ID must not be blank"), err
    rc, _, err = await ctl(running, "remove", "x" * 201)
    assert rc == 2 and "longer than 200" in err
    assert [i.id for i in running.controls.queue_items()] == ids[1:]


async def test_ctl_panel_prints_a_url_whose_fragment_token_works(running, http):
    """`ctl panel` prints http://HOST:PORT/panel#token=…: the page is there and the token opens the API."""
    rc, out, err = await ctl(running, "panel")
    assert (rc, err) == (0, "") and len(out.splitlines()) == 1
    url = urlsplit(out.strip())
    assert f"{url.scheme}://{url.netloc}" == running.url and url.path == "/panel"
    assert url.fragment == f"token={quote(running.token, safe='')}"
    async with http.get(running.url + "/panel") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["Referrer-Policy"] == "no-referrer"
    async with http.get(running.url + "/api/status",
                        headers={"Authorization": f"Bearer {url.fragment.removeprefix('token=')}"}) as resp:
        assert resp.status == 200


async def test_ctl_panel_without_a_daemon_or_over_a_unix_socket(tiny_config, tmp_path):
    """The daemon stopped: the URL still prints (exit 0) with a note that it is not
    running; over a Unix socket a browser cannot connect: a usage error."""
    r = await start_daemon(tiny_config, tmp_path)
    await stop_daemon(r)
    rc, out, err = await ctl(r, "panel")
    assert rc == 0 and out.strip() == f"{r.url}/panel#token={r.token}"
    assert err.strip() == "ishowtts-live: the daemon is not running now; the panel connects once it is"
    rc, out, err = await ctl(r, "panel", "--url", f"unix:{tmp_path}/ctl.sock")
    assert (rc, out) == (2, "") and "needs the control server on TCP" in err


async def test_panel_files_are_public_but_never_for_another_site(running, http):
    """/panel, its CSS and JS load without a token; another Origin gets 403; other names are 404."""
    for path, kind in [("/panel", "text/html"), ("/panel/panel.js", "text/javascript"),
                       ("/panel/panel.css", "text/css")]:
        async with http.get(running.url + path) as resp:
            assert resp.status == 200 and resp.content_type == kind, path
            assert resp.headers["X-Frame-Options"] == "DENY"
        async with http.get(running.url + path, headers={"Origin": FOREIGN}) as resp:
            assert resp.status == 403, path
    for path in ("/panel/overlay.js", "/panel/nope.js", "/overlay/panel.js"):
        async with http.get(running.url + path) as resp:
            assert resp.status == 404, path


async def test_event_socket_takes_the_token_as_a_subprotocol(running, http):
    """A browser cannot set headers on a WebSocket: the token offered as
    ``bearer.<token>`` opens /api/events (answered with ``ishowtts-live`` only, the
    token never echoed); a wrong one is 401 and another site's page 403."""
    url = running.url + "/api/events"
    async with http.ws_connect(url, protocols=("ishowtts-live", f"bearer.{running.token}")) as ws:
        assert ws.protocol == "ishowtts-live"
        running.controls.pause()
        assert (await wait(ws.receive_json(), 10))["type"] == "paused"
    for protocols, origin, status in [(("ishowtts-live", "bearer.wrong"), None, 401),
                                      (("ishowtts-live",), None, 401),
                                      (("ishowtts-live", f"bearer.{running.token}"), FOREIGN, 403)]:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await wait(http.ws_connect(url, protocols=protocols, origin=origin), 10)
        assert info.value.status == status
    # an ordinary request does not take a token from that header
    async with http.get(running.url + "/api/status",
                        headers={"Sec-WebSocket-Protocol": f"bearer.{running.token}"}) as resp:
        assert resp.status == 401


async def test_voices_lists_the_daemons_voices(running, http):
    """GET /api/voices: every voice the config knows, the one in use and the default; it follows a switch."""
    async with http.get(running.url + "/api/voices", headers=running.auth) as resp:
        voices = await resp.json()
    assert voices["voice"] == voices["default"] == "default" and {"default", "zh16"} <= set(voices["voices"])
    await running.controls.set_voice("zh16")
    async with http.get(running.url + "/api/voices", headers=running.auth) as resp:
        assert (await resp.json())["voice"] == "zh16"
    async with http.get(running.url + "/api/voices") as resp:
        assert resp.status == 401


async def test_status_has_what_the_panel_shows(running, http):
    """/api/status carries the speaking message's progress, the engine's health, the
    config file's locked entries and each spoken message's RTF and time to first audio;
    the event stream says when the message being spoken is wholly synthesized."""
    sub = running.daemon.bus.subscribe()
    running.controls.say("第一条消息。")
    synthesized = await next_event(sub, "synthesized", timeout=60)
    spoken = await next_event(sub, "spoken", timeout=60)
    assert synthesized["id"] == spoken["id"] and synthesized["audio_s"] == spoken["audio_s"] > 0
    assert spoken["first_audio_s"] >= 0 and spoken["latency_s"] >= spoken["first_audio_s"]
    running.controls.say(LONG)
    await next_event(sub, "speaking", timeout=60)
    await until(lambda: running.controls.status().speaking.synthesized, 30, "the long message synthesized")
    async with http.get(running.url + "/api/status", headers=running.auth) as resp:
        status = await resp.json()
    speaking = status["speaking"]
    assert speaking["text"] == LONG and speaking["audio_s"] > 10 and 0 <= speaking["elapsed_s"] < speaking["audio_s"]
    assert status["engine"] == {"state": "ready", "detail": ""}
    assert [m["id"] for m in status["recent"]] == [spoken["id"]]
    assert status["recent"][0]["audio_s"] == spoken["audio_s"] and status["recent"][0]["user_name"] == "moderator"
    assert status["config_muted_users"] == [] and status["config_blocked_words"] == []
    sub.close()


async def test_health_events_follow_the_engine(running):
    """A change of the engine's health reaches the event stream as ``health`` without anyone asking."""
    sub = running.daemon.bus.subscribe()
    running.daemon.synth.set_health("degraded", "slow")
    event = await next_event(sub, "health", timeout=10)
    assert event["engine"] == {"state": "degraded", "detail": "slow"}
    running.daemon.synth.set_health("ready")
    assert (await next_event(sub, "health", timeout=10))["engine"]["state"] == "ready"
    sub.close()
