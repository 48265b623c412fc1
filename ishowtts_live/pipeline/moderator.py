"""Moderation applied to messages wherever they are: waiting in the queue
(purged; their synthesis ahead cancelled through the queue's listeners) or
being spoken (cut within one audio block), by the one rule of
:class:`ishowtts_live.users.Selector`. Moderator commands from ``ctl``, from
chat (``!mute``) and from the platforms (ban, timeout, deletion, clear) all
come through here.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from ishowtts_live.bus import EventBus
from ishowtts_live.events import ChatEvent, ModerationEvent
from ishowtts_live.filters.commands import Command
from ishowtts_live.errors import ModerationConflict
from ishowtts_live.filters.moderation import ModerationState
from ishowtts_live.metrics import Metrics
from ishowtts_live.pipeline.playback import Playback
from ishowtts_live.queueing.queue import SpeechQueue
from ishowtts_live.users import Selector

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Removed:
    """What an action took away: queued messages purged, and whether the one being spoken was cut."""

    purged: int = 0
    cut: bool = False


@dataclass(frozen=True)
class Change:
    """The answer to a moderator's change: did it change anything, and what it removed."""

    changed: bool
    removed: Removed = Removed()


class Moderator:
    def __init__(self, state: ModerationState, queue: SpeechQueue, playback: Playback, bus: EventBus,
                 metrics: Metrics):
        self.state = state
        self.queue = queue
        self.playback = playback
        self.bus = bus
        self.metrics = metrics

    def remove(self, selector: Selector, reason: str) -> Removed:
        """Purge what ``selector`` names from the queue and cut it if it is being spoken."""
        purged = self.queue.purge(selector)
        cut = self.playback.cut_if(selector.matches, reason)
        return Removed(len(purged), cut)

    def remove_message(self, msg_id: str, by: str = "") -> Removed:
        """One message out, by its utterance id or the platform's message id:
        purged if it waits, cut if it is being spoken; its author stays unmuted."""
        removed = self.remove(Selector(msg_id=msg_id), "removed")
        self.metrics.moderation.labels("remove").inc()
        log.info("message removed", target_msg=msg_id, purged=removed.purged, cut=removed.cut)
        if removed.purged or removed.cut:
            self.bus.publish("moderation", action="remove", target=msg_id, **({"by": by} if by else {}),
                             purged=removed.purged, cut=removed.cut)
        return removed

    # ------------------------------------------------------------ a moderator's changes

    def mute(self, user: str, by: str = "") -> Change:
        """Future messages of ``user`` dropped, queued ones purged, the current one cut.
        ModerationConflict when the config file already mutes them."""
        changed = self.state.mute(user)
        removed = self.remove(Selector.user(user), "muted")
        log.info("muted", user=user, changed=changed, purged=removed.purged, cut=removed.cut)
        if changed or removed.purged or removed.cut:
            self._publish("mute", user, by, purged=removed.purged)
        return Change(changed, removed)

    def unmute(self, user: str, by: str = "") -> Change:
        return self._toggle("unmute", user, by)

    def block(self, word: str, by: str = "") -> Change:
        """Messages with ``word`` dropped from now on; queued ones when their turn comes."""
        return self._toggle("block", word, by)

    def unblock(self, word: str, by: str = "") -> Change:
        return self._toggle("unblock", word, by)

    def _toggle(self, action: str, target: str, by: str) -> Change:
        changed = getattr(self.state, action)(target)
        if changed:
            self._publish(action, target, by)
        return Change(changed)

    def _publish(self, action: str, target: str, by: str, **extra: int) -> None:
        self.bus.publish("moderation", action=action, target=target, **({"by": by} if by else {}), **extra)

    # ------------------------------------------------------------ chat and platforms

    def chat_command(self, command: Command, event: ChatEvent) -> None:
        """A moderator's chat command (``!skip``, ``!mute NAME``, …)."""
        log.info("moderator command", command=command.name, arg=command.arg, by=event.user_name)
        self.metrics.moderation.labels(f"chat_{command.name}").inc()
        if command.name == "skip":
            self.playback.skip("moderator")
            self._publish("skip", "", event.user_name)
            return
        if command.name not in ("mute", "unmute", "block", "unblock") or not command.arg:
            return
        try:
            getattr(self, command.name)(command.arg, by=event.user_name)
        except (ModerationConflict, ValueError) as exc:  # the config file sets it, or nothing left to match
            kind = "config" if isinstance(exc, ModerationConflict) else "input"
            log.warning("moderator command refused", command=command.name, arg=command.arg, why=str(exc), kind=kind)

    def platform(self, ev: ModerationEvent) -> Removed:
        """A platform moderator deleted a message, banned someone or cleared the chat."""
        self.metrics.moderation.labels(ev.action).inc()
        if ev.action in ("delete_message", "delete_superchat"):
            removed = self.remove(Selector(msg_id=ev.target_msg_id), ev.action) if ev.target_msg_id else Removed()
        elif ev.action in ("ban_user", "timeout_user"):
            names = [n for n in (ev.target_user_id, ev.target_user_name) if n]
            removed = self.remove(Selector.user(*names, platform=ev.platform), ev.action) if names else Removed()
        else:  # clear_chat: the whole channel
            removed = self.remove(Selector(platform=ev.platform), ev.action)
        log.info("platform moderation", action=ev.action, platform=ev.platform,
                 target_user=ev.target_user_name or ev.target_user_id, target_msg=ev.target_msg_id,
                 purged=removed.purged, cut=removed.cut)
        self.bus.publish("moderation", action=ev.action, platform=ev.platform, target_user_id=ev.target_user_id,
                         target_user_name=ev.target_user_name, target_msg_id=ev.target_msg_id,
                         purged=removed.purged, cut=removed.cut)
        return removed
