"""structlog set-up: readable console lines on a TTY, JSON lines otherwise
(journald). ``bound_contextvars(msg_id=…)`` ties every line about one chat
message together, from ingest to playback."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=False),
    ]
    if fmt == "console":
        renderer: structlog.typing.Processor = structlog.dev.ConsoleRenderer(colors=stream.isatty())
        processors = [*shared, renderer]
    else:
        processors = [*shared, structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer(ensure_ascii=False)]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (the hub client, …)
    # keep to warnings, in one plain line each.
    logging.basicConfig(level=logging.WARNING, stream=stream, format="%(levelname)s %(name)s: %(message)s", force=True)
