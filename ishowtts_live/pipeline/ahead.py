"""Synthesis ahead: once the engine has finished the message being spoken,
the next few waiting ones (``engine.prefetch``) are synthesized while it
plays, as one group (one batch on the fast path).

They stay in the queue until their turn, so its order, pause, purges and
journal are untouched; one that leaves the queue (purged, stale, evicted)
has its synthesis cancelled, and each is still re-checked against mutes and
blocked words right before it is spoken.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

import structlog

from ishowtts_live.errors import IshowttsError
from ishowtts_live.events import Utterance, Verdict
from ishowtts_live.queueing.queue import SpeechQueue
from ishowtts_live.synth.protocol import AudioStream, Synthesizer, SynthRequest

log = structlog.get_logger(__name__)


@dataclass
class _Made:
    """A waiting utterance synthesized ahead of its turn."""

    stream: AudioStream
    key: tuple  # what it was synthesized as; another key at its turn = synthesize again


class Ahead:
    def __init__(self, queue: SpeechQueue, synth: Synthesizer, size: int,
                 request: Callable[[Utterance], SynthRequest], key: Callable[[Utterance], tuple],
                 recheck: Callable[[Utterance], Verdict], engine_busy: Callable[[], bool]):
        self.queue = queue
        self.synth = synth
        self.size = size  # how many waiting utterances to synthesize ahead
        self.request = request
        self.key = key
        self.recheck = recheck
        self.engine_busy = engine_busy  # still synthesizing the message being spoken
        self.used = 0  # utterances spoken from audio synthesized ahead
        self.wasted = 0  # synthesized ahead, then not spoken from it
        self.made: dict[str, _Made] = {}
        self.open = True
        self._due = False
        if size > 0:
            queue.listeners.append(self._on_queue)

    def schedule_prefetch(self) -> None:
        """Synthesize ahead soon (coalesced: one refill per loop turn)."""
        if self.size > 0 and not self._due:
            self._due = True
            asyncio.get_running_loop().call_soon(self._refill)

    def take(self, utt: Utterance) -> AudioStream | None:
        """The audio made ahead for ``utt``, if it is still what is wanted now."""
        made = self.made.pop(utt.id, None)
        if made is None:
            return None
        if made.key == self.key(utt) and not made.stream.cancelled:
            self.used += 1
            return made.stream
        made.stream.cancel()  # asked for differently since (ctl nfe): not what is wanted now
        self.wasted += 1
        return None

    def forget(self, utt_id: str) -> None:
        made = self.made.pop(utt_id, None)
        if made is not None:
            made.stream.cancel()
            self.wasted += 1

    def close(self) -> None:
        """Make nothing more ahead, and cancel what was made."""
        self.open = False
        for utt_id in list(self.made):
            self.forget(utt_id)

    def _on_queue(self, action: str, utt: Utterance, _reason: str) -> None:
        if action == "queued":
            self.schedule_prefetch()
        elif action in ("evicted", "purged", "stale"):  # left the queue: it will never be taken
            self.forget(utt.id)
        # "dropped" is a newcomer refused (a re-delivered duplicate has the
        # id of the one waiting, whose audio made ahead is still wanted)

    def _refill(self) -> None:
        """Start synthesizing the next waiting utterances, once the engine is
        free of the one being spoken (so a paid message arriving now is not
        stuck behind chat synthesized on speculation)."""
        self._due = False
        if not self.open or self.engine_busy():
            return  # scheduled again when its synthesis ends
        upcoming = self.queue.peek(self.size)
        wanted = {u.id for u in upcoming}
        for utt_id in [i for i in self.made if i not in wanted]:
            if len(self.made) <= self.size:
                break
            self.forget(utt_id)  # pushed back by higher-priority arrivals
        todo = [u for u in upcoming if u.id not in self.made and self.recheck(u).kept][
            : max(0, self.size - len(self.made))]
        if not todo:
            return
        try:
            streams = self.synth.stream_ahead([self.request(u) for u in todo])
        except IshowttsError:
            return  # synthesis is down: the message's turn reports it
        for utt, stream in zip(todo, streams):
            self.made[utt.id] = _Made(stream, self.key(utt))
        log.debug("synthesizing ahead", count=len(todo), waiting=len(self.queue))
