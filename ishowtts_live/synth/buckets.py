"""Bucketed shapes for the fast path (torch-free).

A message's sequence (reference frames + generated frames) is padded up to
the smallest bucket that holds it, and a batch of messages up to the next
allowed batch size, so that compiled kernels and captured CUDA graphs see a
small fixed set of shapes. Padded frames are masked out of attention and the
convolutions and trimmed afterwards, so padding changes neither the pace nor
the sound (``tests/synth/test_fastpath.py``).

Every padded length is a multiple of :data:`ALIGN` frames: the attention
mask's last dimension is the length, and inductor's SDPA lowering on torch ≤
2.5 needs it a multiple of 8 (the memory-efficient kernel's alignment).
"""

from __future__ import annotations

ALIGN = 8


def aligned(frames: int) -> int:
    """``frames`` rounded up to a multiple of :data:`ALIGN`."""
    return -(-frames // ALIGN) * ALIGN


def bucket_frames(buckets_s: list[float], sample_rate: int, hop: int) -> list[int]:
    """Bucket lengths in mel frames (each a multiple of :data:`ALIGN`),
    ascending, without duplicates."""
    return sorted({aligned(max(1, round(s * sample_rate / hop))) for s in buckets_s})


def choose_bucket(total: int, buckets: list[int]) -> int | None:
    """The smallest bucket ≥ ``total`` frames; None when none is long enough
    (the message then runs at its own length)."""
    for b in buckets:
        if b >= total:
            return b
    return None


def batch_sizes(max_batch: int) -> list[int]:
    """Allowed batch sizes: powers of two below ``max_batch``, and ``max_batch``."""
    sizes, n = [], 1
    while n < max_batch:
        sizes.append(n)
        n *= 2
    sizes.append(max_batch)
    return sizes


def choose_batch(n: int, max_batch: int) -> int:
    """The smallest allowed batch size ≥ ``n`` (n ≤ max_batch)."""
    if not 1 <= n <= max_batch:
        raise ValueError(f"batch of {n} outside 1..{max_batch}")
    return next(b for b in batch_sizes(max_batch) if b >= n)
