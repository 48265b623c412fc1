"""Hostile chat text (issue 7 §4): zalgo, bidi overrides, zero-width joiners,
10 kB messages, emoji floods, homoglyph and spacing tricks around blocked
words, markup-looking text and very long digit strings. None crashes the
filters, the speech normaliser or the synthesis front end; every blocked-word
trick is dropped; what is spoken is clean and bounded."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ishowtts_live.config.schema import FiltersConfig, SpeechConfig
from ishowtts_live.events import ChatEvent
from ishowtts_live.filters import FilterChain
from ishowtts_live.filters.moderation import ModerationState
from ishowtts_live.synth.textchunks import nbytes, plan_chunks
from tests.reliability import scale

BLOCKED = "傻逼"

# each hides the blocked word; the filter must see through it
EVASIONS = [
    "傻 逼", "傻\u200b逼", "傻\u200d逼", "傻\u2060逼", "傻\ufeff逼", "傻\u202e逼", "傻\u00ad逼", "傻 逼",
    "傻.逼", "傻_逼", "傻-逼", "傻\t逼", "傻\n逼", "你个傻  逼吧", "傻\u0301逼", "傻\u0336逼",
    "ｓｂ傻逼", "傻\u3000逼", "傻\u180e逼", "傻\u200e逼", "傻\u2066逼\u2069", "（傻）（逼）",
]
EVASIONS_EN = ["b a d w o r d", "ｂａｄｗｏｒｄ", "BADWORD", "b\u200badword", "b.a.d.w.o.r.d", "bаdword"]  # last: Cyrillic а

HOSTILE = [
    "Z\u0351\u0352\u0357\u035b\u0346\u0300\u0301a\u0315\u0321l\u035cg\u0359o" * 30,  # zalgo
    "\u202eevil text reversed\u202c and \u2066isolate\u2069",
    "\u200d" * 500 + "你好" + "\u200b" * 500,
    "长" * 10_000,
    "a" * 10_000,
    "😀" * 2000 + "🎉👍" * 500,
    "👨‍👩‍👧‍👦" * 300,
    "<speak><prosody rate='x-fast'>hi</prosody></speak>",
    "<script>alert(1)</script>{user}{text}{{}}%s%d",
    "[doge]" * 400,
    "1" * 5000,
    "9" * 40 + "." + "9" * 40 + "%",
    "¥" + "9" * 100,
    "\x00\x01\x07\x1b[31mred\x1b[0m\x7f",
    "\ud7ff\ue000\uffff\U0010ffff",
    "(╯°□°）╯︵ ┻━┻" * 50,
    "https://" + "a" * 3000 + ".com/" + "b" * 3000,
    "！？。，" * 1000,
    "\r\n" * 1000,
    "",
    " ",
    "2" * 19 + "年",
]


def chunks_of(text: str) -> list[str]:
    """The engine's chunk plan with its byte-count pace estimate (about 12 bytes a second)."""
    return plan_chunks(text, lambda s: nbytes(s) / 12, first_s=2.0, chunk_s=8.0, max_total_s=30.0)


def chain(**filters) -> FilterChain:
    cfg = FiltersConfig(blocked_words=[BLOCKED, "badword"], duplicate_window_s=0, user_rate_per_min=0,
                        **filters)
    return FilterChain(cfg, SpeechConfig(), ModerationState([], cfg.blocked_words))


def event(text: str, n: int = 0) -> ChatEvent:
    return ChatEvent(platform="twitch", msg_id=f"m{n}", text=text, user_id=f"u{n}", user_name=f"viewer{n}",
                     clock=float(n))


def assert_clean(speak: str, max_chars: int) -> None:
    for ch in speak:
        cat = unicodedata.category(ch)
        assert cat not in ("Cc", "Cf", "Cs", "Co", "Cn"), (hex(ord(ch)), speak[:80])
    # the template adds the user's name around the text, which is capped
    assert len(speak) <= max_chars + 40, len(speak)


@pytest.mark.parametrize("text", EVASIONS + EVASIONS_EN)
def test_blocked_word_tricks_are_dropped(text):
    """Spacing, zero-width, bidi, full-width, case and homoglyph tricks around a blocked word never get through."""
    decision = chain().check(event(text))
    assert not decision.verdict.kept and decision.verdict.reason == "blocked_word", (text, decision)


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_hostile_text_is_handled(index):
    """Each hostile message: kept with clean bounded speech (that the chunker can split), or dropped with a reason."""
    text = HOSTILE[index]
    c = chain()
    decision = c.check(event(text, index))
    if decision.verdict.kept:
        assert_clean(decision.speak, c.cfg.max_chars if hasattr(c, "cfg") else 80)
        chunks = chunks_of(decision.speak)
        assert chunks and all(chunk.strip() for chunk in chunks)
        from ishowtts_live.synth.engine import pinyin_tokens  # the model's text front end

        for chunk in chunks:
            assert pinyin_tokens(chunk, "。")
    else:
        assert decision.verdict.reason


@settings(max_examples=scale(300, 5000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_arbitrary_text_never_crashes(text):
    """Arbitrary Unicode through the whole chain: a verdict every time, clean speech when kept."""
    decision = chain().check(event(text))
    if decision.verdict.kept:
        assert_clean(decision.speak, 80)
        assert chunks_of(decision.speak)


@settings(max_examples=scale(100, 1000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(EVASIONS), min_size=1, max_size=3), st.text(max_size=30), st.text(max_size=30))
def test_blocked_word_in_any_context(tricks, before, after):
    """A blocked word hidden with tricks anywhere in a message is dropped, whatever surrounds it."""
    text = before + " ".join(tricks) + after
    decision = chain().check(event(text))
    assert not decision.verdict.kept, (text, decision.speak)


def test_no_hostile_message_is_longer_than_max_audio_s(engine):
    """Through the real engine's chunk plan and length estimate, every kept hostile
    message is at most ``engine.max_audio_s`` of audio; the longest ones are
    synthesized for real and measured."""
    import numpy as np

    limit = engine.cfg.max_audio_s
    voice = engine.prepared_voice(None)
    params = engine.params(voice, nfe_step=2, seed=0)
    kept = []
    for n, text in enumerate(HOSTILE):
        decision = chain().check(event(text, n))
        if decision.verdict.kept:
            chunks = engine.plan(voice, decision.speak, params)
            planned = sum(engine.frames_for(voice, c, params.speed) for c in chunks) * engine.hop / engine.sample_rate
            assert planned <= limit, (text[:40], planned)
            kept.append((planned, decision.speak))
    assert len(kept) >= 10
    for _, speak in sorted(kept, reverse=True)[:2]:
        audio = np.concatenate([wave for _, wave in engine.stream(None, speak, params)])
        assert len(audio) / engine.sample_rate <= limit, (speak[:40], len(audio) / engine.sample_rate)
