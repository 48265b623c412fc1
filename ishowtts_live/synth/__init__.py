"""Synthesis: the only package that imports torch, and only lazily.

The rest of the daemon sees :mod:`.protocol` (the ``Synthesizer`` protocol,
torch-free). :mod:`.local` implements it with the F5 engine on its own thread
(:mod:`.worker`, :mod:`.jobs`); the engine is :mod:`.engine` with its parts
:mod:`.prepared`, :mod:`.streaming`, :mod:`.batching`, :mod:`.warmup`,
:mod:`.fastpath`, :mod:`.sampler` and :mod:`.loading` (torch). Torch-free
too: :mod:`.voices` (voice files), :mod:`.textchunks` (sentence chunking),
:mod:`.blocks` (block splitting and cross-fades), :mod:`.resources`,
:mod:`.checks` (``[engine]`` and ``[voices]``).
"""
