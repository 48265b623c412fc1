"""Every message the daemon will not speak, counted once, by reason."""

from __future__ import annotations

import collections
from typing import Any

import structlog

from ishowtts_live.bus import EventBus
from ishowtts_live.events import ChatEvent, Utterance, utterance_fields
from ishowtts_live.metrics import Metrics

log = structlog.get_logger(__name__)

# what a queue listener hears when an utterance leaves the queue unspoken
QUEUE_REMOVALS = ("dropped", "evicted", "stale", "purged")


class Drops:
    """The one place a drop is recorded: the tally ``/api/status`` shows, the
    Prometheus counter, a ``dropped`` event on the bus and a debug log line
    (debug: a flood drops thousands a second; the counters keep the tally)."""

    def __init__(self, bus: EventBus, metrics: Metrics):
        self.bus = bus
        self.metrics = metrics
        self.counts: collections.Counter[str] = collections.Counter()

    def record_drop(self, reason: str, *, utt: Utterance | None = None, event: ChatEvent | None = None,
                    detail: str = "") -> None:
        """``utt`` when the message became an utterance, else its ``event``."""
        self.counts[reason] += 1
        self.metrics.drops.labels(reason).inc()
        if utt is not None:
            fields = utterance_fields(utt)
            msg_id = utt.event.msg_id if utt.event else utt.id
        else:
            assert event is not None
            fields = _event_fields(event)
            msg_id = event.msg_id
        log.debug("dropped", reason=reason, detail=detail, msg_id=msg_id, user=fields["user_name"])
        self.bus.publish("dropped", reason=reason, **fields)

    def on_queue(self, action: str, utt: Utterance, reason: str) -> None:
        """A queue listener: refused, evicted, stale, purged or cleared."""
        if action in QUEUE_REMOVALS:
            self.record_drop(reason or action, utt=utt)


def _event_fields(event: ChatEvent) -> dict[str, Any]:
    """A chat event dropped before it became an utterance, as the event stream shows it."""
    return {"user_name": event.user_name, "text": event.text, "msg_id": event.msg_id,
            "platform": event.platform, "kind": event.kind}
