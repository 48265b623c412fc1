"""The two loops of the daemon, on one screen.

ingest:   source ─ChatEvent─▶ filters ─Utterance─▶ queue        (Ingest.run)
playback: queue ─Utterance─▶ engine thread ─blocks─▶ sink       (Playback.run)

Moderation reaches both: a platform moderator's deletion or ban purges the
queue and cuts the message off if it is being spoken; a mute or blocked word
added at run time is checked again right before a queued message is spoken.

Synthesis ahead: once the engine has finished the message being spoken, the
next few waiting ones (``engine.prefetch``) are synthesized while it plays,
as one batch on the fast path. They stay in the queue until their turn, so
its order, pause, purges and journal are untouched; one that leaves the queue
(purged, stale, evicted) has its synthesis cancelled, and each is still
re-checked against mutes and blocked words right before it is spoken.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import structlog
from structlog.contextvars import bound_contextvars

from ishowtts_live.events import ChatEvent, ModerationEvent, Utterance, Verdict
from ishowtts_live.errors import IshowttsError
from ishowtts_live.filters.moderation import user_key

log = structlog.get_logger(__name__)


class EventClock:
    """The clock time-based rules and TTLs run on: the latest event's clock,
    advanced between events at ``rate`` × real time (the replay speed; 1 for
    live sources, whose events carry monotonic time; 0 = only events move it)."""

    def __init__(self, rate: float = 1.0, start: float | None = None):
        self.rate = rate
        self._at = time.monotonic() if start is None else start
        self._mono = time.monotonic()

    def observe(self, event_clock: float) -> None:
        if event_clock >= self.now():
            self._at, self._mono = event_clock, time.monotonic()

    def now(self) -> float:
        return self._at + (time.monotonic() - self._mono) * self.rate


@dataclass
class Settings:
    """Runtime choices a moderator can change (``ctl voice``, ``ctl nfe``)."""

    voice: str | None = None  # overrides the default voice for chat
    nfe_step: int | None = None  # overrides engine/voice NFE


class VoiceRouter:
    """Which voice speaks a message: per user, then per kind, then the default."""

    def __init__(self, by_kind: dict[str, str], by_user: dict[str, str], settings: Settings):
        self.by_kind = dict(by_kind)
        self.by_user = {user_key(k): v for k, v in by_user.items()}
        self.settings = settings

    def voice_for(self, event: ChatEvent | None) -> str:
        if event is not None:
            for key in (event.user_id, event.user_name):
                if key and user_key(key) in self.by_user:
                    return self.by_user[user_key(key)]
            if event.kind in self.by_kind:
                return self.by_kind[event.kind]
        return self.settings.voice or ""


@dataclass
class Backlog:
    """Graceful degradation when the queue backs up: faster speech, fewer flow
    steps (not below the floor), no user-name prefix; back to normal once the
    oldest waiting message is fresh again. Each change is logged and counted."""

    threshold_s: float
    recover_s: float
    speed: float
    nfe_floor: int
    compact: bool
    on_change: Callable[[bool, float], None] | None = None
    active: bool = False
    changes: int = 0

    def update(self, oldest_wait: float) -> bool:
        if not self.active and oldest_wait > self.threshold_s:
            self._set(True, oldest_wait)
        elif self.active and oldest_wait < self.recover_s:
            self._set(False, oldest_wait)
        return self.active

    def _set(self, active: bool, oldest_wait: float) -> None:
        self.active = active
        self.changes += 1
        log.warning("backlog: degrading" if active else "backlog: back to normal",
                    oldest_wait_s=round(oldest_wait, 1), speed=self.speed if active else 1.0,
                    nfe_floor=self.nfe_floor if active else None)
        if self.on_change is not None:
            self.on_change(active, oldest_wait)

    def synth_args(self, nfe: int | None, default_nfe: int) -> dict[str, Any]:
        if not self.active:
            return {"nfe_step": nfe}
        return {"nfe_step": min(nfe or default_nfe, self.nfe_floor), "speed": self.speed}


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


def describe(utt: Utterance) -> dict[str, Any]:
    """The fields the event stream and the overlay show for an utterance."""
    ev = utt.event
    return {
        "id": utt.id, "text": utt.text, "voice": utt.voice,
        "user_name": ev.user_name if ev else "", "user_id": ev.user_id if ev else "",
        "platform": ev.platform if ev else "", "kind": ev.kind if ev else "system",
        "amount": ev.amount if ev else 0.0, "msg_id": ev.msg_id if ev else "",
    }


@dataclass
class _Ahead:
    """A waiting utterance synthesized ahead of its turn."""

    stream: Any  # synth.worker.AudioStream
    key: tuple  # what it was synthesized as; another key at its turn = synthesize again


@dataclass
class Playback:
    """queue → synthesis → sink, one utterance at a time, cut-able at any block."""

    queue: Any  # queueing.SpeechQueue
    worker: Any  # synth.worker.SynthWorker
    sink: Any  # sinks.AudioSink
    bus: Any
    metrics: Any
    settings: Settings
    backlog: Backlog
    default_nfe: int
    gate: Callable[[Utterance], Verdict]  # re-check mutes / blocked words right before speaking
    prefetch: int = 0  # waiting utterances synthesized ahead while one plays
    current: Utterance | None = None
    spoken: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)  # spoken / skipped / failed
    ahead_used: int = 0  # utterances spoken from audio synthesized ahead
    ahead_wasted: int = 0  # synthesized ahead, then not spoken from it
    _ahead: dict[str, _Ahead] = field(default_factory=dict)
    _refill_due: bool = False
    _cut: asyncio.Event = field(default_factory=asyncio.Event)
    _cut_reason: str = ""
    _stream: Any = None
    _accepting: bool = True

    def __post_init__(self) -> None:
        if self.prefetch > 0:
            self.queue.listeners.append(self._on_queue)

    async def run(self) -> None:
        try:
            while self._accepting:
                utt = await self.queue.get()
                if not self._accepting:
                    # shutting down: it stays journaled (if paid) for the next start
                    break
                await self.speak(utt)
                self.poke()
        finally:
            self._forget_all()

    # ------------------------------------------------------------------ ahead

    def _key(self, utt: Utterance) -> tuple:
        return (utt.text, utt.voice, utt.nfe_step or self.settings.nfe_step)

    def poke(self) -> None:
        """Synthesize ahead soon (coalesced: one refill per loop turn)."""
        if self.prefetch > 0 and not self._refill_due:
            self._refill_due = True
            asyncio.get_running_loop().call_soon(self._refill)

    def _on_queue(self, action: str, utt: Utterance, _reason: str) -> None:
        if action == "queued":
            self.poke()
        elif action in ("evicted", "purged", "stale"):  # left the queue: it will never be taken
            self._forget(utt.id)
        # "dropped" is a newcomer refused (a re-delivered duplicate has the
        # id of the one waiting, whose audio made ahead is still wanted)

    def _forget(self, utt_id: str) -> None:
        entry = self._ahead.pop(utt_id, None)
        if entry is not None:
            entry.stream.cancel()
            self.ahead_wasted += 1

    def _forget_all(self) -> None:
        for utt_id in list(self._ahead):
            self._forget(utt_id)

    def _refill(self) -> None:
        """Start synthesizing the next waiting utterances, once the engine is
        free of the one being spoken (so a paid message arriving now is not
        stuck behind chat synthesized on speculation)."""
        self._refill_due = False
        if not self._accepting or self.prefetch <= 0:
            return
        if self._stream is not None and not self._stream.done:
            return  # poked again when its synthesis ends
        upcoming = self.queue.peek(self.prefetch)
        wanted = {u.id for u in upcoming}
        for utt_id in [i for i in self._ahead if i not in wanted]:
            if len(self._ahead) <= self.prefetch:
                break
            self._forget(utt_id)  # pushed back by higher-priority arrivals
        todo = [u for u in upcoming if u.id not in self._ahead and self.gate(u).kept][
            : max(0, self.prefetch - len(self._ahead))]
        if not todo:
            return
        try:
            streams = self.worker.stream_ahead([self._request(u, self._synth_args(u)) for u in todo])
        except IshowttsError:
            return  # the engine is down: speak() reports it at the message's turn
        for utt, stream in zip(todo, streams):
            self._ahead[utt.id] = _Ahead(stream, self._key(utt))
        log.debug("synthesizing ahead", count=len(todo), waiting=len(self.queue))

    def _synth_args(self, utt: Utterance) -> dict[str, Any]:
        return self.backlog.synth_args(utt.nfe_step or self.settings.nfe_step, self.default_nfe)

    @staticmethod
    def _request(utt: Utterance, args: dict[str, Any]) -> dict[str, Any]:
        """The worker's ``stream`` arguments for ``utt``."""
        return {"text": utt.text, "voice": utt.voice or None, "utterance_id": utt.id,
                **{k: v for k, v in args.items() if v is not None}}

    def _stream_for(self, utt: Utterance, args: dict[str, Any]) -> tuple[Any, bool]:
        """(the utterance's stream, whether it was synthesized ahead)."""
        entry = self._ahead.pop(utt.id, None)
        if entry is not None and entry.key == self._key(utt) and not entry.stream.cancelled:
            self.ahead_used += 1
            return entry.stream, True
        if entry is not None:  # asked for differently since (ctl nfe): not what is wanted now
            entry.stream.cancel()
            self.ahead_wasted += 1
        return self.worker.stream(**self._request(utt, args)), False

    async def speak(self, utt: Utterance) -> None:
        event = utt.event
        with bound_contextvars(msg_id=event.msg_id if event else utt.id, utterance=utt.id):
            verdict = self.gate(utt)
            if not verdict.kept:
                self._forget(utt.id)
                log.info("dropped before speaking", reason=verdict.reason)
                self.metrics.drops.labels(verdict.reason).inc()
                self.bus.publish("dropped", reason=verdict.reason, **describe(utt))
                self.queue.finished(utt, spoken=False)
                return
            self.current, self._cut, self._cut_reason = utt, asyncio.Event(), ""
            self.queue.started(utt)
            args = self._synth_args(utt)
            stream, early = self._stream_for(utt, args)
            self._stream = stream
            if self.prefetch > 0:
                stream.when_done(self.poke)
            self._stage(event, "synth_start")
            self.bus.publish("speaking", **describe(utt))
            log.info("speaking", text=utt.text, voice=utt.voice or "default", ahead=early, **args)
            outcome = "spoken"
            try:
                first = True
                async for chunk in stream:
                    if self._cut.is_set():
                        break
                    if first:
                        self._stage(event, "first_audio")
                        first = False
                    await self.sink.write(chunk.pcm)
                    self.metrics.audio_seconds.inc(len(chunk.pcm) / chunk.sample_rate)
                    if self._cut.is_set():
                        break
                if self._cut.is_set():
                    outcome = "skipped"
            except IshowttsError as exc:
                outcome = "failed"
                self.metrics.synth_errors.inc()
                log.error("synthesis failed; message skipped", error=str(exc))
                self.bus.publish("failed", error=str(exc), **describe(utt))
            finally:
                stream.cancel()
                self._stream = None
                self.current = None
            self.metrics.spoken.labels(outcome).inc()
            if stream.stats.rtf is not None and outcome == "spoken":
                self.metrics.rtf.observe(stream.stats.rtf)
            self._stage(event, "done")
            self.queue.finished(utt, spoken=outcome == "spoken")
            self.outcomes[outcome] += 1
            if outcome == "spoken":
                self.spoken += 1
                log.info("spoken", audio_s=round(stream.stats.audio_seconds, 2), rtf=round(stream.stats.rtf or 0, 4))
                self.bus.publish("spoken", audio_s=round(stream.stats.audio_seconds, 2),
                                 rtf=round(stream.stats.rtf or 0, 4), **describe(utt))
            elif outcome == "skipped":
                log.info("skipped", reason=self._cut_reason)
                self.bus.publish("skipped", reason=self._cut_reason, **describe(utt))

    def _stage(self, event: ChatEvent | None, stage: str) -> None:
        if event is not None and event.received_mono:
            self.metrics.stage.labels(stage).observe(max(0.0, time.monotonic() - event.received_mono))

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
        utt = self.current
        return utt is not None and match(utt) and self.skip(reason)

    async def stop(self, grace: float) -> None:
        """Take no new utterance; let the current one finish within ``grace`` s."""
        self._accepting = False
        self._forget_all()
        deadline = time.monotonic() + grace
        while self.current is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.current is not None:
            self.skip("shutdown")


def matches_user(utt: Utterance, user_id: str = "", user_name: str = "", platform: str = "") -> bool:
    ev = utt.event
    if ev is None or (platform and ev.platform != platform):
        return False
    return bool((user_id and ev.user_id == user_id) or (user_name and user_key(ev.user_name) == user_key(user_name)))


@dataclass
class Ingest:
    """source → filters → queue, plus platform moderation events."""

    chain: Any  # filters.FilterChain
    queue: Any
    playback: Playback
    moderation: Any  # filters.moderation.ModerationState
    router: VoiceRouter
    clock: EventClock
    bus: Any
    metrics: Any
    backlog: Backlog
    received: int = 0

    async def run(self, source) -> None:
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
            self.moderate(item)
            return
        with bound_contextvars(msg_id=item.msg_id):
            self.received += 1
            self.clock.observe(item.clock)
            self.metrics.received.labels(item.platform).inc()
            decision = self.chain.check(item, compact=self.backlog.active and self.backlog.compact)
            if decision.command is not None:
                self.command(decision.command, item)
            if not decision.verdict.kept:
                reason = decision.verdict.reason
                self.metrics.drops.labels(reason).inc()
                # debug: a flood drops thousands a second; the counters (status, /metrics) keep the tally
                log.debug("dropped", reason=reason, detail=decision.verdict.detail, user=item.user_name)
                self.bus.publish("dropped", reason=reason, user_name=item.user_name, text=item.text,
                                 msg_id=item.msg_id, platform=item.platform, kind=item.kind)
                return
            utt = Utterance(id=utterance_id_for(decision.event), text=decision.speak,
                            voice=self.router.voice_for(decision.event), event=decision.event)
            verdict = self.queue.put(utt)
            if not verdict.kept:
                self.metrics.drops.labels(verdict.reason).inc()
                log.debug("dropped", reason=verdict.reason)
                self.bus.publish("dropped", reason=verdict.reason, **describe(utt))
                return
            if item.received_mono:
                self.metrics.stage.labels("queued").observe(max(0.0, time.monotonic() - item.received_mono))
            log.info("queued", user=item.user_name, kind=item.kind, speak=utt.text)
            self.bus.publish("queued", **describe(utt))

    def command(self, command, event: ChatEvent) -> None:
        """A moderator's chat command (``!skip``, ``!mute NAME``, …)."""
        log.info("moderator command", command=command.name, arg=command.arg, by=event.user_name)
        self.metrics.moderation.labels(f"chat_{command.name}").inc()
        try:
            if command.name == "skip":
                self.playback.skip("moderator")
            elif command.name == "mute" and command.arg:
                self.mute(command.arg)
            elif command.name == "unmute" and command.arg:
                self.moderation.unmute(command.arg)
            elif command.name == "block" and command.arg:
                self.moderation.block(command.arg)
            elif command.name == "unblock" and command.arg:
                self.moderation.unblock(command.arg)
        except ValueError as exc:  # e.g. unmuting someone the config file mutes
            log.warning("moderator command refused", command=command.name, arg=command.arg, why=str(exc))
            return
        self.bus.publish("moderation", action=command.name, target=command.arg, by=event.user_name)

    def mute(self, user: str) -> int:
        """Mute a user now: future messages dropped, queued ones purged, current cut."""
        self.moderation.mute(user)
        purged = self.queue.purge(user_name=user) + self.queue.purge(user_id=user)
        cut = self.playback.cut_if(lambda u: matches_user(u, user_id=user, user_name=user), "muted")
        log.info("muted", user=user, purged=len(purged), cut=cut)
        return len(purged)

    def moderate(self, ev: ModerationEvent) -> None:
        """A platform moderator deleted a message or banned someone."""
        self.metrics.moderation.labels(ev.action).inc()
        if ev.action in ("delete_message", "delete_superchat"):
            purged = self.queue.purge(msg_id=ev.target_msg_id) if ev.target_msg_id else []
            cut = self.playback.cut_if(lambda u: bool(u.event and u.event.msg_id == ev.target_msg_id), ev.action)
        elif ev.action in ("ban_user", "timeout_user"):
            purged = []
            if ev.target_user_id:
                purged += self.queue.purge(user_id=ev.target_user_id, platform=ev.platform)
            if ev.target_user_name:
                purged += self.queue.purge(user_name=ev.target_user_name, platform=ev.platform)
            cut = self.playback.cut_if(lambda u: matches_user(u, ev.target_user_id, ev.target_user_name, ev.platform),
                                       ev.action)
        else:  # clear_chat: the whole channel
            purged = self.queue.purge(platform=ev.platform)
            cut = self.playback.cut_if(lambda u: bool(u.event and u.event.platform == ev.platform), ev.action)
        log.info("platform moderation", action=ev.action, platform=ev.platform, target_user=ev.target_user_name
                 or ev.target_user_id, target_msg=ev.target_msg_id, purged=len(purged), cut=cut)
        self.bus.publish("moderation", action=ev.action, platform=ev.platform, target_user_id=ev.target_user_id,
                         target_user_name=ev.target_user_name, target_msg_id=ev.target_msg_id,
                         purged=len(purged), cut=cut)
