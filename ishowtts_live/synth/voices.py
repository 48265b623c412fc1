"""Voices: ``voices/<id>/voice.toml`` — a reference recording and its transcript.

Torch-free, so ``config check`` and ``doctor`` can validate every voice in
milliseconds. The engine turns a :class:`ReferenceAudio` into its mel and
pinyin tokens once, at start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec
import numpy as np
from msgspec import Meta

from ishowtts_live.compat import tomllib
from ishowtts_live.errors import VoiceError
from ishowtts_live.synth.resources import PKG_PREFIX, resolve_pkg_path

REF_MAX_S = 12.0  # F5-TTS is trained on ≤ 30 s total; upstream clips references to 12 s
REF_MIN_S = 1.0
EDGE_SILENCE_DBFS = -42.0  # what upstream's edge trimming treats as silence
TRIM_WINDOW_S = 0.01
VOICE_FILE = "voice.toml"
VOICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class VoiceSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    audio: str  # path relative to voice.toml, absolute, or pkg:<package>/<file>
    text: str  # exactly what the recording says
    name: str = ""
    speed: Annotated[float, Meta(ge=0.3, le=3.0)] | None = None
    nfe_step: Annotated[int, Meta(ge=1, le=64)] | None = None
    cfg_strength: Annotated[float, Meta(ge=0.0, le=10.0)] | None = None


@dataclass(frozen=True)
class Voice:
    id: str
    spec: VoiceSpec
    audio_path: Path

    @property
    def text(self) -> str:
        return self.spec.text.strip()


@dataclass(frozen=True)
class ReferenceAudio:
    samples: np.ndarray  # float32, mono, edge silence trimmed
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


# Voices installed with the package (``default``), so a system install that
# copies only the config file still has a voice.
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "voices"


def _scan(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        return {}
    return {p.parent.name: p for p in sorted(root.glob(f"*/{VOICE_FILE}"))}


def discover(voices_dir: str | Path) -> dict[str, Path]:
    """Voice id → its voice.toml: the built-in voices, then every folder of
    ``voices_dir`` ("" = none) that has one; the user's voice wins on the same id."""
    found = _scan(BUILTIN_DIR)
    if voices_dir:
        found.update(_scan(Path(voices_dir)))
    return found


def describe_dir(voices_dir: str | Path) -> str:
    """Where voices come from, for messages: the folder, or the built-in set."""
    return f"{voices_dir} (or built in)" if voices_dir else "the built-in voices (voices.dir is not set)"


def load_voice(voice_id: str, toml_path: Path) -> Voice:
    """Parse and check one voice.toml (not its audio). One-line VoiceError."""
    def fail(why: str) -> VoiceError:
        return VoiceError(f"voice {voice_id!r}: {why}")

    if not VOICE_ID.match(voice_id):
        raise fail("the folder name must be letters, digits, '_', '-' or '.'")
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {toml_path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise fail(f"{toml_path} is not valid TOML: {exc}") from None
    try:
        spec = msgspec.convert(data, VoiceSpec)
    except msgspec.ValidationError as exc:
        raise fail(f"{toml_path}: {str(exc).replace('`', '')}") from None
    if not spec.text.strip():
        raise fail("the transcript ('text') is empty; write exactly what the recording says")
    if spec.audio.startswith(PKG_PREFIX):
        try:
            audio_path = resolve_pkg_path(spec.audio)
        except FileNotFoundError as exc:
            raise fail(str(exc)) from None
    else:
        audio_path = Path(spec.audio).expanduser()
        if not audio_path.is_absolute():
            audio_path = (toml_path.parent / audio_path).resolve()
    return Voice(id=voice_id, spec=spec, audio_path=audio_path)


def trim_edges(samples: np.ndarray, sample_rate: int, dbfs: float = EDGE_SILENCE_DBFS) -> np.ndarray:
    """Drop leading and trailing windows quieter than ``dbfs``."""
    win = max(1, int(sample_rate * TRIM_WINDOW_S))
    n = len(samples) // win
    if n == 0:
        return samples[:0]
    frames = samples[: n * win].reshape(n, win).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.flatnonzero(rms > 10 ** (dbfs / 20))
    if loud.size == 0:
        return samples[:0]
    return samples[loud[0] * win : min(len(samples), (loud[-1] + 1) * win)]


def read_reference(voice: Voice) -> ReferenceAudio:
    """Decode, mix to mono and trim the reference. One-line VoiceError when the
    file is missing, unreadable, silent, or longer than 12 s after trimming."""
    import soundfile as sf

    def fail(why: str) -> VoiceError:
        return VoiceError(f"voice {voice.id!r}: {why}")

    path = voice.audio_path
    if not path.is_file():
        raise fail(f"audio file not found: {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise fail(f"cannot decode {path}: {exc}") from None
    mono = data.mean(axis=1).astype(np.float32)
    if not np.all(np.isfinite(mono)):
        raise fail(f"{path} holds NaN or infinite samples")
    trimmed = trim_edges(mono, sr)
    seconds = len(trimmed) / sr
    if seconds == 0:
        raise fail(f"{path} is silent")
    if seconds > REF_MAX_S:
        raise fail(
            f"{path} is {seconds:.1f} s after trimming silence; the limit is {REF_MAX_S:.0f} s — "
            "cut it to one or two sentences"
        )
    if seconds < REF_MIN_S:
        raise fail(f"{path} is only {seconds:.2f} s after trimming silence; use 3–10 s of clear speech")
    return ReferenceAudio(samples=np.ascontiguousarray(trimmed), sample_rate=int(sr))


def load_all(voices_dir: str | Path) -> tuple[dict[str, Voice], list[str]]:
    """Every voice that loads (audio included), and one problem line per voice that does not."""
    voices: dict[str, Voice] = {}
    problems: list[str] = []
    for voice_id, toml_path in discover(voices_dir).items():
        try:
            voice = load_voice(voice_id, toml_path)
            read_reference(voice)
        except VoiceError as exc:
            problems.extend(exc.problems)
            continue
        voices[voice_id] = voice
    return voices, problems


def find_voice(voices_dir: str | Path, voice_id: str) -> Voice:
    """The voice ``voice_id`` of ``voices_dir``, its voice.toml parsed; one-line
    VoiceError when there is none (or its file is bad)."""
    found = discover(voices_dir)
    if voice_id not in found:
        raise VoiceError(f"voice {voice_id!r}: not found in {describe_dir(voices_dir)}")
    return load_voice(voice_id, found[voice_id])
