"""Twitch chat: IRC over WebSocket (see docs/twitch.md)."""

from ishowtts_live.sources.twitch.source import TwitchLoginError, TwitchSource, build, normalize_channel

__all__ = ["TwitchSource", "TwitchLoginError", "build", "normalize_channel"]
