from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ishowtts_live.synth.blocks import BlockAssembler

SR = 24000


def assemble(waves, block_ms=50, crossfade_ms=60, max_s=30.0):
    asm = BlockAssembler(SR, block_ms, crossfade_ms, max_s)
    blocks = [b for w in waves for b in asm.add(w)] + list(asm.finish())
    return asm, blocks


def test_blocks_never_exceed_block_ms():
    """Every block is at most block_ms long, so a skip lands within one block."""
    _, blocks = assemble([np.ones(SR * 2, np.float32), np.ones(SR, np.float32)], block_ms=100)
    assert blocks and all(len(b) <= SR // 10 for b in blocks)


def test_cross_fade_blends_tail_into_head():
    """Chunks overlap by the cross-fade: a 1→0 / 0→1 ramp, total length shortened by it."""
    a, b = np.ones(SR, np.float32), np.zeros(SR, np.float32) + 0.5
    _, blocks = assemble([a, b], crossfade_ms=100)
    out = np.concatenate(blocks)
    xf = SR // 10
    assert len(out) == 2 * SR - xf
    seam = out[SR - xf : SR]
    assert np.all(np.diff(seam) <= 1e-6) and seam[0] > 0.99 and abs(seam[-1] - 0.5) < 1e-3


def test_output_is_cut_at_the_limit_with_a_fade():
    """Audio past max_audio_s is dropped, ending in a short fade (no click)."""
    asm, blocks = assemble([np.ones(SR * 3, np.float32)] * 3, max_s=2.0)
    out = np.concatenate(blocks)
    assert len(out) == 2 * SR and asm.truncated
    assert out[-1] < 0.01 and out[SR] == 1.0


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=0, max_value=SR), min_size=1, max_size=6),
    block_ms=st.integers(min_value=10, max_value=100),
    crossfade_ms=st.integers(min_value=0, max_value=200),
)
def test_every_sample_is_accounted_for(lengths, block_ms, crossfade_ms):
    """Output length = input length minus the overlaps actually applied; no
    block is empty or longer than block_ms."""
    asm = BlockAssembler(SR, block_ms, crossfade_ms, 1e9)
    xfade = SR * crossfade_ms // 1000
    blocks, overlap, tail = [], 0, 0
    for n in lengths:
        blocks += list(asm.add(np.ones(n, np.float32)))
        if tail and n >= tail:  # faded together
            overlap += tail
            joined = n
        else:  # no tail, or a chunk shorter than the fade: appended
            joined = tail + n
        tail = min(xfade, joined // 2)
    blocks += list(asm.finish())
    assert sum(len(b) for b in blocks) == sum(lengths) - overlap
    assert all(0 < len(b) <= SR * block_ms // 1000 for b in blocks)
