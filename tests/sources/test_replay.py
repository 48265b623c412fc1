from __future__ import annotations

import time

import pytest

from ishowtts_live.events import ChatEvent, ModerationEvent
from ishowtts_live.sources.replay import ReplayError, ReplaySource, parse_line, read_log
from tests.kit import wait


def write_log(tmp_path, lines: list[str]):
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def collect(source, limit=10_000):
    out = []
    async for item in source.events():
        out.append(item)
        if len(out) >= limit:
            break
    return out


def test_a_full_line_becomes_a_chat_event():
    """Every documented field lands in the ChatEvent; t becomes the clock."""
    raw = (b'{"text": "\xe5\x93\x88\xe5\x93\x88", "user_name": "A", "user_id": "7", "platform": "bilibili",'
           b' "kind": "superchat", "amount": 30, "msg_id": "m1", "t": 12.5, "moderator": true, "extra": 1}')
    parsed = parse_line(raw, 3, last_t=0.0)
    ev = parsed.item
    assert isinstance(ev, ChatEvent)
    assert (ev.text, ev.user_name, ev.user_id, ev.platform, ev.kind, ev.amount, ev.msg_id) == (
        "哈哈", "A", "7", "bilibili", "superchat", 30.0, "m1")
    assert ev.clock == 12.5 and ev.amount_cents == 3000 and ev.flags.moderator and parsed.t == 12.5


def test_defaults_for_missing_fields():
    """Only text is required: platform replay, kind chat, a msg_id from the line number."""
    ev = parse_line(b'{"text": "hi"}', 9, last_t=4.0).item
    assert (ev.platform, ev.kind, ev.msg_id, ev.clock, ev.amount) == ("replay", "chat", "replay-9", 4.0, 0.0)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"user_name": "x"}', "'text' is required"),
        (b'not json', "not a JSON object"),
        (b'[1, 2]', "line 5"),
        (b'{"text": "x", "kind": "shout"}', "kind must be one of"),
        (b'{"text": "x", "t": -1}', "t must be seconds"),
        (b'{"text": 5}', "line 5"),
        (b'{"text": "x", "amount": -3}', "amount must be a non-negative"),
        (b'{"kind": "moderation", "action": "explode"}', "moderation action must be one of"),
    ],
)
def test_malformed_lines_name_their_line(raw, why):
    """A bad line is one ReplayError with its line number and the problem."""
    with pytest.raises(ReplayError) as info:
        parse_line(raw, 5, last_t=0.0)
    assert "line 5" in str(info.value) and why in str(info.value)


def test_moderation_lines():
    """A moderation line replays a platform moderator's action."""
    ev = parse_line(b'{"kind": "moderation", "action": "ban_user", "target_user_name": "spam", "t": 2}', 1,
                    last_t=0).item
    assert isinstance(ev, ModerationEvent) and ev.action == "ban_user" and ev.target_user_name == "spam"


def test_read_log_skips_bad_lines_and_keeps_going(tmp_path):
    """Blank and comment lines are ignored; bad lines are reported in place."""
    path = write_log(tmp_path, ['{"text": "a", "t": 1}', "", "# comment", "{broken", '{"text": "b"}'])
    items = list(read_log(path))
    assert [type(i).__name__ for i in items] == ["ParsedLine", "ReplayError", "ParsedLine"]
    assert "chat.jsonl:4" in str(items[1]) and items[2].t == 1.0  # t carries over


async def test_replay_paces_by_recorded_time(tmp_path):
    """At speed 10, a log spanning 2 s takes about 0.2 s; clocks keep the recorded t."""
    path = write_log(tmp_path, ['{"text": "a", "t": 0}', '{"text": "b", "t": 1}', '{"text": "c", "t": 2}'])
    t0 = time.monotonic()
    items = await wait(collect(ReplaySource(path, speed=10)))
    elapsed = time.monotonic() - t0
    assert [i.text for i in items] == ["a", "b", "c"] and [i.clock for i in items] == [0, 1, 2]
    assert 0.15 < elapsed < 2.0


async def test_speed_zero_does_not_wait(tmp_path):
    """Speed 0 replays as fast as it is consumed."""
    path = write_log(tmp_path, [f'{{"text": "m{i}", "t": {i * 100}}}' for i in range(50)])
    t0 = time.monotonic()
    items = await wait(collect(ReplaySource(path, speed=0)))
    assert len(items) == 50 and time.monotonic() - t0 < 2.0


async def test_loop_keeps_ids_unique_and_clock_rising(tmp_path):
    """Looping replays the log again with fresh msg_ids and a clock that keeps rising."""
    path = write_log(tmp_path, ['{"text": "a", "t": 0, "msg_id": "x"}', '{"text": "b", "t": 3}'])
    items = await wait(collect(ReplaySource(path, speed=0, loop=True), limit=6))
    assert len({i.msg_id for i in items}) == 6
    clocks = [i.clock for i in items]
    assert clocks == sorted(clocks) and clocks[2] > 3


async def test_close_stops_a_slow_replay(tmp_path):
    """aclose() wakes a replay that is waiting for its next line."""
    path = write_log(tmp_path, ['{"text": "a", "t": 0}', '{"text": "b", "t": 3600}'])
    source = ReplaySource(path, speed=1)
    got = []

    async def consume():
        async for item in source.events():
            got.append(item)
            await source.aclose()

    await wait(consume(), timeout=5)
    assert [i.text for i in got] == ["a"]
