"""The fake Bilibili checked against an independent client: blivedm 0.1.1
(PyPI, in its own venv: it pins brotli 1.0.9) resolves the short room
through the fake's room API, takes the token and server list from its
getDanmuInfo, connects over TLS, authenticates, gets heartbeat replies and
decodes the same brotli frames our source reads — and both agree.

blivedm 0.1.1 predates WBI signing and the buvid3 requirement, so the fake
does not insist on them here; it cannot inflate zlib bodies, so only
brotli frames are compared (the open-platform zlib path is checked by
test_open.py and the documented vectors in test_framing.py)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
from pathlib import Path

import pytest

from ishowtts_live.events import ModerationEvent
from tests.peers import ROOT, Peer, peer_python
from tests.sources.bilibili import samples
from tests.sources.bilibili.conftest import Reader, make_source, web_cfg
from tests.sources.bilibili.fake import FakeBilibili


def self_signed(tmp: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))  # fmt: skip
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))  # fmt: skip
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return ctx


@pytest.fixture
async def tls_fake(tmp_path):
    server = await FakeBilibili(require_wbi=False, require_buvid=False, tls=self_signed(tmp_path)).start()
    yield server
    await server.stop()


@pytest.fixture
async def peer(tls_fake):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    proc = await asyncio.create_subprocess_exec(
        peer_python("bilibili"), str(ROOT / "tests" / "peers" / "bilibili_danmaku.py"), tls_fake.api, str(samples.SHORT_ROOM),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=str(ROOT / "tests" / "peers"))
    client = Peer(proc)
    yield client
    await client.stop()


async def test_blivedm_discovers_authenticates_and_gets_heartbeat_replies(tls_fake, peer):
    """blivedm resolves the room, authenticates over wss with the fake's token and reads its op-3 popularity."""
    room = await peer.next("room")
    assert room == {"event": "room", "ok": True, "room_id": samples.REAL_ROOM, "short_id": samples.SHORT_ROOM,
                    "owner": samples.ANCHOR_UID}  # fmt: skip
    beat = await peer.next("command", "_HEARTBEAT")
    assert beat["body"]["data"]["popularity"] == tls_fake.popularity
    (auth,) = tls_fake.auths
    assert tls_fake.auth_ok == [True] and auth["key"] in tls_fake.tokens
    assert {k: auth[k] for k in ("uid", "roomid", "protover", "platform", "type")} == {
        "uid": 0, "roomid": samples.REAL_ROOM, "protover": 3, "platform": "web", "type": 2}
    assert tls_fake.conns[0].request.secure  # it came in over TLS


async def test_blivedm_and_our_source_read_the_same_brotli_frame_alike(tls_fake, peer):
    """blivedm gets exactly the commands in a multi-command brotli frame, and our events carry the same fields."""
    await peer.next("command", "_HEARTBEAT")
    peer_conn = await tls_fake.connection(index=0)
    reader = Reader(make_source(web_cfg(tls_fake)))
    try:
        ours_conn = await tls_fake.connection(index=1)
        cmds = [
            samples.danmu(4242, "Alice", "你好呀", medal=(21, "果咩吖"), guard=3, id_str="dm-1"),
            samples.super_chat(6522809, 5151, "Bob", "主播加油", 30),
            samples.gift(5151, "Bob", "小花花", 5, tid="t-9"),
            samples.guard_buy(4242, "Alice", level=3, num=1),
            samples.super_chat_delete(6522809),
            samples.room_block(5151, "Bob"),
        ]
        await tls_fake.send(cmds, "brotli", conn=peer_conn)
        await tls_fake.send(cmds, "brotli", conn=ours_conn)
        theirs = [await peer.next("command", c["cmd"]) for c in cmds]
        assert [t["body"] for t in theirs] == cmds
        dm, sc, gift, guard, deleted, ban = await reader.take(6)
        info = theirs[0]["body"]["info"]
        assert (dm.text, dm.user_id, dm.user_name, dm.flags.guard_level, dm.flags.medal_level) == (
            info[1], str(info[2][0]), info[2][1], info[7], info[3][0])
        data = theirs[1]["body"]["data"]
        assert (sc.amount, sc.text, sc.user_name, sc.msg_id) == (data["price"], data["message"],
                                                                 data["user_info"]["uname"], f"sc:{data['id']}")  # fmt: skip
        data = theirs[2]["body"]["data"]
        assert (gift.extra["num"], gift.extra["gift_name"], gift.amount_cents) == (
            data["num"], data["giftName"], data["total_coin"] // 10)
        assert guard.flags.guard_level == theirs[3]["body"]["data"]["guard_level"]
        assert isinstance(deleted, ModerationEvent) and deleted.target_msg_id == f"sc:{theirs[4]['body']['data']['ids'][0]}"
        assert ban.target_user_id == str(theirs[5]["body"]["data"]["uid"])
    finally:
        await reader.close()
