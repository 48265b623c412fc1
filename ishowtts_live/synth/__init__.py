"""Synthesis: the only package that imports torch, and only lazily.

Torch-free here: :mod:`.voices` (voice files), :mod:`.textchunks` (sentence
chunking), :mod:`.blocks` (block splitting and cross-fades), :mod:`.resources`.
Torch: :mod:`.loading`, :mod:`.engine`, :mod:`.sampler`, :mod:`.worker`.
"""
