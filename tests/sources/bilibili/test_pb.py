"""The SEND_GIFT_V2 protobuf reader: against Google's reference encoder, and
fuzzed with arbitrary, truncated and mutated bytes (it may refuse, never crash)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ishowtts_live.sources.bilibili import pb
from tests.sources.bilibili import pbwire

int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
int32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
text = st.text(max_size=30)
gift_items = st.fixed_dictionaries({
    "gift_id": int64, "gift_name": text, "num": int32, "gift_type": int32, "price": int64, "total_coin": int64,
    "coin_type": st.sampled_from(["gold", "silver", ""]), "tid": text, "timestamp": int64, "rnd": text,
    "action": text, "gift_info": st.fixed_dictionaries({"img_basic": text}),
})  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(int64, text, st.lists(gift_items, min_size=1, max_size=4), int32, st.none() | st.tuples(int64, int64, int32, text),
       st.none() | st.tuples(text, int64))  # fmt: skip
def test_reads_what_the_reference_encoder_writes(uid, uname, gifts, guard, medal, blind):
    """Every field of a broadcast encoded by Google's protobuf comes back with its value, one dict per gift."""
    medal_d = dict(zip(("target_id", "anchor_roomid", "medal_level", "medal_name"), medal)) if medal else None
    blind_d = dict(zip(("original_gift_name", "original_gift_price"), blind)) if blind else None
    data = pbwire.broadcast_b64(uid, uname, gifts, guard_level=guard, medal=medal_d, blind=blind_d)
    out = pb.gift_commands(data)
    assert len(out) == len(gifts)
    for got, want in zip(out, gifts):
        assert (got["uid"], got["uname"], got["guard_level"]) == (uid, uname, guard)
        assert (got["giftId"], got["giftName"], got["num"], got["giftType"], got["price"], got["total_coin"]) == (
            want["gift_id"], want["gift_name"], want["num"], want["gift_type"], want["price"], want["total_coin"])
        assert (got["coin_type"], got["tid"], got["timestamp"], got["rnd"], got["action"], got["gift_img_basic"]) == (
            want["coin_type"], want["tid"], want["timestamp"], want["rnd"], want["action"],
            want["gift_info"]["img_basic"])
        if medal_d:
            assert got["medal_info"] == medal_d
        if blind_d and any(blind_d.values()):  # proto3 writes nothing for an all-default message
            assert got["blind_gift"] == blind_d


def _sample() -> bytes:
    return pbwire.broadcast_bytes(7, "名字", [{"gift_id": 1, "gift_name": "小花花", "num": 2, "tid": "abc"},
                                              {"gift_id": 2, "gift_name": "辣条", "num": 1, "coin_type": "silver"}],
                                  medal={"target_id": 1, "anchor_roomid": 2, "medal_level": 3, "medal_name": "m"})


def test_every_truncation_is_refused_or_read_never_a_crash():
    """Cutting a real broadcast at any byte gives PbError or fewer fields, never another exception."""
    raw = _sample()
    for cut in range(len(raw)):
        try:
            pb.gift_commands(base64.b64encode(raw[:cut]).decode())
        except pb.PbError:
            pass


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_parse_or_raise_pberror(data):
    """Any bytes either parse as fields or raise PbError; int / str never raise, a nested message
    that is not one is a PbError."""
    try:
        message = pb.Message(data)
    except pb.PbError:
        return
    for number in list(message.fields)[:8]:
        assert isinstance(message.int(number), int) and isinstance(message.str(number), str)
        for nested in (lambda: message.msg(number), lambda: message.msgs(number)):
            try:
                nested()
            except pb.PbError:
                pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_broadcasts_never_crash(data):
    """A real broadcast with random bytes overwritten, inserted or removed is refused or read, never a crash."""
    raw = bytearray(_sample())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw)))
        op = data.draw(st.sampled_from(["set", "insert", "delete"]))
        byte = data.draw(st.integers(0, 255))
        if op == "insert" or pos == len(raw):
            raw.insert(pos, byte)
        elif op == "set":
            raw[pos] = byte
        else:
            del raw[pos]
    try:
        gifts = pb.gift_commands(base64.b64encode(bytes(raw)).decode())
    except pb.PbError:
        return
    assert all(isinstance(g["giftName"], str) and isinstance(g["num"], int) for g in gifts)


@pytest.mark.parametrize("value", [None, 12, "", "!!!", "a", "====", "x" * 400_000])
def test_bad_pb_values_are_pberror(value):
    """data.pb that is not a non-empty base64 string of bounded size is a PbError."""
    with pytest.raises(pb.PbError):
        pb.gift_commands(value)


def test_url_safe_alphabet_and_missing_padding_are_accepted():
    """Base64 with the URL-safe alphabet or without padding decodes like the standard form."""
    raw = _sample()
    url_safe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert pb.gift_commands(url_safe) == pb.gift_commands(base64.b64encode(raw).decode())


def test_a_field_with_the_wrong_wire_type_reads_as_its_default():
    """A gift whose name arrives as a varint keeps its other fields (the gift is still thanked)."""
    raw = pbwire.broadcast_bytes(7, "x", [{"gift_id": 5, "num": 2, "tid": "t"}])
    item = pb.Message(raw).msgs(10)[0]
    odd = bytes([0x10, 0x07])  # field 2 (gift_name) as varint 7
    message = pb.Message(odd + b"".join(_field(n, v) for n, v in [(1, 5), (3, 2)]))
    assert (message.str(2), message.int(1), message.int(3)) == ("", 5, 2)
    assert item.int(1) == 5


def _field(number: int, value: int) -> bytes:
    return bytes([number << 3 | pb.VARINT, value])
