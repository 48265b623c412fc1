"""``ishowtts-live bench``: this engine against upstream ``F5TTS.infer``, in one
process, on the same weights, reference, texts and sampling parameters.

Torch-free here: :mod:`.cases` (the texts), :mod:`.report` (statistics, JSON,
Markdown, ``--compare``), :mod:`.cli` (arguments). Torch, imported lazily:
:mod:`.runner` (our engine), :mod:`.upstream` (the baseline), :mod:`.plot`
(matplotlib).
"""
