"""The web source against the loopback fake: discovery, auth, heartbeats and
every command, over real sockets."""

from __future__ import annotations

import pytest
import structlog

from ishowtts_live.events import ModerationEvent
from ishowtts_live.sources.bilibili import build
from ishowtts_live.sources.bilibili.mapping import GUEST_WARNING
from ishowtts_live.sources.bilibili.source import HEARTBEAT_BODY
from tests.sources.bilibili import samples, wire
from tests.sources.bilibili.conftest import Reader, make_source, web_cfg
from tests.sources.bilibili.fake import LOGGED_IN_MID, SESSDATA

ALICE, BOB = 4242, 5151


async def test_discovery_resolves_short_room_signs_and_authenticates(fake):
    """Short id → real id, WBI-signed getDanmuInfo with buvid3, auth with real room, token and buvid."""
    reader = Reader(make_source(web_cfg(fake)))
    try:
        await fake.send([samples.danmu(ALICE, "张**", "你好")])
        event = await reader.next()
        assert event.text == "你好" and event.channel == str(samples.REAL_ROOM)
        assert fake.calls[:4] == ["room_init", "nav", "home", "danmu_info"]
        (auth,) = fake.auths
        assert auth["roomid"] == samples.REAL_ROOM and auth["key"] in fake.tokens
        assert auth["uid"] == 0 and auth["buvid"] == fake.buvid3
        assert auth["protover"] == 3 and auth["platform"] == "web" and auth["type"] == 2
    finally:
        await reader.close()


async def test_logged_in_cookie_authenticates_as_that_user(fake):
    """With a SESSDATA cookie, nav reports the mid and auth uses it (the token is issued to it)."""
    source = make_source(web_cfg(fake), cookies={"SESSDATA": SESSDATA})
    reader = Reader(source)
    try:
        await fake.send([samples.danmu(ALICE, "Alice", "hi")])
        await reader.next()
        assert fake.auths[0]["uid"] == LOGGED_IN_MID and fake.auth_ok == [True]
        assert not source._warned_guest
    finally:
        await reader.close()


async def test_heartbeats_flow_and_the_uncounted_echo_is_harmless(fake):
    """Op-2 heartbeats go out; op-3 replies (length without the echo) set popularity with no parse error."""
    source = make_source(web_cfg(fake, heartbeat_s=0.05))
    reader = Reader(source)
    try:
        conn = await fake.connection()
        await fake.wait_for(lambda: conn.heartbeats >= 3)
        await fake.send([samples.danmu(ALICE, "a", "after heartbeats")])
        assert (await reader.next()).text == "after heartbeats"
        assert set(conn.echoes) == {HEARTBEAT_BODY}
        assert source.protocol.heartbeat_replies >= 3 and source.protocol.popularity == fake.popularity
        assert source.stats.parse_errors == 0
    finally:
        await reader.close()


@pytest.mark.parametrize("encoding", ["plain", "zlib", "brotli"])
async def test_every_body_encoding_with_several_packets_per_frame(fake, encoding):
    """Plain, zlib and brotli frames, each carrying several commands, all come through in order."""
    reader = Reader(make_source(web_cfg(fake)))
    try:
        texts = [f"第{i}条" for i in range(5)]
        await fake.send([samples.danmu(ALICE + i, f"u{i}", t, ts_ms=1000 + i) for i, t in enumerate(texts)], encoding)
        assert [e.text for e in await reader.take(5)] == texts
    finally:
        await reader.close()


async def test_danmaku_fields_suffix_variant_medal_guard_and_moderator(fake):
    """DANMU_MSG and a suffixed variant: text, uid, name, own-room medal, guard, moderator, broadcaster, id."""
    reader = Reader(make_source(web_cfg(fake)))
    try:
        await fake.send([
            samples.danmu(ALICE, "Alice", "第一", medal=(21, "果咩吖"), guard=3, admin=1, id_str="abc123"),
            samples.danmu(BOB, "Bob", "第二", medal=(9, "别家"), medal_anchor=777, suffix=":4:0:2:2:2:0"),
            samples.danmu(samples.ANCHOR_UID, "主播", "我来了", ts_ms=5),
        ])  # fmt: skip
        a, b, anchor = await reader.take(3)
        assert (a.user_id, a.user_name, a.msg_id, a.kind) == (str(ALICE), "Alice", "abc123", "chat")
        assert a.flags.guard_level == 3 and a.flags.medal_level == 21 and a.flags.moderator
        assert (b.text, b.flags.medal_level, b.flags.moderator) == ("第二", 0, False)  # another streamer's medal
        assert b.extra["medal"] == {"name": "别家", "level": 9}
        assert anchor.flags.broadcaster and not a.flags.broadcaster
    finally:
        await reader.close()


async def test_emoticon_only_danmaku_are_marked(fake):
    """A sticker danmaku (dm_type 1) and one made only of [emoji] codes carry emoticon_only."""
    reader = Reader(make_source(web_cfg(fake)))
    try:
        emots = {"[热]": {"url": "http://i0.hdslb.com/bfs/live/6df.png"}}
        await fake.send([
            samples.danmu(ALICE, "a", "赞", dm_type=1, sticker={"url": "http://i0.hdslb.com/s.png"}, ts_ms=1),
            samples.danmu(ALICE, "a", "[热][热]", emots=emots, ts_ms=2),
            samples.danmu(ALICE, "a", "白花300块[热]", emots=emots, ts_ms=3),
        ])  # fmt: skip
        sticker, codes, mixed = await reader.take(3)
        assert sticker.extra["emoticon_only"] is True and sticker.extra["emoticon_url"] == "http://i0.hdslb.com/s.png"
        assert codes.extra.get("emoticon_only") is True and "emoticon_only" not in mixed.extra
    finally:
        await reader.close()


async def test_superchat_gift_guard_and_moderation_events(fake):
    """SUPER_CHAT_MESSAGE (CNY), SEND_GIFT, GUARD_BUY, SUPER_CHAT_MESSAGE_DELETE and ROOM_BLOCK_MSG."""
    reader = Reader(make_source(web_cfg(fake)))
    try:
        await fake.send([
            samples.super_chat(6522809, ALICE, "Alice", "猪播完美预测", 30),
            samples.gift(BOB, "Bob", "小花花", 5, price=100, tid="t-1"),
            samples.gift(BOB, "Bob", "辣条", 3, price=100, coin_type="silver", tid="t-2", gift_id=1),
            samples.guard_buy(ALICE, "Alice", level=3, num=2),
            samples.super_chat_delete(6522809, 42),
            samples.room_block(BOB, "Bob"),
        ])  # fmt: skip
        sc, gift, free, guard, del1, del2, ban = await reader.take(7)
        assert (sc.kind, sc.amount, sc.currency, sc.amount_cents, sc.msg_id) == ("superchat", 30.0, "CNY", 3000, "sc:6522809")
        assert sc.paid and sc.flags.guard_level == 3 and sc.flags.medal_level == 21
        assert (gift.kind, gift.amount_cents, gift.text, gift.extra["num"]) == ("gift", 50, "投喂了5个小花花", 5)
        assert (free.amount, free.currency, free.paid) == (0.0, "", False)
        assert (guard.kind, guard.amount_cents, guard.text) == ("member", 39600, "开通了2个月舰长")
        assert [(d.action, d.target_msg_id) for d in (del1, del2)] == [("delete_superchat", "sc:6522809"),
                                                                        ("delete_superchat", "sc:42")]  # fmt: skip
        assert isinstance(ban, ModerationEvent)
        assert (ban.action, ban.target_user_id, ban.target_user_name, ban.channel) == (
            "ban_user", str(BOB), "Bob", str(samples.REAL_ROOM))
    finally:
        await reader.close()


async def test_send_gift_v2_over_the_socket(fake):
    """SEND_GIFT_V2 broadcasts over the real socket: several gifts in one (gold, silver, a blind box), truncated
    and garbage pb counted and warned as unparsable, a new command warned as unknown; reading goes on."""
    source = make_source(web_cfg(fake))
    reader = Reader(source)
    try:
        good = samples.gift_v2(BOB, "Bob", [
            samples.v2_item("小花花", 10, tid="s-gold"),
            samples.v2_item("辣条", 3, coin_type="silver", tid="s-silver", gift_id=1),
        ], guard=2, medal_level=12)  # fmt: skip
        blind = samples.gift_v2(ALICE, "Alice", [samples.v2_item("浪漫城堡", 1, price=1_314_000, total_coin=150_000,
                                                                 tid="s-blind")], blind=("心动盲盒", 150_000))
        truncated = {"cmd": "SEND_GIFT_V2", "data": {"pb": good["data"]["pb"][:-12]}}
        garbage = {"cmd": "SEND_GIFT_V2", "data": {"pb": "AAAAAAAA"}}
        with structlog.testing.capture_logs() as logs:
            await fake.send([truncated, good, garbage, {"cmd": "SEND_GIFT_V3", "data": {"pb": "CgA="}}, blind])
            gold, silver, box = await reader.take(3)
        assert (gold.text, gold.amount_cents, gold.flags.guard_level, gold.flags.medal_level) == ("投喂了10个小花花", 100, 2, 12)
        assert (silver.text, silver.amount_cents, silver.currency) == ("投喂了3个辣条", 0, "")
        assert (box.text, box.amount_cents, box.extra["blind_box"], box.user_name) == ("投喂了1个浪漫城堡", 15000, "心动盲盒", "Alice")
        assert source.stats.drift.unparsable == {"SEND_GIFT_V2": 2}
        assert source.stats.drift.unknown == {"SEND_GIFT_V3": 1}
        warned = {(e.get("kind"), e["event"].split(" (")[0]) for e in logs if e["log_level"] == "warning"}
        assert {("SEND_GIFT_V2", "chat source: unreadable item skipped"),
                ("SEND_GIFT_V3", "chat source: unknown message type ignored")} <= warned
        minute = source.stats.last_minute
        assert (minute["read"], minute["unknown"], minute["unparsable"]) == (3, 1, 2)
    finally:
        await reader.close()


async def test_gift_combo_is_merged_within_the_window(fake):
    """One viewer's repeated gifts within gift_combo_s become one summed event; another viewer's stays apart."""
    source = make_source(web_cfg(fake, gift_combo_s=0.5, gift_combo_max_s=5.0))
    reader = Reader(source)
    try:
        for i in range(4):
            await fake.send([samples.gift(BOB, "Bob", "辣条", 2, tid=f"c{i}")])
        await fake.send([samples.gift(ALICE, "Alice", "辣条", 1, tid="other")])
        events = sorted(await reader.take(2), key=lambda e: e.user_name)
        alice, bob = events
        assert (bob.text, bob.amount_cents, bob.extra["num"], bob.extra["sends"]) == ("投喂了8个辣条", 80, 8, 4)
        assert (alice.text, alice.amount_cents) == ("投喂了1个辣条", 10)
        assert source.gifts.merged == 3
    finally:
        await reader.close()


async def test_unknown_and_broken_commands_are_counted_not_fatal(fake):
    """Unknown commands are counted by name, ignored ones apart, broken ones as parse errors; reading goes on."""
    source = make_source(web_cfg(fake))
    reader = Reader(source)
    try:
        await fake.send([
            {"cmd": "SOMETHING_NEW", "data": {}}, samples.watched(), {"cmd": "DANMU_MSG", "info": "broken"},
            {"no": "cmd"}, samples.danmu(ALICE, "a", "still here"),
        ])  # fmt: skip
        await fake.send_raw(wire.packet(5, b"\xff\xfe not json", ver=0))
        await fake.send([samples.danmu(ALICE, "a", "and here", ts_ms=9)])
        assert [e.text for e in await reader.take(2)] == ["still here", "and here"]
        assert source.stats.drift.unknown == {"SOMETHING_NEW": 1, "(none)": 1}
        assert source.protocol.ignored_commands == 1
        assert source.stats.parse_errors == 2
    finally:
        await reader.close()


async def test_guest_warning_is_logged_once(fake):
    """Without login the source warns once that names are masked and per-user rules cannot work."""
    with structlog.testing.capture_logs() as logs:
        reader = Reader(make_source(web_cfg(fake)))
        try:
            await fake.send([samples.danmu(0, "张**", "一"), samples.danmu(0, "李**", "二", ts_ms=2)])
            first, second = await reader.take(2)
            assert first.user_id == "" and first.extra["uid_crc32"] == "0bc8acd0"
        finally:
            await reader.close()
    assert [entry["event"] for entry in logs].count(GUEST_WARNING) == 1


async def test_rejected_auth_fetches_a_fresh_token(fake):
    """A rejected op-7 auth (op-8 code != 0) makes the source discover again and use a new token."""
    source = make_source(web_cfg(fake))
    reader = Reader(source)
    try:
        await fake.connection()
        fake.revoke_tokens()
        fake.drop()
        await fake.wait_for(lambda: len(fake.auth_ok) >= 3 and fake.auth_ok[-1])
        await fake.send([samples.danmu(ALICE, "a", "back")])
        assert (await reader.next()).text == "back"
        assert fake.auth_ok[:3] == [True, False, True]
        assert fake.calls.count("danmu_info") == 2 and source.protocol.auth_failures == 1
        assert fake.calls.count("nav") == 1  # WBI keys stay cached
        assert fake.auths[2]["key"] != fake.auths[0]["key"]
    finally:
        await reader.close()


async def test_direct_url_skips_discovery_and_sends_an_empty_key(fake):
    """build(url=…) connects straight to the socket with an empty key and no HTTP calls."""
    fake.allow_empty_key = True
    source = build(web_cfg(fake), url=fake.ws_url, room=samples.REAL_ROOM)
    reader = Reader(source)
    try:
        await fake.send([samples.danmu(ALICE, "a", "direct")])
        assert (await reader.next()).text == "direct"
        assert fake.calls == [] and fake.auths == [
            {"uid": 0, "roomid": samples.REAL_ROOM, "protover": 3, "platform": "web", "type": 2, "key": ""}]
    finally:
        await reader.close()


async def test_failed_danmu_info_falls_back_to_the_fallback_server(fake):
    """When getDanmuInfo answers with an error, the fallback server is used with an empty key."""
    fake.danmu_info_error = 1
    fake.allow_empty_key = True
    reader = Reader(make_source(web_cfg(fake)))
    try:
        await fake.send([samples.danmu(ALICE, "a", "via fallback")])
        assert (await reader.next()).text == "via fallback"
        assert fake.auths[0]["key"] == "" and fake.calls.count("danmu_info") == 1
    finally:
        await reader.close()
