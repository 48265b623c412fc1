"""The F5 engine: prepared voices, text → mel → waveform, chunk by chunk.

Not thread-safe by design: exactly one thread (the :mod:`.worker`) owns an
engine and everything on its device.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import structlog
import torch

from ishowtts_live.config.loading import LoadedConfig
from ishowtts_live.errors import EngineError, SynthesisError, VoiceError
from ishowtts_live.synth import loading, sampler, voices
from ishowtts_live.synth.textchunks import nbytes, plan_chunks

log = structlog.get_logger(__name__)

TARGET_RMS = 0.1  # upstream's loudness target for references
REF_TAIL_SILENCE_S = 0.05  # upstream appends 50 ms of silence after the trimmed reference
SHORT_TEXT_BYTES = 10  # upstream stretches the duration of texts shorter than this …
SHORT_TEXT_SPEED = 0.3  # … by speaking them at this speed factor
SILENT_PEAK = 1e-4
MAX_FRAMES = 65536


def reference_transcript(text: str) -> str:
    """The transcript as upstream feeds it to the model: ending in ". " or "。",
    plus one more space when it ends in a one-byte character."""
    text = text.strip()
    if not text.endswith(". ") and not text.endswith("。"):
        text = text + " " if text.endswith(".") else text + ". "
    if len(text[-1].encode("utf-8")) == 1:
        text += " "
    return text


@functools.lru_cache(maxsize=8192)
def pinyin_tokens(text: str, after: str = "") -> tuple[str, ...]:
    """Upstream's pinyin conversion of ``text`` as it would come out right after
    ``after`` (the reference's last character): converting ``after + text`` and
    dropping ``after``'s own tokens gives exactly the tokens the joined
    reference + message would give, without re-converting the reference."""
    from f5_tts.model.utils import convert_char_to_pinyin

    if not after:
        return tuple(convert_char_to_pinyin([text])[0])
    lead = convert_char_to_pinyin([after])[0]
    return tuple(convert_char_to_pinyin([after + text])[0][len(lead):])


@dataclass(frozen=True)
class SynthParams:
    nfe_step: int
    cfg_strength: float
    sway_sampling_coef: float
    speed: float
    seed: int  # -1: fresh per message


@dataclass(frozen=True)
class PreparedVoice:
    id: str
    text: str  # the reference transcript as the model sees it
    tokens: tuple[str, ...]
    audio: torch.Tensor  # 1 × samples at the model rate, loudness-normalized, on device
    rms: float  # the reference's own loudness; output is scaled back to it
    mel: torch.Tensor  # 1 × frames × mels, model dtype, on device
    ref_frames: int  # samples // hop: where generated frames start (upstream's count)
    voice: voices.Voice


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
        self._flow_step = None  # set by compile()

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, loaded: LoadedConfig) -> F5Engine:
        cfg = loaded.config.engine
        device = loading.resolve_device(cfg.device)
        dtype = loading.resolve_dtype(cfg.dtype, device)
        if device.type == "cpu":
            torch.set_num_threads(loading.cpu_threads(cfg.cpu_threads))
        t0 = time.perf_counter()
        model, vocab_map, spec = loading.load_f5(cfg, device, dtype)
        vocoder = loading.load_vocos(cfg, device, dtype)
        log.info("engine loaded", model=cfg.model, device=str(device), dtype=str(dtype).removeprefix("torch."),
                 threads=torch.get_num_threads() if device.type == "cpu" else None,
                 seconds=round(time.perf_counter() - t0, 2))
        engine = cls(loaded, model, vocoder, vocab_map, spec, device, dtype)
        engine.compile(cfg.compile)
        return engine

    def compile(self, mode: str) -> None:
        if mode == "auto":
            mode = "default" if self.device.type == "cuda" else "off"
        if mode == "off":
            return
        for block in self.dit.transformer_blocks:
            block.compile(mode=None if mode == "default" else mode, dynamic=True)
        log.info("compiled", mode=mode)

    def load_voices(self, only: list[str] | None = None) -> None:
        """Prepare every voice (or ``only`` these), each once."""
        found = voices.discover(self.loaded.config.voices.dir)
        wanted = only if only is not None else list(found)
        for voice_id in wanted:
            if voice_id not in found:
                raise VoiceError(f"voice {voice_id!r}: not found in {self.loaded.config.voices.dir}")
            self.prepare_voice(voices.load_voice(voice_id, found[voice_id]))

    def voice(self, voice_id: str | None) -> PreparedVoice:
        voice_id = voice_id or self.loaded.config.voices.default
        if voice_id not in self.voices:
            self.load_voices([voice_id])
        return self.voices[voice_id]

    @torch.inference_mode()
    def prepare_voice(self, voice: voices.Voice) -> PreparedVoice:
        """Reference → resampled, loudness-normalized audio, its mel and its
        tokens, once per voice."""
        ref = voices.read_reference(voice)
        samples = np.concatenate([ref.samples, np.zeros(int(REF_TAIL_SILENCE_S * ref.sample_rate), np.float32)])
        prepared = self.prepare_reference(voice, torch.from_numpy(samples)[None], ref.sample_rate)
        self.voices[voice.id] = prepared
        return prepared

    @torch.inference_mode()
    def prepare_reference(self, voice: voices.Voice, audio: torch.Tensor, sample_rate: int) -> PreparedVoice:
        import torchaudio

        rms = float(torch.sqrt(torch.mean(torch.square(audio))))
        if rms < TARGET_RMS:
            audio = audio * TARGET_RMS / rms
        if sample_rate != self.sample_rate:
            audio = torchaudio.functional.resample(audio, sample_rate, self.sample_rate)
        audio = audio.to(self.device)
        mel = self.model.mel_spec(audio).permute(0, 2, 1).to(self.dtype)
        text = reference_transcript(voice.text)
        return PreparedVoice(
            id=voice.id, text=text, tokens=pinyin_tokens(text), audio=audio, rms=rms, mel=mel,
            ref_frames=audio.shape[-1] // self.hop, voice=voice,
        )

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

    @torch.inference_mode()
    def generate_mel(self, voice: PreparedVoice, text: str, params: SynthParams, *,
                     gen_frames: int | None = None, cancel: threading.Event | None = None) -> torch.Tensor:
        """The mel of ``text`` in ``voice``: 1 × frames × mels, reference frames
        removed (upstream's ``ref_audio_len`` cut), in the model dtype."""
        ids = self.text_ids(voice, text)
        if gen_frames is None:
            gen_frames = self.frames_for(voice, text, params.speed)
        ref_len = voice.mel.shape[1]
        total = max(max(ids.shape[1], ref_len) + 1, voice.ref_frames + gen_frames)
        total = min(total, MAX_FRAMES)
        cond = torch.nn.functional.pad(voice.mel, (0, 0, 0, total - ref_len))
        cond_mask = (torch.arange(total, device=self.device) < ref_len)[None, :, None]
        seed = params.seed if params.seed >= 0 else int(torch.randint(0, 2**31 - 1, ()).item())
        generator = torch.Generator(device=self.device).manual_seed(seed)
        noise = torch.randn(total, cond.shape[-1], generator=generator, device=self.device, dtype=self.dtype)[None]
        mel = sampler.sample(
            self.dit, cond, ids, noise,
            steps=params.nfe_step, cfg_strength=params.cfg_strength,
            sway_sampling_coef=params.sway_sampling_coef, cond_mask=cond_mask, cancel=cancel,
        )
        return mel[:, voice.ref_frames:, :]

    @torch.inference_mode()
    def vocode(self, voice: PreparedVoice, mel: torch.Tensor) -> np.ndarray:
        """Mel (1 × frames × mels) → float32 waveform at the reference's loudness.

        The Vocos backbone runs in the engine dtype; its ISTFT head in fp32,
        since half-precision FFTs are not supported everywhere."""
        features = self.vocoder.backbone(mel.permute(0, 2, 1).to(self.dtype))
        wave = self.vocoder.head(features.float())
        if voice.rms < TARGET_RMS:
            wave = wave * voice.rms / TARGET_RMS
        return wave.squeeze(0).float().cpu().numpy()

    def synthesize_chunk(self, voice: PreparedVoice, text: str, params: SynthParams,
                         cancel: threading.Event | None = None) -> np.ndarray:
        try:
            mel = self.generate_mel(voice, text, params, cancel=cancel)
            if not bool(torch.isfinite(mel).all()):
                raise SynthesisError(
                    f"the model produced NaN for {text[:30]!r} (dtype {str(self.dtype).removeprefix('torch.')}); "
                    "try engine.dtype = 'bf16' or 'fp32'"
                )
            wave = self.vocode(voice, mel)
        except torch.OutOfMemoryError:
            self._release_memory()
            raise SynthesisError(f"out of GPU memory on a {len(text)}-character chunk; skipped it") from None
        if not np.isfinite(wave).all():
            raise SynthesisError(f"the vocoder produced NaN for {text[:30]!r}")
        if float(np.max(np.abs(wave), initial=0.0)) < SILENT_PEAK:
            raise SynthesisError(f"the output for {text[:30]!r} is silent")
        return np.clip(wave, -1.0, 1.0)

    def stream(self, voice_id: str | None, text: str, params: SynthParams | None = None,
               cancel: threading.Event | None = None) -> Iterator[tuple[str, np.ndarray]]:
        """(chunk text, waveform) for each sentence chunk, in order."""
        voice = self.voice(voice_id)
        params = params or self.params(voice)
        for chunk in self.plan(voice, text, params):
            if cancel is not None and cancel.is_set():
                raise sampler.Cancelled
            yield chunk, self.synthesize_chunk(voice, chunk, params, cancel)

    def warmup(self, voice_id: str | None = None) -> float:
        """One short synthesis (compiles, fills caches); returns seconds taken."""
        t0 = time.perf_counter()
        voice = self.voice(voice_id)
        for _ in self.stream(voice.id, "你好，欢迎来到直播间。", self.params(voice, seed=0)):
            pass
        return time.perf_counter() - t0

    def _release_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def load_engine(loaded: LoadedConfig) -> F5Engine:
    """Load model, vocoder and the default voice; EngineError/VoiceError on failure."""
    engine = F5Engine.load(loaded)
    engine.voice(None)
    return engine


__all__ = ["F5Engine", "PreparedVoice", "SynthParams", "load_engine", "EngineError"]
