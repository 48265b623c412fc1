"""What the fast path builds and how a failed build is told: the whole
Euler loop captured as one CUDA graph per shape (:class:`LoopGraph`), and the
one-line cause of a compile or capture failure (:func:`describe_failure`)
for the step-down warning (:mod:`.fastpath`)."""

from __future__ import annotations

from typing import Callable

import torch

from ishowtts_live.synth.hub import first_line


def describe_failure(exc: BaseException) -> str:
    """One line for a build failure: the innermost cause (inductor wraps the
    compiler's own error in a BackendCompilerFailed whose first line says
    only which backend raised)."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "inner_exception", None) or exc.__cause__
        if inner is None:
            break
        exc = inner
    return f"{type(exc).__name__}: {first_line(exc)}"


class LoopGraph:
    """The whole Euler loop for one shape, captured once, replayed per batch.
    Every stream is made on ``device`` and the capture runs on one of them, so
    a graph of ``cuda:1`` is recorded on ``cuda:1`` (torch's default capture
    stream is made once, on whatever device was current the first time)."""

    def __init__(self, run: Callable[..., torch.Tensor], like, pool, device: torch.device):  # like: a fastpath.Batch
        self.x0 = torch.zeros_like(like.x0)
        self.const = torch.zeros_like(like.const)
        self.mask = torch.ones_like(like.mask)
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # autotune and allocate outside the capture
            for _ in range(2):
                run(self.x0, self.const, self.mask)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, pool=pool, stream=side):
            self.out = run(self.x0, self.const, self.mask)

    def replay(self, batch) -> torch.Tensor:  # a fastpath.Batch
        self.x0.copy_(batch.x0)
        self.const.copy_(batch.const)
        self.mask.copy_(batch.mask)
        self.graph.replay()
        # graphs share one memory pool: take the result out before another replays
        return self.out.clone()


__all__ = ["LoopGraph", "describe_failure"]
