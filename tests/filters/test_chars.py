"""Character cleaning, comparison keys and language guess (filters/chars.py)."""

from __future__ import annotations

import pytest

from ishowtts_live.filters.chars import clean, fold, language_of, squeeze


@pytest.mark.parametrize("raw, cleaned", [
    ("ａｂｃ１２３", "abc123"),  # full-width
    ("主\u200b播", "主播"),  # zero-width space
    ("a\u202eb\u2066c\u2069", "abc"),  # bidi overrides and isolates
    ("\ufeffhi\u00ad", "hi"),  # BOM, soft hyphen
    ("s\u0336t\u0336r\u0336i\u0336k\u0336e", "strike"),  # combining strike-through
    ("e\u200b\u0301", "é"),  # accent kept once the zero-width is gone
    ("a\u3000b", "a b"),  # ideographic space
    ("ㅤ\u3164", ""),  # Hangul fillers render as nothing
    ("line\nbreak\tTab", "line break Tab"),
    ("𝐛𝐨𝐥𝐝 ⓒⓘⓡⓒⓛⓔ", "bold circle"),
])
def test_clean(raw, cleaned):
    """Invisible and decorative characters go, compatibility forms fold."""
    assert clean(raw) == cleaned


@pytest.mark.parametrize("raw, key", [
    ("Ｆ u.c-k", "fuck"), ("ѕрам", "spam"), ("ᴀss", "ass"), ("主 播！好", "主播好"), ("🇫🇺🇨🇰", "fuck"),
])
def test_fold(raw, key):
    """Comparison keys drop spacing and punctuation and map look-alike letters to Latin."""
    assert fold(raw) == key


def test_fold_leet_and_squeeze():
    """Leetspeak folds only when asked; squeeze reduces stretched letters."""
    assert fold("sh1t") == "sh1t" and fold("sh1t", leet=True) == "shit"
    assert squeeze("fuuuuck") == "fuck"


@pytest.mark.parametrize("text, lang", [
    ("主播好", "zh"), ("hello 主播", "zh"), ("hello", "en"), ("666", "zh"), ("こんにちは", "zh"), ("!!!", "zh"),
])
def test_language_of(text, lang):
    """Any Chinese or Japanese character makes it Chinese; Latin only is English; else the default."""
    assert language_of(text) == lang


@pytest.mark.parametrize("text", ["主播好", "hello world", "a\u200bb", "😂" * 5, "\x00\x01", ""])
def test_clean_is_idempotent(text):
    """Cleaning twice changes nothing."""
    assert clean(clean(text)) == clean(text)
