"""Split a message into sentence chunks for streaming synthesis (torch-free).

The first chunk is short so the voice starts almost at once; later chunks are
longer (fewer model calls, steadier prosody) and are synthesized while the
previous one plays. Lengths are budgeted in *estimated seconds of speech*
using the voice's own pace (reference seconds per UTF-8 byte of its transcript,
the same linear estimate upstream uses for durations), so one budget works for
Chinese and English alike.
"""

from __future__ import annotations

import re
from typing import Callable

# Clause ends: punctuation, kept with the clause before it. A Latin full stop
# only counts when followed by a space or the end (so "3.5" and "v1.2" stay).
_BREAK = re.compile(r"(?<=[。！？!?；;…，,、：:\n])|(?<=\.)(?=\s|$)")
_STRONG_END = tuple("。！？!?；;…\n.")
SHORT_BYTES = 10  # below this upstream stretches the duration estimate; avoid such chunks


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def clauses(text: str) -> list[str]:
    """Clauses with their punctuation, whitespace-trimmed, empty ones dropped."""
    return [c.strip() for c in _BREAK.split(text) if c.strip()]


def _hard_split(clause: str, fits: Callable[[str], bool]) -> list[str]:
    """Split an over-long clause at word boundaries (any character for CJK)."""
    tokens = re.findall(r"[A-Za-z0-9'’\-]+\s*|\s+|.", clause)
    parts: list[str] = []
    cur = ""
    for tok in tokens:
        if cur and not fits(cur + tok):
            parts.append(cur.strip())
            cur = tok.lstrip()
        else:
            cur += tok
    if cur.strip():
        parts.append(cur.strip())
    return [p for p in parts if p]


def _join(a: str, b: str) -> str:
    if not a:
        return b
    # Latin text needs the space back; CJK text must not get one.
    if a[-1].isascii() and a[-1] not in "\n" and b[:1].isascii():
        return f"{a} {b}"
    return a + b


def plan_chunks(
    text: str,
    seconds_of: Callable[[str], float],
    first_s: float,
    chunk_s: float,
    max_total_s: float | None = None,
) -> list[str]:
    """Chunks of ``text`` to synthesize in order.

    ``seconds_of(s)`` estimates how long ``s`` takes to say. The first chunk
    fits ``first_s``, later ones ``chunk_s``; a clause longer than its budget
    is split at word boundaries. With ``max_total_s``, chunks past that much
    estimated speech are left out (the audio is cut there anyway).
    """
    pieces: list[str] = []
    for clause in clauses(text):
        if seconds_of(clause) <= chunk_s:
            pieces.append(clause)
        else:
            pieces.extend(_hard_split(clause, lambda s: seconds_of(s) <= chunk_s))

    chunks: list[str] = []
    cur = ""
    for piece in pieces:
        budget = first_s if not chunks else chunk_s
        if not cur:
            if not chunks and seconds_of(piece) > first_s:
                # The first clause is too long to start fast: speak its head first.
                head, *rest = _hard_split(piece, lambda s: seconds_of(s) <= first_s)
                chunks.append(head)
                tail = " ".join(rest) if piece.isascii() else "".join(rest)
                cur = tail
                continue
            cur = piece
            continue
        candidate = _join(cur, piece)
        # A tiny clause ("好，") is better joined to the next than spoken alone,
        # even if that overshoots the budget somewhat.
        limit = budget if nbytes(cur) >= SHORT_BYTES else (2 * first_s if not chunks else 1.25 * chunk_s)
        if seconds_of(candidate) <= limit:
            cur = candidate
        else:
            chunks.append(cur)
            cur = piece
    if cur:
        chunks.append(cur)

    # A tiny last chunk sounds rushed or stretched on its own: fold it back.
    if len(chunks) >= 2 and nbytes(chunks[-1]) < SHORT_BYTES:
        merged = _join(chunks[-2], chunks[-1])
        if seconds_of(merged) <= chunk_s * 1.25:
            chunks[-2:] = [merged]

    if max_total_s is not None:
        kept, total = [], 0.0
        for chunk in chunks:
            if kept and total >= max_total_s:
                break
            kept.append(chunk)
            total += seconds_of(chunk)
        chunks = kept
    return chunks


def ends_sentence(chunk: str) -> bool:
    return chunk.endswith(_STRONG_END)
