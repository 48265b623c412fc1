from __future__ import annotations

import aiohttp
import pytest

from tests.control.cdp import Browser
from tests.kit.daemon import start_daemon, stop_daemon


@pytest.fixture
async def running(tiny_config, tmp_path):
    """A daemon with a FakeSynthesizer, a real-time null sink and no chat source."""
    r = await start_daemon(tiny_config, tmp_path)
    yield r
    await stop_daemon(r)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        yield session


@pytest.fixture
async def browser(tmp_path):
    """Headless Chromium with a fresh profile (the tests that use it skip when it is not installed)."""
    b = Browser(tmp_path / "chromium-profile")
    yield b
    await b.close()
