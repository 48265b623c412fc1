"""queue → synthesis → sink, one utterance at a time, cut-able at any block.

When a synthesizer that :attr:`~ishowtts_live.synth.protocol.Synthesizer.recovers`
(a remote server) is away, the message it could not synthesize goes back to
its place in the queue (spoken from its start once synthesis is back; a paid
one stays journaled until then) and playback waits; meanwhile the queue drops
chat past its time to live with reason ``synth_unavailable``.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, Callable

import structlog
from structlog.contextvars import bound_contextvars

from ishowtts_live.bus import EventBus
from ishowtts_live.errors import IshowttsError, SynthesisError, SynthUnavailable
from ishowtts_live.events import ChatEvent, Utterance, Verdict, utterance_fields
from ishowtts_live.metrics import Metrics
from ishowtts_live.pipeline.ahead import Ahead
from ishowtts_live.pipeline.backlog import Backlog
from ishowtts_live.pipeline.drops import Drops
from ishowtts_live.pipeline.routing import RuntimeOverrides
from ishowtts_live.queueing.queue import SpeechQueue
from ishowtts_live.synth.protocol import AudioStream, Synthesizer, SynthRequest

log = structlog.get_logger(__name__)

STOPPING = ("shutdown", "forced")  # cut reasons that are the daemon stopping
RECENT = 10  # spoken messages whose timings /api/status shows
AWAY_CHECK_S = 1.0  # while synthesis is away: how often stale chat is dropped


class Playback:
    """``recheck`` runs right before an utterance is spoken: a mute or blocked
    word added since it was queued still wins. ``prefetch``: how many waiting
    utterances are synthesized ahead while one plays (:mod:`.ahead`)."""

    def __init__(self, queue: SpeechQueue, synth: Synthesizer, sink: Any, bus: EventBus, metrics: Metrics,
                 drops: Drops, overrides: RuntimeOverrides, backlog: Backlog, default_nfe: int,
                 recheck: Callable[[Utterance], Verdict], prefetch: int = 0):
        self.queue, self.synth, self.sink = queue, synth, sink
        self.bus, self.metrics, self.drops = bus, metrics, drops
        self.overrides, self.backlog, self.default_nfe = overrides, backlog, default_nfe
        self.recheck = recheck
        self.ahead = Ahead(queue, synth, prefetch, self._request, self._key, recheck, self._engine_busy)
        self.current: Utterance | None = None
        self.current_since = 0.0  # monotonic: when the current message's turn came
        self.spoken = 0
        # the last spoken messages' timings (audio_s, rtf, first_audio_s, latency_s), newest last
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT)
        self._first_audio: float | None = None
        self.outcomes: collections.Counter[str] = collections.Counter()  # spoken / skipped / failed
        self._cut = asyncio.Event()
        self._cut_reason = ""
        self._stream: AudioStream | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._accepting = True

    async def run(self) -> None:
        try:
            while self._accepting:
                await self._until_synthesis_serves()
                if not self._accepting:
                    break
                utt = await self.queue.get()
                if not self._accepting:
                    # shutting down: it stays journaled (if paid) for the next start
                    break
                await self.speak(utt)
                self.ahead.schedule_prefetch()
        finally:
            self.ahead.close()

    # ------------------------------------------------------------------ what to synthesize

    def _request(self, utt: Utterance) -> SynthRequest:
        args = self.backlog.synth_args(utt.nfe_step or self.overrides.nfe_step, self.default_nfe)
        return SynthRequest(text=utt.text, voice=utt.voice or None, utterance_id=utt.id,
                            nfe_step=args["nfe_step"], speed=args.get("speed"))

    def _key(self, utt: Utterance) -> tuple:
        return (utt.text, utt.voice, utt.nfe_step or self.overrides.nfe_step)

    def _engine_busy(self) -> bool:
        return self._stream is not None and not self._stream.done

    # ------------------------------------------------------------------ speaking

    async def speak(self, utt: Utterance) -> None:
        event = utt.event
        with bound_contextvars(msg_id=event.msg_id if event else utt.id, utterance=utt.id):
            verdict = self.recheck(utt)
            if not verdict.kept:
                self.ahead.forget(utt.id)
                log.info("dropped before speaking", reason=verdict.reason)
                self.drops.record_drop(verdict.reason, utt=utt, detail=verdict.detail)
                self.queue.finished(utt, spoken=False)
                return
            self.current, self._cut, self._cut_reason = utt, asyncio.Event(), ""
            self.current_since, self._first_audio = time.monotonic(), None
            self._idle.clear()
            self.queue.started(utt)
            request = self._request(utt)
            outcome, stream, early = "spoken", None, False
            try:
                stream = self.ahead.take(utt)
                early = stream is not None
                stream = stream or self.synth.stream(request)
                self._stream = stream
                if self.ahead.size > 0:
                    stream.when_done(self.ahead.schedule_prefetch)
                self._stage(event, "synth_start")
                self.bus.publish("speaking", **utterance_fields(utt))
                stream.when_done(lambda: self._synthesized(utt, stream))
                log.info("speaking", text=utt.text, voice=utt.voice or "default", ahead=early,
                         nfe_step=request.nfe_step, **({"speed": request.speed} if request.speed else {}))
                if await self._play(stream, event):
                    outcome = "skipped"
            except IshowttsError as exc:
                if isinstance(exc, SynthUnavailable) and self.synth.recovers:
                    outcome = "unavailable"
                    log.warning("synthesis unavailable; message kept for when it is back", error=str(exc))
                else:
                    outcome = "failed"
                    self.metrics.synth_errors.inc()
                    log.error("synthesis failed; message skipped", error=str(exc))
                    self.bus.publish("failed", error=str(exc), **utterance_fields(utt))
            finally:
                if stream is not None:
                    stream.cancel()
                self._stream = None
                self.current = None
                self._idle.set()
            self._finish(utt, outcome, stream)

    async def _play(self, stream: AudioStream, event: ChatEvent | None) -> bool:
        """Every block to the sink; True when cut off."""
        first = True
        async for chunk in stream:
            if self._cut.is_set():
                break
            if first:
                self._first_audio = time.monotonic()
                self._stage(event, "first_audio")
                first = False
            await self.sink.write(chunk.pcm)
            self.metrics.audio_seconds.inc(len(chunk.pcm) / chunk.sample_rate)
            if self._cut.is_set():
                break
        return self._cut.is_set()

    def _finish(self, utt: Utterance, outcome: str, stream: AudioStream | None) -> None:
        if outcome == "unavailable":
            self.ahead.forget(utt.id)
            self.queue.requeue(utt)
            self.outcomes[outcome] += 1
            self.bus.publish("requeued", reason="synth_unavailable", **utterance_fields(utt))
            return
        stats = stream.stats if stream is not None else None
        self.metrics.spoken.labels(outcome).inc()
        if stats is not None and stats.rtf is not None and outcome == "spoken":
            self.metrics.rtf.observe(stats.rtf)
        self._stage(utt.event, "done")
        if outcome == "skipped" and self._cut_reason in STOPPING:
            # cut off by the daemon stopping, not by a moderator: a paid one
            # stays journaled as started and is spoken again at the next start
            log.info("cut off by shutdown", paid_again_at_next_start=True)
        else:
            self.queue.finished(utt, spoken=outcome == "spoken")
        self.outcomes[outcome] += 1
        if outcome == "spoken":
            self.spoken += 1
            timing = self._timing(utt, stats)
            self.recent.append({"id": utt.id, "user_name": utt.event.user_name if utt.event else "", **timing})
            log.info("spoken", **timing)
            self.bus.publish("spoken", **timing, **utterance_fields(utt))
        elif outcome == "skipped":
            log.info("skipped", reason=self._cut_reason)
            self.bus.publish("skipped", reason=self._cut_reason, **utterance_fields(utt))

    def _timing(self, utt: Utterance, stats: Any) -> dict[str, float]:
        """audio_s, rtf; first_audio_s: from its turn to its first block at the sink
        (near 0 when it was synthesized ahead); latency_s: from receipt to that block."""
        first = self._first_audio if self._first_audio is not None else time.monotonic()
        event = utt.event
        received = event.received_mono if event is not None and event.received_mono else self.current_since
        return {"audio_s": round(stats.audio_seconds, 2), "rtf": round(stats.rtf or 0, 4),
                "first_audio_s": round(max(0.0, first - self.current_since), 3),
                "latency_s": round(max(0.0, first - received), 3)}

    def _synthesized(self, utt: Utterance, stream: AudioStream) -> None:
        """The message being spoken is wholly synthesized: its length is known (the panel's elapsed/length)."""
        if self.current is utt and not stream.cancelled and not self._cut.is_set() and stream.stats.audio_seconds:
            self.bus.publish("synthesized", id=utt.id, audio_s=round(stream.stats.audio_seconds, 2))

    def progress(self) -> tuple[float, float, bool]:
        """The current message: seconds since its turn came, seconds of audio
        synthesized so far, and whether that is all of it."""
        stream = self._stream
        if self.current is None or stream is None:
            return 0.0, 0.0, False
        return time.monotonic() - self.current_since, stream.stats.audio_seconds, stream.done

    def _stage(self, event: ChatEvent | None, stage: str) -> None:
        if event is not None and event.received_mono:
            self.metrics.stage.labels(stage).observe(max(0.0, time.monotonic() - event.received_mono))

    async def _until_synthesis_serves(self) -> None:
        """Return at once unless synthesis is away and comes back by itself;
        then wait for it, dropping stale chat as it goes stale."""
        if not self.synth.recovers or self.synth.health().serving:
            return
        health = self.synth.health()
        log.warning("synthesis unavailable; waiting for it (paid messages wait, stale chat is dropped)",
                    state=health.state, detail=health.detail, waiting=len(self.queue))
        self.queue.synthesis_away(True)
        try:
            while self._accepting and not self.synth.health().serving:
                began = time.monotonic()
                try:
                    await self.synth.wait_ready(AWAY_CHECK_S)
                except SynthesisError:
                    pass
                # a synthesizer may answer "not ready" at once instead of
                # waiting: never spin the event loop on it
                await asyncio.sleep(max(0.0, AWAY_CHECK_S - (time.monotonic() - began)) if
                                    not self.synth.health().serving else 0)
                self.queue.expire()
        finally:
            self.queue.synthesis_away(False)
        if self.synth.health().serving:
            log.info("synthesis is back", waiting=len(self.queue))

    # ------------------------------------------------------------------ cutting

    def skip(self, reason: str = "skip") -> bool:
        """Cut the current utterance now (audio stops within one block)."""
        if self.current is None or self._cut.is_set():
            return False
        self._cut_reason = reason
        self._cut.set()
        if self._stream is not None:
            self._stream.cancel()
        asyncio.ensure_future(self.sink.cut())
        return True

    def cut_if(self, match: Callable[[Utterance], bool], reason: str) -> bool:
        """Cut the current utterance if ``match`` names it (the queue's rule for purges)."""
        utt = self.current
        return utt is not None and match(utt) and self.skip(reason)

    async def stop(self, grace: float) -> None:
        """Take no new utterance; let the current one finish within ``grace`` s."""
        self._accepting = False
        self.ahead.close()
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except asyncio.TimeoutError:
            self.skip("shutdown")
