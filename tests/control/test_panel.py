"""The streamer's control panel (/panel) in a real headless Chromium, driving a
running daemon that reads a loopback Twitch room (the real IRC protocol) and
speaks with the kit's FakeSynthesizer into a real-time null sink. Clicks and
key presses are real input events (DevTools ``Input.*``)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from tests.control.cdp import Browser, chromium
from tests.kit import next_event, until, wait
from tests.kit.daemon import fake_for, start_daemon, stop_daemon
from tests.sources.twitch.fake_server import FakeTwitchServer
from tests.sources.twitch.lines import privmsg, usernotice

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install chromium)")

ROOM, ROOM_ID = "panelroom", "8080"
LONG = "这是一条很长很长的消息，主播会在它读完之前处理掉，所以后面的话都不会被读出来。" * 2
ROWS = "document.querySelectorAll('#queue-list li')"
ROW_IDS = f"JSON.stringify([...{ROWS}].map(li => li.dataset.id))"
OPEN = "document.body.dataset.connection === 'open'"


def say(login: str, text: str, user_id: str, display: str | None = None, **tags: str) -> str:
    return privmsg(ROOM, login, text, room_id=ROOM_ID, user_id=user_id, display_name=display or login, **tags)


@pytest.fixture
async def twitch():
    server = await wait(FakeTwitchServer(channels={ROOM: ROOM_ID}).start(), 10)
    yield server
    await wait(server.stop(), 10)


async def _daemon(tiny_config, tmp_path, twitch, *extra: str):
    from ishowtts_live.config import load_config
    from ishowtts_live.sources.twitch.source import build

    loaded = load_config(str(tiny_config))
    source = build(loaded.config.sources.twitch, url=twitch.url, channel=ROOM)
    # synthesis at a fifth of real time after 0.15 s, so the health card has real figures to show
    running = await start_daemon(tiny_config, tmp_path, sources=[source],
                                 synth=lambda loaded: fake_for(loaded, rtf=0.2, latency_s=0.15),
                                 extra=["backlog.enabled=false", "filters.user_rate_per_min=0", *extra])
    await wait(twitch.wait_joined(1, 30), 40)
    return running


@pytest.fixture
async def panel_daemon(tiny_config, tmp_path, twitch):
    """A daemon reading the loopback Twitch room; the config file itself blocks the word 广告."""
    running = await _daemon(tiny_config, tmp_path, twitch, 'filters.blocked_words=["广告"]')
    yield running
    await stop_daemon(running)


def panel_url(running, token: str | None = None) -> str:
    return f"{running.url}/panel#token={running.token if token is None else token}"


async def open_panel(browser, running, width: int = 1280, height: int = 900) -> None:
    await browser.open(panel_url(running), width, height)
    await browser.wait_for(OPEN)


async def queue_ids(running) -> list[str]:
    return [item.id for item in running.controls.queue_items()]


async def rows_are(browser, ids: list[str]) -> None:
    await browser.wait_for(f"{ROW_IDS} === {json.dumps(json.dumps(ids, separators=(',', ':')))}")


async def test_panel_shows_queue_now_speaking_moderation_and_health(panel_daemon, twitch, browser):
    """With the token the page lists the waiting messages of a paused daemon in
    speaking order (user, kind with amount, text as written and as spoken),
    the message being spoken, moderation (the config file's word locked), and
    health (the source connected, counts, the last message's timings); it fits
    at 1280 px in two columns and at 300 px in one, without sideways scrolling."""
    d = panel_daemon
    events = d.daemon.bus.subscribe()
    await wait(twitch.send(say("anna", "第一条消息，读完就好。", "11", "Anna")), 10)
    await next_event(events, "spoken", timeout=60)  # gives the health card a timing to show
    await wait(twitch.send(say("coolguy", LONG, "123", "CoolGuy")), 10)
    await next_event(events, "speaking", timeout=60)
    d.controls.pause()  # the one being spoken goes on; everything after it waits
    d.controls.mute("troll")
    await wait(twitch.send(
        say("lina", "first time here, love the voice!", "21", "Lina"),
        say("bigfan", "Cheer100 主播加油！", "22", "大粉丝", bits="100"),
        usernotice(ROOM, "newsub", "sub", "newsub subscribed at Tier 1.", "来了来了", room_id=ROOM_ID),
        say("coolguy", "我还有第二条消息。", "123", "CoolGuy")), 10)
    await until(lambda: len(d.daemon.queue) == 4, 30, "four messages waiting")
    d.controls.say("欢迎新朋友！")

    await open_panel(browser, d)
    ids = await queue_ids(d)
    assert len(ids) == 5
    await rows_are(browser, ids)
    assert await browser.evaluate("location.hash") == ""  # the token left the address bar
    assert await browser.evaluate("sessionStorage.getItem('ishowtts-live.token')") == d.token
    items = {i.id: i for i in d.controls.queue_items()}
    for n, item_id in enumerate(ids):
        row = f"document.querySelectorAll('#queue-list li')[{n}]"
        user = await browser.evaluate(f"{row}.querySelector('.user').textContent")
        kind = await browser.evaluate(f"{row}.querySelector('.kind').textContent")
        written = await browser.evaluate(f"{row}.querySelector('.written').textContent")
        item = items[item_id]
        assert written == item.text and user == (item.user_name or "announcement"), (user, item)
        if item.amount:
            assert kind == f"super chat 100 BITS" and await browser.evaluate(f"{row}.classList.contains('paid')")
        if item.speak != item.text:
            assert await browser.evaluate(f"{row}.querySelector('.spoken-as').textContent") == item.speak
    assert "membership" in [await browser.evaluate(f"document.querySelectorAll('#queue-list .kind')[{n}].textContent")
                            for n in range(5)]

    await browser.wait_for("document.getElementById('now-user').textContent === 'CoolGuy'")
    speaking = d.controls.status().speaking
    assert await browser.evaluate("document.getElementById('now-text').textContent") == speaking.speak
    await browser.wait_for("/^\\d+s \\/ \\d+s$/.test(document.getElementById('now-time').textContent)")
    assert await browser.evaluate("document.getElementById('pause-label').textContent") == "Resume"
    await browser.wait_for("document.querySelector('#blocked li.locked')?.dataset.entry === '广告'")
    assert await browser.evaluate("document.querySelector('#blocked li.locked button')") is None  # locked: no remove
    assert await browser.evaluate("document.querySelector('#muted li').dataset.entry") == "troll"
    source = f"document.querySelector('#sources li[data-source=\"twitch:{ROOM}\"]')"
    await browser.wait_for(f"{source}?.dataset.state === 'connected'")
    assert await browser.evaluate("document.getElementById('engine').textContent") == "ready"
    assert await browser.evaluate("document.querySelector('[data-count=spoken] dd').textContent") == "1"
    assert await browser.evaluate("document.querySelector('[data-count=waiting] dd').textContent") == "5"
    assert await browser.evaluate("document.querySelectorAll('#recent tr').length") == 1
    assert await browser.evaluate("document.querySelector('#recent td').textContent") == "Anna"
    timing = d.controls.status().recent[0]
    assert timing.rtf > 0 and timing.first_audio_s > 0 and timing.latency_s >= timing.first_audio_s
    cells = await browser.evaluate("[...document.querySelectorAll('#recent td')].map(td => td.textContent)")
    # the page rounds as JavaScript's toFixed does (half away from zero): compare within half a last digit
    shown = [float(cell.rstrip("s")) for cell in cells[1:]]
    wanted = [timing.audio_s, timing.rtf, timing.first_audio_s, timing.latency_s]
    assert cells[0] == "Anna" and all(abs(a - b) <= 0.0501 for a, b in zip(shown, wanted)), (cells, timing)

    assert await browser.font_symbols() == []  # every icon is inline SVG
    assert await browser.evaluate("document.querySelector('#skip svg').getBoundingClientRect().width") == 16

    # 1280 px: two columns, the queue beside the moderation card
    boxes = await browser.evaluate("['queue', 'moderation', 'health'].map(id => "
                                   "(r => [r.left, r.right])(document.getElementById(id).getBoundingClientRect()))")
    assert boxes[0][1] <= boxes[1][0] and boxes[1] == boxes[2], boxes
    await no_sideways_scroll(browser, 1280)
    wide = await browser.screenshot(transparent=False)
    save_docs_screenshot(wide, "PANEL_SCREENSHOT", (1280, 900))

    # 300 px (a narrow OBS dock): one column, every button within the width
    await browser.resize(300, 900)
    await browser.wait_for("(r => r.right <= 300)(document.getElementById('queue').getBoundingClientRect())")
    boxes = await browser.evaluate("['now', 'controls', 'queue'].map(id => "
                                   "(r => [r.left, r.top])(document.getElementById(id).getBoundingClientRect()))")
    assert boxes[0][0] == boxes[1][0] == boxes[2][0] and boxes[0][1] < boxes[1][1] < boxes[2][1], boxes
    await no_sideways_scroll(browser, 300)
    narrow = await browser.screenshot(transparent=False)
    save_docs_screenshot(narrow, "PANEL_DOCK_SCREENSHOT", (300, 900))
    events.close()


async def no_sideways_scroll(browser, width: int) -> None:
    """Nothing is wider than the page, and every visible button lies within it."""
    assert await browser.evaluate("document.documentElement.scrollWidth") <= width
    outside = await browser.evaluate(
        f"[...document.querySelectorAll('button')].filter(b => b.offsetParent !== null)"
        f".map(b => b.getBoundingClientRect()).filter(r => r.left < 0 || r.right > {width}).length")
    assert outside == 0


async def test_skip_button_and_key_cut_the_message_being_spoken(panel_daemon, twitch, browser, http):
    """Skip (the button, then the S key) cuts the message being spoken: the
    daemon's event stream shows ``skipped`` by the moderator each time."""
    d = panel_daemon
    await open_panel(browser, d)
    async with http.ws_connect(d.url + "/api/events", headers=d.auth) as ws:
        await wait(twitch.send(say("coolguy", LONG, "123", "CoolGuy"), say("lina", LONG, "21", "Lina")), 10)
        first = (await d.events_until(ws, "speaking"))[-1]
        await browser.wait_for("!document.getElementById('now-body').hidden")
        await browser.click("#skip")
        skipped = (await d.events_until(ws, "skipped"))[-1]
        assert (skipped["id"], skipped["reason"]) == (first["id"], "moderator")
        second = (await d.events_until(ws, "speaking"))[-1]
        await browser.wait_for(f"document.getElementById('now-user').textContent === {json.dumps(second['user_name'])}")
        await browser.press("s")
        skipped = (await d.events_until(ws, "skipped"))[-1]
        assert (skipped["id"], skipped["reason"]) == (second["id"], "moderator")
    await browser.wait_for("document.getElementById('now-body').hidden")
    assert d.daemon.playback.spoken == 0


async def test_remove_takes_exactly_one_queued_message_out(panel_daemon, twitch, browser):
    """Remove on a row takes that message, and only it, out of the queue; the page follows."""
    d = panel_daemon
    d.controls.pause()
    await open_panel(browser, d)
    await wait(twitch.send(*(say(f"user{n}", f"第{n}条消息。", str(100 + n), f"User{n}") for n in range(3))), 10)
    await until(lambda: len(d.daemon.queue) == 3, 30, "three messages waiting")
    ids = await queue_ids(d)
    await rows_are(browser, ids)
    await browser.click(f"#queue-list li[data-id='{ids[1]}'] button.remove")
    await until(lambda: len(d.daemon.queue) == 2, 30, "one message removed")
    assert await queue_ids(d) == [ids[0], ids[2]]
    await rows_are(browser, [ids[0], ids[2]])
    removal = [e for e in d.daemon.bus.recent if e["type"] == "moderation"][-1]
    assert (removal["action"], removal["target"], removal["purged"]) == ("remove", ids[1], 1)


async def test_mute_user_purges_their_messages_and_cuts_the_one_spoken(panel_daemon, twitch, browser):
    """Mute user on a queued row mutes them by platform id (the rule `ctl mute` uses):
    their waiting messages go, the one being spoken is cut (reason muted), others stay."""
    d = panel_daemon
    events = d.daemon.bus.subscribe()
    await open_panel(browser, d)
    await wait(twitch.send(say("coolguy", LONG, "123", "CoolGuy")), 10)
    await next_event(events, "speaking", timeout=60)
    d.controls.pause()
    await wait(twitch.send(say("coolguy", "我还有第二条消息。", "123", "CoolGuy"),
                           say("lina", "I stay in the queue.", "21", "Lina")), 10)
    await until(lambda: len(d.daemon.queue) == 2, 30, "two messages waiting")
    ids = await queue_ids(d)
    await rows_are(browser, ids)
    cool = next(i for i in d.controls.queue_items() if i.user_name == "CoolGuy")
    await browser.click(f"#queue-list li[data-id='{cool.id}'] button.mute")
    skipped = await next_event(events, "skipped", timeout=30)
    assert (skipped["user_name"], skipped["reason"]) == ("CoolGuy", "muted")
    assert [i.user_name for i in d.controls.queue_items()] == ["Lina"]
    assert "twitch:123" in d.controls.status().muted_users
    await browser.wait_for("document.querySelector('#muted li span')?.textContent === 'CoolGuy · twitch:123'")
    await rows_are(browser, [i for i in ids if i != cool.id])
    events.close()


async def test_pause_key_stops_the_queue_and_resume_goes_on(panel_daemon, twitch, browser):
    """P pauses: a new message waits (the page lists it, the daemon reports paused);
    the Resume button lets it be spoken."""
    d = panel_daemon
    events = d.daemon.bus.subscribe()
    await open_panel(browser, d)
    await browser.press("p")
    await next_event(events, "paused", timeout=30)
    assert d.controls.status().paused
    await browser.wait_for("document.getElementById('pause-label').textContent === 'Resume'")
    await wait(twitch.send(say("lina", "等一下再读我。", "21", "Lina")), 10)
    queued = await next_event(events, "queued", timeout=30)
    await rows_are(browser, [queued["id"]])
    assert d.controls.speaking() is None and len(d.daemon.queue) == 1
    await browser.click("#pause")
    await next_event(events, "resumed", timeout=30)
    spoken = await next_event(events, "spoken", timeout=60)
    assert spoken["id"] == queued["id"]
    await browser.wait_for("document.getElementById('pause-label').textContent === 'Pause'")
    events.close()


async def test_voice_nfe_and_announcement_reach_the_daemon(panel_daemon, browser):
    """The voice list comes from the daemon; choosing one switches the daemon's
    voice; NFE and an announcement typed in the page arrive too."""
    d = panel_daemon
    d.controls.pause()
    await open_panel(browser, d)
    voices = d.controls.voices()
    assert "zh16" in voices.voices
    await browser.wait_for(f"JSON.stringify([...document.getElementById('voice').options].map(o => o.value)) === "
                           f"{json.dumps(json.dumps(voices.voices, separators=(',', ':')))}")
    await browser.evaluate("(s => { s.value = 'zh16'; s.dispatchEvent(new Event('change')); })"
                           "(document.getElementById('voice'))")
    await until(lambda: d.controls.status().voice == "zh16", 30, "the voice switched")
    await browser.evaluate("(n => { n.value = '12'; n.dispatchEvent(new Event('change')); })"
                           "(document.getElementById('nfe'))")
    await until(lambda: d.controls.status().nfe_step == 12, 30, "nfe set")
    await browser.click("#say-text")
    await browser.type_text("大家好，我是主播。")
    await browser.click("#say button[type=submit]")
    await until(lambda: [i.text for i in d.controls.queue_items()] == ["大家好，我是主播。"], 30, "announcement queued")
    await browser.wait_for("document.getElementById('say-text').value === ''")


async def test_moderation_lists_add_and_remove_and_a_409_is_shown(panel_daemon, browser):
    """Blocked words and muted users are added and removed from the page; adding
    what the config file sets shows the daemon's 409 message and changes nothing."""
    d = panel_daemon
    await open_panel(browser, d)
    await browser.click("#block-input")
    await browser.type_text("刷屏")
    await browser.click("#block-form button")
    await until(lambda: "刷屏" in d.controls.status().blocked_words, 30, "word blocked")
    await browser.wait_for("[...document.querySelectorAll('#blocked li')].some(li => li.dataset.entry === '刷屏')")
    await browser.click("#blocked li[data-entry='刷屏'] button")
    await until(lambda: "刷屏" not in d.controls.status().blocked_words, 30, "word unblocked")
    await browser.click("#block-input")
    await browser.type_text("广告")
    await browser.click("#block-form button")
    await browser.wait_for("!document.getElementById('toast').hidden")
    assert "config file" in await browser.evaluate("document.getElementById('toast').textContent")
    await browser.click("#mute-input")
    await browser.type_text("Spammer")
    await browser.click("#mute-form button")
    await until(lambda: "spammer" in d.controls.status().muted_users, 30, "user muted")
    await browser.click("#muted li[data-entry='spammer'] button")
    await until(lambda: "spammer" not in d.controls.status().muted_users, 30, "user unmuted")


async def test_health_follows_the_source_and_the_engine_without_polling(panel_daemon, twitch, browser):
    """The source's outage (reconnecting, its last error) and a degraded engine show
    on the page from the event stream alone, and clear when they recover."""
    d = panel_daemon
    await open_panel(browser, d)
    source = f"document.querySelector('#sources li[data-source=\"twitch:{ROOM}\"]')"
    await browser.wait_for(f"{source}?.dataset.state === 'connected'")
    requests = await status_calls(d)
    await wait(twitch.refuse(), 10)
    await browser.wait_for(f"{source}?.dataset.state === 'reconnecting'", timeout=30)
    assert "last error" in await browser.evaluate(f"{source}.querySelector('.error').textContent")
    d.daemon.synth.set_health("degraded", "slow GPU")
    await browser.wait_for("document.getElementById('engine').textContent === 'degraded'")
    assert await browser.evaluate("document.getElementById('engine-detail').textContent") == "slow GPU"
    d.daemon.synth.set_health("ready")
    await wait(twitch.accept(), 10)
    await browser.wait_for(f"{source}?.dataset.state === 'connected'", timeout=60)
    await browser.wait_for("document.getElementById('engine').textContent === 'ready'")
    # each refresh followed an event: far fewer status reads than a poll would make
    assert await status_calls(d) - requests < 40


async def status_calls(running) -> int:
    from prometheus_client.parser import text_string_to_metric_families

    text = running.controls.metrics_text(0).decode()
    return int(sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "ishowtts_control_requests_total" and s.labels["route"] == "/api/status"))


async def test_connection_loss_shows_and_the_page_reconnects(tiny_config, tmp_path, twitch, browser):
    """When the daemon stops, the page says the connection is lost; it comes back
    by itself when the daemon is up again (same port, same token) and follows it."""
    first = await _daemon(tiny_config, tmp_path, twitch)
    port = next(o for o in first.overrides if o.startswith("control.port="))
    await open_panel(browser, first)
    await stop_daemon(first)
    await browser.wait_for("document.body.dataset.connection === 'lost'", timeout=30)
    assert await browser.evaluate("document.getElementById('conn').textContent") == "connection lost — reconnecting…"
    assert await browser.evaluate("document.getElementById('app').inert") is True
    second = await _daemon(tiny_config, tmp_path, twitch, port)
    try:
        assert second.token == first.token
        await browser.wait_for(OPEN, timeout=30)
        second.controls.pause()
        second.controls.say("又回来了。")
        await browser.wait_for("[...document.querySelectorAll('#queue-list .written')].some(p => p.textContent === '又回来了。')")
    finally:
        await stop_daemon(second)


async def test_wrong_or_missing_token_shows_only_the_help(running, tmp_path):
    """A wrong token: the page shows how to get the right one (in the browser's
    language, here Chinese), no API call succeeds and nothing changes; without
    a token it shows the help too."""
    from prometheus_client.parser import text_string_to_metric_families

    browser = Browser(tmp_path / "zh-profile", lang="zh-CN")
    try:
        await browser.open(panel_url(running, "not-the-token"), 300, 700)
        await browser.wait_for("document.body.dataset.auth === 'refused'")
        assert await browser.evaluate("document.getElementById('app').hidden") is True
        assert await browser.evaluate("document.getElementById('help').hidden") is False
        assert "令牌" in await browser.evaluate("document.getElementById('help').textContent")
        assert "ctl panel" in await browser.evaluate("document.getElementById('help').textContent")
        assert await browser.evaluate("sessionStorage.getItem('ishowtts-live.token')") is None
        await browser.press("p")  # shortcuts do nothing without the panel
        await browser.press("s")
        await browser.send("Page.navigate", url=f"{running.url}/panel")
        await browser.wait_for("document.body.dataset.auth === 'missing'")
        assert "没有拿到令牌" in await browser.evaluate("document.getElementById('help-why').textContent")
    finally:
        await browser.close()
    text = running.controls.metrics_text(0).decode()
    calls = [(s.labels["route"], s.labels["status"]) for f in text_string_to_metric_families(text) for s in f.samples
             if s.name == "ishowtts_control_requests_total" and s.labels["route"].startswith("/api")]
    assert calls and all(status == "401" for _, status in calls), calls
    assert not running.controls.status().paused


async def test_the_page_speaks_english_to_an_english_browser(running, browser):
    """An English browser gets English labels; ?lang=zh switches to Chinese."""
    await open_panel(browser, running, 300, 700)
    assert await browser.evaluate("document.getElementById('skip').textContent") == "SkipS"
    assert await browser.evaluate("document.documentElement.lang") == "en"
    await browser.send("Page.navigate", url=f"{running.url}/panel?lang=zh")  # the token is in sessionStorage now
    await browser.wait_for("document.documentElement.lang === 'zh-CN'")
    await browser.wait_for(OPEN)
    assert await browser.evaluate("document.getElementById('skip').textContent") == "跳过S"


def save_docs_screenshot(png: bytes, variable: str, size: tuple[int, int]) -> None:
    """With ``variable``=path set, keep this screenshot for the docs."""
    image = Image.open(io.BytesIO(png))
    assert image.size == size
    target = os.environ.get(variable)
    if target:
        image.convert("RGB").save(Path(target))


async def test_panel_opened_while_the_daemon_starts(tiny_config, tmp_path, browser):
    """Opened during the warm-up (the queue answers 503 then), the panel
    connects and shows the engine starting; once the daemon is ready it shows
    it ready and lists the voices, without a reload."""
    def slow(loaded):
        synth = fake_for(loaded, warmup_steps=2)
        synth.hold_warmup()  # each step waits for the test
        return synth

    running = await start_daemon(tiny_config, tmp_path, synth=slow, ready=False)
    try:
        await until(lambda: running.daemon.startup.step == 1, 60, "the first warm-up step")
        await open_panel(browser, running)
        await browser.wait_for("document.getElementById('engine').textContent === 'starting'")
        running.daemon.synth.release_warmup(2)
        await wait(running.daemon.ready.wait(), 60)
        await browser.wait_for("document.getElementById('engine').textContent === 'ready'")
        await browser.wait_for("document.getElementById('voice').options.length > 0")
    finally:
        await stop_daemon(running)
