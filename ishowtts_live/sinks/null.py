"""Sinks that play nothing: ``null`` discards, ``memory`` keeps (for ``listen``-
style dry runs and for tests that inspect what would have been heard)."""

from __future__ import annotations

import asyncio

import numpy as np


class NullSink:
    def __init__(self, sample_rate: int = 24000, realtime: bool = False):
        self.sample_rate = sample_rate
        self.realtime = realtime  # pace like a device would
        self.frames = 0

    async def open(self) -> None:
        return None

    async def write(self, pcm: np.ndarray) -> None:
        self.frames += len(pcm)
        await asyncio.sleep(len(pcm) / self.sample_rate if self.realtime else 0)

    async def drain(self) -> None:
        return None

    async def cut(self) -> None:
        return None

    async def close(self) -> None:
        return None


class MemorySink(NullSink):
    def __init__(self, sample_rate: int = 24000, realtime: bool = False):
        super().__init__(sample_rate, realtime)
        self.blocks: list[np.ndarray] = []
        self.cuts = 0

    async def write(self, pcm: np.ndarray) -> None:
        self.blocks.append(np.array(pcm, dtype=np.float32, copy=True))
        await super().write(pcm)

    async def cut(self) -> None:
        self.cuts += 1

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.zeros(0, np.float32)
