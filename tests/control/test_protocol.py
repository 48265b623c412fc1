"""Request bodies: decoded once, and every problem names its field."""

from __future__ import annotations

import msgspec
import pytest

from ishowtts_live.control.protocol import (
    MAX_TEXT, MUTATING, BadBody, NfeBody, Result, SayBody, TtsBody, UserBody, WordBody, decode_body,
)


@pytest.mark.parametrize(("raw", "body", "field", "says"), [
    (b"", UserBody, "body", "expected a JSON object"),
    (b"{not json", UserBody, "body", "not valid JSON"),
    (b"[1, 2]", UserBody, "body", "expected object"),
    (b"{}", UserBody, "user", "missing required field"),
    (b'{"user": 5}', UserBody, "user", "expected str"),
    (b'{"user": ""}', UserBody, "user", "length >= 1"),
    (b'{"usr": "bob"}', UserBody, "usr", "unknown field"),
    (b'{"word": "x", "extra": 1}', WordBody, "extra", "unknown field"),
    (b'{"nfe_step": 0}', NfeBody, "nfe_step", ">= 1"),
    (b'{"nfe_step": "8"}', NfeBody, "nfe_step", "expected int"),
    (b'{"text": "hi", "voice": 3}', SayBody, "voice", "expected str"),
    (b'{"text": "' + b"x" * (MAX_TEXT + 1) + b'"}', TtsBody, "text", f"length <= {MAX_TEXT}"),
])
def test_bad_bodies_name_their_field(raw, body, field, says):
    """Each malformed body raises BadBody naming the offending field."""
    with pytest.raises(BadBody) as info:
        decode_body(raw, body)
    assert info.value.field == field and says in info.value.message
    assert str(info.value).startswith(f"{field}: ")


def test_good_bodies_decode():
    """Valid bodies decode to their Structs, optional fields defaulted."""
    assert decode_body(b'{"user": "bob"}', UserBody) == UserBody(user="bob")
    assert decode_body(b'{"text": "hi"}', SayBody) == SayBody(text="hi", voice="")
    assert decode_body(b'{"text": "hi", "voice_id": "zh16"}', TtsBody).voice_id == "zh16"


def test_results_omit_what_a_command_does_not_report():
    """A Result carries only the fields its command sets."""
    assert msgspec.json.decode(msgspec.json.encode(Result(ok=True, count=3))) == {"ok": True, "count": 3}


def test_every_mutating_endpoint_is_a_post_under_api():
    """The table the auth tests walk covers the issue's endpoints."""
    expected = {"skip", "pause", "resume", "clear", "mute", "unmute", "block", "unblock", "voice", "nfe", "say", "tts"}
    assert {p.removeprefix("/api/") for p in MUTATING} == expected
