"""Properties of speech normalisation that must hold for any input (hypothesis)."""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, example, given, settings, strategies as st

from ishowtts_live.config.schema import SpeechConfig
from ishowtts_live.events import ChatEvent
from ishowtts_live.filters.speech import Speech

SPEECH = Speech(SpeechConfig())
SPEECH_EN = Speech(SpeechConfig(default_language="en"))

# Chat-shaped text: Chinese, Latin, digits, punctuation, emoji, invisible
# characters, full-width forms, kaomoji parts, links and emote codes, mixed.
_PIECES = st.sampled_from([
    "哈", "哈哈哈哈", "主播", "666", "2333", "2024年", "¥30", "50%", "3.14", "１２", "GPU", "AI", "nb", "yyds",
    "http://a.cn/x", "www.b.com", "x.tv", "[doge]", "[笑哭]", "😂", "🎉🎉", "👍🏽", "(≧∇≦)", "(╯°□°）╯︵ ┻━┻",
    "^_^", ":)", "T_T", "\u200b", "\u202e", "\u2066", "\ufeff", "\u00ad", "！", "？？", "...", "。。", " ", "\n",
    "ｈｉ", "Ａ", "а", "ο", "\u0301", "\u3000", "ヽ", "ノ", "(", ")", "【", "】", "#", "@", "1", "0", "2", "w",
    ":", "/", "-", ".", ",", "%", "$", "年", "个", "第", "月", "x",
])
CHATTY = st.lists(st.one_of(_PIECES, st.text(max_size=3)), max_size=14).map("".join)
ANY_TEXT = st.text(max_size=60)

_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn"}


def _assert_speakable(out: str) -> None:
    for ch in out:
        assert unicodedata.category(ch) not in _FORBIDDEN_CATEGORIES, f"{ch!r} in {out!r}"
    assert out == out.strip()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(CHATTY, ANY_TEXT))
@example("哈哈 哈哈 哈哈")
@example("666 666 666")
@example("(())")
def test_normalise_is_idempotent_and_clean(text):
    """Never raises; normalise(normalise(x)) == normalise(x); no control, zero-width or bidi characters."""
    for speech in (SPEECH, SPEECH_EN):
        once = speech.normalise(text)
        assert speech.normalise(once) == once, (text, once)
        _assert_speakable(once)


@settings(max_examples=200, deadline=None)
@given(st.one_of(CHATTY, ANY_TEXT), st.one_of(CHATTY, ANY_TEXT),
       st.sampled_from(["chat", "superchat", "gift", "member", "system"]),
       st.floats(min_value=0, max_value=1e6, allow_nan=False), st.booleans())
def test_render_never_raises_and_stays_clean(text, name, kind, amount, compact):
    """Whatever the user name, kind and amount, the spoken line has no invisible characters."""
    event = ChatEvent(platform="replay", msg_id="m", text=text, user_name=name, kind=kind, amount=amount)
    spoken = SPEECH.render(event, SPEECH.normalise(text), compact=compact)
    _assert_speakable(spoken)


_SEPARATORS = st.sampled_from(["", " ", "\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", ".", "-", "_", "*", "　", "\u00ad"])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["傻逼", "加群", "fuck", "spam", "屏蔽词"]), st.data())
def test_blocked_words_survive_inserted_junk_and_width(word, data):
    """Any mix of spaces, zero-width/bidi characters, punctuation, full-width forms and case
    between the characters of a blocked word is still caught."""
    from ishowtts_live.filters.blocklist import BlockedWords

    chars = []
    for ch in word:
        if ch.isascii() and data.draw(st.booleans()):
            ch = chr(ord(ch) - 0x21 + 0xFF01)  # full-width form
        if data.draw(st.booleans()):
            ch = ch.upper()
        chars.append(ch + data.draw(_SEPARATORS))
    prefix = data.draw(st.sampled_from(["", "主播", "hey "]))
    assert BlockedWords([word]).find(prefix + "".join(chars)) == word


@settings(max_examples=200, deadline=None)
@given(st.one_of(CHATTY, ANY_TEXT), st.one_of(CHATTY, ANY_TEXT),
       st.sampled_from(["chat", "superchat", "gift", "member", "system"]), st.booleans(), st.booleans())
def test_the_chain_never_raises(text, name, kind, moderator, compact):
    """Any event gets a verdict; kept ones have speakable text, dropped ones a known reason."""
    from ishowtts_live.config.schema import FiltersConfig
    from ishowtts_live.events import UserFlags
    from ishowtts_live.filters import REASONS, FilterChain

    chain = FilterChain(FiltersConfig(blocked_words=["傻逼"]), SpeechConfig())
    event = ChatEvent(platform="replay", msg_id="m", text=text, user_name=name, kind=kind,
                      flags=UserFlags(moderator=moderator))
    d = chain.check(event, compact=compact)
    if d.verdict.kept:
        assert d.speak
        _assert_speakable(d.speak)
    else:
        assert d.verdict.reason in REASONS and not d.speak
