"""Open live platform mode against the fake: signed start, the auth body sent
verbatim, zlib frames, the project heartbeat, INTERACTION_END and end."""

from __future__ import annotations

import json

from ishowtts_live.sources.bilibili import build
from ishowtts_live.sources.bilibili.openplatform import signed_headers
from tests.kit import wait
from tests.sources.bilibili import samples, wire
from tests.sources.bilibili.conftest import Reader, make_source, open_cfg, until


def test_signature_matches_an_independent_computation():
    """signed_headers() passes the fake's own HMAC-SHA256 check (written apart from the product)."""
    body = b'{"code":"C1","app_id":1}'
    headers = signed_headers(body, "AKID1", "s3cret", nonce="n", ts=1700000000)
    assert wire.open_signature_problem(headers, body, "AKID1", "s3cret") == ""
    assert wire.open_signature_problem(headers, body, "AKID1", "other") == "signature mismatch"


async def test_open_mode_reads_real_names_and_keeps_the_project_alive(fake):
    """Signed start, verbatim auth body, zlib frames mapped to events, project heartbeats every heartbeat_s."""
    source = make_source(open_cfg(fake))
    reader = Reader(source)
    try:
        conn = await fake.connection()
        assert conn.kind == "open" and conn.encoding == "zlib"
        (game_id, game), = fake.games.items()
        assert fake.auths == [game.auth_body] and fake.signature_failures == []
        await fake.send([samples.open_dm("oid-1", "Alice", "你好", "m-1"),
                         samples.open_super_chat("oid-1", "Alice", "冲", 9001, 30),
                         samples.open_super_chat_del(9001)])  # fmt: skip
        dm, sc, deleted = await reader.take(3)
        assert (dm.user_name, dm.user_id, dm.text) == ("Alice", "oid-1", "你好")
        assert (sc.amount, sc.currency, deleted.target_msg_id) == (30.0, "CNY", "sc:9001")
        assert dm.channel == str(samples.REAL_ROOM)
        await until(lambda: source.protocol.project_heartbeats >= 2)
        assert game.heartbeats >= 2
    finally:
        await reader.close()
    await fake.wait_for(lambda: fake.games[game_id].ended)


async def test_interaction_end_starts_a_new_session(fake):
    """LIVE_OPEN_PLATFORM_INTERACTION_END ends this session (end is called) and a new one starts."""
    reader = Reader(make_source(open_cfg(fake)))
    try:
        await fake.connection()
        (first_id,) = fake.games
        await fake.send([samples.open_end(first_id)])
        await fake.connection(index=1)
        await fake.wait_for(lambda: fake.games[first_id].ended)
        assert len(fake.games) == 2
        await fake.send([samples.open_dm("oid-2", "Bob", "新会话", "m-2")])
        assert (await reader.next()).text == "新会话"
    finally:
        await reader.close()


async def test_wrong_identity_code_is_retried_not_fatal(fake):
    """A start refused for a wrong code is a failed attempt; the source keeps retrying with backoff."""
    cfg = open_cfg(fake)
    cfg.open.code = "WRONG"
    source = make_source(cfg)
    reader = Reader(source)
    try:
        await until(lambda: source.stats.reconnects >= 2)
        assert fake.calls.count("open_start") >= 2
        assert fake.games == {} and "7007" in source.stats.last_error
    finally:
        await reader.close()


async def test_build_reads_open_secrets_from_the_environment(fake, monkeypatch):
    """With the secrets left empty in the config, build() takes them from $BILIBILI_OPEN_*."""
    cfg = open_cfg(fake)
    cfg.open.access_key_id = cfg.open.access_key_secret = cfg.open.code = ""
    monkeypatch.setenv("BILIBILI_OPEN_ACCESS_KEY_ID", fake.key_id)
    monkeypatch.setenv("BILIBILI_OPEN_ACCESS_KEY_SECRET", fake.key_secret)
    monkeypatch.setenv("BILIBILI_OPEN_CODE", fake.identity_code)
    reader = Reader(build(cfg))
    try:
        await fake.connection()
        await fake.send([samples.open_dm("oid-1", "Alice", "env", "m-9")])
        assert (await reader.next()).text == "env"
        assert json.loads(fake.auths[0])["group"] == "open"
    finally:
        await reader.close()
    await wait(fake.wait_for(lambda: all(g.ended for g in fake.games.values())), 10)
