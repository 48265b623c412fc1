"""structlog set-up: readable console lines on a TTY, JSON lines otherwise
(journald). ``bound_contextvars(msg_id=…)`` ties every line about one chat
message together, from ingest to playback.

Libraries that log through the standard library (torch, aiohttp, asyncio, the
hub client) and Python's warnings go through the same renderer, via
structlog's ``ProcessorFormatter``: under systemd, ``journalctl -o cat`` shows
JSON lines only, never plain text between them.
"""

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
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=False),
    ]
    if fmt == "console":
        renderer: structlog.typing.Processor = structlog.dev.ConsoleRenderer(colors=stream.isatty())
        final = [renderer]
    else:
        final = [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer(ensure_ascii=False)]
    structlog.configure(
        processors=[*shared, *final],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(stream, shared, final)


def _route_stdlib(stream: TextIO, shared: list, final: list) -> None:
    """Standard-library records rendered like structlog's own lines, with the
    logger's name; libraries keep to warnings (their info lines are noise here)."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    global _routed
    _routed = True
    adopt_library_loggers()


_routed = False


def adopt_library_loggers() -> None:
    """Send the records of libraries that print through a console handler of
    their own (huggingface_hub and transformers add one, and stop propagating,
    when they are first imported) to the root handler instead. Called by
    :func:`configure`, and again once the model's libraries are imported."""
    if not _routed:
        return
    for logger in list(logging.root.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger):
            continue
        console = [h for h in logger.handlers if type(h) is logging.StreamHandler
                   and getattr(h, "stream", None) in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)]
        for handler in console:
            logger.removeHandler(handler)
        if console:
            logger.propagate = True
