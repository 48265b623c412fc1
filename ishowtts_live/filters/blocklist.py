"""Blocked words and patterns, matched the way chat tries to get around them.

A word is looked for in comparison keys (``chars.fold``): zero-width and bidi
characters, spaces and punctuation between the characters, full-width forms,
case, look-alike Cyrillic/Greek letters and stretched letters ("fuuuck") all
fold away. Chinese words match anywhere in the key (Chinese has no word
boundaries). Latin words match whole words, or inside a longer word when they
are four letters or more, so "ass" does not block "class" while "fuck" still
blocks "fucking"; a word split into whole pieces ("a s s", "fu.ck") is joined
back, but not into a longer word across a space ("spa match" is not "spam").
Leetspeak ("sh1t", "@ss") is folded for Latin words.
"""

from __future__ import annotations

import re
from typing import Iterable

from ishowtts_live.errors import ConfigError
from ishowtts_live.filters.chars import clean, fold, squeeze

_TOKEN = re.compile(r"[^\s,.;:?，。！？、；：~\-_/\\*#+=()\[\]{}<>\"']+")
_LEET_EXTRA = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                             "8": "b", "@": "a", "$": "s", "!": "i", "|": "l"})


def compile_patterns(patterns: Iterable[str], key: str = "filters.blocked_patterns") -> list[re.Pattern[str]]:
    """The configured regular expressions, case-insensitive; a bad one is a
    ConfigError naming it (every bad one at once)."""
    compiled, problems = [], []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            problems.append(f"{key}: bad regular expression {pattern!r}: {exc}")
    if problems:
        raise ConfigError(problems)
    return compiled


def _is_latin(word_key: str) -> bool:
    return word_key.isascii()


_BREAK = "\x00"  # a non-Latin run: a Latin word cannot be joined across it
_LATIN_RUNS = re.compile(r"[a-z0-9]+|[^a-z0-9]+")


def _split(raw: str, leet: bool) -> list[str]:
    if leet and any(ch.isalpha() for ch in raw):
        raw = raw.translate(_LEET_EXTRA)
    return [piece if piece.isascii() else _BREAK for piece in _LATIN_RUNS.findall(fold(raw))]


def _token_lists(text: str) -> list[list[tuple[str, str]]]:
    """Latin word keys of ``text`` in order, once as written and once with
    leetspeak folded (numbers stay numbers: "2 ass" is not "zass"); Chinese
    glued to a word ("主播fuck") separates like a space."""
    raw_tokens = _TOKEN.findall(clean(text).casefold())
    plain = [t for raw in raw_tokens for t in _split(raw, False)]
    leet = [t for raw in raw_tokens for t in _split(raw, True)]
    lists = [plain] if leet == plain else [plain, leet]
    return [[(t, squeeze(t)) for t in tokens] for tokens in lists]


def _squeeze_join(head: str, tail: str) -> str:
    """squeeze(head + tail) for an already squeezed head and tail."""
    return head + tail[1:] if head and tail and head[-1] == tail[0] else head + tail


def _latin_match(word_key: str, tokens: list[tuple[str, str]]) -> bool:
    """``word_key`` made of whole consecutive tokens ("fuc k", "a s s"), or,
    for words of four letters or more, anywhere inside one token
    ("motherfucker"). Not across a word boundary into a longer word: "spa
    match" must not be "spam". Stretched letters count ("asssss") but a
    shorter word never does ("as" is not "ass"). ``tokens`` are (token,
    squeezed token) pairs."""
    long_word = len(word_key) >= 4
    short = squeeze(word_key)
    no_doubles = short == word_key
    for i, (first, first_sq) in enumerate(tokens):
        if long_word and (word_key in first or (no_doubles and word_key in first_sq)):
            return True
        joined = joined_sq = ""
        for token, token_sq in tokens[i:]:
            if token == _BREAK:
                break
            joined += token
            joined_sq = _squeeze_join(joined_sq, token_sq)
            if joined == word_key or (len(joined) >= len(word_key) and joined_sq == short):
                return True
            # the squeezed form only grows: once longer than the word no later
            # token can make it match; stretching is bounded too, so a line of
            # "a.a.a…" stays linear
            if len(joined_sq) > len(short) or len(joined) > 4 * len(word_key) + 8:
                break
    return False


class BlockedWords:
    """Matches a changing list of words (config plus runtime ``!block``)."""

    def __init__(self, words: Iterable[str] = ()):
        self.words = list(words)
        self._latin: list[tuple[str, str]] = []  # (key, word as configured)
        self._other: list[tuple[str, str]] = []
        for word in self.words:
            key = fold(word)
            if not key:
                continue
            (self._latin if _is_latin(key) else self._other).append((key, word))

    def find(self, *texts: str) -> str | None:
        """The first blocked word any of ``texts`` contains, or None."""
        if not self.words:
            return None
        for text in texts:
            if not text:
                continue
            if self._other:
                key = fold(text)
                squeezed = squeeze(key)
                for word_key, word in self._other:
                    # the squeezed comparison only for words without doubled
                    # letters, or "妈妈" would block every "妈"
                    if word_key in key or (squeeze(word_key) == word_key and word_key in squeezed):
                        return word
            if self._latin:
                lists = _token_lists(text)
                for word_key, word in self._latin:
                    if any(_latin_match(word_key, tokens) for tokens in lists):
                        return word
        return None


class BlockedPatterns:
    def __init__(self, patterns: Iterable[str]):
        self.patterns = compile_patterns(patterns)

    def find(self, *texts: str) -> str | None:
        """The first pattern (as configured) that matches any of ``texts``."""
        for text in texts:
            if not text:
                continue
            cleaned = clean(text)
            for pattern in self.patterns:
                if pattern.search(cleaned):
                    return pattern.pattern
        return None
