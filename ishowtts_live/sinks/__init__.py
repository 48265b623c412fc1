"""Audio sinks: where spoken audio goes (a sound device, a WAV file, nowhere).

Every sink takes mono float32 blocks at the engine's rate through the same
async interface, so the playback loop never knows which one it feeds.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class AudioSink(Protocol):
    sample_rate: int  # the rate blocks arrive at

    async def open(self) -> None: ...

    async def write(self, pcm: np.ndarray) -> None:
        """Queue one block; returns once the sink can take another (real-time
        pacing for devices, immediately for files)."""

    async def drain(self) -> None:
        """Wait until everything written has been heard."""

    async def cut(self) -> None:
        """Drop what is queued and stop sounding now (skip)."""

    async def close(self) -> None: ...
