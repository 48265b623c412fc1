"""Errors a user can act on, each with one exit status.

Anything raised as one of these reaches the user as a single line (no
traceback); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

# Exit statuses: each has one meaning (systemd's RestartPreventExitStatus=78
# stops a restart loop on a configuration typo).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78


class IshowttsError(Exception):
    """A failure the user can act on; ``str(err)`` is one actionable line."""

    exit_code = EXIT_FAILURE


class UsageError(IshowttsError):
    exit_code = EXIT_USAGE


class ConfigError(IshowttsError):
    """A configuration problem; carries every problem found, one per line."""

    exit_code = EXIT_CONFIG

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class VoiceError(ConfigError):
    """A voice that cannot be used (missing audio, empty transcript, too long)."""


class ModerationConflict(IshowttsError):
    """A run-time moderation change to what the config file sets (it would
    change nothing); the control API answers 409."""


class EngineError(IshowttsError):
    """The model or vocoder cannot be loaded (missing, corrupt, unreachable hub)."""


class SynthesisError(IshowttsError):
    """One message could not be synthesized (NaN or silent output, OOM, …)."""


class SynthUnavailable(SynthesisError):
    """Synthesis is away for now (a remote server unreachable), not wrong for
    this message: the message may be tried again once it is back."""


class AudioDeviceError(IshowttsError):
    """The audio output device cannot be opened."""
