"""The F5 engine: the model and vocoder on one device, text → mel →
waveform, one chunk or one batch of chunks at a time.

Its parts live beside it: :mod:`.prepared` (voices turned into what the
model reads), :mod:`.streaming` (a message chunk by chunk), :mod:`.batching`
(several messages at once), :mod:`.warmup` (compile and capture at start),
:mod:`.fastpath` (buckets, batching and CUDA graphs). Not thread-safe by
design: exactly one thread (the :mod:`.worker`) owns an engine and
everything on its device.

Longer than 400 lines because everything that touches the engine's device
stays in one class: loading onto it, the eager path with its compile
step-down, starting a batch with its out-of-memory retry, and vocoding on the
side stream; the parts that do not need that state live in the modules above.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import structlog
import torch

from ishowtts_live import paths
from ishowtts_live.config.loading import LoadedConfig
from ishowtts_live.errors import SynthesisError
from ishowtts_live.synth import batching, capture, loading, prepared, sampler, streaming, voices, warmup
from ishowtts_live.synth.audiocache import AudioCache, CacheKey
from ishowtts_live.synth.buckets import bucket_frames
from ishowtts_live.synth.fastpath import FastSampler, Request
from ishowtts_live.synth.prepared import TARGET_RMS, PreparedVoice, pinyin_tokens, reference_transcript
from ishowtts_live.synth.textchunks import nbytes, plan_chunks

log = structlog.get_logger(__name__)

SHORT_TEXT_BYTES = 10  # upstream stretches the duration of texts shorter than this …
SHORT_TEXT_SPEED = 0.3  # … by speaking them at this speed factor
SILENT_PEAK = 1e-4
MAX_FRAMES = 65536


@dataclass(frozen=True)
class SynthParams:
    nfe_step: int
    cfg_strength: float
    sway_sampling_coef: float
    speed: float
    seed: int  # -1: fresh per message


class F5Engine:
    def __init__(self, loaded: LoadedConfig, model, vocoder, vocab_map, spec: loading.ModelSpec,
                 device: torch.device, dtype: torch.dtype):
        self.loaded = loaded
        self.cfg = loaded.config.engine
        self.model = model
        self.dit = model.transformer
        self.vocoder = vocoder
        self.vocab_map = vocab_map
        self.spec = spec
        self.device = device
        self.dtype = dtype
        self.sample_rate = spec.sample_rate
        self.hop = spec.hop_length
        self.voices: dict[str, PreparedVoice] = {}
        self.fast: FastSampler | None = None  # set by setup_speed()
        self.cache = AudioCache(int(self.cfg.cache_mb * 2**20))
        self.vocoder_stream = None  # CUDA: vocoding overlaps the next chunk's sampling
        self._compile_mode = "off"
        self._stepdowns = {"no-compile": 0}  # the eager sampler's (the fast path counts its own)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, loaded: LoadedConfig) -> F5Engine:
        cfg = loaded.config.engine
        device = loading.resolve_device(cfg.device)
        if device.type == "cpu":
            torch.set_num_threads(loading.cpu_threads(cfg.cpu_threads))
        else:
            # the loading thread is the engine thread: whatever defaults to
            # "the current device" from here on means the configured one
            torch.cuda.set_device(device)
        # compiled kernels outlive the process, so the next start compiles nothing (doctor shows where)
        kernels = paths.use_kernel_caches()
        dtype = loading.resolve_dtype(cfg.dtype, device)
        t0 = time.perf_counter()
        with loading.device_scope(device):
            model, vocab_map, spec = loading.load_f5(cfg, device, dtype)
            vocoder = loading.load_vocos(cfg, device)
        log.info("engine loaded", model=cfg.model, device=str(device), dtype=str(dtype).removeprefix("torch."),
                 threads=torch.get_num_threads() if device.type == "cpu" else None,
                 kernel_cache=kernels["TORCHINDUCTOR_CACHE_DIR"], seconds=round(time.perf_counter() - t0, 2))
        engine = cls(loaded, model, vocoder, vocab_map, spec, device, dtype)
        engine.setup_speed()
        return engine

    def setup_speed(self) -> None:
        """The fast path (engine.fast_path; on by default with CUDA) or the
        eager sampler with its blocks compiled."""
        cfg = self.cfg
        mode = cfg.compile
        if mode == "auto":
            mode = "default" if self.device.type == "cuda" else "off"
        self._compile_mode = mode
        if cfg.fast_path == "on" or (cfg.fast_path == "auto" and self.device.type == "cuda"):
            self.fast = FastSampler(
                self.dit, self.device, self.dtype,
                buckets=bucket_frames(cfg.buckets_s, self.sample_rate, self.hop),
                max_batch=cfg.max_batch, compile_mode=mode, cuda_graphs=cfg.cuda_graphs,
            )
            self.fast.allow(warmup.live_schedules(self))
            if self.device.type == "cuda":
                self.vocoder_stream = vocoder_stream(self.device)
            log.info("fast path on", compile=mode, cuda_graphs=self.fast.cuda_graphs, buckets=len(self.fast.buckets),
                     max_batch=cfg.max_batch)
        else:
            self.compile(mode)

    def describe(self) -> dict:
        """How this engine runs now, step-downs included (for bench and doctor)."""
        return {
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "path": self.fast.path if self.fast else self._eager_path(),
            "compile": self.fast.compile_mode if self.fast else self._compile_mode,
            "fast_path": "on" if self.fast else "off",
            "cuda_graphs": bool(self.fast and self.fast.cuda_graphs),
            "buckets": [round(b * self.hop / self.sample_rate, 2) for b in self.fast.buckets] if self.fast else [],
            "max_batch": self.fast.max_batch if self.fast else 1,
            "cache_mb": self.cfg.cache_mb,
        }

    @property
    def graph_captures(self) -> int:
        return self.fast.graph_captures if self.fast else 0

    def counters(self) -> dict[str, dict[str, int]]:
        """Run-time figures for /metrics, by label: graph captures (at warm-up
        and live), batches that ran outside the warmed shapes, step-downs."""
        if self.fast is None:
            return {"graph_captures": {}, "unwarmed_batches": {}, "stepdowns": dict(self._stepdowns)}
        return {"graph_captures": dict(self.fast.captures), "unwarmed_batches": dict(self.fast.unwarmed),
                "stepdowns": dict(self.fast.stepdowns)}

    def compile(self, mode: str) -> None:
        if mode == "auto":
            mode = "default" if self.device.type == "cuda" else "off"
        self._compile_mode = mode
        if mode == "off":
            return
        try:
            for block in self.dit.transformer_blocks:
                block.compile(mode=None if mode == "default" else mode, dynamic=True)
        except Exception as exc:  # noqa: BLE001 - torch.compile refused outright (an unsupported Python)
            self._uncompile(exc)
            return
        log.info("compiled", mode=mode)

    def _eager_path(self) -> str:
        return "eager sampler" + (f", blocks compiled ({self._compile_mode})" if self._compile_mode != "off" else "")

    def _set_compiled(self, calls: list) -> None:
        for block, call in zip(self.dit.transformer_blocks, calls):
            block._compiled_call_impl = call  # what nn.Module.compile() sets; None = the plain module

    def _uncompile(self, cause: BaseException) -> None:
        self._set_compiled([None] * len(self.dit.transformer_blocks))
        self._uncompiled(cause)

    def _uncompiled(self, cause: BaseException) -> None:
        """The eager sampler's step-down, said once: one warning line."""
        mode, self._compile_mode = self._compile_mode, "off"
        self._stepdowns["no-compile"] += 1
        log.warning(f"torch.compile ({mode}) failed; running the eager sampler uncompiled instead",
                    cause=capture.describe_failure(cause))

    def prepared_voice(self, voice_id: str | None) -> PreparedVoice:
        """``voice_id`` (None or "" = voices.default) prepared, on first use if
        not at start; VoiceError when it cannot be."""
        voice_id = voice_id or self.loaded.config.voices.default
        if voice_id not in self.voices:
            self.prepare_voice(voices.find_voice(self.loaded.config.voices.dir, voice_id))
        return self.voices[voice_id]

    def prepare_voice(self, voice: voices.Voice) -> PreparedVoice:
        self.voices[voice.id] = prepared.prepare_voice(self, voice)
        return self.voices[voice.id]

    def prepare_reference(self, voice: voices.Voice, audio: torch.Tensor, sample_rate: int) -> PreparedVoice:
        return prepared.prepare_reference(self, voice, audio, sample_rate)

    # ------------------------------------------------------------------ parameters

    def params(self, voice: PreparedVoice, nfe_step: int | None = None, speed: float | None = None,
               cfg_strength: float | None = None, seed: int | None = None) -> SynthParams:
        """Per-message value, else the voice's, else the engine's."""
        spec, cfg = voice.voice.spec, self.cfg
        pick = lambda *xs: next(x for x in xs if x is not None)  # noqa: E731
        return SynthParams(
            nfe_step=pick(nfe_step, spec.nfe_step, cfg.nfe_step),
            cfg_strength=pick(cfg_strength, spec.cfg_strength, cfg.cfg_strength),
            sway_sampling_coef=cfg.sway_sampling_coef,
            speed=pick(speed, spec.speed, cfg.speed),
            seed=pick(seed, cfg.seed),
        )

    def frames_for(self, voice: PreparedVoice, text: str, speed: float) -> int:
        """Generated frames for ``text``: upstream's linear estimate from the
        reference's pace, with its slow-down for very short texts."""
        if nbytes(text) < SHORT_TEXT_BYTES:
            speed = SHORT_TEXT_SPEED
        return int(voice.ref_frames / nbytes(voice.text) * nbytes(text) / speed)

    def seconds_for(self, voice: PreparedVoice, text: str, speed: float) -> float:
        return voice.ref_frames / nbytes(voice.text) * nbytes(text) / speed * self.hop / self.sample_rate

    def plan(self, voice: PreparedVoice, text: str, params: SynthParams) -> list[str]:
        return plan_chunks(
            text,
            lambda s: self.seconds_for(voice, s, params.speed),
            first_s=self.cfg.first_chunk_s,
            chunk_s=self.cfg.chunk_s,
            max_total_s=self.cfg.max_audio_s,
        )

    # ------------------------------------------------------------------ synthesis

    def text_ids(self, voice: PreparedVoice, text: str) -> torch.Tensor:
        from f5_tts.model.utils import list_str_to_idx

        tokens = list(voice.tokens) + list(pinyin_tokens(text, voice.text[-1]))
        return list_str_to_idx([tokens], self.vocab_map).to(self.device)

    def request(self, voice: PreparedVoice, text: str, params: SynthParams, gen_frames: int | None = None) -> Request:
        """What the sampler needs for one chunk: token ids, the total length
        (upstream's: reference + estimate, at least one frame past the
        longer of text and reference) and a concrete seed."""
        ids = self.text_ids(voice, text)
        if gen_frames is None:
            gen_frames = self.frames_for(voice, text, params.speed)
        total = max(max(ids.shape[1], voice.mel.shape[1]) + 1, voice.ref_frames + gen_frames)
        seed = params.seed if params.seed >= 0 else int(torch.randint(0, 2**31 - 1, ()).item())
        return Request(mel=voice.mel, ids=ids, ref_frames=voice.ref_frames, total=min(total, MAX_FRAMES), seed=seed)

    @torch.inference_mode()
    def generate_mel(self, voice: PreparedVoice, text: str, params: SynthParams, *,
                     gen_frames: int | None = None, cancel: threading.Event | None = None) -> torch.Tensor:
        """The mel of ``text`` in ``voice``: 1 × frames × mels, reference frames
        removed (upstream's ``ref_audio_len`` cut), in the model dtype. Always
        the eager sampler (the reference the fast path is tested against)."""
        req = self.request(voice, text, params, gen_frames)
        ref_len, total = voice.mel.shape[1], req.total
        cond = torch.nn.functional.pad(voice.mel, (0, 0, 0, total - ref_len))
        cond_mask = (torch.arange(total, device=self.device) < ref_len)[None, :, None]
        generator = torch.Generator(device=self.device).manual_seed(req.seed)
        noise = torch.randn(total, cond.shape[-1], generator=generator, device=self.device, dtype=self.dtype)[None]

        def run() -> torch.Tensor:
            return sampler.sample(
                self.dit, cond, req.ids, noise,
                steps=params.nfe_step, cfg_strength=params.cfg_strength,
                sway_sampling_coef=params.sway_sampling_coef, cond_mask=cond_mask, cancel=cancel,
            )

        if self._compile_mode == "off":
            return run()[:, voice.ref_frames:, :]
        try:
            mel = run()
        except (sampler.Cancelled, torch.cuda.OutOfMemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - the compiler's failure, if uncompiled blocks do better
            compiled = [block._compiled_call_impl for block in self.dit.transformer_blocks]
            self._set_compiled([None] * len(compiled))
            try:
                mel = run()
            except BaseException:
                self._set_compiled(compiled)  # not the compiler's fault: this message's own error
                raise
            self._uncompiled(exc)
        return mel[:, voice.ref_frames:, :]

    @torch.inference_mode()
    def generate_mels(self, items: list[tuple[PreparedVoice, str, SynthParams]],
                      cancel=None) -> list[torch.Tensor]:
        """Mels of several chunks that share NFE, cfg and sway: one batch on
        the fast path, one after the other otherwise."""
        if self.fast is None:
            return [self.generate_mel(v, t, p, cancel=cancel) for v, t, p in items]
        p = items[0][2]
        reqs = [self.request(v, t, q) for v, t, q in items]
        return self.fast.sample(reqs, steps=p.nfe_step, cfg_strength=p.cfg_strength,
                                sway=p.sway_sampling_coef, cancel=cancel)

    @torch.inference_mode()
    def vocode(self, voice: PreparedVoice, mel: torch.Tensor) -> np.ndarray:
        """Mel (1 × frames × mels) → float32 waveform at the reference's loudness."""
        with loading.device_scope(self.device):
            return self._vocode_tensor(voice, mel).cpu().numpy()

    def _vocode_tensor(self, voice: PreparedVoice, mel: torch.Tensor) -> torch.Tensor:
        """Vocos in fp32 (:func:`.loading.load_vocos`): the mel is widened
        from the model dtype on the way in."""
        wave = self.vocoder.decode(mel.permute(0, 2, 1).float())
        if voice.rms < TARGET_RMS:
            wave = wave * (voice.rms / TARGET_RMS)
        return wave.squeeze(0)

    def cache_key(self, voice: PreparedVoice, text: str, params: SynthParams) -> CacheKey:
        v = voice.voice
        return CacheKey(
            voice=voice.id, reference=(str(v.audio_path), voice.text, voice.audio.shape[-1]), text=text,
            nfe_step=params.nfe_step, cfg_strength=params.cfg_strength,
            sway_sampling_coef=params.sway_sampling_coef, speed=params.speed, seed=params.seed,
            model=(self.cfg.model, self.cfg.checkpoint, str(self.dtype)),
        )

    def _checked(self, text: str, wave: np.ndarray, fused: bool) -> np.ndarray:
        if not np.isfinite(wave).all():
            what = "synthesis" if fused else "the vocoder"
            raise SynthesisError(
                f"{what} produced NaN for {text[:30]!r} (dtype {str(self.dtype).removeprefix('torch.')}); "
                "try engine.dtype = 'bf16' or 'fp32'"
            )
        if float(np.max(np.abs(wave), initial=0.0)) < SILENT_PEAK:
            raise SynthesisError(f"the output for {text[:30]!r} is silent")
        return np.clip(wave, -1.0, 1.0)

    def synthesize_chunk(self, voice: PreparedVoice, text: str, params: SynthParams,
                         cancel: threading.Event | None = None) -> np.ndarray:
        return self.start_chunks([(voice, text, params)], cancel)[0].result()

    def start_chunks(self, items: list[tuple[PreparedVoice, str, SynthParams]], cancel=None) -> list[_Pending]:
        """Begin synthesizing chunks that share NFE, cfg and sway: cached ones
        are answered from memory, the rest sampled as one batch and handed to
        the vocoder (on CUDA on its own stream, so the caller can start the
        next chunk before this one's audio is fetched).

        Out of GPU memory, a batch is tried again one chunk at a time; a chunk
        that does not fit alone fails (its ``result()`` raises a one-line
        SynthesisError) and the others go on."""
        keys = [self.cache_key(v, t, p) for v, t, p in items]
        pending: list[_Pending | None] = [None] * len(items)
        for i, key in enumerate(keys):
            hit = self.cache.get(key)
            if hit is not None:
                pending[i] = _Pending(self, items[i][1], key, wave=hit)
        todo = [i for i, p in enumerate(pending) if p is None]
        if not todo:
            return pending  # type: ignore[return-value]
        with loading.device_scope(self.device):
            try:
                self._start(items, keys, todo, pending, cancel)
            except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError only exists from torch 2.5
                self._release_memory()
                if len(todo) == 1:
                    pending[todo[0]] = self._out_of_memory(items[todo[0]][1], 1)
                    return pending  # type: ignore[return-value]
                log.warning("out of GPU memory on a batch; trying its chunks one at a time", batch=len(todo))
                for i in todo:
                    try:
                        self._start(items, keys, [i], pending, cancel)
                    except torch.cuda.OutOfMemoryError:
                        self._release_memory()
                        pending[i] = self._out_of_memory(items[i][1], len(todo))
        return pending  # type: ignore[return-value]

    def _start(self, items, keys, todo: list[int], pending: list, cancel) -> None:
        with torch.inference_mode():
            mels = self.generate_mels([items[i] for i in todo], cancel)
            if self.fast is None:
                for i, mel in zip(todo, mels):
                    if not bool(torch.isfinite(mel).all()):
                        raise SynthesisError(
                            f"the model produced NaN for {items[i][1][:30]!r} "
                            f"(dtype {str(self.dtype).removeprefix('torch.')}); "
                            "try engine.dtype = 'bf16' or 'fp32'"
                        )
            for i, mel in zip(todo, mels):
                pending[i] = self._vocode_async(items[i][0], items[i][1], keys[i], mel)

    def _out_of_memory(self, text: str, batch: int) -> _Pending:
        tried = "alone" if batch == 1 else f"alone, after a batch of {batch}"
        return _Pending(self, text, None, error=SynthesisError(
            f"out of GPU memory on a {len(text)}-character chunk ({tried}); skipped it"))

    def _vocode_async(self, voice: PreparedVoice, text: str, key: CacheKey, mel: torch.Tensor) -> _Pending:
        side = self.vocoder_stream
        if side is None:
            return _Pending(self, text, key, wave=self._vocode_tensor(voice, mel).cpu().numpy())
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            wave = self._vocode_tensor(voice, mel)
            host = torch.empty(wave.shape, dtype=wave.dtype, pin_memory=True)
            host.copy_(wave, non_blocking=True)
            done = torch.cuda.Event()
            done.record(side)
        mel.record_stream(side)  # the allocator must not reuse it while the vocoder reads it
        return _Pending(self, text, key, host=host, done=done)

    def stream(self, voice_id: str | None, text: str, params: SynthParams | None = None,
               cancel: threading.Event | None = None) -> Iterator[tuple[str, np.ndarray]]:
        """(chunk text, waveform) for each sentence chunk, in order (:mod:`.streaming`)."""
        return streaming.stream_chunks(self, voice_id, text, params, cancel)

    def stream_batch(self, jobs: list[batching.Job]) -> Iterator[tuple[int, str, np.ndarray | BaseException]]:
        """Several messages at once, in rounds of chunks (:mod:`.batching`)."""
        return batching.stream_batch(self, jobs)

    def warmup(self, voice_id: str | None = None,
               progress: Callable[[int, int, str], None] | None = None) -> float:
        """Every voice prepared, every shape compiled and captured; seconds taken (:mod:`.warmup`)."""
        return warmup.warm_up(self, voice_id, progress)

    def warm_schedules(self, ready: list[PreparedVoice]) -> list[tuple[int, float]]:
        return warmup.warm_schedules(self, ready)

    def _release_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


class _Pending:
    """A chunk whose audio is ready (cache, CPU), still being fetched from
    the GPU, or failed; ``result()`` checks it, caches it and returns it (or
    raises the chunk's error)."""

    def __init__(self, engine: F5Engine, text: str, key: CacheKey | None, *, wave: np.ndarray | None = None,
                 host: torch.Tensor | None = None, done=None, error: BaseException | None = None):
        self.engine, self.text, self.key = engine, text, key
        self._wave, self._host, self._done, self._error = wave, host, done, error

    def result(self) -> np.ndarray:
        if self._error is not None:
            raise self._error
        if self._wave is None:
            self._done.synchronize()
            self._wave = self._host.numpy()
            self._host = None
        elif not self._wave.flags.writeable:  # from the cache: already checked
            return self._wave
        wave = self.engine._checked(self.text, self._wave, fused=self.engine.fast is not None)
        self.engine.cache.put(self.key, wave)
        return wave


def vocoder_stream(device: torch.device):
    """The vocoder's CUDA stream on ``device``, at the highest priority the
    GPU offers: a chunk's audio (the first one above all) must not queue
    behind the next chunk's sampling."""
    try:
        _least, highest = torch.cuda.Stream.priority_range()  # e.g. (0, -5): lower is more urgent
    except Exception:  # noqa: BLE001 - an older torch: -1 is high priority on every one
        highest = -1
    return torch.cuda.Stream(device=device, priority=highest)


def load_engine(loaded: LoadedConfig) -> F5Engine:
    """Load model, vocoder and the default voice; EngineError/VoiceError on failure."""
    engine = F5Engine.load(loaded)
    engine.prepared_voice(None)
    return engine


__all__ = ["F5Engine", "PreparedVoice", "SynthParams", "load_engine", "pinyin_tokens", "reference_transcript"]
