"""The filter chain: one verdict and one spoken text per chat event.

Rules run cheapest and most decisive first: a muted user, a chat command,
the paid gates, then the text (normalised once, so blocked words are also
looked for in what would be spoken, user name included), its length, and
last the rules with memory (duplicate, flood, rate limit), so a message
dropped for another reason never uses up a user's budget. Paid messages skip
the rules with memory: someone who paid is read even in a flood.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, NamedTuple

import structlog

from ishowtts_live.events import KEPT, ChatEvent, Verdict
from ishowtts_live.filters import commands
from ishowtts_live.filters.blocklist import BlockedPatterns, BlockedWords
from ishowtts_live.filters.commands import Command
from ishowtts_live.filters.flood import DuplicateFilter, FloodFilter, RateLimiter, text_key
from ishowtts_live.filters.moderation import ModerationState
from ishowtts_live.filters.speech import Speech
from ishowtts_live.users import user_key

log = structlog.get_logger(__name__)

PAID_KINDS = ("superchat", "gift", "member")
# Only this much of a message is looked at: more than any platform sends and
# than filters.max_chars allows to be read, and a bound on the work one
# pasted wall of text can cost the event loop.
MAX_INPUT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    event: ChatEvent
    speak: str = ""  # the text to synthesize (template applied); "" when dropped
    command: Command | None = None  # a moderator's chat command to carry out


@dataclass(slots=True)
class Message:
    """One event on its way through the steps, with what they found out."""

    event: ChatEvent
    raw: str  # the text as written, bounded
    system: bool  # the streamer's own `ctl say`
    compact: bool  # a backlog is being caught up
    text: str = ""  # normalised for speech (and truncated)
    speak: str = ""  # ``text`` in its template
    limit: int = 0
    too_long: bool = False


class Step(NamedTuple):
    """One rule of the chain: its name, the drop reasons it can give, and
    the rule itself (a Decision ends the chain; None passes the message on)."""

    name: str
    reasons: tuple[str, ...]
    run: Callable[[FilterChain, Message], Decision | None]


def amount_in_cny(event: ChatEvent) -> float:
    """What ``filters.min_amount`` compares: CNY where the source knows the
    rate, else the platform's own unit (bits, …)."""
    return event.amount_cents / 100.0 if event.amount_cents else event.amount


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut after the last sentence mark or space
    in the final third when there is one, so the voice stops at a pause."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = max(head.rfind(ch) for ch in "，。！？,.!?;； ")
    if cut >= limit * 2 // 3:
        head = head[: cut + 1]
    return head.rstrip(" ,，、")


class FilterChain:
    """Built from ``[filters]`` and ``[speech]``; ``moderation`` is shared with
    the control API, so a mute or block takes effect on the next message.
    :data:`STEPS` are its rules, in the order they run."""

    def __init__(self, filters_cfg, speech_cfg, moderation: ModerationState | None = None):
        self.cfg = filters_cfg
        self.moderation = moderation if moderation is not None else ModerationState(
            filters_cfg.muted_users, filters_cfg.blocked_words)
        self.speech = Speech(speech_cfg)
        self.patterns = BlockedPatterns(filters_cfg.blocked_patterns)
        self.duplicates = DuplicateFilter(filters_cfg.duplicate_window_s)
        self.floods = FloodFilter(filters_cfg.flood_window_s, filters_cfg.flood_max)
        self.rates = RateLimiter(filters_cfg.user_rate_per_min, filters_cfg.user_burst)
        self.drops: Counter[str] = Counter()
        self._words = BlockedWords()
        self._words_version = -1

    # ------------------------------------------------------------------ public

    def check(self, event: ChatEvent, compact: bool = False) -> Decision:
        """The verdict for a newly arrived event. ``compact`` while a backlog is
        being caught up: the short templates and ``filters.backlog_max_chars``."""
        msg = Message(event, event.text[:MAX_INPUT_CHARS], event.kind == "system", compact)
        decision = next((d for step in STEPS if (d := step.run(self, msg)) is not None), None)
        if decision is None:
            return Decision(KEPT, event, msg.speak)
        if not decision.verdict.kept:
            self.drops[decision.verdict.reason] += 1
            log.debug("filtered", reason=decision.verdict.reason, detail=decision.verdict.detail,
                      msg_id=event.msg_id)
        return decision

    def recheck(self, event: ChatEvent, text: str) -> Verdict:
        """Right before a queued message is spoken: moderation may have changed
        since it was queued. Memory rules are not applied (or counted) again."""
        verdict = self._muted_verdict(event)
        if verdict.kept:
            verdict = self._blocked(event.text[:MAX_INPUT_CHARS], text[:MAX_INPUT_CHARS * 2])
        if not verdict.kept:
            self.drops[verdict.reason] += 1
        return verdict

    # ------------------------------------------------------------------ steps

    def _muted(self, msg: Message) -> Decision | None:
        verdict = self._muted_verdict(msg.event)
        return None if verdict.kept else Decision(verdict, msg.event)

    def _command(self, msg: Message) -> Decision | None:
        if not commands.looks_like_command(msg.raw, self.cfg.command_prefix):
            return None
        event = msg.event
        if not self.cfg.moderator_commands:
            return _drop(event, "command", "chat commands are off (filters.moderator_commands)")
        if not commands.is_moderator(event):
            return _drop(event, "command", "not a moderator")
        command, why = commands.parse(event.text, self.cfg.command_prefix)
        if command is not None and command.name in ("mute", "unmute", "block", "unblock"):
            # what the config file sets is not changed from chat (ModerationState would refuse)
            why = self.moderation.conflict(command.name, command.arg)
            if why:
                command = None
        return Decision(Verdict(kept=False, reason="command", detail=why or command.name), event, command=command)

    def _paid_gates(self, msg: Message) -> Decision | None:
        event, cfg = msg.event, self.cfg
        if msg.system:
            return None
        if cfg.paid_only and not event.paid:
            return _drop(event, "not_paid")
        if cfg.min_amount > 0 and event.kind in PAID_KINDS and amount_in_cny(event) < cfg.min_amount:
            return _drop(event, "below_min_amount", f"{amount_in_cny(event):g} < {cfg.min_amount:g}")
        return None

    def _speech(self, msg: Message) -> None:
        """Normalised once: the later steps look at what would be spoken."""
        cfg = self.cfg
        msg.text = self.speech.normalise(msg.raw)
        msg.limit = min(cfg.max_chars, cfg.backlog_max_chars) if msg.compact else cfg.max_chars
        msg.too_long = len(msg.text) > msg.limit
        if msg.too_long and cfg.too_long == "truncate":
            msg.text = truncate(msg.text, msg.limit)
        msg.speak = self.speech.render(msg.event, msg.text, compact=msg.compact) if msg.text else ""

    def _blocked_step(self, msg: Message) -> Decision | None:
        verdict = self._blocked(msg.raw, msg.speak)
        return None if verdict.kept else Decision(verdict, msg.event)

    def _empty(self, msg: Message) -> Decision | None:
        return None if msg.text else _drop(msg.event, "empty")

    def _too_long(self, msg: Message) -> Decision | None:
        if msg.too_long and self.cfg.too_long == "drop":
            return _drop(msg.event, "too_long", f"{len(msg.text)} > {msg.limit} characters")
        return None

    def _memory(self, msg: Message) -> Decision | None:
        """Duplicate, flood and rate limit, last, so a message dropped for another
        reason never uses up a user's budget; paid messages skip them."""
        event = msg.event
        if msg.system or event.paid:
            return None
        user = f"{event.platform}:{user_key(event.user_id or event.user_name)}"
        key = text_key(msg.text)
        if self.duplicates.check(user, key, event.clock):
            return _drop(event, "duplicate")
        if self.floods.check(key, event.clock):
            return _drop(event, "flood")
        if not self.rates.allow(user, event.clock):
            return _drop(event, "rate_limited")
        return None

    # ------------------------------------------------------------------ shared by check and recheck

    def _muted_verdict(self, event: ChatEvent) -> Verdict:
        if event.kind != "system" and self.moderation.is_muted(event):
            return Verdict(kept=False, reason="muted_user")
        return KEPT

    def _blocked(self, *texts: str) -> Verdict:
        word = self._blocked_words().find(*texts)
        if word is not None:
            return Verdict(kept=False, reason="blocked_word", detail=word)
        pattern = self.patterns.find(*texts)
        if pattern is not None:
            return Verdict(kept=False, reason="blocked_pattern", detail=pattern)
        return KEPT

    def _blocked_words(self) -> BlockedWords:
        # rebuilt only when a moderator changed the list
        if self._words_version != self.moderation.version:
            self._words = BlockedWords(self.moderation.blocked_words())
            self._words_version = self.moderation.version
        return self._words


def _drop(event: ChatEvent, reason: str, detail: str = "") -> Decision:
    return Decision(Verdict(kept=False, reason=reason, detail=detail), event)


STEPS: tuple[Step, ...] = (
    Step("muted", ("muted_user",), FilterChain._muted),
    Step("command", ("command",), FilterChain._command),
    Step("paid_gates", ("not_paid", "below_min_amount"), FilterChain._paid_gates),
    Step("speech", (), FilterChain._speech),
    Step("blocked", ("blocked_word", "blocked_pattern"), FilterChain._blocked_step),
    Step("empty", ("empty",), FilterChain._empty),
    Step("too_long", ("too_long",), FilterChain._too_long),
    Step("memory", ("duplicate", "flood", "rate_limited"), FilterChain._memory),
)
REASONS: tuple[str, ...] = tuple(reason for step in STEPS for reason in step.reasons)
