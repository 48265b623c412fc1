"""Checks of ``[sources]``: values of the right type that still cannot work,
and what ``run`` needs of the sources it would start (every enabled live
source; the replay log when none is enabled), so ``config check`` refuses
what ``run`` would refuse."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ishowtts_live.config.loading import LoadedConfig

LIVE_PLATFORMS = ("bilibili", "twitch", "youtube")


def live_enabled(loaded: LoadedConfig) -> list[str]:
    """The live platforms ``run`` reads; none = it replays ``sources.replay.path``."""
    return [p for p in LIVE_PLATFORMS if getattr(loaded.config.sources, p).enabled]


def check_replay(loaded: LoadedConfig) -> list[str]:
    path = loaded.config.sources.replay.path
    if live_enabled(loaded) or Path(path).is_file():
        return []
    return [f"sources.replay.path: chat log not found: {path}"]


def check_bilibili(loaded: LoadedConfig) -> list[str]:
    from ishowtts_live.sources.bilibili.settings import check

    return check(loaded.config.sources.bilibili)


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
