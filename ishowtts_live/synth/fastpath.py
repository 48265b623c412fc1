"""The fast path: bucketed, batched, compiled flow sampling with the whole
step loop replayed as one CUDA graph per shape.

Same math as :mod:`.sampler` (and so as upstream ``CFM.sample``), arranged
for a GPU that is otherwise starved by ~1,000 kernel launches per step:

* **Conditioning once per message.** The text branch (embedding + ConvNeXt
  blocks, conditional and unconditional) runs once, and so does the part of
  the input projection that only sees the reference mel and the text: the
  projection is linear, so ``proj([x, cond, text]) = W_x·x + (W_c·cond +
  W_t·text + b)`` and only ``W_x·x`` is left for each step. The time
  embeddings of every step are computed in one call before the loop.
* **Buckets.** Each sequence (reference + speech) is padded to a bucket
  length (:mod:`.buckets`); padded frames are masked as attention keys and
  in the convolutions and trimmed after, so the valid frames are what they
  would be unpadded, within float rounding.
* **Batching.** Several messages are one batch, each with its own length
  mask, text mask (upstream's per-sample ``seq_len`` path) and noise, so a
  short message next to a long one is not corrupted (upstream #1179).
* **Graphs.** On CUDA the loop over all NFE steps, guidance combine
  included, is captured once per (bucket, batch, steps, cfg, sway) and
  replayed with a single launch; ``torch.compile`` (dynamic in length, so one
  compilation serves every bucket) fuses the kernels inside it.

The attention processor of upstream's blocks expands a boolean mask to
b×h×n×n; :class:`KeyMaskedAttention` does the same attention with a b×1×1×n
additive bias so a 30 s bucket does not allocate gigabytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import structlog
import torch
import torch.nn.functional as F

from ishowtts_live.synth import buckets as bk
from ishowtts_live.synth.sampler import CFG_OFF, Cancelled, timesteps

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Request:
    """One message chunk as the sampler needs it."""

    mel: torch.Tensor  # 1 × ref_len × mels: the reference, model dtype, on device
    ids: torch.Tensor  # 1 × nt token ids (reference + text)
    ref_frames: int  # where the kept output starts (upstream's ref_audio_len)
    total: int  # reference + generated frames, unpadded
    seed: int


class KeyMaskedAttention:
    """Upstream's torch-backend attention with padded keys masked by a
    broadcast additive bias. Without a mask it hands over to the original
    processor, so the eager path is untouched."""

    def __init__(self, original):
        self.original = original

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
            q = apply_rotary_pos_emb(q, freqs, xpos if xpos is not None else 1.0)
            k = apply_rotary_pos_emb(k, freqs, xpos**-1.0 if xpos is not None else 1.0)
        bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device)
        bias = bias.masked_fill(~mask, torch.finfo(q.dtype).min)[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = out.transpose(1, 2).reshape(b, -1, attn.heads * head_dim).to(q.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        return out.masked_fill(~mask[..., None], 0.0)


def install_key_masking(dit: torch.nn.Module) -> None:
    """Make every block honour a length mask: our processor where upstream's
    is the plain torch one, upstream's own masking otherwise."""
    for block in dit.transformer_blocks:
        proc = block.attn.processor
        if isinstance(proc, KeyMaskedAttention):
            continue
        if getattr(proc, "attn_backend", "torch") == "torch" and getattr(proc, "pe_attn_head", None) is None:
            block.attn.processor = KeyMaskedAttention(proc)
        else:
            proc.attn_mask_enabled = True


class Velocity(torch.nn.Module):
    """One DiT evaluation on precomputed conditioning: the only per-step work.

    ``const`` holds the step-independent part of the input projection for
    the batch (and, stacked below it, for the unconditional pass when
    guidance is on); the result is the raw prediction, conditional rows
    first."""

    def __init__(self, dit: torch.nn.Module):
        super().__init__()
        self.dit = dit
        proj = dit.input_embed.proj
        text_dim = dit.text_embed.text_embed.embedding_dim
        self.mel_dim = (proj.in_features - text_dim) // 2
        self.register_buffer("w_x", proj.weight[:, : self.mel_dim].detach().clone(), persistent=False)

    def forward(self, x: torch.Tensor, time: torch.Tensor, const: torch.Tensor, mask: torch.Tensor,
                rope: tuple) -> torch.Tensor:
        dit = self.dit
        h = F.linear(x, self.w_x)
        if const.shape[0] != x.shape[0]:  # guided: the same x for both passes
            h = torch.cat((h, h))
            mask = torch.cat((mask, mask))
        h = h + const
        h = dit.input_embed.conv_pos_embed(h, mask=mask) + h
        residual = h
        for block in dit.transformer_blocks:
            h = block(h, time, mask=mask, rope=rope)
        if dit.long_skip_connection is not None:
            h = dit.long_skip_connection(torch.cat((h, residual), dim=-1))
        return dit.proj_out(dit.norm_out(h, time))


@dataclass
class Batch:
    x0: torch.Tensor  # B × L × mels, noise (zero past each message)
    cond: torch.Tensor  # B × L × mels, reference mel, zero elsewhere
    cond_mask: torch.Tensor  # B × L × 1, True on reference frames
    mask: torch.Tensor  # B × L, True on each message's own frames
    const: torch.Tensor  # (B or 2B) × L × dim
    requests: list[Request]


class _LoopGraph:
    """The whole Euler loop for one shape, captured once, replayed per batch."""

    def __init__(self, run: Callable[..., torch.Tensor], like: Batch, pool):
        self.x0 = torch.zeros_like(like.x0)
        self.const = torch.zeros_like(like.const)
        self.mask = torch.ones_like(like.mask)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # compile, autotune and allocate outside the capture
            for _ in range(2):
                run(self.x0, self.const, self.mask)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, pool=pool):
            self.out = run(self.x0, self.const, self.mask)

    def replay(self, batch: Batch) -> torch.Tensor:
        self.x0.copy_(batch.x0)
        self.const.copy_(batch.const)
        self.mask.copy_(batch.mask)
        self.graph.replay()
        # graphs share one memory pool: take the result out before another replays
        return self.out.clone()


class FastSampler:
    def __init__(self, dit: torch.nn.Module, device: torch.device, dtype: torch.dtype, *,
                 buckets: list[int], max_batch: int, compile_mode: str, cuda_graphs: bool):
        self.dit = dit
        self.device = device
        self.dtype = dtype
        self.buckets = buckets
        self.max_batch = max_batch
        self.cuda_graphs = bool(cuda_graphs and device.type == "cuda" and compile_mode != "reduce-overhead")
        self.compile_mode = compile_mode
        install_key_masking(dit)
        self.velocity_module = Velocity(dit).to(device)
        self.velocity: Callable[..., torch.Tensor] = self.velocity_module
        if compile_mode != "off":
            mode = compile_mode
            if self.cuda_graphs and mode == "max-autotune":
                mode = "max-autotune-no-cudagraphs"  # our own graphs wrap the loop
            # dynamic in the length: one compilation serves every bucket
            self.velocity = torch.compile(self.velocity_module, mode=None if mode == "default" else mode,
                                          dynamic=True)
        self._schedules: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._ropes: dict[int, tuple] = {}
        self._graphs: dict[tuple, _LoopGraph] = {}
        self._pool = torch.cuda.graph_pool_handle() if self.cuda_graphs else None
        self.graph_captures = 0

    # ------------------------------------------------------------------ shapes

    def length_for(self, total: int) -> int:
        return bk.choose_bucket(total, self.buckets) or total

    def _schedule(self, steps: int, sway: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(time embedding of every step, step sizes), once per schedule."""
        key = (steps, sway)
        if key not in self._schedules:
            t = timesteps(steps, sway, self.device, self.dtype)
            self._schedules[key] = (self.dit.time_embed(t[:-1]), t[1:] - t[:-1])
        return self._schedules[key]

    def _rope(self, length: int) -> tuple:
        if length not in self._ropes:
            self._ropes[length] = self.dit.rotary_embed.forward_from_seq_len(length)
        return self._ropes[length]

    # ------------------------------------------------------------------ batch

    def prepare(self, requests: list[Request], guided: bool) -> Batch:
        """Pad each request to the bucket and the batch to an allowed size
        (repeating the first request: its rows are computed and dropped)."""
        n = len(requests)
        size = bk.choose_batch(n, self.max_batch)
        rows = requests + [requests[0]] * (size - n)
        length = self.length_for(max(r.total for r in rows))
        mels = rows[0].mel.shape[-1]
        x0 = torch.zeros(size, length, mels, device=self.device, dtype=self.dtype)
        cond = torch.zeros_like(x0)
        for i, r in enumerate(rows):
            generator = torch.Generator(device=self.device).manual_seed(r.seed)
            # the same draw an unpadded, unbatched message gets
            x0[i, : r.total] = torch.randn(r.total, mels, generator=generator, device=self.device, dtype=self.dtype)
            ref = min(r.mel.shape[1], r.total)
            cond[i, :ref] = r.mel[0, :ref]
        frames = torch.arange(length, device=self.device)
        totals = torch.tensor([r.total for r in rows], device=self.device)
        refs = torch.tensor([min(r.mel.shape[1], r.total) for r in rows], device=self.device)
        mask = frames[None, :] < totals[:, None]
        cond_mask = (frames[None, :] < refs[:, None])[..., None]
        width = max(r.ids.shape[1] for r in rows)
        text = torch.full((size, width), -1, dtype=torch.long, device=self.device)
        for i, r in enumerate(rows):
            text[i, : r.ids.shape[1]] = r.ids[0]
        const = self._conditioning(cond, text, totals, length, guided)
        return Batch(x0=x0, cond=cond, cond_mask=cond_mask, mask=mask, const=const, requests=requests)

    def _conditioning(self, cond, text, totals, length: int, guided: bool) -> torch.Tensor:
        """The step-independent part of the input projection (see the module doc)."""
        dit = self.dit
        proj = dit.input_embed.proj
        m = self.velocity_module.mel_dim
        w_cond, w_text = proj.weight[:, m: 2 * m], proj.weight[:, 2 * m:]

        def text_part(drop: bool) -> torch.Tensor:
            emb = dit.text_embed(text, seq_len=totals, drop_text=drop)
            return F.pad(emb, (0, 0, 0, length - emb.shape[1]))

        const = F.linear(cond, w_cond) + F.linear(text_part(False), w_text, proj.bias)
        if guided:  # the unconditional pass drops the reference audio and the text
            const = torch.cat((const, F.linear(text_part(True), w_text, proj.bias)))
        return const

    # ------------------------------------------------------------------ sampling

    def _integrate(self, x: torch.Tensor, const: torch.Tensor, mask: torch.Tensor, *, steps: int, cfg: float,
                   guided: bool, sway: float | None, length: int,
                   cancel: Any = None) -> torch.Tensor:
        time_table, dt = self._schedule(steps, sway)
        rope = self._rope(length)
        rows = const.shape[0]
        for i in range(steps):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            out = self.velocity(x, time_table[i].expand(rows, -1), const, mask, rope)
            if guided:
                pred, null = out.chunk(2)
                out = pred + (pred - null) * cfg
            x = x + dt[i] * out
        return x

    def sample(self, requests: list[Request], *, steps: int, cfg_strength: float, sway: float | None,
               cancel: Any = None) -> list[torch.Tensor]:
        """Mels (1 × frames × mels each, reference frames cut as upstream
        does) for requests that share steps, cfg and sway."""
        guided = cfg_strength >= CFG_OFF
        batch = self.prepare(requests, guided)
        length = batch.x0.shape[1]
        if cancel is not None and cancel.is_set():
            raise Cancelled
        if self.cuda_graphs:
            x = self._graph(batch, steps, cfg_strength, guided, sway).replay(batch)
        else:
            x = self._integrate(batch.x0, batch.const, batch.mask, steps=steps, cfg=cfg_strength, guided=guided,
                                sway=sway, length=length, cancel=cancel)
        x = torch.where(batch.cond_mask, batch.cond, x)
        return [x[i: i + 1, r.ref_frames: r.total] for i, r in enumerate(requests)]

    def _graph(self, batch: Batch, steps: int, cfg: float, guided: bool, sway: float | None) -> _LoopGraph:
        key = (batch.x0.shape[0], batch.x0.shape[1], steps, cfg, guided, sway)
        graph = self._graphs.get(key)
        if graph is None:
            length = batch.x0.shape[1]
            self._schedule(steps, sway)  # cached tensors are made outside the capture
            self._rope(length)

            def run(x0, const, mask):
                return self._integrate(x0, const, mask, steps=steps, cfg=cfg, guided=guided, sway=sway,
                                       length=length)

            t0 = time.perf_counter()
            graph = self._graphs[key] = _LoopGraph(run, batch, self._pool)
            self.graph_captures += 1
            log.debug("captured a CUDA graph", batch=key[0], frames=key[1], steps=steps,
                      seconds=round(time.perf_counter() - t0, 2))
        return graph

    # ------------------------------------------------------------------ warm-up

    def warmup_plan(self, reference: Request) -> list[tuple[int, int]]:
        """The (batch size, frames) shapes :meth:`warmup` visits for this reference, in order."""
        lengths = [b for b in self.buckets if b > reference.mel.shape[1]]
        sizes = bk.batch_sizes(self.max_batch)
        plan = [(1, L) for L in lengths]
        if self.cuda_graphs:
            plan += [(n, L) for n in sizes[1:] for L in lengths]
        elif len(sizes) > 1 and lengths:
            plan += [(sizes[1], lengths[0])]  # batched rows compile once for every length
        return plan

    def warmup(self, reference: Request, *, steps: int, cfg_strength: float, sway: float | None,
               progress: Callable[[int, int, str], None] | None = None) -> int:
        """Run every bucket that a message in this voice can land in (and,
        batched, every batch size where graphs are captured, one bucket
        otherwise), so that no compilation or capture happens while chat is
        being read. Returns the number of shapes visited."""
        plan = self.warmup_plan(reference)
        for i, (n, length) in enumerate(plan, 1):
            if progress is not None:
                progress(i, len(plan), f"batch {n}, {length} frames")
            req = Request(mel=reference.mel, ids=reference.ids, ref_frames=reference.ref_frames,
                          total=length, seed=0)
            self.sample([req] * n, steps=steps, cfg_strength=cfg_strength, sway=sway)
        return len(plan)
