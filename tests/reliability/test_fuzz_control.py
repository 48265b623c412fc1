"""Bad input (issue 7 §4) on the control API: hypothesis sends arbitrary
bodies, methods, paths and headers to a running daemon process. Every answer
is a 2xx/4xx with a JSON error naming what was wrong — never a 500, never a
hang — and the daemon is still healthy afterwards."""

from __future__ import annotations

import http.client
import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability import scale
from tests.reliability.harness import DaemonProcess

POSTS = ["/api/skip", "/api/pause", "/api/resume", "/api/clear", "/api/mute", "/api/unmute", "/api/block",
         "/api/unblock", "/api/voice", "/api/nfe", "/api/say", "/api/tts"]
GETS = ["/api/status", "/api/queue", "/healthz", "/metrics", "/overlay", "/overlay/app.js", "/overlay/../../etc/passwd"]
FIELDS = ["user", "word", "voice", "nfe_step", "text", "voice_id", "x"]
CASES = scale(150, 3000)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
              st.text(max_size=60)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
_bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), _json, max_size=3).map(lambda d: json.dumps(d).encode()),
    _json.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.just(b"{" * 5000),
    st.just(json.dumps({"text": "长" * 40000}).encode()),  # over the body cap
)


@pytest.fixture(scope="module")
def daemon(tiny_config, tmp_path_factory):
    d = DaemonProcess(tiny_config, tmp_path_factory.mktemp("fuzz") / "state",
                      overrides=["audio.output=null", "daemon.exit_when_replay_ends=false", "daemon.shutdown_grace_s=0",
                                 f"sources.replay.path={tiny_config.parent / 'empty.jsonl'}", "log.level=warning"],
                      fake=True)  # the API under fuzzing, not synthesis: the kit's fake synthesizer
    (tiny_config.parent / "empty.jsonl").write_text("")
    d.start()
    # nothing is spoken while fuzzing: `say` bodies only queue
    request(d, "POST", "/api/pause", b"{}", auth=True)
    yield d
    assert d.stop() == 0
    errors = [e for e in d.log() if e.get("level") in ("error", "critical") or "Traceback" in json.dumps(e)]
    assert not errors, errors[:3]


def request(d: DaemonProcess, method: str, path: str, body: bytes | None, *, auth: bool,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    h = {"Content-Type": "application/json"}
    if auth:
        h["Authorization"] = f"Bearer {d.token}"
    h.update(headers or {})  # a fuzzed Authorization replaces the token
    try:
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                     HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(POSTS), body=_bodies)
def test_post_bodies(daemon, path, body):
    """Arbitrary bodies to every command: 200, or 4xx with a JSON error; never 5xx."""
    status, raw = request(daemon, "POST", path, body, auth=True)
    assert status < 500, (path, body[:100], status, raw[:200])
    if status >= 400:
        assert "error" in json.loads(raw)


_paths = st.one_of(st.sampled_from(POSTS + GETS),
                   st.text(string.ascii_letters + string.digits + "/._-%?=&", max_size=40).map(lambda p: "/" + p))
_headers = st.dictionaries(st.sampled_from(["Origin", "Host", "Authorization", "Content-Type", "X-Forwarded-For"]),
                           st.text(string.printable.strip(), max_size=40), max_size=3)


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                     HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]), path=_paths,
       headers=_headers, auth=st.booleans())
def test_methods_paths_headers(daemon, method, path, headers, auth):
    """Any method, path and header mix: never 5xx; a mutating call without the right token never succeeds."""
    try:
        status, raw = request(daemon, method, path, b"{}", auth=auth, headers=headers)
    except http.client.InvalidURL:
        return
    assert status < 500, (method, path, headers, status, raw[:200])
    token_sent = auth and "Authorization" not in headers
    if method == "POST" and path in POSTS and not token_sent:
        assert status in (401, 403), (method, path, headers, status)


def test_still_healthy_after_fuzzing(daemon):
    """After the fuzzing the daemon answers, with its queue intact and bounded."""
    status, raw = request(daemon, "GET", "/api/status", None, auth=True)
    assert status == 200
    assert json.loads(raw)["queue_depth"] <= 200
