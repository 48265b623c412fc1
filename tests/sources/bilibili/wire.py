"""The fake server's side of the wire, written apart from the product's
parser (plain struct and json) so that a shared mistake cannot hide."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import zlib
from urllib.parse import quote

import brotli

HDR = struct.Struct(">IHHII")

# Byte-exact samples from bilibili-API-collect docs/live/message_stream.md.
DOC_AUTH_REPLY = bytes.fromhex("0000001a001000010000000800000001") + b'{"code":0}'
DOC_HEARTBEAT = bytes.fromhex("0000001f001000010000000200000001") + b"[object Object]"
DOC_HEARTBEAT_REPLY = bytes.fromhex("00000014001000010000000300000000000009a2") + b"[object Object]"
DOC_BROTLI_MESSAGE = bytes.fromhex(
    "00000086001000030000000500000000"
    "8b388000000072001000000000000500"
    "0000007b22636d64223a225741544348"
    "45445f4348414e4745222c2264617461"
    "223a7b226e756d223a32323039372c22"
    "746578745f736d616c6c223a22322e32"
    "e4b887222c22746578745f6c61726765"
    "223a22322e32e4b887e4baba e79c8be8"
    "bf87227d7d03".replace(" ", "")
)


def packet(op: int, body: bytes, *, ver: int = 1, seq: int = 1) -> bytes:
    return HDR.pack(16 + len(body), 16, ver, op, seq) + body


def auth_reply(code: int = 0) -> bytes:
    return packet(8, json.dumps({"code": code}, separators=(",", ":")).encode(), ver=1, seq=1)


def heartbeat_reply(popularity: int, echo: bytes) -> bytes:
    # The real server's length field counts the popularity only, not the echo.
    return HDR.pack(20, 16, 1, 3, 0) + popularity.to_bytes(4, "big") + echo


def message_packets(cmds: list[dict]) -> bytes:
    return b"".join(packet(5, json.dumps(c, ensure_ascii=False).encode(), ver=0, seq=0) for c in cmds)


def message_frame(cmds: list[dict], encoding: str = "brotli") -> bytes:
    """Several commands in one WebSocket message: as plain packets back to
    back, or as one zlib / brotli packet whose body holds them all."""
    inner = message_packets(cmds)
    if encoding == "plain":
        return inner
    if encoding == "zlib":
        return packet(5, zlib.compress(inner), ver=2, seq=0)
    if encoding == "brotli":
        return packet(5, brotli.compress(inner), ver=3, seq=0)
    raise ValueError(encoding)


def split_packets(data: bytes) -> list[tuple[int, int, bytes]]:
    """(op, ver, body) of what a client sent (uncompressed packets only)."""
    out, off = [], 0
    while off + 16 <= len(data):
        length, head, ver, op, _ = HDR.unpack_from(data, off)
        if length < head or off + length > len(data):
            break
        out.append((op, ver, data[off + head : off + length]))
        off += length
    return out


TABLE = [46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35, 27, 43, 5, 49, 33, 9, 42, 19, 29, 28, 14,
         39, 12, 38, 41, 13, 37, 48, 7, 16, 24, 55, 40, 61, 26, 17, 0, 1, 60, 51, 30, 4, 22, 25, 54, 21, 56, 59, 6,
         63, 57, 62, 11, 36, 20, 34, 44, 52]  # fmt: skip


def wbi_rid(params: dict[str, str], img_key: str, sub_key: str) -> str:
    """What w_rid must be for ``params`` (which include wts, not w_rid)."""
    raw = img_key + sub_key
    mixin = "".join(raw[n] for n in TABLE)[:32]
    parts = []
    for key in sorted(params):
        value = "".join(ch for ch in params[key] if ch not in "!'()*")
        parts.append(quote(key, safe="") + "=" + quote(value, safe=""))
    return hashlib.md5(("&".join(parts) + mixin).encode()).hexdigest()


def open_signature_problem(headers, body: bytes, key_id: str, secret: str) -> str:
    """'' if the open-platform request is signed correctly, else what is wrong."""
    names = ["x-bili-accesskeyid", "x-bili-content-md5", "x-bili-signature-method", "x-bili-signature-nonce",
             "x-bili-signature-version", "x-bili-timestamp"]  # fmt: skip
    missing = [n for n in names if n not in headers]
    if missing:
        return f"missing {missing}"
    if headers["x-bili-accesskeyid"] != key_id:
        return "unknown access key"
    if headers["x-bili-content-md5"] != hashlib.md5(body).hexdigest():
        return "content md5 mismatch"
    if headers["x-bili-signature-method"] != "HMAC-SHA256" or headers["x-bili-signature-version"] != "1.0":
        return "bad method or version"
    text = "\n".join(f"{n}:{headers[n]}" for n in names)
    want = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    if headers.get("Authorization") != want:
        return "signature mismatch"
    return ""
