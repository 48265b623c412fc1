"""The configuration schema: every key, its type, its bounds and its default.

``config/ishowtts.toml`` documents each key; ``tests/config`` checks that the
shipped file and these defaults agree. Relative paths are relative to the
directory that holds the config file.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, field

# Markers read by the loader: paths are resolved against the config file's
# folder; secrets are masked by ``config show`` and never logged.
PathStr = Annotated[str, Meta(extra={"path": True})]
SecretStr = Annotated[str, Meta(extra={"secret": True})]

PosInt = Annotated[int, Meta(ge=1)]


class Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class ArchConfig(Section, omit_defaults=True):
    """Overrides of the DiT arguments, for fine-tuned or small models."""

    dim: PosInt | None = None
    depth: PosInt | None = None
    heads: PosInt | None = None
    ff_mult: PosInt | None = None
    text_dim: PosInt | None = None
    conv_layers: Annotated[int, Meta(ge=0)] | None = None


DTYPES = ("auto", "fp16", "bf16", "fp32")
COMPILE_MODES = ("auto", "off", "default", "reduce-overhead", "max-autotune")


class EngineConfig(Section):
    model: str = "F5TTS_v1_Base"
    arch: ArchConfig = field(default_factory=ArchConfig)
    checkpoint: PathStr = ""  # "" = the upstream hub default for `model`
    vocab: PathStr = ""  # "" = the vocabulary shipped with f5-tts
    vocoder: PathStr = ""  # "" = charactr/vocos-mel-24khz from the hub
    cache_dir: PathStr = ""  # "" = the Hugging Face default cache
    device: str = "auto"
    dtype: Literal["auto", "fp16", "bf16", "fp32"] = "auto"
    compile: Literal["auto", "off", "default", "reduce-overhead", "max-autotune"] = "auto"
    nfe_step: Annotated[int, Meta(ge=1, le=64)] = 7
    cfg_strength: Annotated[float, Meta(ge=0.0, le=10.0)] = 2.0
    sway_sampling_coef: Annotated[float, Meta(ge=-1.0, le=1.0)] = -1.0
    speed: Annotated[float, Meta(ge=0.3, le=3.0)] = 1.0
    max_audio_s: Annotated[float, Meta(gt=0.0, le=120.0)] = 30.0
    first_chunk_s: Annotated[float, Meta(ge=0.5, le=20.0)] = 2.0
    chunk_s: Annotated[float, Meta(ge=1.0, le=20.0)] = 8.0
    crossfade_ms: Annotated[int, Meta(ge=0, le=500)] = 60
    block_ms: Annotated[int, Meta(ge=10, le=100)] = 50
    seed: int = -1  # -1 = a fresh seed for every message
    warmup: bool = True


# ----------------------------------------------------------------- sources


class ReplayConfig(Section):
    path: PathStr = "sample-chat.jsonl"
    speed: Annotated[float, Meta(ge=0.0, le=1000.0)] = 1.0  # 0 = as fast as the pipeline takes it
    loop: bool = False


class BilibiliConfig(Section):
    enabled: bool = False


Seconds = Annotated[float, Meta(ge=0.1, le=3600.0)]


class TwitchConfig(Section):
    enabled: bool = False
    channel: str = ""  # the channel's login name (what follows twitch.tv/)
    url: str = "wss://irc-ws.chat.twitch.tv:443"
    # Login: "" = anonymous read-only (justinfanNNNNN). With a token, `nick` is
    # the token owner's login. The token is looked up in the environment
    # variable, then the file, then `token` itself.
    nick: str = ""
    token: SecretStr = ""
    token_file: PathStr = ""
    token_env: str = "ISHOWTTS_TWITCH_TOKEN"
    include_shared_chat: bool = False
    connect_timeout_s: Annotated[float, Meta(ge=1.0, le=120.0)] = 10.0
    ping_interval_s: Annotated[float, Meta(ge=5.0, le=600.0)] = 60.0
    read_timeout_s: Annotated[float, Meta(ge=1.0, le=120.0)] = 10.0
    backoff_initial_s: Seconds = 1.0
    backoff_max_s: Seconds = 60.0


class YouTubeConfig(Section):
    enabled: bool = False
    video_id: str = ""  # the live video's id, or its watch / youtu.be / live URL
    url: str = "https://www.youtube.com"
    chat: Literal["live", "top"] = "live"
    read_backlog: bool = False
    poll_min_s: Annotated[float, Meta(ge=0.2, le=60.0)] = 1.0
    poll_max_s: Annotated[float, Meta(ge=0.5, le=60.0)] = 8.0
    request_timeout_s: Annotated[float, Meta(ge=1.0, le=120.0)] = 15.0
    backoff_initial_s: Seconds = 2.0
    backoff_max_s: Seconds = 120.0


class SourcesConfig(Section):
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    bilibili: BilibiliConfig = field(default_factory=BilibiliConfig)
    twitch: TwitchConfig = field(default_factory=TwitchConfig)
    youtube: YouTubeConfig = field(default_factory=YouTubeConfig)


# ----------------------------------------------------------------- filters and speech text


class FiltersConfig(Section):
    pass


class SpeechConfig(Section):
    pass


# ----------------------------------------------------------------- queue


class QueueConfig(Section):
    pass


# ----------------------------------------------------------------- voices, audio, state, logs


class VoicesConfig(Section):
    dir: PathStr = "../voices"
    default: str = "default"
    by_kind: dict[str, str] = {}  # e.g. {superchat = "streamer"}
    by_user: dict[str, str] = {}  # user name or id → voice


class BacklogConfig(Section):
    enabled: bool = True
    threshold_s: Annotated[float, Meta(gt=0.0)] = 20.0
    recover_s: Annotated[float, Meta(ge=0.0)] = 5.0
    speed: Annotated[float, Meta(ge=1.0, le=2.0)] = 1.3
    nfe_floor: Annotated[int, Meta(ge=1, le=64)] = 5
    compact: bool = True


class DaemonConfig(Section):
    shutdown_grace_s: Annotated[float, Meta(ge=0.0, le=120.0)] = 5.0
    exit_when_replay_ends: bool = True


class AudioConfig(Section):
    output: Literal["auto", "device", "wav", "null"] = "auto"
    wav_path: PathStr = "../out/ishowtts.wav"
    device: str = ""  # substring of the output device name; "" = system default
    latency_ms: Annotated[int, Meta(ge=5, le=2000)] = 100  # device buffer
    sample_rate: Annotated[int, Meta(ge=0, le=384000)] = 0  # 0 = the engine's 24 kHz if the device takes it


class StateConfig(Section):
    dir: PathStr = ""  # "" = $STATE_DIRECTORY (systemd) or ~/.local/state/ishowtts-live


class LogConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"


class Config(Section):
    engine: EngineConfig = field(default_factory=EngineConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    voices: VoicesConfig = field(default_factory=VoicesConfig)
    backlog: BacklogConfig = field(default_factory=BacklogConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    state: StateConfig = field(default_factory=StateConfig)
    log: LogConfig = field(default_factory=LogConfig)
