"""Filters and text for speech (DESIGN §5): which chat messages are read, and
how they are said.

``FilterChain(cfg.filters, cfg.speech, moderation).check(event)`` gives a
``Decision``: the verdict (with a machine-readable reason when dropped), the
text to speak, and a moderator's chat command if the message was one.
"""

from ishowtts_live.filters.chain import REASONS, Decision, FilterChain
from ishowtts_live.filters.commands import Command
from ishowtts_live.filters.speech import Speech

__all__ = ["REASONS", "Command", "Decision", "FilterChain", "Speech"]
