"""The overlay page in a real headless Chromium, following a running daemon."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from ishowtts_live.sources.replay import ReplaySource
from tests.control.cdp import chromium
from tests.kit.daemon import start_daemon, stop_daemon

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install chromium)")

CHAT = [
    {"t": 0, "user_name": "小明", "text": "主播晚上好！今天打算玩到几点呀？这局看起来很有意思。"},
    {"t": 0, "user_name": "阿强", "text": "感谢主播的精彩直播，加油！", "kind": "superchat", "amount": 30},
    {"t": 0, "user_name": "Lina", "text": "first time here, love the voice!"},
    {"t": 0, "user_name": "老王", "text": "下一把带带我吧"},
]
CAPTION = "document.getElementById('caption')"
TEXT = "document.getElementById('caption-text').textContent"
USER = "document.getElementById('caption-user').textContent"
NEXT = "[...document.querySelectorAll('#next-list li')].map(li => li.lastChild.textContent)"


def pixels(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.size == (1920, 1080)
    return image.convert("RGBA")


@pytest.fixture
async def chat_daemon(tiny_config, tmp_path):
    log = tmp_path / "chat.jsonl"
    log.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in CHAT), encoding="utf-8")
    r = await start_daemon(tiny_config, tmp_path, sources=[ReplaySource(log, speed=0)])
    yield r
    await stop_daemon(r)


async def test_overlay_shows_the_message_being_spoken_and_the_next(chat_daemon, browser):
    """While a chat message is spoken, the rendered page shows its user and text
    and the next ones in queue order, over a transparent background."""
    d = chat_daemon.daemon
    # hold: the caption stays up after speech, so pausing below freezes what the page must show
    await browser.open(f"{chat_daemon.url}/overlay?next=3&hold=600000")
    await browser.wait_for("document.getElementById('overlay').dataset.connection === 'open'")
    await browser.wait_for(f"{CAPTION}.dataset.visible === 'true'")
    d.controls.pause()  # nothing more leaves the queue; the one being spoken finishes
    await browser.wait_for("!document.getElementById('paused').hidden")
    # the badge's icon is drawn (inline SVG), not a glyph a symbol font would have to supply
    assert await browser.evaluate("document.querySelector('#paused svg').getBoundingClientRect().width") > 10
    assert await browser.font_symbols() == []
    spoken = [e for e in d.bus.recent if e["type"] == "speaking"][-1]
    assert spoken["user_name"] in {c["user_name"] for c in CHAT}
    said = next(c["text"] for c in CHAT if c["user_name"] == spoken["user_name"])
    await browser.wait_for(f"{TEXT} === {json.dumps(said)}")
    assert await browser.evaluate(USER) == spoken["user_name"]
    waiting = [u.event.text for u in d.controls.waiting(3)]
    assert waiting, "the replay should leave messages waiting behind the first"
    assert said not in waiting
    as_js = json.dumps(waiting, ensure_ascii=False, separators=(",", ":"))  # JSON.stringify's spelling
    await browser.wait_for(f"JSON.stringify({NEXT}) === {json.dumps(as_js)}")
    assert await browser.evaluate("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
    assert await browser.evaluate("getComputedStyle(document.getElementById('caption-text')).fontSize") == "46px"

    await browser.wait_for(f"getComputedStyle({CAPTION}).opacity === '1'")  # its fade-in has ended
    image = pixels(await browser.screenshot())
    assert image.getpixel((5, 5))[3] == 0 and image.getpixel((1915, 5))[3] == 0  # transparent away from the panels
    box = await browser.evaluate(f"(r => [r.left, r.top, r.right, r.bottom])({CAPTION}.getBoundingClientRect())")
    left, top, right, bottom = (int(v) for v in box)
    assert bottom <= 1080 and right <= 1920 and top > 540  # in the lower half, on screen
    assert image.getpixel(((left + right) // 2, top + 6))[3] > 150, (box, image.getpixel(((left + right) // 2, top + 6)))  # the caption panel is opaque enough
    save_docs_screenshot(image)


async def test_caption_fades_after_speech_and_chat_markup_stays_text(running, browser):
    """Markup in a message is shown as text (never run); after speech ends, the caption hides."""
    text = "<b>粗体</b><img src=x onerror=\"document.title='pwned'\">"
    await browser.open(f"{running.url}/overlay?hold=300")
    await browser.wait_for("document.getElementById('overlay').dataset.connection === 'open'")
    assert running.controls.say(text).kept
    await browser.wait_for(f"{CAPTION}.dataset.visible === 'true'")
    assert await browser.evaluate(TEXT) == text
    assert await browser.evaluate("document.querySelectorAll('#caption b, #caption img').length") == 0
    assert await browser.evaluate("document.title") == "ishowtts-live overlay"
    running.controls.skip()
    await browser.wait_for(f"{CAPTION}.dataset.visible === 'false'")


async def test_overlay_reconnects_after_the_daemon_restarts(tiny_config, tmp_path, browser):
    """When the daemon goes away the overlay clears itself, and it picks up a new daemon on the same port."""
    first = await start_daemon(tiny_config, tmp_path)
    port_override = next(o for o in first.overrides if o.startswith("control.port="))
    await browser.open(f"{first.url}/overlay")
    await browser.wait_for("document.getElementById('overlay').dataset.connection === 'open'")
    await stop_daemon(first)
    await browser.wait_for("document.getElementById('overlay').dataset.connection === 'closed'")
    second = await start_daemon(tiny_config, tmp_path / "again", extra=[port_override])
    try:
        await browser.wait_for("document.getElementById('overlay').dataset.connection === 'open'", timeout=30)
        second.controls.say("又回来了。")
        await browser.wait_for(f"{TEXT} === '又回来了。'")
    finally:
        await stop_daemon(second)


def save_docs_screenshot(image: Image.Image) -> None:
    """With OVERLAY_SCREENSHOT=path, keep the rendered overlay over a dark
    backdrop (as it looks on a stream) for the docs."""
    target = os.environ.get("OVERLAY_SCREENSHOT")
    if not target:
        return
    backdrop = Image.linear_gradient("L").resize(image.size).convert("RGBA")
    backdrop = Image.blend(Image.new("RGBA", image.size, (40, 60, 90, 255)), backdrop, 0.35)
    Image.alpha_composite(backdrop, image).convert("RGB").save(Path(target))
