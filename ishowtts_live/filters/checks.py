"""Checks of ``[filters]`` and ``[speech]``: regular expressions that
compile, templates with known placeholders, and readings that do not
contain their own word (or normalising twice would expand it twice)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ishowtts_live.errors import ConfigError
from ishowtts_live.filters.blocklist import compile_patterns
from ishowtts_live.filters.speech import template_problems

if TYPE_CHECKING:
    from ishowtts_live.config.loading import LoadedConfig


def check_filters(loaded: LoadedConfig) -> list[str]:
    cfg = loaded.config
    problems: list[str] = []
    try:
        compile_patterns(cfg.filters.blocked_patterns)
    except ConfigError as exc:
        problems.extend(exc.problems)
    for section in ("templates", "templates_en", "compact_templates"):
        templates = getattr(cfg.speech, section)
        for kind in ("chat", "superchat", "gift", "member", "system"):
            why = template_problems(getattr(templates, kind))
            if why:
                problems.append(f"speech.{section}.{kind}: {why}")
    table = {k.casefold(): v for k, v in cfg.speech.pronunciations.items()}
    for word, reading in cfg.speech.pronunciations.items():
        if not word.strip():
            problems.append("speech.pronunciations: an empty word")
            continue
        inside = [w for w in table if w.strip() and w in reading.casefold()]
        if inside:
            problems.append(f"speech.pronunciations.{word}: the reading {reading!r} contains the word "
                            f"{inside[0]!r}, which would be replaced again")
    return problems
