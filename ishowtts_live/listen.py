"""``ishowtts-live listen``: chat as the daemon sees it — each event, its
verdict and the text that would be spoken — without synthesis."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any, TextIO

import msgspec

from ishowtts_live.config.loading import LoadedConfig
from ishowtts_live.events import ChatEvent, ModerationEvent

# ANSI colours, only on a terminal
GREEN, RED, YELLOW, CYAN, DIM, RESET = "\033[32m", "\033[31m", "\033[33m", "\033[36m", "\033[2m", "\033[0m"


def event_record(event: ChatEvent, decision) -> dict[str, Any]:
    """The JSON object ``listen --json`` prints for one chat event."""
    record = {
        "platform": event.platform, "user_name": event.user_name, "user_id": event.user_id,
        "kind": event.kind, "amount": event.amount, "text": event.text,
        "verdict": "kept" if decision.verdict.kept else "dropped",
    }
    if not decision.verdict.kept:
        record["reason"] = decision.verdict.reason
    record["speak"] = decision.speak if decision.verdict.kept else ""
    if decision.command is not None:
        record["command"] = decision.command.name + (f" {decision.command.arg}" if decision.command.arg else "")
    return record


def moderation_record(ev: ModerationEvent) -> dict[str, Any]:
    record: dict[str, Any] = {"platform": ev.platform, "kind": "moderation", "action": ev.action}
    for key in ("target_user_id", "target_user_name", "target_msg_id"):
        if getattr(ev, key):
            record[key] = getattr(ev, key)
    if ev.duration_s:
        record["duration_s"] = ev.duration_s
    return record


def human_line(record: dict[str, Any], color: bool) -> str:
    def c(code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if color else text

    if record["kind"] == "moderation":
        target = record.get("target_user_name") or record.get("target_user_id") or record.get("target_msg_id", "")
        return c(YELLOW, f"[{record['platform']}] moderation: {record['action']} {target}".rstrip())
    who = record["user_name"] or record["user_id"] or "?"
    paid = f" {record['kind']} ¥{record['amount']:g}" if record["amount"] else (
        f" {record['kind']}" if record["kind"] != "chat" else "")
    head = f"[{record['platform']}] {c(CYAN, who)}{paid}: {record['text']}"
    if record["verdict"] == "kept":
        return f"{head}\n    {c(GREEN, '→ ' + record['speak'])}"
    extra = f" ({record['command']})" if "command" in record else ""
    return f"{head}\n    {c(RED, '✗ ' + record['reason'] + extra)}"


async def listen(loaded: LoadedConfig, source, *, as_json: bool, out: TextIO = sys.stdout,
                 limit: int | None = None) -> int:
    """Print every event of ``source`` until it ends (replay) or is interrupted."""
    from ishowtts_live.filters import FilterChain
    from ishowtts_live.filters.moderation import ModerationState

    cfg = loaded.config
    moderation = ModerationState(cfg.filters.muted_users, cfg.filters.blocked_words)
    chain = FilterChain(cfg.filters, cfg.speech, moderation)
    color = out.isatty()
    encoder = msgspec.json.Encoder()
    count = 0
    try:
        async for item in source.events():
            if isinstance(item, ModerationEvent):
                record = moderation_record(item)
            else:
                decision = chain.check(item)
                if decision.command is not None and decision.command.name in ("mute", "unmute", "block", "unblock"):
                    with contextlib.suppress(ValueError):  # nothing left to match once normalised
                        getattr(moderation, decision.command.name)(decision.command.arg)
                record = event_record(item, decision)
            out.write(encoder.encode(record).decode() if as_json else human_line(record, color))
            out.write("\n")
            out.flush()
            count += 1
            if limit is not None and count >= limit:
                break
    except asyncio.CancelledError:
        pass
    finally:
        await source.aclose()
    return 0
