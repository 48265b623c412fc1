"""Attention that honours a length mask without a B×H×N×N tensor.

Upstream's torch-backend processor, when asked to mask (``attn_mask_enabled``),
expands a boolean ``b n`` mask to ``b h n n``; SDPA then turns it into an
additive float mask of that full size (~2 GB in fp16 at batch 4 on a 30 s
bucket, for the CFG-doubled batch). :class:`KeyMaskedAttention` computes the
same attention with a ``b×1×1×n`` additive bias that SDPA broadcasts, for
every DiT architecture upstream ships: rotary on all heads (F5TTS_v1) or on
the first ``pe_attn_head`` heads only (F5TTS_Base, F5TTS_Small).

The fast path pads every sequence to a multiple of 8 frames (:mod:`.buckets`),
so the bias's last dimension is one too: inductor's SDPA lowering on torch ≤
2.5 needs that alignment for a mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class KeyMaskedAttention:
    """Upstream's torch-backend attention with padded keys masked by a
    broadcast additive bias. Without a mask it hands over to the original
    processor, so the eager path is untouched."""

    def __init__(self, original):
        self.original = original
        self.pe_attn_head = getattr(original, "pe_attn_head", None)

    def __call__(self, attn, x: torch.Tensor, mask: torch.Tensor | None = None, rope=None) -> torch.Tensor:
        if mask is None:
            return self.original(attn, x, mask=None, rope=rope)
        from x_transformers.x_transformers import apply_rotary_pos_emb

        b = x.shape[0]
        q, k, v = attn.to_q(x), attn.to_k(x), attn.to_v(x)
        head_dim = k.shape[-1] // attn.heads
        q, k, v = (t.view(b, -1, attn.heads, head_dim).transpose(1, 2) for t in (q, k, v))
        if attn.q_norm is not None:
            q = attn.q_norm(q)
        if attn.k_norm is not None:
            k = attn.k_norm(k)
        if rope is not None:
            freqs, xpos = rope
            q_scale, k_scale = (xpos, xpos**-1.0) if xpos is not None else (1.0, 1.0)
            pn = self.pe_attn_head
            if pn is None:
                q = apply_rotary_pos_emb(q, freqs, q_scale)
                k = apply_rotary_pos_emb(k, freqs, k_scale)
            else:  # rotary on the first pn heads only, as upstream's processor does (out of place here)
                q = torch.cat((apply_rotary_pos_emb(q[:, :pn], freqs, q_scale), q[:, pn:]), dim=1)
                k = torch.cat((apply_rotary_pos_emb(k[:, :pn], freqs, k_scale), k[:, pn:]), dim=1)
        bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device)
        bias = bias.masked_fill(~mask, torch.finfo(q.dtype).min)[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = out.transpose(1, 2).reshape(b, -1, attn.heads * head_dim).to(q.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        return out.masked_fill(~mask[..., None], 0.0)


def install_key_masking(dit: torch.nn.Module) -> None:
    """Make every block honour a length mask: our processor where upstream's
    is the torch one (any ``pe_attn_head``); upstream's own varlen masking
    where it is flash-attn (it builds no dense mask)."""
    for block in dit.transformer_blocks:
        proc = block.attn.processor
        if isinstance(proc, KeyMaskedAttention):
            continue
        if getattr(proc, "attn_backend", "torch") == "torch":
            block.attn.processor = KeyMaskedAttention(proc)
        else:
            proc.attn_mask_enabled = True


__all__ = ["KeyMaskedAttention", "install_key_masking"]
