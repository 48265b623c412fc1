"""The drift tally every source keeps: the last minute's window, warn-once for
unknown names, rate-limited warnings with samples for unparsable ones, and
bounded label sets."""

from __future__ import annotations

import structlog

from ishowtts_live.sources.drift import MAX_NAMES, OTHER, Drift, LastMinute, clip


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_last_minute_forgets_what_is_older_than_sixty_seconds():
    """Counts added over time are summed while inside the window and dropped once they leave it."""
    clock = Clock()
    window = LastMinute(clock=clock)
    window.add("read", 3)
    clock.t += 30
    window.add("read")
    window.add("unknown", 2)
    assert window.counts() == {"read": 4, "unknown": 2}
    clock.t += 31  # the first add is now 61 s old
    assert window.counts() == {"read": 1, "unknown": 2}
    clock.t += 60
    assert window.counts() == {}


def test_unknown_names_are_warned_once_each_and_counted():
    """Each unknown name warns the first time only (with a truncated sample); every one is counted by name."""
    drift = Drift("bilibili:1", clock=Clock())
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            drift.unknown_kind("SEND_GIFT_V3", {"cmd": "SEND_GIFT_V3", "data": "x" * 1000})
        drift.unknown_kind("OTHER_NEW")
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["kind"] for e in warnings] == ["SEND_GIFT_V3", "OTHER_NEW"]
    assert len(warnings[0]["sample"]) < 400 and "x" * 1000 not in warnings[0]["sample"]
    assert drift.unknown == {"SEND_GIFT_V3": 3, "OTHER_NEW": 1}
    assert drift.last_minute()["unknown_kinds"] == {"SEND_GIFT_V3": 3, "OTHER_NEW": 1}


def test_unparsable_warnings_repeat_at_most_once_a_minute_with_the_count_between():
    """The first unparsable item of a kind warns with its sample; more within a minute go to debug; the next
    warning after a minute says how many there were meanwhile."""
    clock = Clock()
    drift = Drift("youtube:x", clock=clock)
    with structlog.testing.capture_logs() as logs:
        drift.unparsable_kind("addChatItemAction", "ValueError: item without id", {"a": 1})
        for _ in range(4):
            drift.unparsable_kind("addChatItemAction", "ValueError: item without id")
        clock.t += 61
        drift.unparsable_kind("addChatItemAction", "ValueError: item without id")
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert len(warnings) == 2 and warnings[0]["sample"] == "{'a': 1}"
    assert warnings[1]["more_since_last_warning"] == 4
    assert drift.unparsable == {"addChatItemAction": 6}
    assert drift.last_minute()["unparsable"] == 1  # the other five are over a minute old


def test_names_from_the_wire_are_bounded():
    """Past MAX_NAMES distinct names, new ones count as '(other)'; long names are cut."""
    drift = Drift("x", clock=Clock())
    with structlog.testing.capture_logs():
        for i in range(MAX_NAMES + 10):
            drift.unknown_kind(f"CMD_{i}")
        drift.unknown_kind("Y" * 500)
    assert len(drift.unknown) == MAX_NAMES + 1 and drift.unknown[OTHER] == 11
    drift2 = Drift("y", clock=Clock())
    with structlog.testing.capture_logs():
        drift2.unknown_kind("Z" * 500)
    assert list(drift2.unknown) == ["Z" * 64]


def test_read_and_dropped_show_in_the_last_minute():
    """read and dropped (by reason) are counted; the last minute reports all four figures."""
    drift = Drift("x", clock=Clock())
    drift.read(5)
    drift.drop("duplicate")
    drift.drop("backlog", 3)
    drift.drop("backlog", 0)
    assert drift.dropped == {"duplicate": 1, "backlog": 3}
    assert drift.last_minute() == {"read": 5, "dropped": 4, "unknown": 0, "unparsable": 0, "unknown_kinds": {},
                                   "unparsable_kinds": {}}  # fmt: skip


def test_clip_makes_one_short_line():
    """Bytes are decoded, newlines escaped, long text cut with the count of what was left out, and a large
    object shown by its head only."""
    assert clip(b"a\nb\xff") == "a\\nb\ufffd"
    assert clip("x" * 10, 4) == "xxxx…(+6 chars)"
    assert clip(b"y" * 5000, 10) == "y" * 10 + "…(5000 bytes in all)"
    huge = {"actions": [{"text": "z" * 10_000}] * 10_000}
    assert len(clip(huge)) < 400
