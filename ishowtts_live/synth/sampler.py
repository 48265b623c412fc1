"""The flow-matching sampler: Euler steps over the EPSS schedule with sway
sampling and classifier-free guidance, on upstream's DiT modules.

The math is upstream ``CFM.sample``'s (``tests/synth/test_equivalence.py``
holds it to that within float tolerance); the arrangement is ours, for speed:

* the text branch (embedding + ConvNeXt blocks) runs once per message, for
  the conditional and the unconditional pass, instead of through a
  thread-local cache consulted at every step;
* the rotary table is built once per length, not once per step;
* conditional and unconditional passes share one batch-2 forward;
* no torchdiffeq: a plain loop that can stop between steps when a moderator
  skips the message.
"""

from __future__ import annotations

import threading

import torch

CFG_OFF = 1e-5  # upstream: below this strength the unconditional pass is skipped


class Cancelled(Exception):
    """The message was skipped while it was being synthesized."""


def timesteps(steps: int, sway: float | None, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """EPSS grid for the step counts it defines (5, 6, 7, 10, 12, 16), uniform
    otherwise, then bent by sway sampling: t + s·(cos(πt/2) − 1 + t)."""
    from f5_tts.model.utils import get_epss_timesteps

    t = get_epss_timesteps(steps, device=device, dtype=dtype)
    if sway is not None:
        t = t + sway * (torch.cos(torch.pi / 2 * t) - 1 + t)
    return t


class GuidedFlow:
    """The guided velocity field v(x, t) for one batch of messages."""

    def __init__(
        self,
        dit: torch.nn.Module,
        cond: torch.Tensor,  # b n d, reference mel, zero past the reference
        text: torch.Tensor,  # b nt, token ids, -1 padded
        cfg_strength: float,
        mask: torch.Tensor | None = None,  # b n, True on frames that belong to the message
    ):
        self.dit = dit
        self.cond = cond
        self.mask = mask
        self.cfg_strength = cfg_strength
        self.guided = cfg_strength >= CFG_OFF
        seq_len = cond.shape[1] if mask is None else mask.sum(dim=1)
        self.text_cond = dit.text_embed(text, seq_len=seq_len, drop_text=False)
        self.text_uncond = dit.text_embed(text, seq_len=seq_len, drop_text=True) if self.guided else None
        self.rope = dit.rotary_embed.forward_from_seq_len(cond.shape[1])
        self.block_mask = torch.cat((mask, mask)) if (mask is not None and self.guided) else mask

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        dit = self.dit
        time = dit.time_embed(t.expand(x.shape[0]) if t.ndim == 0 else t)
        h = dit.input_embed(x, self.cond, self.text_cond, drop_audio_cond=False, audio_mask=self.mask)
        if self.guided:
            h_uncond = dit.input_embed(x, self.cond, self.text_uncond, drop_audio_cond=True, audio_mask=self.mask)
            h = torch.cat((h, h_uncond))
            time = torch.cat((time, time))
        residual = h
        for block in dit.transformer_blocks:
            h = block(h, time, mask=self.block_mask, rope=self.rope)
        if dit.long_skip_connection is not None:
            h = dit.long_skip_connection(torch.cat((h, residual), dim=-1))
        out = dit.proj_out(dit.norm_out(h, time))
        if not self.guided:
            return out
        pred, null_pred = out.chunk(2)
        return pred + (pred - null_pred) * self.cfg_strength


def sample(
    dit: torch.nn.Module,
    cond: torch.Tensor,
    text: torch.Tensor,
    noise: torch.Tensor,
    *,
    steps: int,
    cfg_strength: float,
    sway_sampling_coef: float | None,
    cond_mask: torch.Tensor,  # b n 1, True on reference frames (kept as given)
    mask: torch.Tensor | None = None,
    cancel: threading.Event | None = None,
) -> torch.Tensor:
    """Integrate from ``noise`` (t=0) to a mel (t=1); reference frames are
    restored from ``cond`` at the end, as upstream does."""
    flow = GuidedFlow(dit, cond, text, cfg_strength, mask)
    t = timesteps(steps, sway_sampling_coef, noise.device, noise.dtype)
    x = noise
    for i in range(steps):
        if cancel is not None and cancel.is_set():
            raise Cancelled
        x = x + (t[i + 1] - t[i]) * flow(x, t[i])
    return torch.where(cond_mask, cond, x)
