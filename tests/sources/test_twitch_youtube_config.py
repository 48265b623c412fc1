"""Config for the Twitch and YouTube sources: checks, secrets, masking."""

from __future__ import annotations

import pytest

from ishowtts_live.app import load_checked
from ishowtts_live.config import show_config
from ishowtts_live.config.loading import MASK
from ishowtts_live.config.secrets import resolve_secret
from ishowtts_live.errors import ConfigError
from tests import kit


def _load(tmp_path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text + f"\n[voices]\ndir = '{kit.ROOT / 'voices'}'\n")
    return load_checked(str(path))


@pytest.mark.parametrize(("text", "expected"), [
    ("[sources.twitch]\nenabled = true\n", "sources.twitch.channel: required when sources.twitch.enabled is true"),
    ("[sources.twitch]\ntoken = 'abc'\n", "sources.twitch.nick: required with a token"),
    ("[sources.twitch]\ntoken_file = 'missing-token'\nnick = 'me'\n", "sources.twitch.token_file: file not found"),
    ("[sources.twitch]\nurl = 'irc.chat.twitch.tv:6667'\n", "sources.twitch.url: expected a ws:// or wss://"),
    ("[sources.youtube]\nenabled = true\nvideo_id = 'nope'\n", "sources.youtube.video_id: not a video id"),
    ("[sources.youtube]\npoll_min_s = 9.0\npoll_max_s = 2.0\n", "sources.youtube.poll_min_s: must not exceed"),
    ("[sources.youtube]\nchat = 'everything'\n", "sources.youtube.chat: must be one of 'live', 'top'"),
    ("[sources.twitch]\nbackoff_initial_s = 90.0\n", "sources.twitch.backoff_initial_s: must not exceed"),
])
def test_unworkable_source_settings_are_reported(tmp_path, text, expected):
    """Each unworkable Twitch/YouTube setting is one `section.key: why` line."""
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert any(expected in problem for problem in info.value.problems), info.value.problems


def test_token_is_masked_by_config_show(tmp_path):
    """sources.twitch.token is a secret: config show prints the mask, not the token."""
    loaded = _load(tmp_path, "[sources.twitch]\ntoken = 'oauth:verysecret'\nnick = 'me'\n")
    shown = show_config(loaded)
    assert "verysecret" not in shown and f'token = "{MASK}"' in shown


def test_secret_lookup_order(tmp_path, monkeypatch):
    """The environment variable wins over the file, the file over the inline value; an unreadable file is a config error."""
    path = tmp_path / "tok"
    path.write_text("  from-file\n")
    monkeypatch.setenv("T_ENV", "from-env")
    assert resolve_secret("inline", str(path), "T_ENV", where="x.token_file") == "from-env"
    monkeypatch.delenv("T_ENV")
    assert resolve_secret("inline", str(path), "T_ENV", where="x.token_file") == "from-file"
    assert resolve_secret(" inline ", "", "T_ENV", where="x.token_file") == "inline"
    with pytest.raises(ConfigError, match="x.token_file: cannot read"):
        resolve_secret("", str(tmp_path / "nope"), "", where="x.token_file")


def test_enabled_sources_with_settings_load(tmp_path):
    """A complete Twitch + YouTube section passes every check."""
    loaded = _load(tmp_path, "[sources.twitch]\nenabled = true\nchannel = 'somechannel'\n"
                             "[sources.youtube]\nenabled = true\nvideo_id = 'https://youtu.be/jfKfPfyJRdk'\n")
    assert loaded.config.sources.twitch.channel == "somechannel"
