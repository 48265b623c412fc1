"""Just enough of the Chrome DevTools Protocol to drive headless Chromium
from a test: launch it, open a page, evaluate JavaScript, click and type as
a user does (real input events), take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from tests.kit import wait

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--force-device-scale-factor=1", "--window-size=1920,1080", "--remote-debugging-port=0"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium process with one page."""

    def __init__(self, profile: Path, lang: str | None = None):
        self.profile = profile
        self.lang = lang  # the browser's UI language (navigator.language), e.g. "zh-CN"
        self.proc: subprocess.Popen | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    async def open(self, url: str, width: int = 1920, height: int = 1080) -> Browser:
        lang = [f"--lang={self.lang}", f"--accept-lang={self.lang}"] if self.lang else []
        self.proc = subprocess.Popen([chromium(), *FLAGS, *lang, f"--user-data-dir={self.profile}", url],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = self.profile / "DevToolsActivePort"
        for _ in range(600):  # Chromium writes its port here once it listens
            if port_file.exists() and port_file.read_text().strip():
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited: {self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        self._session = aiohttp.ClientSession()
        for _ in range(200):
            async with self._session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                pages = [t for t in await resp.json() if t["type"] == "page"]
            if pages:
                break
            await asyncio.sleep(0.05)
        self._ws = await wait(self._session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0), 30)
        self._reader = asyncio.create_task(self._read())
        # new headless counts window decorations in --window-size; fix the page's size (OBS's 1920×1080)
        await self.resize(width, height)
        return self

    async def resize(self, width: int, height: int) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                        mobile=False)

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the first element ``selector`` finds
        (scrolled into view first): it lands only if that element is visible there."""
        box = await self.wait_for(
            f"(e => {{ if (!e) return null; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();"
            f" return r.width && r.height ? [r.left + r.width / 2, r.top + r.height / 2] : null; }})"
            f"(document.querySelector({json.dumps(selector)}))")
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    async def press(self, key: str) -> None:
        """One key typed on the page (a letter such as "s")."""
        code = f"Key{key.upper()}" if len(key) == 1 and key.isalpha() else key
        await self.send("Input.dispatchKeyEvent", type="keyDown", key=key, code=code, text=key,
                        windowsVirtualKeyCode=ord(key.upper()) if len(key) == 1 else 0)
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code,
                        windowsVirtualKeyCode=ord(key.upper()) if len(key) == 1 else 0)

    async def type_text(self, text: str) -> None:
        """Text typed into the focused element (as an input method commits it)."""
        await self.send("Input.insertText", text=text)

    async def _read(self) -> None:
        async for msg in self._ws:
            data = json.loads(msg.data)
            fut = self._pending.pop(data.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(data)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        await self._ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        answer = await wait(fut, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll until ``expression`` is truthy in the page; returns its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        problem = ""
        while True:
            try:
                value = await self.evaluate(expression)
            except RuntimeError as exc:  # the page (or its DOM) is not there yet
                value, problem = None, f" (last error: {str(exc)[-300:]})"
            if value:
                return value
            if loop.time() > deadline:
                raise TimeoutError(f"page never satisfied: {expression}{problem}")
            await asyncio.sleep(0.1)

    async def font_symbols(self) -> list[str]:
        """Characters on the page (its text and CSS-generated content) that need an
        emoji or symbol font, which OBS's browser and most Jetsons lack: they render
        as missing-glyph boxes, so icons must be SVG."""
        return await self.evaluate(r"""(() => {
            const symbol = /[\u{1F000}-\u{1FAFF}\u{2600}-\u{27BF}\u{2B00}-\u{2BFF}\u{23E9}-\u{23FA}\uFE0F]/gu;
            let text = document.body.innerText;
            for (const el of document.querySelectorAll('*')) {
                for (const pseudo of ['::before', '::after']) text += getComputedStyle(el, pseudo).content;
            }
            return [...new Set(text.match(symbol) || [])];
        })()""")

    async def screenshot(self, transparent: bool = True) -> bytes:
        if transparent:
            await self.send("Emulation.setDefaultBackgroundColorOverride", color={"r": 0, "g": 0, "b": 0, "a": 0})
        else:
            await self.send("Emulation.setDefaultBackgroundColorOverride")
        shot = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 10)
