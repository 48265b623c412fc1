"""[filters] and [speech] keys as the config loader checks them."""

from __future__ import annotations

import pytest

from ishowtts_live.app import load_checked
from ishowtts_live.errors import ConfigError


def _problems(tmp_path, text: str) -> list[str]:
    path = tmp_path / "ishowtts.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_checked(str(path))
    return [p.removeprefix(f"{path}: ") for p in info.value.problems]


def test_a_bad_blocked_pattern_is_reported_by_key(tmp_path):
    """A regular expression that does not compile is `filters.blocked_patterns: …`."""
    problems = _problems(tmp_path, "[filters]\nblocked_patterns = ['ok', 'x(']\n")
    assert any(p.startswith("filters.blocked_patterns: bad regular expression 'x(':") for p in problems), problems


def test_template_and_pronunciation_mistakes_are_reported_by_key(tmp_path):
    """Unknown placeholders and self-containing readings name their key."""
    problems = _problems(tmp_path, "[speech.templates]\nchat = '{name}说：{text}'\n"
                                   "[speech.pronunciations]\nok = 'ok啦'\n")
    assert any(p.startswith("speech.templates.chat: unknown placeholder {name}") for p in problems), problems
    assert any(p.startswith("speech.pronunciations.ok: the reading 'ok啦' contains") for p in problems), problems


@pytest.mark.parametrize("text, problem", [
    ("[filters]\ntoo_long = 'cut'\n", "filters.too_long: must be one of 'truncate', 'drop', got 'cut'"),
    ("[filters]\nmax_chars = 0\n", "filters.max_chars: expected int >= 1, got 0"),
    ("[filters]\nmuted_users = 'bob'\n", "filters.muted_users: expected array, got str"),
    ("[filters]\nflood_windw_s = 3\n", "filters.flood_windw_s: unknown key (did you mean 'flood_window_s'?)"),
    ("[speech]\nmax_repeat = 0\n", "speech.max_repeat: expected int >= 1, got 0"),
])
def test_schema_bounds(tmp_path, text, problem):
    """Types, choices and bounds of the new keys are enforced with `section.key: why`."""
    assert problem in _problems(tmp_path, text)
