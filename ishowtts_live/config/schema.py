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


class TritonClientConfig(Section):
    """``engine.backend = "triton"``: synthesis on a Triton Inference Server (docs/scale-out.md)."""

    url: str = "grpc://127.0.0.1:8001"  # grpc://host:port, http://host:port or https://host:port
    model: str = "f5_tts"
    timeout_s: Annotated[float, Meta(gt=0.0, le=600.0)] = 30.0  # one chunk's request


class EngineConfig(Section):
    backend: Literal["local", "triton"] = "local"
    triton: TritonClientConfig = field(default_factory=TritonClientConfig)
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
    cpu_threads: Annotated[int, Meta(ge=0, le=256)] = 0  # on the CPU; 0 = all cores but one
    # The fast path (docs/speed.md): bucketed lengths, batching, CUDA graphs.
    fast_path: Literal["auto", "on", "off"] = "auto"  # auto = on with CUDA, off on the CPU
    buckets_s: list[Annotated[float, Meta(gt=0.0, le=120.0)]] = field(
        default_factory=lambda: list(DEFAULT_BUCKETS_S))
    max_batch: Annotated[int, Meta(ge=1, le=64)] = 4
    cuda_graphs: bool = True
    cache_mb: Annotated[float, Meta(ge=0.0, le=16384.0)] = 32.0
    # Waiting messages synthesized while one plays; -1 = max_batch on the fast path, else 1.
    prefetch: Annotated[int, Meta(ge=-1, le=64)] = -1


# Total sequence lengths (reference + generated speech), in seconds, that the
# fast path pads to: few enough to compile and capture each at start.
DEFAULT_BUCKETS_S = (6.0, 8.0, 10.0, 12.0, 15.0, 18.0, 22.0, 26.0, 30.0)


# ----------------------------------------------------------------- sources


class ReplayConfig(Section):
    path: PathStr = ""  # "" = the demo chat log shipped in the package
    speed: Annotated[float, Meta(ge=0.0, le=1000.0)] = 1.0  # 0 = as fast as the pipeline takes it
    loop: bool = False


BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
)


class BilibiliOpenConfig(Section):
    """The open live platform (开放平台): real names without a login cookie."""

    app_id: Annotated[int, Meta(ge=0)] = 0
    access_key_id: SecretStr = ""  # or $BILIBILI_OPEN_ACCESS_KEY_ID
    access_key_secret: SecretStr = ""  # or $BILIBILI_OPEN_ACCESS_KEY_SECRET
    code: SecretStr = ""  # the streamer's identity code (身份码), or $BILIBILI_OPEN_CODE
    api_base: str = "https://live-open.biliapi.com"
    heartbeat_s: Annotated[float, Meta(ge=1.0, le=50.0)] = 20.0


class BilibiliConfig(Section):
    enabled: bool = False
    mode: Literal["web", "open"] = "web"
    room: Annotated[int, Meta(ge=0)] = 0  # 0 = given on the command line
    url: str = ""  # a danmaku WebSocket to use as is: no discovery, empty key
    transport: Literal["wss", "ws"] = "wss"
    live_api: str = "https://api.live.bilibili.com"
    main_api: str = "https://api.bilibili.com"
    home_url: str = "https://www.bilibili.com/"
    fallback_url: str = "wss://broadcastlv.chat.bilibili.com:443/sub"
    user_agent: str = BROWSER_UA
    cookie: SecretStr = ""
    cookie_file: PathStr = ""
    cookie_env: str = "BILIBILI_COOKIE"
    heartbeat_s: Annotated[float, Meta(ge=1.0, le=60.0)] = 30.0
    read_timeout_s: Annotated[float, Meta(ge=2.0, le=600.0)] = 45.0
    connect_timeout_s: Annotated[float, Meta(gt=0.0, le=120.0)] = 10.0
    http_timeout_s: Annotated[float, Meta(gt=0.0, le=120.0)] = 10.0
    gift_combo_s: Annotated[float, Meta(ge=0.0, le=60.0)] = 3.0
    gift_combo_max_s: Annotated[float, Meta(ge=0.0, le=300.0)] = 10.0
    backoff_initial_s: Annotated[float, Meta(gt=0.0, le=60.0)] = 1.0
    backoff_max_s: Annotated[float, Meta(gt=0.0, le=3600.0)] = 60.0
    open: BilibiliOpenConfig = field(default_factory=BilibiliOpenConfig)


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
    muted_users: list[str] = []  # names or ids (``platform:id`` also works)
    blocked_words: list[str] = []
    blocked_patterns: list[str] = []  # Python regular expressions, case-insensitive
    max_chars: Annotated[int, Meta(ge=1, le=2000)] = 80
    too_long: Literal["truncate", "drop"] = "truncate"
    backlog_max_chars: Annotated[int, Meta(ge=1, le=2000)] = 40
    duplicate_window_s: Annotated[float, Meta(ge=0.0, le=86400.0)] = 60.0
    flood_window_s: Annotated[float, Meta(ge=0.0, le=86400.0)] = 15.0
    flood_max: Annotated[int, Meta(ge=1, le=1000)] = 2
    user_rate_per_min: Annotated[float, Meta(ge=0.0, le=6000.0)] = 6.0
    user_burst: Annotated[int, Meta(ge=1, le=1000)] = 3
    paid_only: bool = False
    min_amount: Annotated[float, Meta(ge=0.0)] = 0.0
    moderator_commands: bool = True
    command_prefix: Annotated[str, Meta(min_length=1, max_length=4)] = "!"


class TemplatesConfig(Section):
    chat: str = "{user}说：{text}"
    superchat: str = "{user}的醒目留言：{text}"
    gift: str = "感谢{user}{text}"
    member: str = "欢迎{user}{text}"
    system: str = "{text}"


class EnglishTemplatesConfig(Section):
    chat: str = "{user} says: {text}"
    superchat: str = "Super chat from {user}: {text}"
    gift: str = "Thanks {user}: {text}"
    member: str = "Welcome {user}: {text}"
    system: str = "{text}"


class CompactTemplatesConfig(Section):
    chat: str = "{text}"
    superchat: str = "{user}：{text}"
    gift: str = "谢谢{user}"
    member: str = "欢迎{user}"
    system: str = "{text}"


class SpeechConfig(Section):
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    templates_en: EnglishTemplatesConfig = field(default_factory=EnglishTemplatesConfig)
    compact_templates: CompactTemplatesConfig = field(default_factory=CompactTemplatesConfig)
    default_language: Literal["zh", "en"] = "zh"
    anonymous: str = "有人"
    user_name_max_chars: Annotated[int, Meta(ge=1, le=64)] = 12
    link_word: str = "链接"
    link_word_en: str = "link"
    chinese_numbers: bool = True
    spell_acronyms: bool = True
    max_repeat: Annotated[int, Meta(ge=1, le=10)] = 3
    pronunciations: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PRONUNCIATIONS))


# Chat slang a voice cannot guess; a [speech.pronunciations] table in the
# config file replaces this one.
DEFAULT_PRONUNCIATIONS = {
    "yyds": "永远的神",
    "xswl": "笑死我了",
    "awsl": "啊我死了",
    "nb": "牛逼",
    "orz": "跪了",
    "gg": "G G",
}


# ----------------------------------------------------------------- queue


class QueueConfig(Section):
    """The speech queue (see docs/queue.md). TTLs count from the moment an
    item is queued, on the event clock (recorded time for replays)."""

    max_items: Annotated[int, Meta(ge=1, le=10000)] = 200
    # Waiting chat items per user; 0 = no cap. Paid and announcements are never capped.
    max_per_user: Annotated[int, Meta(ge=0, le=10000)] = 3
    # Per-class time to live in seconds; 0 = never stale.
    ttl_chat_s: Annotated[float, Meta(ge=0.0, le=86400.0)] = 30.0
    ttl_announcement_s: Annotated[float, Meta(ge=0.0, le=86400.0)] = 300.0
    ttl_paid_s: Annotated[float, Meta(ge=0.0, le=86400.0)] = 0.0
    # A paid message cut off by this many crashes is given up (logged); 0 = never.
    give_up_after_crashes: Annotated[int, Meta(ge=0, le=1000)] = 3


# ----------------------------------------------------------------- voices, audio, state, logs


class VoicesConfig(Section):
    dir: PathStr = ""  # "" = only the voices built into the package
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
    # Under systemd each warm-up step extends the start timeout by this much (EXTEND_TIMEOUT_USEC).
    warmup_step_timeout_s: Annotated[float, Meta(ge=10.0, le=86400.0)] = 600.0


class AudioConfig(Section):
    output: Literal["auto", "device", "wav", "null"] = "auto"
    wav_path: PathStr = ""  # "" = ishowtts.wav in the state directory
    device: str = ""  # substring of the output device name; "" = system default
    latency_ms: Annotated[int, Meta(ge=5, le=2000)] = 100  # device buffer
    sample_rate: Annotated[int, Meta(ge=0, le=384000)] = 0  # 0 = the engine's 24 kHz if the device takes it


class StateConfig(Section):
    dir: PathStr = ""  # "" = $STATE_DIRECTORY (systemd) or ~/.local/state/ishowtts-live


class ControlConfig(Section):
    """The moderator API, the overlay page and /metrics (see docs/control.md)."""

    enabled: bool = True
    host: str = "127.0.0.1"  # loopback only, unless you change it
    port: Annotated[int, Meta(ge=1, le=65535)] = 8765
    unix_socket: PathStr = ""  # listen on this socket instead of host:port
    token_file: PathStr = ""  # "" = <state dir>/control.token (created, mode 0600)
    max_body_bytes: Annotated[int, Meta(ge=1024, le=16 * 1024 * 1024)] = 65536
    allowed_origins: list[str] = []  # web origins allowed besides the server's own
    allowed_hosts: list[str] = []  # host names accepted besides IP addresses and localhost


Port = Annotated[int, Meta(ge=1, le=65535)]


class ServeConfig(Section):
    """``ishowtts-live serve``: this engine as the Triton model ``f5_tts`` (docs/scale-out.md)."""

    address: str = "0.0.0.0"  # where gRPC, HTTP and metrics listen
    grpc_port: Port = 8001
    http_port: Port = 8000
    metrics_port: Port = 8002
    model: str = "f5_tts"
    max_batch: Annotated[int, Meta(ge=1, le=64)] = 4  # requests Triton groups into one engine batch
    queue_delay_ms: Annotated[float, Meta(ge=0.0, le=1000.0)] = 5.0  # how long a batch waits to fill
    voice_cache: Annotated[int, Meta(ge=1, le=4096)] = 64  # prepared references kept


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
    control: ControlConfig = field(default_factory=ControlConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    log: LogConfig = field(default_factory=LogConfig)
