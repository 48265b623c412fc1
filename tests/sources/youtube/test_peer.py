"""The fake YouTube checked against an independent reader: chat-downloader
(PyPI 0.2.8, in its own venv) bootstraps from the fake's watch page, reads the
/live_chat page, then polls get_live_chat — and it and our source agree on
every message and deletion.

The fake serves the pre-October-2025 page shape here: chat-downloader 0.2.8
reads the chat views from the watch page only, and fails on today's pages
exactly as its issues #271 / #281 report (its fix, PR #277, is not released)."""

from __future__ import annotations

import asyncio
import json

import pytest

from ishowtts_live.config.schema import YouTubeConfig
from ishowtts_live.events import ChatEvent
from ishowtts_live.sources.youtube import build
from tests.kit import wait
from tests.peers import ROOT, peer_env, peer_python
from tests.sources.itempump import Pump
from tests.sources.youtube import shapes
from tests.sources.youtube.fake_server import FakeYouTubeServer

VIDEO = "jfKfPfyJRdk"
BACKLOG = [
    shapes.text_message("t-1", "@mod", "UCmod", shapes.runs("hi ", ("emoji", "😀", ":grinning:", False)),
                        badges=[shapes.MODERATOR]),
    shapes.paid_message("p-1", "@rich", "UCrich", "$5.00", "take my money"),
    shapes.paid_sticker("s-1", "@sticker", "UCstick", "CA$2.00", "A cat waving"),
]
LATER = [
    shapes.new_member("j-1", "@newbie", "UCnew", "Welcome to The Channel!"),
    shapes.paid_message("p-2", "@euro", "UCeuro", "€10.00", "merci"),
    shapes.text_message("t-2", "@member", "UCmember", "second poll", badges=[shapes.MEMBER]),
    shapes.remove("t-1"),
]


async def _records(proc, count: int) -> list[dict]:
    records = []
    while len(records) < count:
        raw = await proc.stdout.readline()
        if not raw:
            err = (await proc.stderr.read()).decode(errors="replace")[-2000:]
            raise AssertionError(f"chat-downloader exited after {len(records)} records: {err}")
        records.append(json.loads(raw))
    return records


@pytest.fixture
async def server():
    fake = await FakeYouTubeServer(VIDEO, backlog=10, timeout_ms=100, shape="2023").start()
    yield fake
    await fake.stop()


async def test_chat_downloader_and_our_source_read_the_fake_alike(server):
    """Both readers see the same ids, texts, authors, amounts and deletion target, from the page and from polls."""
    python = peer_python("youtube")
    server.add(*BACKLOG)
    proc = await asyncio.create_subprocess_exec(
        python, str(ROOT / "tests" / "peers" / "youtube_chat.py"), server.url, VIDEO, str(len(BACKLOG) + len(LATER)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=peer_env(), cwd=str(ROOT / "tests"))
    ours = Pump(build(YouTubeConfig(video_id=VIDEO, read_backlog=True, poll_min_s=0.05, poll_max_s=0.2),
                      url=server.url))
    try:
        theirs = await wait(_records(proc, len(BACKLOG)), 60)
        server.add(*LATER)
        theirs += await wait(_records(proc, len(LATER)), 60)
        mine = await ours.take(len(BACKLOG) + len(LATER), timeout=30)
        assert json.loads(await wait(proc.stdout.readline(), 30)) == {"done": len(BACKLOG) + len(LATER)}
    finally:
        if proc.returncode is None:
            proc.kill()
        await wait(proc.wait(), 10)
        await ours.close()

    # chat-downloader went through every endpoint of the fake, the polling one with the page's key
    from ishowtts_live.sources.youtube.source import USER_AGENT

    paths = [path for path, agent in server.agents if agent != USER_AGENT]
    assert paths[:2] == ["/watch", "/live_chat"] and "/youtubei/v1/live_chat/get_live_chat" in paths

    events = [m for m in mine if isinstance(m, ChatEvent)]
    chats = [t for t in theirs if t["type"] != "ban_user"]
    assert [e.msg_id for e in events] == [t["id"] for t in chats]
    for event, record in zip(events, chats):
        assert (event.user_name, event.user_id) == (record["author"], record["author_id"])
        if record["type"] == "paid_sticker":
            assert event.text == "A cat waving"  # chat-downloader keeps the sticker only as images
        elif record["type"] == "membership_item":
            assert event.text == record["header_secondary"]  # a new member's welcome line
        elif event.msg_id == "t-1":
            # a standard emoji: chat-downloader writes its shortcut, we keep the character
            assert (record["text"], event.text) == ("hi :grinning:", "hi 😀")
        else:
            assert event.text == record["text"]
        assert event.amount == (record["amount"] or 0.0)
        assert event.currency == (record["currency"] or "")
        assert event.flags.moderator == ("Moderator" in record["badges"])
        assert event.flags.subscriber == any(b.startswith("Member") for b in record["badges"])
    deletion = next(t for t in theirs if t["type"] == "ban_user")  # chat-downloader's name for removeChatItem
    assert (mine[-1].action, mine[-1].target_msg_id) == ("delete_message", deletion["target"]) == (
        "delete_message", "t-1")
