"""Sound device sink (sounddevice / PortAudio), with exactly one owner thread.

* The device is chosen by a substring of its name (sounddevice's matching);
  a name that matches nothing is one error line naming the devices there are.
* Blocks are written from one thread, so PortAudio is only ever touched there;
  the event loop awaits a small credit semaphore, which paces it in real time.
* If the device will not take 24 kHz, blocks are resampled (soxr, streaming)
  to its own rate.
* When the device fails mid-stream (unplugged, audio server restarted) the
  thread closes it and reopens it with backoff; writers wait meanwhile, so
  nothing queued is lost.
* ``cut()`` (skip) drops what is queued and flushes the device buffer, so
  audio stops within one block.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any

import numpy as np
import structlog

from ishowtts_live.errors import AudioDeviceError

log = structlog.get_logger(__name__)

_CUT = "cut"
_MARK = "mark"
_STOP = "stop"
REOPEN_DELAYS = (0.25, 0.5, 1.0, 2.0, 5.0)


def output_devices() -> list[str]:
    import sounddevice as sd

    return [d["name"] for d in sd.query_devices() if d["max_output_channels"] > 0]


def _portaudio():
    try:
        import sounddevice as sd
    except OSError as exc:  # libportaudio2 missing
        raise AudioDeviceError(f"cannot load PortAudio ({exc}); install libportaudio2") from None
    return sd


def find_device(name: str) -> int | None:
    """Device index for a name substring ("" = the system default)."""
    sd = _portaudio()
    if not name:
        return None
    try:
        return int(sd.query_devices(name, "output")["index"])
    except ValueError as exc:
        names = ", ".join(repr(n) for n in output_devices()) or "none"
        why = "matches more than one" if "Multiple" in str(exc) else "matches no"
        raise AudioDeviceError(f"audio.device {name!r} {why} output device; available: {names}") from None


class SoundDeviceSink:
    def __init__(self, device: str = "", sample_rate: int = 24000, queue_blocks: int = 3,
                 latency: float | str = 0.1, device_rate: int = 0):
        self.device_name = device
        self.requested_rate = device_rate  # 0: ours if the device takes it
        self.sample_rate = sample_rate
        self.latency = latency
        self.queue_blocks = queue_blocks
        self.reopens = 0
        self.device_rate = sample_rate
        self._q: queue.Queue = queue.Queue()
        self._credits: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._gen = 0  # bumped by cut(): blocks of an older generation are dropped
        self._stream: Any = None
        self._resampler: Any = None

    # ------------------------------------------------------------------ asyncio side

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._credits = asyncio.Semaphore(self.queue_blocks)
        opened: asyncio.Future = self._loop.create_future()
        self._thread = threading.Thread(target=self._main, args=(opened,), name="audio-out", daemon=True)
        self._thread.start()
        await opened

    async def write(self, pcm: np.ndarray) -> None:
        if self._thread is None:
            await self.open()
        gen = self._gen  # a write that began before a cut() must not sound after it
        await self._credits.acquire()
        if gen != self._gen:
            self._credits.release()
            return
        self._q.put((gen, np.asarray(pcm, dtype=np.float32)))

    async def drain(self) -> None:
        if self._thread is None:
            return
        done: asyncio.Future = self._loop.create_future()
        self._q.put((_MARK, done))
        await done

    async def cut(self) -> None:
        if self._thread is None:
            return
        self._gen += 1
        self._q.put((_CUT, None))

    async def close(self) -> None:
        if self._thread is None:
            return
        self._q.put((_STOP, None))
        await asyncio.to_thread(self._thread.join, 5.0)
        self._thread = None

    # ------------------------------------------------------------------ owner thread

    def _settle(self, fut: asyncio.Future, exc: BaseException | None = None) -> None:
        def set_() -> None:
            if not fut.done():
                fut.set_exception(exc) if exc else fut.set_result(None)
        self._loop.call_soon_threadsafe(set_)

    def _release(self) -> None:
        self._loop.call_soon_threadsafe(self._credits.release)

    def _open_stream(self) -> None:
        sd = _portaudio()
        index = find_device(self.device_name)
        label = self.device_name or "the default output device"
        rates = [self.requested_rate] if self.requested_rate else [self.sample_rate, None]
        stream, error = None, None
        for rate in rates:
            if rate is None:  # the device will not take ours: open it at its own and resample
                info = sd.query_devices(index, "output") if index is not None else sd.query_devices(kind="output")
                rate = int(info["default_samplerate"])
            try:
                stream = sd.OutputStream(device=index, samplerate=rate, channels=1, dtype="float32",
                                         latency=self.latency)
                break
            except sd.PortAudioError as exc:
                error = exc
        if stream is None:
            raise AudioDeviceError(f"cannot open {label}: {error}")
        stream.start()
        self._stream, self.device_rate = stream, rate
        self._new_resampler()
        log.info("audio device open", device=label, rate=rate, latency_ms=round(stream.latency * 1000, 1))

    def _new_resampler(self) -> None:
        if self.device_rate == self.sample_rate:
            self._resampler = None
        else:
            import soxr

            self._resampler = soxr.ResampleStream(self.sample_rate, self.device_rate, 1, dtype="float32")

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # noqa: BLE001 - the device may already be gone
                pass

    def _reopen(self) -> None:
        """Close, re-scan devices and reopen, with backoff, until it works."""
        sd = _portaudio()
        self._close_stream()
        down_since = time.monotonic()
        for attempt in range(10**9):
            delay = REOPEN_DELAYS[min(attempt, len(REOPEN_DELAYS) - 1)]
            time.sleep(delay)
            if not self._q.empty() and self._peek_stop():
                return
            try:
                sd._terminate()  # PortAudio only re-scans devices on initialise
                sd._initialize()
                self._open_stream()
            except (AudioDeviceError, sd.PortAudioError) as exc:
                # the outage was logged once when it began; a line per retry
                # would flood the journal while a device stays unplugged
                log.debug("audio device still unavailable", attempt=attempt + 1, error=str(exc))
                continue
            self.reopens += 1
            log.info("audio device back", reopens=self.reopens, tries=attempt + 1,
                     down_s=round(time.monotonic() - down_since, 2))
            return

    def _peek_stop(self) -> bool:
        with self._q.mutex:
            return any(item[0] == _STOP for item in self._q.queue)

    def _write_block(self, pcm: np.ndarray) -> None:
        sd = _portaudio()
        if self._resampler is not None:
            pcm = self._resampler.resample_chunk(pcm)
        if not len(pcm):
            return
        while True:
            if self._stream is None:
                self._reopen()
                if self._stream is None:
                    return
            try:
                self._stream.write(pcm.reshape(-1, 1))
                return
            except sd.PortAudioError as exc:
                log.warning("audio device failed; reopening", error=str(exc))
                self._close_stream()

    def _main(self, opened: asyncio.Future) -> None:
        try:
            self._open_stream()
        except AudioDeviceError as exc:
            self._settle(opened, exc)
            return
        except Exception as exc:  # noqa: BLE001 - PortAudio errors of every kind
            self._settle(opened, AudioDeviceError(f"cannot open the audio device: {exc}"))
            return
        self._settle(opened)
        while True:
            tag, item = self._q.get()
            if tag == _STOP:
                break
            if tag == _MARK:
                if self._stream is not None:
                    time.sleep(self._stream.latency)  # what is in the device buffer is still playing
                self._settle(item)
                continue
            if tag == _CUT:
                if self._stream is not None:
                    try:  # abort drops what the device still buffers
                        self._stream.abort()
                        self._stream.start()
                    except Exception:  # noqa: BLE001
                        self._close_stream()
                self._new_resampler()
                continue
            try:
                if tag == self._gen:
                    self._write_block(item)
            finally:
                self._release()
        self._close_stream()
