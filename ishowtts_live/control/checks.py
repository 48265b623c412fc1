"""Checks of ``[control]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ishowtts_live.control.security import check_bind_host

if TYPE_CHECKING:
    from ishowtts_live.config.loading import LoadedConfig


def check_control(loaded: LoadedConfig) -> list[str]:
    return check_bind_host(loaded.config.control.host)
