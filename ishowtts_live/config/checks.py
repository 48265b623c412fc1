"""Checks that need the decoded config: model names, devices, voices.

Torch-free (voices are read with soundfile), so ``config check`` stays fast.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ishowtts_live.config.loading import LoadedConfig

DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_engine(loaded: LoadedConfig) -> list[str]:
    from ishowtts_live.synth.resources import upstream_model_names

    engine = loaded.config.engine
    problems = []
    names = upstream_model_names()
    if not names:
        problems.append("engine.model: the f5-tts package is not installed")
    elif engine.model not in names:
        problems.append(f"engine.model: unknown model {engine.model!r}; f5-tts ships {', '.join(names)}")
    elif not engine.model.startswith("F5TTS"):
        problems.append(f"engine.model: {engine.model!r} is not a DiT (F5TTS_*) model; only those are supported")
    if not DEVICE.match(engine.device):
        problems.append(f"engine.device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {engine.device!r}")
    for key in ("checkpoint", "vocab"):
        value = getattr(engine, key)
        if value and "://" not in value and not Path(value).is_file():
            problems.append(f"engine.{key}: file not found: {value}")
    if engine.vocoder and "://" not in engine.vocoder:
        root = Path(engine.vocoder)
        missing = [n for n in ("config.yaml", "pytorch_model.bin") if not (root / n).is_file()]
        if missing:
            problems.append(
                f"engine.vocoder: {root} must be a Vocos folder with config.yaml and pytorch_model.bin "
                f"(missing: {', '.join(missing)})"
            )
    if engine.first_chunk_s > engine.chunk_s:
        problems.append("engine.first_chunk_s: must not exceed engine.chunk_s")
    if not engine.buckets_s:
        problems.append("engine.buckets_s: give at least one length (seconds of reference + speech)")
    elif len(set(engine.buckets_s)) != len(engine.buckets_s):
        problems.append("engine.buckets_s: lengths must differ from each other")
    return problems


def check_voices(loaded: LoadedConfig) -> list[str]:
    from ishowtts_live.synth import voices

    cfg = loaded.config.voices
    if cfg.dir and not Path(cfg.dir).is_dir():
        return [f"voices.dir: folder not found: {cfg.dir}"]
    found, problems = voices.load_all(cfg.dir)
    ids = voices.discover(cfg.dir)
    if cfg.default not in ids:
        known = ", ".join(ids) or "none"
        problems.append(f"voices.default: no voice {cfg.default!r} in {voices.describe_dir(cfg.dir)} (found: {known})")
    return problems


def check_twitch_youtube(loaded: LoadedConfig) -> list[str]:
    """Values of the right type that still cannot work for the Twitch and YouTube sources."""
    problems = []
    twitch, youtube = loaded.config.sources.twitch, loaded.config.sources.youtube
    if twitch.enabled and not twitch.channel.strip():
        problems.append("sources.twitch.channel: required when sources.twitch.enabled is true")
    if twitch.token_file and not Path(twitch.token_file).is_file():
        problems.append(f"sources.twitch.token_file: file not found: {twitch.token_file}")
    if (twitch.token or twitch.token_file) and not twitch.nick.strip():
        problems.append("sources.twitch.nick: required with a token (the login name of the token's owner)")
    if not twitch.url.startswith(("ws://", "wss://")):
        problems.append(f"sources.twitch.url: expected a ws:// or wss:// address, got {twitch.url!r}")
    if youtube.enabled:
        from ishowtts_live.sources.youtube.discovery import extract_video_id

        try:
            extract_video_id(youtube.video_id)
        except ValueError:
            problems.append(f"sources.youtube.video_id: not a video id or watch URL: {youtube.video_id!r}")
    if not youtube.url.startswith(("http://", "https://")):
        problems.append(f"sources.youtube.url: expected an http:// or https:// address, got {youtube.url!r}")
    if youtube.poll_min_s > youtube.poll_max_s:
        problems.append("sources.youtube.poll_min_s: must not exceed sources.youtube.poll_max_s")
    for name, section in (("twitch", twitch), ("youtube", youtube)):
        if section.backoff_initial_s > section.backoff_max_s:
            problems.append(f"sources.{name}.backoff_initial_s: must not exceed sources.{name}.backoff_max_s")
    return problems


def check_filters(loaded: LoadedConfig) -> list[str]:
    """Regular expressions that compile, templates with known placeholders, and
    readings that do not contain their own word (or normalising twice would
    expand it twice)."""
    from ishowtts_live.errors import ConfigError
    from ishowtts_live.filters.blocklist import compile_patterns
    from ishowtts_live.filters.speech import template_problems

    cfg = loaded.config
    problems: list[str] = []
    try:
        compile_patterns(cfg.filters.blocked_patterns)
    except ConfigError as exc:
        problems.extend(exc.problems)
    for section in ("templates", "templates_en", "compact_templates"):
        templates = getattr(cfg.speech, section)
        for kind in ("chat", "superchat", "gift", "member", "system"):
            why = template_problems(getattr(templates, kind))
            if why:
                problems.append(f"speech.{section}.{kind}: {why}")
    table = {k.casefold(): v for k, v in cfg.speech.pronunciations.items()}
    for word, reading in cfg.speech.pronunciations.items():
        if not word.strip():
            problems.append("speech.pronunciations: an empty word")
            continue
        inside = [w for w in table if w.strip() and w in reading.casefold()]
        if inside:
            problems.append(f"speech.pronunciations.{word}: the reading {reading!r} contains the word "
                            f"{inside[0]!r}, which would be replaced again")
    return problems


def check_bilibili(loaded: LoadedConfig) -> list[str]:
    from ishowtts_live.sources.bilibili.settings import check

    return check(loaded.config.sources.bilibili)


def check_control(loaded: LoadedConfig) -> list[str]:
    from ishowtts_live.control.security import check_bind_host

    return check_bind_host(loaded.config.control.host)


CHECKS: list[Callable[[LoadedConfig], list[str]]] = [
    check_engine, check_voices, check_bilibili, check_twitch_youtube, check_filters, check_control,
]


def run_checks(loaded: LoadedConfig) -> list[str]:
    return [problem for check in CHECKS for problem in check(loaded)]
