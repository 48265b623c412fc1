"""YouTube live chat without an API key (see docs/youtube.md)."""

from ishowtts_live.sources.youtube.discovery import extract_video_id
from ishowtts_live.sources.youtube.source import YouTubeSource, build

__all__ = ["YouTubeSource", "build", "extract_video_id"]
