"""The control API's wire format, defined once for the server and ``ctl``.

Request bodies forbid unknown fields, so a typo (``{"usr": …}``) is a 400
naming the field instead of a silent no-op. Responses are plain JSON objects;
every error is ``{"error": "<field>: <what is wrong>", "field": "<field>"}``.

Events on ``/api/events`` are JSON objects with at least ``type``, ``seq``
(increasing) and ``ts`` (Unix seconds); the rest depends on the type (see
docs/control.md). The overlay's feed (``/overlay/feed``) carries only
:class:`OverlayState`: what is on screen, never user ids or moderation.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ishowtts_live.events import Utterance, utterance_fields

TOKEN_FILE_NAME = "control.token"
TOKEN_ENV = "ISHOWTTS_LIVE_TOKEN"  # ctl: a token given in the environment wins over the file
# A browser's WebSocket cannot send an Authorization header: the panel offers the
# subprotocols [WS_PROTOCOL, WS_BEARER + token]; the server accepts the token from
# there and answers with WS_PROTOCOL alone, so the token is never echoed.
WS_PROTOCOL = "ishowtts-live"
WS_BEARER = "bearer."
MAX_TEXT = 500  # characters a moderator announcement or /api/tts text may have

Name = Annotated[str, Meta(min_length=1, max_length=200)]
Word = Annotated[str, Meta(min_length=1, max_length=100)]
VoiceId = Annotated[str, Meta(max_length=100)]
Text = Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]


class Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class UserBody(Body):
    user: Name  # a user name or id (case-insensitive), or "platform:id"


class WordBody(Body):
    word: Word


class VoiceBody(Body):
    voice: Annotated[str, Meta(min_length=1, max_length=100)]


class NfeBody(Body):
    nfe_step: Annotated[int, Meta(ge=1, le=64)]


class SayBody(Body):
    text: Text
    voice: VoiceId = ""  # "" = the current default voice


class TtsBody(Body):
    text: Text
    voice_id: VoiceId = ""


MAX_ID = 200  # characters a message id in DELETE /api/queue/{id} may have

# Mutating endpoints: (path, the body they take or None). Tests walk this table;
# DELETE /api/queue/{id} (no body) is the one that is not a POST.
MUTATING: dict[str, type[Body] | None] = {
    "/api/skip": None,
    "/api/pause": None,
    "/api/resume": None,
    "/api/clear": None,
    "/api/mute": UserBody,
    "/api/unmute": UserBody,
    "/api/block": WordBody,
    "/api/unblock": WordBody,
    "/api/voice": VoiceBody,
    "/api/nfe": NfeBody,
    "/api/say": SayBody,
    "/api/tts": TtsBody,
}


# ---------------------------------------------------------------------- responses


class Item(msgspec.Struct, kw_only=True):
    """One utterance, as the queue listing and the status show it."""

    id: str
    text: str  # as the viewer wrote it
    speak: str = ""  # as it will be spoken (normalized, maybe with a "{user}说：" prefix)
    voice: str = ""
    user_name: str = ""
    user_id: str = ""
    platform: str = ""
    kind: str = "chat"
    amount: float = 0.0
    currency: str = ""  # of ``amount``: CNY, USD, BITS, … ("" when unknown)
    msg_id: str = ""
    priority: str = ""  # the queue's class, which decides what is read first: "paid", "announcement", "chat"
    age_s: float = 0.0  # seconds since the message was received


class Speaking(Item):
    """The message being spoken, with how far it has got."""

    elapsed_s: float = 0.0  # since its turn came
    audio_s: float = 0.0  # synthesized so far: its whole length once ``synthesized``
    synthesized: bool = False


class Timing(msgspec.Struct, kw_only=True):
    """One spoken message's figures: its real-time factor, the time from its
    turn to its first audio (near 0 when synthesized ahead) and from its
    receipt to that first audio."""

    id: str
    user_name: str = ""
    audio_s: float = 0.0
    rtf: float = 0.0
    first_audio_s: float = 0.0
    latency_s: float = 0.0


class Engine(msgspec.Struct, kw_only=True):
    """The synthesizer's health: starting | ready | degraded | unavailable | stopped."""

    state: str
    detail: str = ""


class SourceMinute(msgspec.Struct, kw_only=True):
    """A source's last minute: items handed on, received but not handed on (duplicates, backlog), of a type
    it has no rule for, and of a known type it could not read — the last two by name."""

    read: int = 0
    dropped: int = 0
    unknown: int = 0
    unparsable: int = 0
    unknown_kinds: dict[str, int] = {}
    unparsable_kinds: dict[str, int] = {}


class SourceStatus(msgspec.Struct, kw_only=True):
    name: str
    state: str = ""  # connecting | connected | reconnecting | stopped ("": the source does not say, replay)
    connects: int = 0
    reconnects: int = 0
    received: int = 0
    duplicates: int = 0  # re-delivered after a reconnect, recognised and not read again
    parse_errors: int = 0
    last_error: str = ""
    last_minute: SourceMinute | None = None  # None: the source keeps no such counts (replay)


class Progress(msgspec.Struct, kw_only=True):
    """How far a daemon that is starting got: warm-up step ``step`` of
    ``steps`` (both 0 before the warm-up counts), what it is doing."""

    step: int = 0
    steps: int = 0
    what: str = ""
    elapsed_s: float = 0.0  # since the daemon began to start


class Status(msgspec.Struct, kw_only=True):
    """While the daemon is not ready (``phase`` starting or stopping) only
    the settings and ``progress`` are known; the counts are zero."""

    version: str
    uptime_s: float
    ready: bool
    phase: str = "ready"  # "starting" | "ready" | "stopping"
    detail: str = ""  # starting: "warm-up 12/40: …" (as /healthz says it)
    progress: Progress | None = None  # while starting
    paused: bool
    speaking: Speaking | None
    queue_depth: int
    spoken: int
    received: int
    voice: str
    skipped: int = 0  # cut off (skip, mute, moderation)
    failed: int = 0  # synthesis errors
    nfe_step: int
    backlog_degraded: bool = False
    sources: list[SourceStatus] = []
    muted_users: list[str] = []
    blocked_words: list[str] = []
    config_muted_users: list[str] = []  # the ones the config file sets: run-time changes cannot undo them (409)
    config_blocked_words: list[str] = []
    drops: dict[str, int] = {}
    engine: Engine | None = None
    recent: list[Timing] = []  # the last spoken messages, oldest first


class Voices(msgspec.Struct, kw_only=True):
    """``GET /api/voices``: the voice ids the daemon knows, the one in use and the config's default."""

    voice: str
    default: str
    voices: list[str]


class Queue(msgspec.Struct, kw_only=True):
    paused: bool
    items: list[Item]


class Result(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The answer to a command: ``ok`` plus whatever that command reports."""

    ok: bool  # required, so it is always in the JSON
    changed: bool | None = None  # mute/unmute/block/unblock/skip: did anything change
    count: int | None = None  # clear: removed; mute, remove: queued messages purged
    cut: bool | None = None  # remove: the message was being spoken and was cut off
    paused: bool | None = None
    voice: str | None = None
    nfe_step: int | None = None
    reason: str = ""  # say: why it was not queued (machine-readable)
    detail: str = ""


class Error(msgspec.Struct, kw_only=True, omit_defaults=True):
    error: str
    field: str = ""


class Health(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: str  # "ok" | "starting" | "failing" | "stopping"
    ready: bool
    detail: str = ""  # starting: "warm-up 12/40: …"
    progress: Progress | None = None  # while starting
    synthesis: str = ""  # when failing because of synthesis: its state and why

    @property
    def http_status(self) -> int:
        return 200 if self.status == "ok" else 503


class OverlayItem(msgspec.Struct, kw_only=True):
    user_name: str
    text: str
    kind: str = "chat"
    amount: float = 0.0
    platform: str = ""


class OverlayState(msgspec.Struct, kw_only=True):
    speaking: OverlayItem | None
    next: list[OverlayItem]
    paused: bool = False
    seq: int = 0


# ---------------------------------------------------------------------- utterances as shown


def item_of(entry: Any, now_wall: float | None = None, priority: str = "", as_type: type[Item] = Item,
            **extra: Any) -> Any:
    """An utterance (or a queue entry holding one) as the API shows it;
    ``priority``: its class, where ``entry`` is not a queue entry that has it
    (``as_type`` :class:`Speaking` with ``extra`` its progress)."""
    utt: Utterance = getattr(entry, "utterance", entry)
    data = utterance_fields(utt)
    event = utt.event
    now_wall = time.time() if now_wall is None else now_wall
    data["priority"] = priority or (entry.priority if entry is not utt else "")
    data["age_s"] = round(max(0.0, now_wall - event.received_wall), 1) if event and event.received_wall else 0.0
    data["speak"] = utt.text
    if event is not None:  # the words the viewer wrote; ``speak`` is the text for speech
        data["text"] = event.text or utt.text
        data["currency"] = event.currency
    return msgspec.convert({**data, **extra}, as_type)


def overlay_item_of(entry: Any) -> OverlayItem:
    """What the overlay shows of an utterance: on stream anyway, never ids."""
    utt: Utterance = getattr(entry, "utterance", entry)
    event = utt.event
    if event is None:
        return OverlayItem(user_name="", text=utt.text, kind="system")
    return OverlayItem(user_name=event.user_name, text=event.text or utt.text, kind=event.kind,
                       amount=event.amount, platform=event.platform)


# ---------------------------------------------------------------------- helpers

_AT = re.compile(r"at `\$\.([A-Za-z_][A-Za-z0-9_]*)")
_NAMED = re.compile(r"field `([^`]+)`")


def decode_body(raw: bytes, body_type: type[Body]) -> Any:
    """Decode and validate a request body; :class:`BadBody` names the field."""
    if not raw.strip():
        raise BadBody("body", "expected a JSON object")
    try:
        return msgspec.json.decode(raw, type=body_type)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _AT.search(text) or _NAMED.search(text)
        field = match.group(1) if match else "body"
        message = text.split(" - at ")[0].replace("`", "")
        raise BadBody(field, message[:1].lower() + message[1:]) from None
    except msgspec.DecodeError as exc:
        raise BadBody("body", f"not valid JSON ({exc})") from None


class BadBody(ValueError):
    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
