"""Which voice speaks a message, and the moderator's run-time choices."""

from __future__ import annotations

from dataclasses import dataclass

from ishowtts_live.events import ChatEvent
from ishowtts_live.users import user_key


@dataclass
class RuntimeOverrides:
    """What a moderator changed while the daemon runs (``ctl voice``, ``ctl nfe``);
    None = the config's choice."""

    voice: str | None = None  # the default voice for chat
    nfe_step: int | None = None  # beats the voice's and the engine's NFE


class VoiceRouter:
    """Which voice speaks a message: per user, then per kind, then the
    moderator's choice, then the default ("")."""

    def __init__(self, by_kind: dict[str, str], by_user: dict[str, str], overrides: RuntimeOverrides):
        self.by_kind = dict(by_kind)
        self.by_user = {user_key(k): v for k, v in by_user.items()}
        self.overrides = overrides

    def voice_for(self, event: ChatEvent | None) -> str:
        if event is not None:
            for key in (event.user_id, event.user_name):
                if key and user_key(key) in self.by_user:
                    return self.by_user[user_key(key)]
            if event.kind in self.by_kind:
                return self.by_kind[event.kind]
        return self.overrides.voice or ""
