from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ishowtts_live.synth.textchunks import clauses, plan_chunks

# ~0.4 s per CJK character at the example voice's pace (3 bytes each)
PER_BYTE = 0.13


def seconds(text: str) -> float:
    return len(text.encode("utf-8")) * PER_BYTE


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_first_chunk_is_short_and_later_ones_fill_up():
    """The voice starts on a short clause; the rest comes in longer chunks."""
    text = "大家好，欢迎来到我的直播间！今天我们来玩一个新游戏，希望大家喜欢。下播之前还会抽奖，记得留下来哦。"
    chunks = plan_chunks(text, seconds, first_s=2.0, chunk_s=8.0)
    assert chunks[0] == "大家好，"
    assert all(seconds(c) <= 8.0 for c in chunks)
    assert len(chunks) >= 3 and squash("".join(chunks)) == squash(text)


def test_long_first_clause_is_split_at_a_word_boundary():
    """A first sentence with no early punctuation still starts within budget."""
    text = "this is a fairly long first sentence without any commas at all that keeps going on"
    chunks = plan_chunks(text, lambda s: len(s) * 0.06, first_s=1.0, chunk_s=4.0)
    assert len(chunks[0]) * 0.06 <= 1.0
    assert " ".join(chunks).split() == text.split()


def test_decimal_points_do_not_split():
    """'3.5' and 'v1.2' are not sentence ends."""
    assert clauses("价格是3.5元，版本v1.2好用") == ["价格是3.5元，", "版本v1.2好用"]


def test_tiny_last_chunk_is_folded_back():
    """A trailing fragment like '好。' joins the chunk before it."""
    text = "今天我们来玩一个新游戏，希望大家都会喜欢这个游戏。好。"
    chunks = plan_chunks(text, seconds, first_s=2.0, chunk_s=8.0)
    assert not chunks[-1] == "好。"


def test_max_total_drops_chunks_past_the_limit():
    """Chunks beyond max_total_s of estimated speech are not synthesized."""
    text = "哈哈哈哈哈哈哈，" * 40
    chunks = plan_chunks(text, seconds, first_s=2.0, chunk_s=8.0, max_total_s=10.0)
    assert sum(seconds(c) for c in chunks[:-1]) < 10.0 <= sum(seconds(c) for c in chunks) + 8.0


text_strategy = st.text(
    alphabet=st.sampled_from(list("大家好欢迎来到直播间") + list("abc xyz") + list("，。！？,.!? 1234")),
    min_size=0,
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(text_strategy)
def test_chunking_keeps_every_character_and_every_budget(text):
    """No character is lost or invented; no chunk is empty; chunks fit their
    budget unless a single unbreakable word is longer than it."""
    chunks = plan_chunks(text, seconds, first_s=2.0, chunk_s=8.0)
    assert squash("".join(chunks)) == squash(text)
    assert all(c.strip() for c in chunks)
    for i, chunk in enumerate(chunks):
        limit = 2.0 * 2 if i == 0 else 8.0 * 1.25
        longest_word = max((seconds(w) for w in re.findall(r"[A-Za-z0-9'’\-]+|.", chunk)), default=0)
        assert seconds(chunk) <= max(limit, longest_word) + seconds("。") * 4, (chunks, i)
