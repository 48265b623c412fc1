"""Blocked words and patterns, and the tricks used to slip past them (filters/blocklist.py)."""

from __future__ import annotations

import pytest

from ishowtts_live.errors import ConfigError
from ishowtts_live.filters.blocklist import BlockedPatterns, BlockedWords, compile_patterns

WORDS = BlockedWords(["ass", "fuck", "傻逼", "妈妈", "加群", "Spam"])

BLOCKED = [
    ("傻逼主播", "傻逼"),
    ("傻 逼", "傻逼"),
    ("傻\u200b逼", "傻逼"),
    ("傻\u202e逼", "傻逼"),
    ("傻.逼", "傻逼"),
    ("傻_逼", "傻逼"),
    ("傻傻逼", "傻逼"),
    ("加　群领福利", "加群"),  # ideographic space
    ("fuck", "fuck"),
    ("FUCK", "fuck"),
    ("ｆｕｃｋ", "fuck"),  # full-width
    ("f u c k", "fuck"),
    ("f.u.c.k", "fuck"),
    ("f\u200bu\u200bc\u200bk", "fuck"),
    ("fuuuuck", "fuck"),
    ("fucking hell", "fuck"),
    ("fυck", "fuck"),  # Greek upsilon
    ("fцck".replace("ц", "u"), "fuck"),
    ("ꜰuck".replace("ꜰ", "f"), "fuck"),
    ("𝐟𝐮𝐜𝐤", "fuck"),  # mathematical bold
    ("a s s", "ass"),
    ("fuc k", "fuck"),
    ("fu ck ing", "fuck"),
    ("主播fuck", "fuck"),
    ("motherfucker", "fuck"),
    ("@ss", "ass"),
    ("a55", "ass"),
    ("asssss", "ass"),
    ("ass", "ass"),
    ("аss", "ass"),  # Cyrillic а
    ("buy SPAM now", "Spam"),
    ("妈妈", "妈妈"),
]

KEPT = [
    "class", "pass the ball", "massive", "as", "assessment is fine", "his pam", "a spa match", "2 ss", "妈", "我妈", "加油", "傻了", "主播好", "",
]


@pytest.mark.parametrize("text, word", BLOCKED)
def test_blocked_words_are_found_through_tricks(text, word):
    """Spacing, punctuation, width, case, look-alikes, zero-width and stretching do not hide a word."""
    assert WORDS.find(text) == word


@pytest.mark.parametrize("text", KEPT)
def test_innocent_text_is_not_blocked(text):
    """Short Latin words match whole words only; doubled Chinese words are not squeezed."""
    assert WORDS.find(text) is None


def test_any_of_several_texts_is_checked():
    """The raw text and the spoken text are both checked."""
    assert WORDS.find("hello", "阿明说：傻逼") == "傻逼"


def test_patterns_match_case_insensitively_on_cleaned_text():
    """Patterns see text with width and invisible characters folded."""
    patterns = BlockedPatterns([r"qq\s*群?\s*\d{5,}", r"^!"])
    assert patterns.find("加ＱＱ 12345678") == r"qq\s*群?\s*\d{5,}"
    assert patterns.find("Q\u200bQ群123456") == r"qq\s*群?\s*\d{5,}"
    assert patterns.find("QQ\u200b123456") == r"qq\s*群?\s*\d{5,}"
    assert patterns.find("hello") is None


def test_a_bad_pattern_is_a_config_error_naming_the_key():
    """Every bad regular expression is reported as filters.blocked_patterns: …"""
    with pytest.raises(ConfigError) as info:
        compile_patterns(["ok", "x(", "[a"])
    assert len(info.value.problems) == 2
    assert all(p.startswith("filters.blocked_patterns: bad regular expression") for p in info.value.problems)
    assert "'x('" in info.value.problems[0]
