"""WAV file sink: 16-bit PCM, mono, at the engine's rate (24 kHz)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from ishowtts_live.errors import AudioDeviceError


class WavSink:
    """Appends every block to one WAV file (the daemon's "no device" output,
    and ``say --out``)."""

    def __init__(self, path: str | Path, sample_rate: int = 24000):
        self.path = Path(path)
        self.sample_rate = sample_rate
        self._file = None
        self.frames = 0

    async def open(self) -> None:
        import soundfile as sf

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = sf.SoundFile(str(self.path), mode="w", samplerate=self.sample_rate,
                                      channels=1, subtype="PCM_16", format="WAV")
        except (OSError, RuntimeError) as exc:
            raise AudioDeviceError(f"cannot write {self.path}: {exc}") from None

    async def write(self, pcm: np.ndarray) -> None:
        if self._file is None:
            await self.open()
        if len(pcm):
            self._file.write(np.clip(pcm, -1.0, 1.0))
            self.frames += len(pcm)
        await asyncio.sleep(0)

    async def drain(self) -> None:
        if self._file is not None:
            self._file.flush()

    async def cut(self) -> None:
        return None

    async def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            if not self.frames:
                # Nothing was spoken (the engine failed to start, say): a
                # header-only file would only look like output that went silent.
                self.path.unlink(missing_ok=True)
