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

Fail soft: when compiling or capturing fails (no Triton, no compiler, a GPU
too old, memory running out during a capture), the sampler steps down — the
compiled step back to the plain module, the graphs off — with one warning
line naming the cause and what runs instead, and serves on. A shape outside
the set warmed at start (a length past the largest bucket, an NFE no voice
uses) runs without capture or compilation, so the set stays bounded and
nothing is built while chat is being read; both are counted for /metrics.

Every CUDA call names the sampler's device, so ``cuda:1`` is honoured.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import structlog
import torch
import torch.nn.functional as F

from ishowtts_live.synth import buckets as bk
from ishowtts_live.synth.capture import LoopGraph, describe_failure
from ishowtts_live.synth.loading import device_scope
from ishowtts_live.synth.masking import install_key_masking
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


_BUILD_FAILED = {"graphs": "CUDA graph capture failed", "compile": "torch.compile ({mode}) failed"}


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
        self._schedules: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._ropes: dict[int, tuple] = {}
        self._graphs: dict[tuple, LoopGraph] = {}
        self._pool = torch.cuda.graph_pool_handle() if self.cuda_graphs else None
        # (steps, cfg, sway) that get graphs; None = any (until the engine says which)
        self.allowed: set[tuple] | None = None
        self.warming = False
        self.captures = {"warmup": 0, "live": 0}
        # keys made up front: /metrics reads these from another thread, so they never grow
        self.unwarmed = Counter({"compiled": 0, "eager": 0})  # batches outside the warmed shapes, by what ran them
        self.stepdowns = Counter({"no-graphs": 0, "no-compile": 0})
        if compile_mode != "off":
            mode = compile_mode
            if self.cuda_graphs and mode == "max-autotune":
                mode = "max-autotune-no-cudagraphs"  # our own graphs wrap the loop
            try:
                # dynamic in the length: one compilation serves every bucket
                self.velocity = torch.compile(self.velocity_module, mode=None if mode == "default" else mode,
                                              dynamic=True)
            except Exception as exc:  # noqa: BLE001 - refused outright (e.g. an unsupported Python)
                self.step_down("compile", exc)

    @property
    def graph_captures(self) -> int:
        return self.captures["warmup"] + self.captures["live"]

    @property
    def path(self) -> str:
        """What runs now, in words (logs, doctor, bench)."""
        parts = []
        if self.compile_mode != "off":
            parts.append(f"torch.compile ({self.compile_mode})")
        if self.cuda_graphs:
            parts.append("CUDA graphs")
        return "fast path, " + (" + ".join(parts) if parts else "eager (no compile, no CUDA graphs)")

    def allow(self, schedules) -> None:
        """Give graphs to these (steps, cfg, sway) schedules (the voices' and
        the backlog's); other ones run compiled, without capture."""
        self.allowed = (self.allowed or set()) | {tuple(s) for s in schedules}

    def step_down(self, what: str, cause: BaseException) -> None:
        """``what`` ("graphs" or "compile") could not be built: turn it off,
        say so in one warning line, and let the caller run on without it."""
        mode = self.compile_mode
        if what == "graphs":
            if not self.cuda_graphs:
                return
            self.cuda_graphs = False
            self._graphs.clear()
            self._pool = None
            torch.cuda.empty_cache()  # what the failed capture held
            to = "no-graphs"
        else:
            if self.compile_mode == "off":
                return
            self.compile_mode = "off"
            self.velocity = self.velocity_module
            to = "no-compile"
        self.stepdowns[to] += 1
        log.warning(f"{_BUILD_FAILED[what].format(mode=mode)}; running {self.path} instead",
                    cause=describe_failure(cause))

    # ------------------------------------------------------------------ shapes

    def length_for(self, total: int) -> int:
        """The bucket that holds ``total`` frames; past the largest, the
        length itself rounded up to the alignment (still masked)."""
        return bk.choose_bucket(total, self.buckets) or bk.aligned(total)

    def warmable(self, batch: int, length: int) -> bool:
        """A shape the warm-up covers: a bucket length, an allowed batch size."""
        return length in self.buckets and batch in bk.batch_sizes(self.max_batch)

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
                   guided: bool, sway: float | None, length: int, velocity: Callable[..., torch.Tensor],
                   cancel: Any = None) -> torch.Tensor:
        time_table, dt = self._schedule(steps, sway)
        rope = self._rope(length)
        rows = const.shape[0]
        for i in range(steps):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            out = velocity(x, time_table[i].expand(rows, -1), const, mask, rope)
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
        with device_scope(self.device):
            batch = self.prepare(requests, guided)
            if cancel is not None and cancel.is_set():
                raise Cancelled
            x = self._loop(batch, steps, cfg_strength, guided, sway, cancel)
            x = torch.where(batch.cond_mask, batch.cond, x)
        return [x[i: i + 1, r.ref_frames: r.total] for i, r in enumerate(requests)]

    def _loop(self, batch: Batch, steps: int, cfg: float, guided: bool, sway: float | None,
              cancel: Any) -> torch.Tensor:
        """The Euler loop for a batch: a graph replay when its shape has one,
        else compiled, else (outside the warmed shapes) the plain module."""
        size, length = batch.x0.shape[0], batch.x0.shape[1]
        warm = self.warmable(size, length)
        if self.cuda_graphs and warm and (self.allowed is None or (steps, cfg, sway) in self.allowed):
            key = (size, length, steps, cfg, guided, sway)
            graph = self._graphs.get(key)
            if graph is not None:
                return graph.replay(batch)
            # compile (or step down from it) outside any capture; this batch is served by that run
            out = self._plain(batch, steps, cfg, guided, sway, cancel, compiled=True)
            self._capture(key, batch)
            return out
        if not warm and (self.cuda_graphs or self.compile_mode != "off"):
            self.unwarmed["eager"] += 1
        elif self.cuda_graphs:
            self.unwarmed["compiled" if self.compile_mode != "off" else "eager"] += 1
        return self._plain(batch, steps, cfg, guided, sway, cancel, compiled=warm)

    def _plain(self, batch: Batch, steps: int, cfg: float, guided: bool, sway: float | None, cancel: Any,
               compiled: bool) -> torch.Tensor:
        """The loop without a graph; compiled when asked and available. A
        compiled loop that raises is run once more uncompiled: if that works,
        the compiler was at fault and compilation steps down; if not, the
        error is this batch's own (out of memory, …) and is raised as is."""
        run = lambda velocity: self._integrate(  # noqa: E731
            batch.x0, batch.const, batch.mask, steps=steps, cfg=cfg, guided=guided, sway=sway,
            length=batch.x0.shape[1], velocity=velocity, cancel=cancel)
        if not compiled or self.velocity is self.velocity_module:
            return run(self.velocity_module)
        try:
            return run(self.velocity)
        except (Cancelled, torch.cuda.OutOfMemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - the compiler's, if the plain module does better
            out = run(self.velocity_module)
            self.step_down("compile", exc)
            return out

    def _capture(self, key: tuple, batch: Batch) -> None:
        size, length, steps, cfg, guided, sway = key
        self._schedule(steps, sway)  # cached tensors are made outside the capture
        self._rope(length)

        def run(x0, const, mask):
            return self._integrate(x0, const, mask, steps=steps, cfg=cfg, guided=guided, sway=sway,
                                   length=length, velocity=self.velocity)

        t0 = time.perf_counter()
        try:
            self._graphs[key] = LoopGraph(run, batch, self._pool, self.device)
        except Exception as exc:  # noqa: BLE001 - out of memory, an op that cannot be captured, …
            self.step_down("graphs", exc)
            return
        self.captures["warmup" if self.warming else "live"] += 1
        log.debug("captured a CUDA graph", batch=size, frames=length, steps=steps, live=not self.warming,
                  seconds=round(time.perf_counter() - t0, 2))

    # ------------------------------------------------------------------ warm-up

    def warmup_plan(self, reference: Request) -> list[tuple[int, int]]:
        """The (batch size, frames) shapes :meth:`warmup` visits for this reference, in order."""
        lengths = [b for b in self.buckets if b > reference.mel.shape[1]]
        sizes = bk.batch_sizes(self.max_batch)
        plan = [(1, L) for L in lengths]
        if self.cuda_graphs or self.compile_mode == "reduce-overhead":
            plan += [(n, L) for n in sizes[1:] for L in lengths]
        elif len(sizes) > 1 and lengths:
            plan += [(sizes[1], lengths[0])]  # batched rows compile once for every length
        return plan

    def warmup(self, reference: Request, *, steps: int, cfg_strength: float, sway: float | None,
               progress: Callable[[int, int, str], None] | None = None) -> int:
        """Run every shape a message in this voice can take live, so that no
        compilation or capture happens while chat is being read: every
        bucket, at every batch size where shapes are captured (our graphs,
        or torch's own under ``reduce-overhead``), at one batched shape
        otherwise (dynamic compilation covers the rest). Returns the number
        of shapes visited."""
        self.allow([(steps, cfg_strength, sway)])
        plan = self.warmup_plan(reference)
        self.warming = True
        try:
            for i, (n, length) in enumerate(plan, 1):
                if progress is not None:
                    progress(i, len(plan), f"batch {n}, {length} frames")
                req = Request(mel=reference.mel, ids=reference.ids, ref_frames=reference.ref_frames,
                              total=length, seed=0)
                self.sample([req] * n, steps=steps, cfg_strength=cfg_strength, sway=sway)
        finally:
            self.warming = False
        return len(plan)
