"""The frame parser: byte-exact vectors from the public protocol notes, and
property tests (arbitrary bytes, truncation, splitting, concatenation,
nesting, decompression bombs)."""

from __future__ import annotations

import json
import struct
import zlib

import brotli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ishowtts_live.sources.bilibili.framing import (
    HEADER_LEN,
    MAX_DEPTH,
    MAX_INFLATED,
    Op,
    Packet,
    Ver,
    decode_frame,
    pack,
)
from tests.sources.bilibili import wire

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_client_packets_match_the_documented_bytes():
    """pack() writes the auth-reply-shaped and heartbeat packets exactly as documented."""
    assert pack(Op.HEARTBEAT, b"[object Object]") == wire.DOC_HEARTBEAT
    assert pack(Op.AUTH_REPLY, b'{"code":0}') == wire.DOC_AUTH_REPLY


def test_documented_heartbeat_reply_with_uncounted_echo():
    """The documented op-3 reply (length 20, then the 15-byte echo) gives popularity 2466 and no error."""
    out = decode_frame(wire.DOC_HEARTBEAT_REPLY)
    assert out.errors == []
    assert [(p.op, int.from_bytes(p.body[:4], "big")) for p in out.packets] == [(3, 0x9A2)]


def test_documented_brotli_message():
    """The documented version-3 frame inflates to one WATCHED_CHANGE command."""
    out = decode_frame(wire.DOC_BROTLI_MESSAGE)
    assert out.errors == []
    (packet,) = out.packets
    assert (packet.op, packet.ver) == (Op.MESSAGE, Ver.JSON)
    assert json.loads(packet.body) == {"cmd": "WATCHED_CHANGE",
                                       "data": {"num": 22097, "text_small": "2.2万", "text_large": "2.2万人看过"}}


def test_several_inner_packets_in_zlib_and_brotli_bodies():
    """One compressed packet whose body holds three packets yields all three, in order."""
    cmds = [{"cmd": "DANMU_MSG", "n": i} for i in range(3)]
    for encoding in ("zlib", "brotli"):
        out = decode_frame(wire.message_frame(cmds, encoding))
        assert out.errors == [] and [json.loads(p.body) for p in out.packets] == cmds


def test_zlib_bomb_stops_at_the_budget():
    """A small zlib body that inflates far past the budget is one error, not a memory blow-up."""
    bomb = wire.packet(5, zlib.compress(b"\0" * (MAX_INFLATED * 4), 9), ver=2)
    assert len(bomb) < 100_000
    out = decode_frame(bomb)
    assert out.packets == [] and len(out.errors) == 1 and "budget" in out.errors[0]


def test_brotli_bomb_stops_at_the_budget():
    """Same for brotli."""
    bomb = wire.packet(5, brotli.compress(b"\0" * (MAX_INFLATED * 4)), ver=3)
    out = decode_frame(bomb)
    assert out.packets == [] and "budget" in out.errors[0]


def test_nesting_deeper_than_the_limit_is_refused():
    """Compressed packets inside compressed packets beyond MAX_DEPTH are reported, not followed."""
    frame = wire.message_packets([{"cmd": "X"}])
    for _ in range(MAX_DEPTH + 1):
        frame = wire.packet(5, zlib.compress(frame), ver=2)
    out = decode_frame(frame)
    assert out.packets == [] and "nested" in out.errors[0]


def test_bad_header_length_fields():
    """A packet length below the header length, or a header length below 16, is an error."""
    assert decode_frame(struct.pack(">IHHII", 8, 16, 0, 5, 0)).errors
    assert decode_frame(struct.pack(">IHHII", 20, 8, 0, 5, 0) + b"abcd").errors
    assert "truncated" in decode_frame(struct.pack(">IHHII", 1000, 16, 0, 5, 0) + b"{}").errors[0]


# ------------------------------------------------------------------ properties

packets = st.builds(
    Packet,
    op=st.sampled_from([Op.MESSAGE, Op.AUTH_REPLY, 99]),
    ver=st.sampled_from([Ver.JSON, Ver.PLAIN]),
    body=st.binary(max_size=200),
)


def _raw(p: Packet) -> bytes:
    return struct.pack(">IHHII", HEADER_LEN + len(p.body), HEADER_LEN, p.ver, p.op, 0) + p.body


@FAST
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data):
    """Any bytes at all decode to packets and/or error strings, never an exception."""
    out = decode_frame(data)
    assert isinstance(out.errors, list) and all(isinstance(e, str) for e in out.errors)


@FAST
@given(st.lists(packets, min_size=1, max_size=8), st.sampled_from(["plain", "zlib", "brotli"]))
def test_round_trip_of_packed_frames(items, encoding):
    """Packets written back to back (optionally inside one compressed packet) come back identical."""
    inner = b"".join(_raw(p) for p in items)
    if encoding == "zlib":
        frame = wire.packet(5, zlib.compress(inner), ver=2)
    elif encoding == "brotli":
        frame = wire.packet(5, brotli.compress(inner), ver=3)
    else:
        frame = inner
    out = decode_frame(frame)
    assert out.errors == []
    assert [(p.op, p.ver, p.body) for p in out.packets] == [(p.op, p.ver, p.body) for p in items]


@FAST
@given(st.lists(packets, min_size=1, max_size=6), st.data())
def test_a_truncated_frame_keeps_its_whole_packets(items, data):
    """Cutting a frame anywhere yields the packets wholly before the cut, then one error (never a partial packet)."""
    raws = [_raw(p) for p in items]
    frame = b"".join(raws)
    cut = data.draw(st.integers(0, len(frame) - 1))
    out = decode_frame(frame[:cut])
    whole, size = 0, 0
    for raw in raws:
        if size + len(raw) > cut:
            break
        size += len(raw)
        whole += 1
    assert [p.body for p in out.packets] == [p.body for p in items[:whole]]
    assert len(out.errors) == (1 if cut > size else 0)


@FAST
@given(st.lists(packets, min_size=1, max_size=6), st.lists(packets, min_size=1, max_size=6))
def test_concatenated_frames_decode_as_both(first, second):
    """Two frames joined into one message decode to the packets of both, in order."""
    joined = b"".join(map(_raw, first)) + wire.packet(5, zlib.compress(b"".join(map(_raw, second))), ver=2)
    out = decode_frame(joined)
    assert out.errors == [] and [p.body for p in out.packets] == [p.body for p in first + second]


@FAST
@given(st.integers(0, 2**32 - 1), st.binary(max_size=64), st.lists(packets, max_size=3))
def test_trailing_bytes_after_a_heartbeat_reply_never_break_parsing(popularity, echo, before):
    """Packets before an op-3 reply survive, and whatever echo follows it is ignored without error."""
    frame = b"".join(map(_raw, before)) + wire.heartbeat_reply(popularity, echo)
    out = decode_frame(frame)
    assert out.errors == []
    assert [p.body for p in out.packets[:-1]] == [p.body for p in before]
    assert int.from_bytes(out.packets[-1].body[:4], "big") == popularity


@FAST
@given(st.binary(min_size=1, max_size=512), st.sampled_from([2, 3]))
def test_garbage_compressed_bodies_are_one_error(body, ver):
    """A version-2/3 body that is not valid zlib/brotli is reported and the following packet still decodes."""
    frame = wire.packet(5, body, ver=ver) + _raw(Packet(Op.MESSAGE, Ver.JSON, b'{"cmd":"after"}'))
    out = decode_frame(frame)
    assert out.packets[-1].body == b'{"cmd":"after"}'
