"""``ishowtts-live ctl …``: the moderator's command line, on the control API.

It finds the daemon and its token from the same config file the daemon
reads (or ``--url`` / ``--token-file`` / ``$ISHOWTTS_LIVE_TOKEN``), and never
imports torch.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

PROG = "ishowtts-live"
DEFAULT_TIMEOUT_S = 10.0

# action → (help, argument name or None)
SIMPLE = {
    "skip": "cut off the message being spoken",
    "pause": "stop taking messages from the queue (the current one finishes)",
    "resume": "continue after pause",
    "clear": "drop every queued message",
}
TARGETED = {
    "mute": ("USER", "never read USER again (name or id); their queued messages are removed"),
    "unmute": ("USER", "undo mute"),
    "block": ("WORD", "drop every message containing WORD"),
    "unblock": ("WORD", "undo block"),
}


def add_parser(subparsers: Any, config_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the daemon's control address: http://HOST:PORT or unix:/PATH "
                                      "(default: from the config's [control] section)")
    common.add_argument("--token-file", metavar="FILE", help="the control token (default: control.token_file, "
                                                             "else control.token in the state directory)")
    common.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S", help="seconds to wait for an answer")
    parents = [config_parent, common]

    ctl = subparsers.add_parser("ctl", help="moderate a running daemon: status, queue, skip, mute, …",
                                description="Moderate a running daemon through its control API.")
    # The same options before the action (`ctl -c FILE status`) as after it;
    # stored apart, because an action's own defaults would overwrite them.
    for option in (*config_parent._actions, *common._actions):
        kwargs = {"dest": f"early_{option.dest}", "default": argparse.SUPPRESS, "metavar": option.metavar,
                  "help": argparse.SUPPRESS}
        if option.type is not None:
            kwargs["type"] = option.type
        ctl.add_argument(*option.option_strings, action="append" if option.dest == "overrides" else "store",
                         **kwargs)
    actions = ctl.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser("status", parents=parents, help="what the daemon is doing")
    status.add_argument("--json", action="store_true", help="the raw JSON answer")
    queue = actions.add_parser("queue", parents=parents, help="the messages waiting, in speaking order")
    queue.add_argument("--json", action="store_true", help="the raw JSON answer")
    for name, help_ in SIMPLE.items():
        actions.add_parser(name, parents=parents, help=help_)
    for name, (metavar, help_) in TARGETED.items():
        actions.add_parser(name, parents=parents, help=help_).add_argument("target", metavar=metavar)
    remove = actions.add_parser("remove", parents=parents, help="take one message out of the queue (its ID from "
                                                               "`ctl queue`); cut it if it is being spoken")
    remove.add_argument("msg_id", metavar="ID")
    actions.add_parser("panel", parents=parents, help="print the control panel's URL (with the token) to open in a "
                                                      "browser or an OBS custom browser dock")
    say = actions.add_parser("say", parents=parents, help="announce TEXT (queued above chat, below paid messages)")
    say.add_argument("text")
    say.add_argument("--voice", "-v", default="", help="voice id (default: the current voice)")
    voice = actions.add_parser("voice", parents=parents, help="switch the default voice")
    voice.add_argument("voice_id", metavar="ID")
    nfe = actions.add_parser("nfe", parents=parents, help="set the flow steps per message (1-64)")
    nfe.add_argument("nfe_step", metavar="N", type=int)
    events = actions.add_parser("events", parents=parents, help="follow events as they happen (Ctrl-C stops)")
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    events.add_argument("--history", type=int, default=0, metavar="N", help="first show the last N events (≤ 100)")
    events.add_argument("--limit", type=int, metavar="N", help="stop after N events")
    ctl.set_defaults(func=cmd_ctl)
    return ctl


def _early_options(args: argparse.Namespace) -> None:
    """Options given before the action count as if given after it; after it wins."""
    args.overrides = [*getattr(args, "early_overrides", []), *args.overrides]
    for name in ("config", "url", "token_file"):
        if getattr(args, name) is None and hasattr(args, f"early_{name}"):
            setattr(args, name, getattr(args, f"early_{name}"))
    if hasattr(args, "early_timeout") and args.timeout == DEFAULT_TIMEOUT_S:
        args.timeout = args.early_timeout


def cmd_ctl(args: argparse.Namespace) -> int:
    from ishowtts_live.config.loading import load_config
    from ishowtts_live.errors import UsageError

    if args.action == "nfe" and not 1 <= args.nfe_step <= 64:
        raise UsageError("nfe: N must be between 1 and 64")
    if args.action == "events" and not 0 <= args.history <= 100:
        raise UsageError("--history must be between 0 and 100")
    if args.action == "remove" and not args.msg_id.strip():
        raise UsageError("remove: ID must not be blank (see `ctl queue` for the ids)")
    _early_options(args)
    loaded = load_config(args.config, args.overrides)
    url = args.url or default_url(loaded.config.control)
    if not url.startswith(("http://", "https://", "unix:")):
        raise UsageError(f"--url must start with http://, https:// or unix:, got {url!r}")
    if args.action == "panel" and url.startswith("unix:"):
        raise UsageError("panel: a browser cannot reach a Unix socket; the panel needs the control server on TCP "
                         "(unset control.unix_socket, or pass --url http://HOST:PORT)")
    try:
        return asyncio.run(_ctl(args, loaded, url))
    except KeyboardInterrupt:
        return 0


def default_url(control: Any) -> str:
    if control.unix_socket:
        return f"unix:{control.unix_socket}"
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "localhost": "127.0.0.1"}.get(control.host, control.host)
    return f"http://[{host}]:{control.port}" if ":" in host else f"http://{host}:{control.port}"


async def _ctl(args: argparse.Namespace, loaded: Any, url: str) -> int:
    from ishowtts_live.control.client import ControlClient

    token, source = await _token(args, loaded, url)
    async with ControlClient(url, token, timeout=args.timeout, token_source=source) as client:
        return await run_action(client, args)


async def _token(args: argparse.Namespace, loaded: Any, url: str) -> tuple[str, str]:
    """The token and where it came from; when none can be read, first tell
    apart "the daemon is not running" from "the token is elsewhere"."""
    from ishowtts_live.control import security
    from ishowtts_live.control.client import ControlClient, ControlError
    from ishowtts_live.control.protocol import TOKEN_ENV, TOKEN_FILE_NAME

    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip(), f"the token in ${TOKEN_ENV}"
    control = loaded.config.control
    if args.token_file:
        candidates = [Path(args.token_file)]
    else:
        candidates = [security.token_path(control.token_file, loaded.config.state.dir)]
        if not control.token_file:  # the system unit's StateDirectory
            candidates.append(security.SYSTEM_STATE_DIR / TOKEN_FILE_NAME)
    problems = []
    for path in candidates:
        try:
            return security.read_token(path), f"the token in {path}"
        except OSError as exc:
            problems.append(f"{path} ({exc.strerror or exc})")
    async with ControlClient(url, "", timeout=args.timeout) as probe:
        await probe.reachable()  # "the daemon is not running" is the more useful answer
    hint = "run ctl as the daemon's user (sudo -u …) or pass --token-file"
    raise ControlError(f"cannot read the control token: {'; '.join(problems)}; {hint}")


async def run_action(client: Any, args: argparse.Namespace) -> int:
    from ishowtts_live.control import protocol as p

    action = args.action
    if action == "status":
        status = await client.status()
        print(_json(status) if args.json else format_status(status))
    elif action == "queue":
        queue = await client.queue()
        print(_json(queue) if args.json else format_queue(queue))
    elif action == "events":
        return await follow_events(client, args)
    elif action in SIMPLE:
        result = await client.command(f"/api/{action}")
        print({"skip": "skipped" if result.changed else "nothing is being spoken",
               "pause": "paused: queued messages wait until `ctl resume`",
               "resume": "resumed",
               "clear": f"cleared {plural(result.count or 0, 'queued message')}"}[action])
    elif action in TARGETED:
        target = args.target
        body = p.UserBody(user=target) if action in ("mute", "unmute") else p.WordBody(word=target)
        result = await client.command(f"/api/{action}", body)
        done = {"mute": "muted", "unmute": "unmuted", "block": "blocked", "unblock": "unblocked"}[action]
        state = {"mute": "was already muted", "unmute": "was not muted", "block": "was already blocked",
                 "unblock": "was not blocked"}[action]
        line = f"{done} {target!r}" if result.changed else f"{target!r} {state}"
        if action == "mute" and (result.changed or result.count):
            line += f"; {plural(result.count or 0, 'queued message')} removed"
        print(line)
    elif action == "remove":
        result = await client.remove(args.msg_id)
        print(f"cut {args.msg_id!r}: it was being spoken" if result.cut else f"removed {args.msg_id!r} from the queue")
    elif action == "panel":
        return await print_panel_url(client)
    elif action == "say":
        result = await client.command("/api/say", p.SayBody(text=args.text, voice=args.voice))
        if not result.ok:
            why = f"{result.reason}" + (f" ({result.detail})" if result.detail else "")
            print(f"{PROG}: not queued: {why}", file=sys.stderr)
            return 1
        print(f"queued: {args.text}")
    elif action == "voice":
        # preparing a new voice runs on the engine thread, after the message being spoken
        result = await client.command("/api/voice", p.VoiceBody(voice=args.voice_id), timeout=max(args.timeout, 120))
        print(f"voice: {result.voice}")
    elif action == "nfe":
        result = await client.command("/api/nfe", p.NfeBody(nfe_step=args.nfe_step))
        print(f"nfe_step: {result.nfe_step}")
    return 0


async def print_panel_url(client: Any) -> int:
    """The panel's URL with the token in the fragment: a browser never sends a
    fragment to a server, so the token stays out of logs and Referer headers."""
    from urllib.parse import quote

    from ishowtts_live.control.client import ControlError

    try:
        await client.status()  # a refused token makes a useless URL: say so instead
    except ControlError as exc:
        if "not running" not in str(exc):
            raise
        print(f"{PROG}: the daemon is not running now; the panel connects once it is", file=sys.stderr)
    print(f"{client.url.rstrip('/')}/panel#token={quote(client.token, safe='')}")
    return 0


async def follow_events(client: Any, args: argparse.Namespace) -> int:
    import msgspec

    seen = 0
    async for event in client.events(history=args.history):
        print(msgspec.json.encode(event).decode() if args.json else format_event(event), flush=True)
        seen += 1
        if args.limit is not None and seen >= args.limit:
            return 0
    print(f"{PROG}: the daemon closed the event stream", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------- formatting


def _json(obj: Any) -> str:
    import msgspec

    return msgspec.json.format(msgspec.json.encode(obj), indent=2).decode()


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s // 60 % 60:02d}m"


def width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in text)


def fit(text: str, columns: int) -> str:
    """``text`` cut (with …) and padded to exactly ``columns`` terminal columns."""
    text = " ".join(text.split())
    if width(text) > columns:
        out, used = [], 0
        for c in text:
            w = width(c)
            if used + w > columns - 1:
                break
            out.append(c)
            used += w
        text = "".join(out) + "…"
    return text + " " * (columns - width(text))


def _who(item: Any) -> str:
    return item.user_name or item.user_id or item.platform or "?"


def format_status(s: Any) -> str:
    if not s.ready:  # starting or stopping: nothing runs yet (or any more) but the settings
        phase = f"{s.phase} ({s.detail})" if s.detail else s.phase
        return "\n".join([f"{PROG} {s.version} · up {_duration(s.uptime_s)} · {phase}",
                          f"voice     {s.voice} · nfe_step {s.nfe_step}"])
    state = "paused" if s.paused else ("speaking" if s.speaking else "idle")
    lines = [f"{PROG} {s.version} · up {_duration(s.uptime_s)} · ready · {state}"]
    if s.speaking:
        lines.append(f"speaking  {_who(s.speaking)}: {' '.join(s.speaking.text.split())} "
                     f"({s.speaking.kind}, voice {s.speaking.voice or s.voice})")
    lines.append(f"queue     {plural(s.queue_depth, 'message')} waiting{' (paused)' if s.paused else ''}")
    if s.engine is not None and s.engine.state not in ("ready", "degraded"):
        lines.append(f"synthesis {s.engine.state}" + (f": {s.engine.detail}" if s.engine.detail else ""))
    lines.append(f"voice     {s.voice} · nfe_step {s.nfe_step}" + (" · backlog: degraded" if s.backlog_degraded else ""))
    drops = ", ".join(f"{k} {v}" for k, v in sorted(s.drops.items(), key=lambda kv: -kv[1]) if v) or "none"
    lines.append(f"messages  {s.spoken} spoken of {s.received} received · dropped: {drops}")
    for src in s.sources:
        extra = f", last error: {src.last_error}" if src.last_error else ""
        lines.append(f"source    {src.name} (received {src.received}, reconnects {src.reconnects}{extra})")
        if src.last_minute is not None:
            lines.append(f"          last minute: {format_minute(src.last_minute)}")
    lines.append(f"muted     {', '.join(s.muted_users) or '(none)'}")
    lines.append(f"blocked   {', '.join(s.blocked_words) or '(none)'}")
    return "\n".join(lines)


def format_minute(m: Any) -> str:
    """'read 40, dropped 2, unknown 12 (SEND_GIFT_V3 12), unparsable 0' — the names show what changed."""
    def named(count: int, kinds: dict[str, int]) -> str:
        shown = ", ".join(f"{k} {v}" for k, v in list(kinds.items())[:5]) + (", …" if len(kinds) > 5 else "")
        return f"{count} ({shown})" if kinds else str(count)

    return (f"read {m.read}, dropped {m.dropped}, unknown {named(m.unknown, m.unknown_kinds)}, "
            f"unparsable {named(m.unparsable, m.unparsable_kinds)}")


def format_queue(q: Any) -> str:
    if not q.items:
        return "the queue is empty" + (" (paused)" if q.paused else "")
    cols = max(60, shutil.get_terminal_size((100, 24)).columns)
    user_w = min(16, max(4, *(width(_who(i)) for i in q.items)))
    id_w = min(24, max(2, *(width(i.id) for i in q.items)))
    text_w = max(10, cols - (4 + id_w + 1 + user_w + 11 + 7 + 4))
    rows = [f"{'#':>3} {fit('ID', id_w)} {fit('USER', user_w)} {fit('KIND', 10)} {'WAIT':>6}  TEXT"]
    for n, item in enumerate(q.items, 1):
        kind = item.kind + (f" {item.amount:g}" if item.amount else "")
        rows.append(f"{n:>3} {fit(item.id, id_w)} {fit(_who(item), user_w)} {fit(kind, 10)} "
                    f"{_duration(item.age_s):>6}  {fit(item.text, text_w).rstrip()}")
    footer = f"{plural(len(q.items), 'message')} waiting" + (" (paused)" if q.paused else "")
    return "\n".join([*rows, footer])


def format_event(e: dict[str, Any]) -> str:
    kind = e.get("type", "?")
    clock = time.strftime("%H:%M:%S", time.localtime(e.get("ts", time.time())))
    who = e.get("user_name") or e.get("user_id") or ""
    said = f"{who}: {e.get('text', '')}" if "text" in e else ""
    if kind in ("queued", "speaking"):
        tail = said
    elif kind == "spoken":
        tail = (f"{said}  ({e.get('audio_s', 0)} s audio, RTF {e.get('rtf', 0)}, "
                f"first audio after {e.get('first_audio_s', 0)} s)")
    elif kind == "synthesized":
        tail = f"{e.get('id', '')}: {e.get('audio_s', 0)} s audio"
    elif kind in ("dropped", "skipped"):
        tail = f"{said}  [{e.get('reason', '')}]"
    elif kind == "failed":
        tail = f"{said}  [{e.get('error', '')}]"
    elif kind == "moderation":
        target = e.get("target") or e.get("target_user_name") or e.get("target_user_id") or e.get("target_msg_id", "")
        tail = f"{e.get('action', '')} {target}".strip() + (f" ({e['purged']} purged)" if e.get("purged") else "")
    else:
        skip = {"type", "seq", "ts"}
        tail = " ".join(f"{k}={v}" for k, v in e.items() if k not in skip)
    return f"{clock}  {kind:<10} {' '.join(tail.split())}".rstrip()
