"""Bilibili's protobuf gift notification (``SEND_GIFT_V2``) read into ``SEND_GIFT``'s shape.

Since 2026-07 some rooms get ``{"cmd": "SEND_GIFT_V2", "data": {"pb": "<base64>"}}``
instead of ``SEND_GIFT``; ``pb`` is a ``SendGiftBroadcast`` message holding the
sender once and a ``gift_list`` of one or more gifts. The field numbers are
the public ones the reference client blivedm decodes (its commit "Support
SEND_GIFT_V2", 2026-08-11). :func:`gift_commands` turns one broadcast into one
``SEND_GIFT``-shaped ``data`` dict per gift, so that both commands go through
the same mapping (gold → CNY, dedupe by tid, medal, guard level, blind gifts)
and cannot drift apart.

Why a small reader here and not a protobuf library: only four wire types
and three messages of a dozen fields are read, and the reader must be
lenient the way a TTS daemon needs — a field with an unexpected wire type or
invalid UTF-8 is dropped on its own (the gift is still thanked), where
Google's ``protobuf`` rejects the whole proto3 message on a bad string. It
also keeps out a compiled dependency whose runtime and generated-code
versions must match (f5-tts already brings one in through wandb, with its
own version range), a common cause of install conflicts on a Jetson. The reader is fuzzed
(tests/sources/bilibili/test_pb.py) and checked against bytes written by
Google's reference encoder (the fake server's).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

VARINT, I64, LEN, I32 = 0, 1, 2, 5
MAX_PB = 256 * 1024  # decoded bytes; a real broadcast is well under 2 KiB


class PbError(ValueError):
    """The bytes are not a protobuf message (truncated, bad tag, bad wire type)."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise PbError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:  # 10 bytes is the longest valid varint
            raise PbError("varint longer than 10 bytes")


def parse(buf: bytes) -> dict[int, list[tuple[int, Any]]]:
    """Every field of one message: field number → [(wire type, int or bytes), …] in wire order."""
    fields: dict[int, list[tuple[int, Any]]] = {}
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise PbError("field number 0")
        if wire == VARINT:
            value, pos = _varint(buf, pos)
        elif wire in (I64, I32):
            size = 8 if wire == I64 else 4
            if pos + size > end:
                raise PbError("truncated fixed-width field")
            value, pos = int.from_bytes(buf[pos:pos + size], "little"), pos + size
        elif wire == LEN:
            size, pos = _varint(buf, pos)
            if size > end - pos:
                raise PbError(f"field {number} runs past the end ({size} bytes, {end - pos} left)")
            value, pos = buf[pos:pos + size], pos + size
        else:  # 3 / 4 are the long-deprecated groups, 6 / 7 do not exist
            raise PbError(f"wire type {wire} (field {number})")
        fields.setdefault(number, []).append((wire, value))
    return fields


class Message:
    """Typed access to a parsed message; a missing or wrongly typed field reads as its default."""

    def __init__(self, buf: bytes = b""):
        self.fields = parse(buf)

    def _last(self, number: int, wire: int) -> Any:
        # proto3: for a singular field, the last occurrence wins
        for got, value in reversed(self.fields.get(number, ())):
            if got == wire:
                return value
        return None

    def int(self, number: int) -> int:
        value = self._last(number, VARINT)
        if value is None:
            return 0
        value &= (1 << 64) - 1
        return value - (1 << 64) if value >= 1 << 63 else value  # int64 two's complement

    def str(self, number: int) -> str:
        value = self._last(number, LEN)
        return value.decode("utf-8", errors="replace") if value is not None else ""

    def msg(self, number: int) -> Message:
        value = self._last(number, LEN)
        return Message(value) if value is not None else Message()

    def msgs(self, number: int) -> list[Message]:
        return [Message(value) for wire, value in self.fields.get(number, ()) if wire == LEN]


def decode_b64(text: Any) -> bytes:
    """``data.pb`` → bytes (standard or URL-safe alphabet, padding optional)."""
    if not isinstance(text, str) or not text:
        raise PbError("data.pb is not a non-empty string")
    if len(text) > MAX_PB * 4 // 3 + 4:
        raise PbError(f"data.pb is over {MAX_PB} bytes")
    text = text.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PbError(f"data.pb is not base64: {exc}") from None


def gift_commands(pb_text: Any) -> list[dict[str, Any]]:
    """One ``SEND_GIFT``-shaped ``data`` dict per item of the broadcast's ``gift_list``.

    Raises :class:`PbError` when ``pb`` does not decode or holds no gift.
    """
    top = Message(decode_b64(pb_text))
    medal, blind = top.msg(8), top.msg(9)
    sender = {
        "uid": top.int(1), "uname": top.str(2), "face": top.str(3), "guard_level": top.int(5),
        "medal_info": {"target_id": medal.int(1), "anchor_roomid": medal.int(4), "medal_level": medal.int(5),
                       "medal_name": medal.str(6)},
    }  # fmt: skip
    if blind.fields:
        sender["blind_gift"] = {"original_gift_name": blind.str(3), "original_gift_price": blind.int(6)}
    gifts = []
    for item in top.msgs(10):
        gifts.append({
            **sender, "giftId": item.int(1), "giftName": item.str(2), "num": item.int(3), "giftType": item.int(4),
            "price": item.int(5), "total_coin": item.int(7), "coin_type": item.str(8), "tid": item.str(9),
            "timestamp": item.int(10), "rnd": item.str(12), "action": item.str(18),
            "gift_img_basic": item.msg(35).str(1),
        })  # fmt: skip
    if not gifts:
        raise PbError("SendGiftBroadcast without a gift_list item")
    return gifts
