"""Rules with memory on the event clock: duplicates, floods, the per-user rate limit (filters/flood.py)."""

from __future__ import annotations

import pytest

from ishowtts_live.filters.flood import DuplicateFilter, FloodFilter, RateLimiter, text_key


@pytest.mark.parametrize("a, b", [
    ("666", "66666666"), ("主播好", "主播 好！"), ("Hello", "ｈｅｌｌｏ!!"), ("哈哈", "哈哈哈哈哈"),
])
def test_text_keys_equal_for_trivial_variants(a, b):
    """Spacing, punctuation, width, case and stretching do not make a line new."""
    assert text_key(a) == text_key(b)


def test_text_keys_differ_for_different_lines():
    """Different words give different keys; emoji-only lines still get a key."""
    assert text_key("主播好") != text_key("主播坏")
    assert text_key("😂") and text_key("😂") != text_key("🎉")


@pytest.mark.parametrize("times, verdicts", [
    ([0, 1, 2], [False, True, True]),
    ([0, 61, 122], [False, False, False]),  # each one outside the 60 s window
    ([0, 50, 100, 150], [False, True, True, True]),  # each repeat restarts the window
])
def test_duplicates_within_the_window(times, verdicts):
    """The same user and line again within duplicate_window_s is a duplicate."""
    f = DuplicateFilter(60.0)
    assert [f.check("u1", "k", t) for t in times] == verdicts


def test_duplicates_are_per_user_and_off_at_zero():
    """Another user saying the same line is not a duplicate; a zero window turns the rule off."""
    f = DuplicateFilter(60.0)
    assert not f.check("u1", "k", 0) and not f.check("u2", "k", 1)
    off = DuplicateFilter(0.0)
    assert not off.check("u1", "k", 0) and not off.check("u1", "k", 0)


def test_flood_reads_a_line_at_most_max_times_per_window():
    """The same line from many users: the first flood_max pass, the rest are a flood until it calms."""
    f = FloodFilter(10.0, 2)
    verdicts = [f.check("666", t * 0.5) for t in range(8)]
    assert verdicts == [False, False, True, True, True, True, True, True]
    assert not f.check("666", 100.0)  # long after the flood
    assert not f.check("other", 3.0)


def test_rate_limit_token_bucket():
    """burst messages at once, then one per 60/rate seconds of event clock."""
    r = RateLimiter(6.0, 2)  # one every 10 s
    assert [r.allow("u", 0.0), r.allow("u", 0.1), r.allow("u", 0.2)] == [True, True, False]
    assert not r.allow("u", 5.0)
    assert r.allow("u", 10.5)
    assert r.allow("v", 0.3)  # other users have their own bucket


def test_rate_limit_off_at_zero_and_clock_going_backwards_refills_nothing():
    """user_rate_per_min = 0 disables it; an event clock that goes back does not add tokens."""
    assert all(RateLimiter(0.0, 1).allow("u", 0.0) for _ in range(10))
    r = RateLimiter(60.0, 1)
    assert r.allow("u", 100.0)
    assert not r.allow("u", 50.0)
    assert r.allow("u", 101.0)


def test_memory_stays_bounded():
    """Old entries are pruned as the clock moves on, so a long stream does not grow memory."""
    d, f, r = DuplicateFilter(1.0), FloodFilter(1.0, 1), RateLimiter(60.0, 1)
    for i in range(5000):
        d.check(f"u{i}", f"k{i}", float(i))
        f.check(f"k{i}", float(i))
        r.allow(f"u{i}", float(i))
    assert len(d._seen) < 300 and len(f._times) < 300 and len(r._buckets) < 300
