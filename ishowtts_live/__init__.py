"""ishowtts-live: reads livestream chat aloud in a voice cloned with F5-TTS.

Importing this package (and every command except ``run``, ``say`` and ``bench``)
never imports torch: the model lives behind :mod:`ishowtts_live.synth`, which
imports it lazily.
"""

__version__ = "0.1.0"
