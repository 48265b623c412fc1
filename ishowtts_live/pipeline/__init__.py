"""What happens to a message between the chat and the sink, in one package.

ingest:   source ─ChatEvent─▶ filters ─Utterance─▶ queue         (:mod:`.ingest`)
playback: queue ─Utterance─▶ synthesizer ─blocks─▶ sink          (:mod:`.playback`)

Beside the two loops: :mod:`.ahead` (the next waiting messages synthesized
while one plays), :mod:`.moderator` (mutes, bans, deletions reaching the
queue and the message being spoken by one rule), :mod:`.drops` (every
message not spoken, counted once), :mod:`.backlog` (degradation when the
queue backs up), :mod:`.routing` (which voice), :mod:`.clock` (the event
clock). The composition root (``app.py``) builds them; nothing here starts a
stage or knows a concrete synthesizer or sink.
"""

from ishowtts_live.pipeline.ahead import Ahead
from ishowtts_live.pipeline.backlog import Backlog
from ishowtts_live.pipeline.clock import EventClock
from ishowtts_live.pipeline.drops import Drops
from ishowtts_live.pipeline.ingest import Ingest, new_utterance_id, utterance_id_for
from ishowtts_live.pipeline.moderator import Change, Moderator, Removed
from ishowtts_live.pipeline.playback import Playback
from ishowtts_live.pipeline.routing import RuntimeOverrides, VoiceRouter

__all__ = [
    "Ahead", "Backlog", "Change", "Drops", "EventClock", "Ingest", "Moderator", "Playback", "Removed",
    "RuntimeOverrides", "VoiceRouter", "new_utterance_id", "utterance_id_for",
]
