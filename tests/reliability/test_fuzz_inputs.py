"""Bad input (issue 7 §4): the replay reader and the config loader, fed
arbitrary input, either accept it or answer one clear line — never crash."""

from __future__ import annotations

import string

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ishowtts_live.config.loading import load_config
from ishowtts_live.errors import ConfigError, UsageError
from ishowtts_live.events import ChatEvent, ModerationEvent
from ishowtts_live.sources.replay import ReplayError, parse_line
from tests.reliability import scale

CASES = scale(300, 5000)

# JSON values shaped like replay lines, with hostile values in every field
_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40))
_fields = st.sampled_from(["text", "user_name", "user_id", "platform", "kind", "amount", "currency", "msg_id",
                           "t", "moderator", "action", "target_user_id", "target_msg_id", "extra"])
_objects = st.dictionaries(_fields, st.one_of(_scalar, st.lists(_scalar, max_size=3)), max_size=8)


def _check_line(raw: bytes) -> None:
    try:
        parsed = parse_line(raw, 7, last_t=1.0, path="chat.jsonl")
    except ReplayError as exc:
        message = str(exc)
        assert message.startswith("chat.jsonl:7: ") and "\n" not in message
        return
    if parsed is not None:
        assert isinstance(parsed.item, (ChatEvent, ModerationEvent))
        assert parsed.t >= 0


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_replay_line_arbitrary_bytes(raw):
    """Any bytes: a parsed item, a skipped blank line, or a one-line ReplayError naming the line."""
    _check_line(raw)


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_objects)
def test_replay_line_json_objects(obj):
    """JSON objects with wrong types, NaN, huge numbers, missing text: never anything but ReplayError."""
    _check_line(msgspec.json.encode(obj).replace(b"NaN", b"1e999"))


# TOML documents built from schema-ish section and key names with arbitrary values
_sections = st.sampled_from(["engine", "engine.arch", "sources.replay", "sources.twitch", "sources.youtube",
                             "filters", "speech", "queue", "voices", "audio", "daemon", "state", "log",
                             "control", "backlog", "nosuch"])
_keys = st.sampled_from(["model", "nfe_step", "dtype", "device", "compile", "speed", "path", "enabled",
                         "channel", "video_id", "max_items", "latency_ms", "output", "level", "dir", "port",
                         "max_chars", "too_long", "muted_users", "blocked_words", "default", "nfe_stpe", "x"])
_toml_values = st.one_of(
    st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.text(string.printable, max_size=20).map(lambda s: '"' + s.replace("\\", "").replace('"', "") + '"'),
    st.just("[1, 'a']"), st.just("{a = 1}"), st.just("nan"), st.just("inf"), st.just("'''\n'''"),
)
_documents = st.lists(st.tuples(_sections, st.lists(st.tuples(_keys, _toml_values), max_size=4)), max_size=5)


def _render(doc) -> str:
    return "".join(f"[{sec}]\n" + "".join(f"{k} = {v}\n" for k, v in body) for sec, body in doc)


def _check_config_error(exc: ConfigError) -> None:
    assert exc.problems
    for line in exc.problems:
        assert line and "\n" not in line and "Traceback" not in line


@settings(max_examples=scale(150, 2000), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.function_scoped_fixture])
@given(_documents)
def test_config_documents(tmp_path, doc):
    """Generated config files: they load, or every problem is one line; nothing else escapes."""
    path = tmp_path / "fuzz.toml"
    path.write_text(_render(doc), encoding="utf-8")
    try:
        load_config(str(path))
    except ConfigError as exc:
        _check_config_error(exc)


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                     HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_config_arbitrary_bytes(tmp_path, raw):
    """A config file of arbitrary bytes (binary, bad UTF-8, broken TOML) is a ConfigError, never a crash."""
    path = tmp_path / "fuzz.toml"
    path.write_bytes(raw)
    try:
        load_config(str(path))
    except ConfigError as exc:
        _check_config_error(exc)


@settings(max_examples=CASES, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=4))
def test_config_overrides(items):
    """Arbitrary -o/--set arguments: accepted, or a one-line error (usage or config)."""
    try:
        load_config(None, items)
    except (ConfigError, UsageError) as exc:
        if isinstance(exc, ConfigError):
            _check_config_error(exc)
        else:
            assert "\n" not in str(exc)
