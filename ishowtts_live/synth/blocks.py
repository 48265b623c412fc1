"""Turn successive chunk waveforms into a stream of small blocks (torch-free).

Blocks are at most ``block_ms`` long so a skip lands within one block. Chunks
are joined with a linear cross-fade: the tail of chunk k is held back until
chunk k+1 arrives and is faded into its head. Output past ``max_samples`` is
cut with a short fade-out, so a cut never clicks.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

CUT_FADE_S = 0.02


class BlockAssembler:
    def __init__(self, sample_rate: int, block_ms: int, crossfade_ms: int, max_seconds: float):
        self.sample_rate = sample_rate
        self.block = max(1, sample_rate * block_ms // 1000)
        self.xfade = sample_rate * crossfade_ms // 1000
        self.max_samples = int(max_seconds * sample_rate)
        self.emitted = 0
        self.truncated = False
        self._pending = np.zeros(0, dtype=np.float32)  # ready, not yet a full block
        self._tail = np.zeros(0, dtype=np.float32)  # held back for the next cross-fade

    @property
    def full(self) -> bool:
        return self.emitted + len(self._pending) >= self.max_samples

    def add(self, wave: np.ndarray) -> Iterator[np.ndarray]:
        """Feed one chunk's waveform; yield every block that is now complete."""
        wave = np.asarray(wave, dtype=np.float32).reshape(-1)
        if self.full:
            self.truncated = self.truncated or len(wave) > 0
            return
        if len(self._tail):
            n = len(self._tail)
            if len(wave) >= n:
                ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
                head = self._tail * (1.0 - ramp) + wave[:n] * ramp
                wave = np.concatenate([head, wave[n:]])
            else:  # a chunk shorter than the fade: just append it
                wave = np.concatenate([self._tail, wave])
            self._tail = self._tail[:0]
        keep = min(self.xfade, len(wave) // 2)
        if keep:
            self._tail = wave[-keep:].copy()
            wave = wave[:-keep]
        yield from self._push(wave)

    def finish(self) -> Iterator[np.ndarray]:
        """Flush the held tail and the last partial block."""
        yield from self._push(self._tail)
        self._tail = self._tail[:0]
        if len(self._pending):
            out, self._pending = self._pending, self._pending[:0]
            self.emitted += len(out)
            yield out

    def _push(self, wave: np.ndarray) -> Iterator[np.ndarray]:
        room = self.max_samples - self.emitted - len(self._pending)
        if len(wave) > room:
            self.truncated = True
            wave = wave[: max(room, 0)].copy()
            fade = min(len(wave), int(CUT_FADE_S * self.sample_rate))
            if fade:
                wave[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        self._pending = np.concatenate([self._pending, wave]) if len(self._pending) else wave
        while len(self._pending) >= self.block:
            out, self._pending = self._pending[: self.block], self._pending[self.block :]
            self.emitted += len(out)
            yield out
