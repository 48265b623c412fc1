"""The speech queue (named so as not to shadow the stdlib ``queue``) and its
crash-safe journal."""

from ishowtts_live.queueing.journal import Journal
from ishowtts_live.queueing.store import state_dir
from ishowtts_live.queueing.queue import (
    ANNOUNCEMENT,
    CHAT,
    CLASS_NAMES,
    PAID,
    QueueItem,
    SpeechQueue,
    priority_class,
)

__all__ = [
    "ANNOUNCEMENT", "CHAT", "CLASS_NAMES", "PAID", "Journal", "QueueItem", "SpeechQueue",
    "priority_class", "state_dir",
]
