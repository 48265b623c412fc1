"""The danmaku wire format: 16-byte big-endian headers, nested compressed bodies.

One WebSocket binary frame holds one or more packets back to back::

    u32 packet length (header + body) | u16 header length (16) | u16 version
    | u32 operation | u32 sequence | body

Versions 2 (zlib) and 3 (brotli) compress a body that is itself a run of
complete packets, each with its own header. :func:`decode_frame` flattens all
of that into leaf packets and never raises: every malformed piece becomes one
entry in the error list and parsing goes on where it safely can.

Bounds (so a hostile or broken server cannot exhaust memory or time):

* the inflated output of all compressed bodies in one frame together is at
  most :data:`MAX_INFLATED` bytes (4 MiB), checked while inflating, so a
  decompression bomb stops after at most ``MAX_INFLATED + 2 * _STEP`` bytes;
* compressed bodies nest at most :data:`MAX_DEPTH` levels (the real server
  uses one);
* at most :data:`MAX_PACKETS` leaf packets per frame.

The frame itself is capped by the WebSocket client (``max_size``).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

import brotli

HEADER = struct.Struct(">IHHII")
HEADER_LEN = HEADER.size  # 16

MAX_INFLATED = 4 * 1024 * 1024
MAX_DEPTH = 2
MAX_PACKETS = 10_000
_STEP = 64 * 1024  # inflate in slices of this size so a bomb is caught early


class Op(IntEnum):
    HEARTBEAT = 2
    HEARTBEAT_REPLY = 3
    MESSAGE = 5
    AUTH = 7
    AUTH_REPLY = 8


class Ver(IntEnum):
    JSON = 0
    PLAIN = 1  # auth and heartbeat packets: JSON, or the popularity int
    ZLIB = 2
    BROTLI = 3


@dataclass(slots=True)
class Packet:
    op: int
    ver: int
    body: bytes


@dataclass(slots=True)
class Decoded:
    packets: list[Packet] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class InflateError(Exception):
    pass


def pack(op: int, body: bytes = b"", *, ver: int = Ver.PLAIN, seq: int = 1) -> bytes:
    """One packet as the web client sends it (version 1, sequence 1)."""
    return HEADER.pack(HEADER_LEN + len(body), HEADER_LEN, ver, op, seq) + body


def decode_frame(data: bytes, *, max_inflated: int = MAX_INFLATED) -> Decoded:
    """Every leaf packet in one frame, plus one error string per bad piece."""
    out = Decoded()
    _walk(memoryview(data), 0, out, [max_inflated])
    return out


def _walk(data: memoryview, depth: int, out: Decoded, budget: list[int]) -> None:
    off, end_all = 0, len(data)
    while off < end_all:
        if len(out.packets) >= MAX_PACKETS:
            out.errors.append(f"more than {MAX_PACKETS} packets in one frame; rest dropped")
            return
        left = end_all - off
        if left < HEADER_LEN:
            out.errors.append(f"{left} trailing bytes, too short for a header")
            return
        pack_len, head_len, ver, op, _seq = HEADER.unpack_from(data, off)
        if head_len < HEADER_LEN or pack_len < head_len:
            out.errors.append(f"bad header: length {pack_len}, header length {head_len}")
            return
        end = off + pack_len
        if op == Op.HEARTBEAT_REPLY:
            # The length covers only the 4-byte popularity; the server then
            # echoes our heartbeat body without counting it. Whatever follows
            # in this frame is that echo, so the frame ends here.
            out.packets.append(Packet(op, ver, bytes(data[off + head_len : min(end, end_all)])))
            return
        if end > end_all:
            out.errors.append(f"truncated packet: length {pack_len}, {left} bytes left")
            return
        body = data[off + head_len : end]
        off = end
        if op == Op.MESSAGE and ver in (Ver.ZLIB, Ver.BROTLI):
            if depth >= MAX_DEPTH:
                out.errors.append(f"compressed packets nested deeper than {MAX_DEPTH}")
                continue
            try:
                inner = _inflate(ver, body, budget)
            except InflateError as exc:
                out.errors.append(str(exc))
                continue
            _walk(memoryview(inner), depth + 1, out, budget)
        else:
            out.packets.append(Packet(op, ver, bytes(body)))


def _inflate(ver: int, body: memoryview, budget: list[int]) -> bytes:
    name = "zlib" if ver == Ver.ZLIB else "brotli"
    parts: list[bytes] = []
    total = 0
    try:
        if ver == Ver.ZLIB:
            d = zlib.decompressobj()
            pending = bytes(body)
            while True:
                chunk = d.decompress(pending, _STEP)
                pending = d.unconsumed_tail
                total += len(chunk)
                if total > budget[0]:
                    raise InflateError(f"{name} body inflates past the {budget[0]}-byte budget")
                parts.append(chunk)
                if d.eof:
                    break
                if not chunk and not pending:
                    raise InflateError(f"{name} body is truncated")
        else:
            d = brotli.Decompressor()
            chunk = d.process(bytes(body), output_buffer_limit=_STEP)
            while True:
                total += len(chunk)
                if total > budget[0]:
                    raise InflateError(f"{name} body inflates past the {budget[0]}-byte budget")
                parts.append(chunk)
                if d.is_finished():
                    break
                if d.can_accept_more_data() or not chunk:
                    raise InflateError(f"{name} body is truncated")
                chunk = d.process(b"", output_buffer_limit=_STEP)
    except (zlib.error, brotli.error) as exc:
        raise InflateError(f"{name} body is corrupt: {exc}") from None
    budget[0] -= total
    return b"".join(parts)
