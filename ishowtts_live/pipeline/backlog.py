"""Graceful degradation when the queue backs up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import structlog

log = structlog.get_logger(__name__)


@dataclass
class Backlog:
    """Faster speech, fewer flow steps (not below the floor), no user-name
    prefix while the oldest waiting message has waited over ``threshold_s``
    (time the queue was paused does not count: see ``SpeechQueue.oldest_wait``);
    back to normal once it is under ``recover_s``. Each change is logged and
    counted."""

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
