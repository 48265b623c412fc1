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

import structlog

from ishowtts_live.events import KEPT, ChatEvent, Verdict
from ishowtts_live.filters import commands
from ishowtts_live.filters.blocklist import BlockedPatterns, BlockedWords
from ishowtts_live.filters.commands import Command
from ishowtts_live.filters.flood import DuplicateFilter, FloodFilter, RateLimiter, text_key
from ishowtts_live.filters.moderation import ModerationState, user_key
from ishowtts_live.filters.speech import Speech

log = structlog.get_logger(__name__)

PAID_KINDS = ("superchat", "gift", "member")
# Only this much of a message is looked at: more than any platform sends and
# than filters.max_chars allows to be read, and a bound on the work one
# pasted wall of text can cost the event loop.
MAX_INPUT_CHARS = 2000
REASONS = ("muted_user", "command", "not_paid", "below_min_amount", "blocked_word", "blocked_pattern",
           "empty", "too_long", "duplicate", "flood", "rate_limited")


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    event: ChatEvent
    speak: str = ""  # the text to synthesize (template applied); "" when dropped
    command: Command | None = None  # a moderator's chat command to carry out


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
    the control API, so a mute or block takes effect on the next message."""

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
        decision = self._check(event, compact)
        if not decision.verdict.kept:
            self.drops[decision.verdict.reason] += 1
            log.debug("filtered", reason=decision.verdict.reason, detail=decision.verdict.detail,
                      msg_id=event.msg_id)
        return decision

    def recheck(self, event: ChatEvent, text: str) -> Verdict:
        """Right before a queued message is spoken: moderation may have changed
        since it was queued. Memory rules are not applied (or counted) again."""
        verdict = self._moderated(event, event.text[:MAX_INPUT_CHARS], text[:MAX_INPUT_CHARS * 2])
        if not verdict.kept:
            self.drops[verdict.reason] += 1
        return verdict

    # ------------------------------------------------------------------ rules

    def _check(self, event: ChatEvent, compact: bool) -> Decision:
        cfg = self.cfg
        raw = event.text[:MAX_INPUT_CHARS]
        system = event.kind == "system"  # the streamer's own `ctl say`
        if not system and self.moderation.is_muted(event):
            return self._drop(event, "muted_user")
        if commands.looks_like_command(raw, cfg.command_prefix):
            return self._command(event)
        if not system:
            if cfg.paid_only and not event.paid:
                return self._drop(event, "not_paid")
            if cfg.min_amount > 0 and event.kind in PAID_KINDS and amount_in_cny(event) < cfg.min_amount:
                return self._drop(event, "below_min_amount", f"{amount_in_cny(event):g} < {cfg.min_amount:g}")
        text = self.speech.normalise(raw)
        limit = min(cfg.max_chars, cfg.backlog_max_chars) if compact else cfg.max_chars
        too_long = len(text) > limit
        if too_long and cfg.too_long == "truncate":
            text = truncate(text, limit)
        speak = self.speech.render(event, text, compact=compact) if text else ""
        verdict = self._moderated(event, raw, speak)
        if not verdict.kept:
            return Decision(verdict, event)
        if not text:
            return self._drop(event, "empty")
        if too_long and cfg.too_long == "drop":
            return self._drop(event, "too_long", f"{len(text)} > {limit} characters")
        if not system and not event.paid:
            user = self._user(event)
            key = text_key(text)
            if self.duplicates.check(user, key, event.clock):
                return self._drop(event, "duplicate")
            if self.floods.check(key, event.clock):
                return self._drop(event, "flood")
            if not self.rates.allow(user, event.clock):
                return self._drop(event, "rate_limited")
        return Decision(KEPT, event, speak)

    def _command(self, event: ChatEvent) -> Decision:
        if not self.cfg.moderator_commands:
            return self._drop(event, "command", "chat commands are off (filters.moderator_commands)")
        if not commands.is_moderator(event):
            return self._drop(event, "command", "not a moderator")
        command, why = commands.parse(event.text, self.cfg.command_prefix)
        if command is not None:
            why = self._not_undoable(command)
            if why:
                command = None
        verdict = Verdict(kept=False, reason="command", detail=why or command.name)
        return Decision(verdict, event, command=command)

    def _not_undoable(self, command: Command) -> str:
        """Why a chat command cannot be carried out: what the config file mutes
        or blocks is not undone from chat (ModerationState would refuse)."""
        m = self.moderation
        if command.name == "unmute" and user_key(command.arg) in m.static_muted:
            return f"{command.arg} is muted in the config file"
        if command.name == "unblock" and command.arg in m.static_blocked:
            return f"{command.arg} is blocked in the config file"
        return ""

    def _moderated(self, event: ChatEvent, *texts: str) -> Verdict:
        if event.kind != "system" and self.moderation.is_muted(event):
            return Verdict(kept=False, reason="muted_user")
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

    @staticmethod
    def _user(event: ChatEvent) -> str:
        return f"{event.platform}:{user_key(event.user_id or event.user_name)}"

    @staticmethod
    def _drop(event: ChatEvent, reason: str, detail: str = "") -> Decision:
        return Decision(Verdict(kept=False, reason=reason, detail=detail), event)
