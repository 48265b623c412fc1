"""A daemon on the test's own event loop (the composition root, in process),
and how to reach its control API."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.kit.synth import FakeSynthesizer
from tests.kit.waiting import wait


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
    task: asyncio.Task = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def controls(self) -> Any:
        return self.daemon.controls

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def events_until(self, ws: aiohttp.ClientWebSocketResponse, wanted: str, timeout: float = 60) -> list[dict]:
        """Events received on the WebSocket up to and including the first of type ``wanted``."""
        seen = []
        while True:
            msg = await wait(ws.receive_json(), timeout)
            seen.append(msg)
            if msg["type"] == wanted:
                return seen


def fake_for(loaded: Any, **kwargs: Any) -> FakeSynthesizer:
    """A FakeSynthesizer that knows the config's voices."""
    from ishowtts_live.synth import voices

    return FakeSynthesizer(voices=voices.discover(loaded.config.voices.dir), **kwargs)


async def start_daemon(config: Path, tmp_path: Path, *, synth: Any = None, sources: list[Any] | None = None,
                       extra: list[str] | tuple[str, ...] = (), sink: Any = "null", ready: bool = True) -> Running:
    """The daemon on this event loop, once ready (``ready=False``: once its
    control server listens, before the sink, the synthesizer and the rest
    start). ``synth``: a Synthesizer, a function of the loaded config giving
    one, or None for a FakeSynthesizer; ``sink=None`` lets the daemon open the
    output its config names."""
    from ishowtts_live.app import Daemon, load_checked
    from ishowtts_live.sinks.null import NullSink

    port = free_port()
    overrides = [*daemon_overrides(tmp_path / "state", port), *extra]
    loaded = load_checked(str(config), overrides)
    if synth is None:
        synth = fake_for(loaded)
    elif callable(synth) and not hasattr(synth, "stream"):
        synth = synth(loaded)
    daemon = Daemon(loaded, synthesizer=synth, sink=NullSink(realtime=True) if sink == "null" else sink,
                    sources=sources if sources is not None else [])
    listening = asyncio.Event()
    daemon.startup.listeners.append(lambda _startup: listening.set())  # its first stage follows the control server
    task = asyncio.create_task(daemon.run(), name="test-daemon")
    reached = asyncio.ensure_future(daemon.ready.wait() if ready else listening.wait())
    await wait(asyncio.wait({task, reached}, return_when=asyncio.FIRST_COMPLETED), 120)
    if task.done():
        reached.cancel()
        task.result()  # raises what stopped it
    token_file = tmp_path / "state" / "control.token"
    token = token_file.read_text().strip() if token_file.exists() else ""
    return Running(daemon, f"http://127.0.0.1:{port}", token, token_file, config, overrides, task)


async def stop_daemon(running: Running) -> None:
    running.daemon.shutdown.request("test finished")
    await wait(running.task, 60)
