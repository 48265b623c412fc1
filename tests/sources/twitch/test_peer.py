"""The fake Twitch server checked against an independent client: twitchAPI's
Chat (PyPI twitchAPI 4.5.0, in its own venv) connects to the fake through its
documented ``connection_url``, logs in, joins, answers PING, follows
RECONNECT, and reads the same frames our source reads — and both agree on
every field."""

from __future__ import annotations

import asyncio
import random

import pytest

from ishowtts_live.config.schema import TwitchConfig
from ishowtts_live.sources.base import Backoff
from ishowtts_live.sources.twitch import build
from ishowtts_live.sources.twitch.irc import unescape_tag_value
from tests.kit import wait
from tests.peers import ROOT, Peer, peer_env, peer_python
from tests.sources.itempump import Pump
from tests.sources.twitch import lines
from tests.sources.twitch.fake_server import FakeTwitchServer

CHANNEL = "pajlada"


@pytest.fixture
async def server():
    fake = await FakeTwitchServer().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def peer(server):
    python = peer_python("twitch")
    proc = await asyncio.create_subprocess_exec(
        python, str(ROOT / "tests" / "peers" / "twitch_chat.py"), server.url, CHANNEL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=peer_env(), cwd=str(ROOT / "tests"))
    client = Peer(proc)
    yield client
    await client.stop()


async def test_twitchapi_logs_in_and_joins_the_fake(server, peer):
    """twitchAPI sends CAP/PASS/NICK, JOINs on the welcome, sees its own JOIN echo, then reports READY."""
    joined = await peer.next("joined")
    assert joined == {"event": "joined", "room": CHANNEL, "user": "peerbot"}
    await peer.next("ready")
    sent = server.clients[0].received
    assert sent[:3] == ["CAP REQ :twitch.tv/membership twitch.tv/tags twitch.tv/commands",
                        "PASS oauth:peer-token", "NICK peerbot"]
    assert f"JOIN #{CHANNEL}" in sent


async def test_twitchapi_and_our_source_read_the_same_frames_alike(server, peer):
    """A multi-line frame of PRIVMSG, USERNOTICE, CLEARMSG and CLEARCHAT lines means the same to both clients."""
    await peer.next("joined")
    ours = Pump(build(TwitchConfig(channel=CHANNEL, token_env=""), url=server.url))
    try:
        await server.wait_joined(2)
        chat = lines.privmsg(CHANNEL, "randers", "Cheer25 hello there", display_name="Randers", msg_id="m-1",
                             user_id="40286300", badges="moderator/1,subscriber/12", bits="25", first_msg="1",
                             subscriber="1", mod="1")
        sub = lines.usernotice(CHANNEL, "pilotchup", "sub", "PilotChup subscribed with Prime.", msg_param_sub_plan="Prime")
        raid = lines.usernotice(CHANNEL, "raider", "raid", "430 raiders from Raider have joined!",
                                msg_param_displayName="Raider", msg_param_login="raider", msg_param_viewerCount="430")
        shared = lines.privmsg(CHANNEL, "guest", "from elsewhere", source_room_id="999")
        await server.send(chat, sub, raid, shared, lines.CLEARMSG, lines.CLEARCHAT_TIMEOUT, lines.CLEARCHAT_BAN,
                          lines.CLEARCHAT_ALL)
        mine = await ours.take(7)

        theirs = await peer.next("message")
        assert theirs["text"] == "Cheer25 hello there" and theirs["bits"] == 25
        assert (mine[0].msg_id, mine[0].user_id, mine[0].user_name, mine[0].amount) == (
            theirs["id"], theirs["user_id"], theirs["display_name"], theirs["bits"])
        assert mine[0].flags.moderator == theirs["mod"] and mine[0].flags.subscriber == theirs["subscriber"]
        assert mine[0].flags.first_message == theirs["first"] and theirs["badges"] == {"moderator": "1",
                                                                                        "subscriber": "12"}
        theirs = await peer.next("sub")
        assert (theirs["sub_type"], theirs["plan"]) == ("sub", "Prime")
        assert unescape_tag_value(theirs["system_msg"]) == mine[1].extra["system_msg"] == mine[1].text
        theirs = await peer.next("raid")
        assert (theirs["raider"], int(theirs["viewers"])) == (mine[2].user_name, mine[2].extra["viewers"])
        theirs = await peer.next("message_delete")
        assert (theirs["message_id"], theirs["user"]) == (mine[3].target_msg_id, mine[3].target_user_name)
        cleared = [await peer.next("chat_cleared") for _ in range(3)]
        assert [(c["user"], c["user_id"], c["duration"]) for c in cleared] == [
            ("fabzeef", "148973258", 1), ("weeb123", "70948394", None), (None, None, None)]
        assert [(m.action, m.target_user_name or None) for m in mine[4:]] == [
            ("timeout_user", "fabzeef"), ("ban_user", "weeb123"), ("clear_chat", None)]
        # neither client passed on the shared-chat line from room 999
        assert all(getattr(m, "text", "") != "from elsewhere" for m in mine)
    finally:
        await ours.close()


async def test_twitchapi_answers_ping_and_follows_reconnect(server, peer):
    """The fake's PING gets twitchAPI's PONG; after RECONNECT twitchAPI connects again and rejoins."""
    await peer.next("joined")
    await server.ping()
    # twitchAPI writes the parameter without the colon; to IRC both forms are one message
    pongs = {"PONG :tmi.twitch.tv", "PONG tmi.twitch.tv"}
    await wait(server.wait_for(lambda: bool(pongs & set(server.clients[0].received))), 30)
    await server.reconnect()
    await wait(server.wait_joined(2), 30)
    assert server.connections >= 2  # twitchAPI may open one more as its old socket closes
    await server.send(lines.privmsg(CHANNEL, "a", "after reconnect"))
    assert (await peer.next("message"))["text"] == "after reconnect"


async def test_our_source_and_twitchapi_both_survive_a_drop(server, peer):
    """After the fake drops every connection, twitchAPI and our source both come back and read on."""
    await peer.next("joined")
    ours = Pump(build(TwitchConfig(channel=CHANNEL, token_env=""), url=server.url,
                      backoff=Backoff(initial=0.05, cap=0.2, rng=random.Random(1))))
    try:
        await server.wait_joined(2)
        await server.drop()
        await wait(server.wait_joined(4, timeout=60), 60)
        await server.send(lines.privmsg(CHANNEL, "a", "after drop", msg_id="d-1"))
        assert (await ours.one()).text == "after drop"
        assert (await peer.next("message"))["text"] == "after drop"
    finally:
        await ours.close()
