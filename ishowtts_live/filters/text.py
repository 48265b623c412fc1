"""What a voice cannot say, taken out of chat text: links, Bilibili ``[表情]``
codes, emoji and kaomoji, runs of the same character or syllable; and what it
says badly, made readable: acronyms inside Chinese are spelled letter by letter.

Each function takes text already passed through ``chars.clean``. Where one
removal can complete another pattern (an emote glued between two halves of a
face), the step repeats until nothing changes, because ``speech.normalise``
must give the same text when run on its own output (property-tested).
"""

from __future__ import annotations

import re

from ishowtts_live.filters.chars import CJK_RE, HAN, KANA, is_emoji_like

# ------------------------------------------------------------------ links

_TLDS = (
    "com|cn|net|org|tv|io|me|cc|gg|xyz|top|info|live|app|dev|co|jp|uk|de|ru|fm|ly|be|to|link|site|"
    "online|shop|club|vip|example"
)
LINK_RE = re.compile(
    r"(?:https?://|www\.)[^\s" + HAN + r"，。！？、]+"
    # bounded label count and length: "a.a.a.a…" must not backtrack for ever
    r"|(?<!\w)[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,5}\.(?:" + _TLDS + r")\b(?:/[^\s" + HAN + r"，。！？、]*)?",
    re.IGNORECASE,
)


def replace_links(text: str, word: str) -> str:
    """Every URL or bare domain replaced by ``word`` (runs of links by one)."""
    if not word:
        return LINK_RE.sub(" ", text)
    out = LINK_RE.sub(f"\x00{word}\x00", text)
    # adjacent links ("a.com b.com") say the word once
    out = re.sub(f"\x00{re.escape(word)}\x00(?:\\s*\x00{re.escape(word)}\x00)+", f"\x00{word}\x00", out)
    return out.replace(f"\x00{word}\x00", f" {word} ")


# ------------------------------------------------------------------ markup

_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|\{\s*\}|（\s*）|【\s*】|「\s*」|『\s*』")


def _drop_empty_brackets(text: str) -> str:
    while True:  # "(())" empties from the inside out
        emptied = _EMPTY_BRACKETS.sub(" ", text)
        if emptied == text:
            return text
        text = emptied


_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]{0,15}(?:\s[^<>]{0,60})?/?>")
_MENTION = re.compile(r"(?<![A-Za-z])@")  # an e-mail keeps its @
_HASH = re.compile(r"(?<![A-Za-z])#+")


def strip_markup(text: str) -> str:
    """HTML-ish tags, the @ of a mention and the # of a hashtag removed: the
    name and the topic are read, the signs are not ("C#" keeps its #)."""
    text = _HTML_TAG.sub(" ", text)
    text = _MENTION.sub("", text)
    text = _HASH.sub(" ", text)
    return _drop_empty_brackets(text)  # "【#话题#】" without its signs may leave "【 】"


# ------------------------------------------------------------------ emotes

# "+" and "#" are not collapsed: "C++" and "C#" are read as written.
_PUNCT_RUN = re.compile(r"([!?.,~，。！？、…~\-=_*/\\|。·])(?:\s*\1)+")

# Bilibili emote codes: [doge], [笑哭], [tv_微笑], [2233娘_大笑]; short, no spaces.
EMOTE_CODE_RE = re.compile(r"\[[A-Za-z0-9_" + HAN + KANA + r"]{1,16}\]")

# Text faces made of ASCII: ^_^ ^^ T_T -_- =_= >_< o.O :) :-( :D ;P xD (only
# as a whole token, so "re:D" or "3:2" survive).
_ASCII_FACES = re.compile(
    r"(?<![\w^])(?:\^[_.\-o]?\^|[Tt]_[Tt]|[-=>][_.][-=<]|[oO][._][oO]|QAQ|QwQ|OwO|UwU|"
    r"[:;=][-']?[)(DPpOo3|\]\[/\\]|[xX]D)(?![\w^])"
)
# A bracketed run with no letter, digit or Han character inside: (≧∇≦) ( ˘ω˘ )
# (╯°□°）╯ — ω, ∇ and friends are symbols or Greek, never words.
# Latin letters glued to the outside are its arms: o(*^▽^*)o d(^_^)b q(≧▽≦q).
_BRACKETED_FACE = re.compile(
    r"(?:(?<![A-Za-z])[oOdbqp])?"
    r"(?:[(（](?:[^()（）\w]|_){1,20}[)）]|[(（][^()（）]{0,20}[ωσдДєε∀▽∇°ﾟ][^()（）]{0,20}[)）])"
    r"(?:[oOdbqp](?![A-Za-z])|[ブノﾉ])?"
)
# Marks that in chat only ever are the arms of a face: ヽ(°▽°)ノ, ヾ(≧▽≦*)o.
# ノ is also a katakana syllable, so it goes only when not between kana.
_FACE_ARMS = re.compile(f"[ヽヾゞ〃ゝﾉ]|(?<![{KANA}])ノ|ノ(?![{KANA}])")




def remove_emotes(text: str) -> str:
    """Bilibili ``[表情]`` codes, kaomoji and emoji removed (a space left in
    their place, so words on both sides stay apart)."""
    # Removing one can complete another ("o[doge].o"), so until nothing changes.
    for _ in range(4):
        before = text
        text = _PUNCT_RUN.sub(r"\1", text)  # "o..o" is a face too, once its dots are collapsed
        text = EMOTE_CODE_RE.sub(" ", text)
        text = _BRACKETED_FACE.sub(" ", text)
        text = _ASCII_FACES.sub(" ", text)
        text = "".join(" " if is_emoji_like(ch) else ch for ch in text)
        text = _FACE_ARMS.sub(" ", text)
        text = _drop_empty_brackets(drop_unpaired_brackets(text))
        if text == before:
            break
    return text


# ------------------------------------------------------------------ repeats

_MIXED_END = re.compile(r"[!?]{2,}")


def collapse_repeats(text: str, keep: int = 3) -> str:
    """哈哈哈哈哈哈 → 哈哈哈, hahahahaha → hahaha, ????? → ?, !?!? → ?."""
    text = _PUNCT_RUN.sub(r"\1", text)
    text = _MIXED_END.sub(lambda m: "?" if "?" in m.group() else "!", text)
    char_run = re.compile(r"(\w)\1{%d,}" % keep)
    text = char_run.sub(lambda m: m.group(1) * keep, text)
    unit_run = re.compile(r"(\w{2,4}?)\1{%d,}" % keep)
    for _ in range(3):  # a collapsed unit can expose a shorter one ("abab…" inside "ababab…")
        new = unit_run.sub(lambda m: m.group(1) * keep, text)
        if new == text:
            break
        text = new
    return text


# ------------------------------------------------------------------ acronyms

_ACRONYM = re.compile(r"(?<![A-Za-z0-9_])[A-Z]{2,6}(?![A-Za-z0-9_])")


def spell_acronyms(text: str) -> str:
    """In Chinese text, GPU → G P U: the voice reads letters, not a made-up
    word. English text is left alone (the model reads it as English)."""
    if not CJK_RE.search(text):
        return text
    return _ACRONYM.sub(lambda m: " ".join(m.group()), text)


# ------------------------------------------------------------------ spacing

_CJK_SPACE = re.compile(f"(?<=[{HAN}{KANA}，。！？、：；])\\s+(?=[{HAN}{KANA}，。！？、：；])")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[,.!?;:，。！？、：；…])")
_LEADING_JUNK = re.compile(r"^[\s,.;:!?~，。、：；…\-_*#+/\\|·]+")


def tidy_spaces(text: str) -> str:
    """One space at most, none between Chinese characters or before punctuation,
    no punctuation left at the start (what a removed emote leaves behind)."""
    text = re.sub(r"\s+", " ", text).strip()
    text = _CJK_SPACE.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub("", text)
    text = _LEADING_JUNK.sub("", text)
    text = _PUNCT_RUN.sub(r"\1", text)
    return text.strip()


_FULL_WIDTH = str.maketrans({",": "，", "!": "！", "?": "？", ";": "；", ":": "："})
_ASCII_PUNCT_BY_CJK = re.compile(f"(?<=[{HAN}{KANA}])[,!?;:]|[,!?;:](?=[{HAN}{KANA}])")


def chinese_punctuation(text: str) -> str:
    """,!?;: next to Chinese characters as their full-width forms (clean()'s
    NFKC made them ASCII), the way Chinese speech data writes them."""
    return _ASCII_PUNCT_BY_CJK.sub(lambda m: m.group().translate(_FULL_WIDTH), text)


def drop_unpaired_brackets(text: str) -> str:
    """Brackets left without a partner (what is left of a kaomoji) removed."""
    pairs = {")": "(", "]": "[", "}": "{", "）": "（", "】": "【", "」": "「", "』": "『"}
    opening = set(pairs.values())
    stack: list[int] = []
    unpaired: set[int] = set()
    for i, ch in enumerate(text):
        if ch in opening:
            stack.append(i)
        elif ch in pairs:
            if stack and text[stack[-1]] == pairs[ch]:
                stack.pop()
            else:
                unpaired.add(i)
    unpaired.update(stack)
    if not unpaired:
        return text
    return "".join(" " if i in unpaired else ch for i, ch in enumerate(text))


def has_words(text: str) -> bool:
    """True when something in ``text`` can be spoken (a letter, digit or ideograph)."""
    return any(ch.isalnum() for ch in text)
