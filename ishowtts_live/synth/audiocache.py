"""Finished audio of repeated phrases (torch-free).

Livestream chat repeats itself: gift thanks, "666", greetings. A chunk whose
text, voice and synthesis parameters were already spoken is answered from
memory. The cache is bounded in bytes and drops the least recently used
entry first. With a fresh seed per message (``engine.seed = -1``) the seed
is not part of the key: a repeat gets the audio of an earlier random draw,
which is as good as a new one and costs nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Hashable

import numpy as np


@dataclass(frozen=True)
class CacheKey:
    voice: str  # voice id
    reference: Hashable  # what identifies the voice's reference (path, transcript, rate)
    text: str
    nfe_step: int
    cfg_strength: float
    sway_sampling_coef: float
    speed: float
    seed: int  # -1 when every message draws a fresh seed
    model: Hashable  # model name, checkpoint and dtype: another model is another sound


class AudioCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max(0, int(max_bytes))
        self._items: OrderedDict[CacheKey, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # the engine thread writes; metrics may read
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: CacheKey) -> np.ndarray | None:
        if not self.enabled:
            return None
        with self._lock:
            wave = self._items.get(key)
            if wave is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return wave

    def put(self, key: CacheKey, wave: np.ndarray) -> None:
        """Store a read-only copy; an entry larger than the whole cache is not stored."""
        if not self.enabled or wave.nbytes > self.max_bytes:
            return
        stored = np.array(wave, dtype=np.float32, copy=True)
        stored.setflags(write=False)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = stored
            self._bytes += stored.nbytes
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
