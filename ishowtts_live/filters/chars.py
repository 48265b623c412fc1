"""Character classes shared by the text normaliser and the blocked-word matcher.

Chat text arrives with every trick a keyboard allows: zero-width joiners and
bidi overrides between characters, full-width or mathematical letters, Cyrillic
look-alikes, combining strike-throughs. ``clean`` removes what cannot be heard,
``fold`` reduces what is left to a comparison key.
"""

from __future__ import annotations

import re
import unicodedata

# Categories that never belong in spoken text: controls, format characters
# (zero-width, bidi, BOM, soft hyphen, tag characters), private use,
# surrogates and unassigned code points.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})
_SPACE_LIKE = frozenset({"Zl", "Zp", "Zs"})

# Blank letters that render as nothing (Hangul fillers, the braille blank),
# the standalone kana sound marks NFKC leaves behind, and combining marks used
# for strike-through / zalgo decoration. Accents on Latin letters survive:
# NFKC composes them into one code point before these are removed.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u3099\u309a\u180e")
_COMBINING_RANGES = (
    (0x0300, 0x036F),  # combining diacritical marks
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),  # combining marks for symbols (keycap, enclosing circle)
    (0xFE00, 0xFE0F),  # variation selectors (emoji presentation)
    (0xFE20, 0xFE2F),
    (0xE0100, 0xE01EF),
)


def _is_decoration(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _COMBINING_RANGES)


def _kept(ch: str, decorations: bool) -> str:
    """What one character becomes: itself, a space, or nothing."""
    if ch.isascii():
        if ch.isprintable():
            return ch
        return " " if ch in "\t\n\r\x0b\x0c" else ""
    cat = unicodedata.category(ch)
    if cat in _INVISIBLE_CATEGORIES or ch in _BLANK_LETTERS or (decorations and _is_decoration(ch)):
        return ""
    return " " if cat in _SPACE_LIKE else ch


class _Table(dict):
    """A str.translate table filled on first sight of each character: chat
    reuses a small alphabet, and a flood strips every character of every line."""

    def __init__(self, decorations: bool):
        super().__init__()
        self.decorations = decorations

    def __missing__(self, cp: int) -> str:
        if len(self) > 100_000:  # bounded: arbitrary input cannot grow it forever
            self.clear()
        kept = self[cp] = _kept(chr(cp), self.decorations)
        return kept


_TABLES = {True: _Table(True), False: _Table(False)}


def _strip(text: str, decorations: bool = True) -> str:
    if text.isascii() and text.isprintable():
        return text
    return text.translate(_TABLES[decorations])


def clean(text: str) -> str:
    """Invisible and decorative characters removed, compatibility forms folded
    (NFKC: full-width ASCII and digits, circled and mathematical letters, the
    ideographic space). Idempotent."""
    # Strip first so a zero-width character cannot keep a base letter and its
    # accent from composing; strip again for what NFKC decomposed into marks.
    text = _strip(unicodedata.normalize("NFKC", _strip(text, decorations=False)))
    return unicodedata.normalize("NFKC", text)


# ------------------------------------------------------------------ scripts

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
KANA = "\u3040-\u309f\u30a0-\u30ff"
HAN_RE = re.compile(f"[{HAN}]")
CJK_RE = re.compile(f"[{HAN}{KANA}\uac00-\ud7af]")
LATIN_RE = re.compile(r"[A-Za-z]")


def language_of(text: str, default: str = "zh") -> str:
    """"zh" when the text has any Chinese or Japanese characters, "en" when it
    has Latin letters and none of those, else ``default`` (digits, symbols)."""
    if CJK_RE.search(text):
        return "zh"
    if LATIN_RE.search(text):
        return "en"
    return default


def is_emoji_like(ch: str) -> bool:
    """Pictographs and decorative symbols that a voice cannot read: emoji,
    dingbats, arrows, box drawing, skin-tone modifiers, regional indicators."""
    if ch.isascii():
        return False
    cat = unicodedata.category(ch)
    return cat in ("So", "Sk", "Sm", "Me")


# ------------------------------------------------------------------ comparison keys

# Letters that look like Latin ones. NFKC already folds full-width,
# mathematical and enclosed letters; these are the ones it leaves alone.
_HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",
    "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "μ": "u",
    # Latin small capitals and other look-alikes
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i",
    "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r",
    "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z", "ı": "i",
    "ɑ": "a", "ɡ": "g", "ɩ": "i",
}
# Regional indicator symbols (the letters flags are made of) spell words too.
_HOMOGLYPHS.update({chr(0x1F1E6 + i): chr(ord("a") + i) for i in range(26)})
_HOMOGLYPH_TABLE = str.maketrans(_HOMOGLYPHS)

# Digits and symbols standing in for letters ("sh1t", "$b", "@ss").
_LEET_TABLE = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                             "8": "b", "@": "a", "$": "s", "!": "i", "|": "l"})


def fold(text: str, *, leet: bool = False) -> str:
    """A comparison key: cleaned, case-folded, look-alikes mapped to Latin, and
    everything that is not a letter or a digit dropped (spaces, punctuation,
    emoji, symbols)."""
    text = clean(text).casefold().translate(_HOMOGLYPH_TABLE)
    if leet:
        text = text.translate(_LEET_TABLE)
    return "".join(ch for ch in text if ch.isalnum())


_RUN = re.compile(r"(.)\1+", re.S)


def squeeze(key: str) -> str:
    """Each run of one character reduced to one ("fuuuck" → "fuck")."""
    return _RUN.sub(r"\1", key)
