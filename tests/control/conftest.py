from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import wait


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daemon_overrides(state: Path, port: int) -> list[str]:
    return [f"control.port={port}", f"state.dir={state}", "daemon.exit_when_replay_ends=false",
            "audio.output=null", "daemon.shutdown_grace_s=0"]


@dataclass
class Running:
    """A daemon running on the test's event loop, and how to reach it."""

    daemon: Any
    url: str
    token: str
    token_file: Path
    config: Path
    overrides: list[str]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def events_until(self, ws: aiohttp.ClientWebSocketResponse, wanted: str, timeout: float = 60) -> list[dict]:
        """Events received up to and including the first of type ``wanted``."""
        seen = []
        while True:
            msg = await wait(ws.receive_json(), timeout)
            seen.append(msg)
            if msg["type"] == wanted:
                return seen


async def start_daemon(engine, tiny_config: Path, tmp_path: Path, sources=None, extra: list[str] = (),
                       sink: Any = "null") -> Running:
    """The daemon on this event loop; ``sink=None`` lets it open the output its config names."""
    from ishowtts_live.app import Daemon
    from ishowtts_live.config import load_config
    from ishowtts_live.sinks.null import NullSink

    port = free_port()
    overrides = [*daemon_overrides(tmp_path / "state", port), *extra]
    loaded = load_config(str(tiny_config), overrides)
    daemon = Daemon(loaded, engine_factory=lambda _l: engine, sink=NullSink(realtime=True) if sink == "null" else sink,
                    sources=sources if sources is not None else [])
    task = asyncio.create_task(daemon.run(), name="test-daemon")
    ready = asyncio.ensure_future(daemon.ready.wait())
    await wait(asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED), 120)
    if task.done():
        task.result()  # raises what stopped it
    token_file = tmp_path / "state" / "control.token"
    running = Running(daemon, f"http://127.0.0.1:{port}", token_file.read_text().strip(), token_file, tiny_config,
                      overrides)
    running.task = task  # type: ignore[attr-defined]
    return running


async def stop_daemon(running: Running) -> None:
    running.daemon.shutdown.request("test finished")
    await wait(running.task, 60)  # type: ignore[attr-defined]


@pytest.fixture
async def running(engine, tiny_config, tmp_path):
    """A daemon with the tiny engine, a real-time null sink and no chat source."""
    r = await start_daemon(engine, tiny_config, tmp_path)
    yield r
    await stop_daemon(r)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        yield session
