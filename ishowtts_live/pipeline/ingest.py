"""source → filters → queue, and the platforms' moderation events."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from typing import Any

import structlog
from structlog.contextvars import bound_contextvars

from ishowtts_live.bus import EventBus
from ishowtts_live.events import ChatEvent, ModerationEvent, Utterance, utterance_fields
from ishowtts_live.filters.chain import FilterChain
from ishowtts_live.metrics import Metrics
from ishowtts_live.pipeline.backlog import Backlog
from ishowtts_live.pipeline.clock import EventClock
from ishowtts_live.pipeline.drops import Drops
from ishowtts_live.pipeline.moderator import Moderator
from ishowtts_live.pipeline.routing import VoiceRouter
from ishowtts_live.queueing.queue import SpeechQueue

log = structlog.get_logger(__name__)


def new_utterance_id() -> str:
    return uuid.uuid4().hex[:12]


def utterance_id_for(event: ChatEvent) -> str:
    """The utterance id of a chat message: derived from its platform and
    message id, so a message a source delivers again (after a reconnect, or
    a restart that replays history) has the same id and the queue and the
    journal recognise it instead of speaking it twice."""
    if not event.msg_id:
        return new_utterance_id()
    digest = hashlib.blake2b(f"{event.platform}\0{event.msg_id}".encode(), digest_size=8)
    return digest.hexdigest()


class Ingest:
    def __init__(self, chain: FilterChain, queue: SpeechQueue, moderator: Moderator, router: VoiceRouter,
                 clock: EventClock, bus: EventBus, metrics: Metrics, drops: Drops, backlog: Backlog):
        self.chain, self.queue, self.moderator, self.router = chain, queue, moderator, router
        self.clock, self.bus, self.metrics, self.drops, self.backlog = clock, bus, metrics, drops, backlog
        self.received = 0

    async def run(self, source: Any) -> None:
        taken = 0
        async for item in source.events():
            self.take(item)
            taken += 1
            if taken % 32 == 0:
                # a flood arrives many messages per socket read: let playback
                # and the control API run between batches
                await asyncio.sleep(0)

    def take(self, item: ChatEvent | ModerationEvent) -> None:
        if isinstance(item, ModerationEvent):
            self.moderator.platform(item)
            return
        with bound_contextvars(msg_id=item.msg_id):
            self.received += 1
            self.clock.observe(item.clock)
            self.metrics.received.labels(item.platform).inc()
            decision = self.chain.check(item, compact=self.backlog.active and self.backlog.compact)
            if decision.command is not None:
                self.moderator.chat_command(decision.command, item)
            if not decision.verdict.kept:
                self.drops.record_drop(decision.verdict.reason, event=item, detail=decision.verdict.detail)
                return
            utt = Utterance(id=utterance_id_for(decision.event), text=decision.speak,
                            voice=self.router.voice_for(decision.event), event=decision.event)
            if not self.queue.put(utt).kept:
                return  # counted by the queue's listener (Drops.on_queue)
            if item.received_mono:
                self.metrics.stage.labels("queued").observe(max(0.0, time.monotonic() - item.received_mono))
            log.info("queued", user=item.user_name, kind=item.kind, speak=utt.text)
            self.bus.publish("queued", **utterance_fields(utt))
