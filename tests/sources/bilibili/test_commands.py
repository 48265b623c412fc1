"""One test per row of the command tables (web and open platform), through
the source's frame mapping (real framing, real brotli/zlib bodies), plus
property tests that malformed JSON and wrong shapes never escape."""

from __future__ import annotations

import json

import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ishowtts_live.config.schema import BilibiliConfig
from ishowtts_live.events import ChatEvent, ModerationEvent
from ishowtts_live.sources.bilibili import commands, open_commands
from ishowtts_live.sources.bilibili.source import BilibiliSource
from tests.sources.bilibili import samples, wire

ALICE, BOB = 4242, 5151


def source() -> BilibiliSource:
    src = BilibiliSource(BilibiliConfig(room=samples.REAL_ROOM, gift_combo_s=0.0), room=samples.REAL_ROOM)
    src.ctx.anchor_uid = samples.ANCHOR_UID
    src.ctx.room_ids = frozenset({samples.REAL_ROOM, samples.SHORT_ROOM})
    return src


def web(*cmds: dict, encoding: str = "brotli") -> list:
    src = source()
    items, ended = src.items_from_frame(wire.message_frame(list(cmds), encoding), commands.HANDLERS, commands.IGNORED)
    assert ended == "" and src.stats.parse_errors == 0
    return items


def opened(*cmds: dict) -> tuple[list, str]:
    src = source()
    return src.items_from_frame(wire.message_frame(list(cmds), "zlib"), open_commands.HANDLERS, open_commands.IGNORED,
                                open_commands.END)  # fmt: skip


def test_tables_cover_the_issue_commands():
    """Every command the issue names has a handler (a new row needs a test here)."""
    assert set(commands.HANDLERS) == {"DANMU_MSG", "SUPER_CHAT_MESSAGE", "SUPER_CHAT_MESSAGE_DELETE", "SEND_GIFT",
                                      "SEND_GIFT_V2", "GUARD_BUY", "ROOM_BLOCK_MSG"}  # fmt: skip
    assert {k.removeprefix(open_commands.PREFIX) for k in open_commands.HANDLERS} == {
        "DM", "SUPER_CHAT", "SUPER_CHAT_DEL", "SEND_GIFT", "GUARD"}


# ------------------------------------------------------------------ web


def test_danmu_msg():
    """DANMU_MSG: text, uid, name, own-room medal level, guard level, moderator, id_str as msg id."""
    (e,) = web(samples.danmu(ALICE, "Alice", "晚上好", medal=(21, "果咩吖"), guard=2, admin=1, id_str="x1"))
    assert isinstance(e, ChatEvent)
    assert (e.platform, e.channel, e.kind, e.text, e.user_id, e.user_name, e.msg_id) == (
        "bilibili", str(samples.REAL_ROOM), "chat", "晚上好", str(ALICE), "Alice", "x1")
    assert (e.flags.guard_level, e.flags.medal_level, e.flags.moderator, e.flags.broadcaster) == (2, 21, True, False)


def test_danmu_msg_suffixed_variant():
    """DANMU_MSG:4:0:2:2:2:0 is read like DANMU_MSG."""
    (e,) = web(samples.danmu(BOB, "Bob", "变体", suffix=":4:0:2:2:2:0"), encoding="zlib")
    assert (e.text, e.user_id) == ("变体", str(BOB))


def test_danmu_msg_guest_and_emoticon_only():
    """A masked guest has no user id (its crc32 kept); a sticker danmaku is marked emoticon-only."""
    guest, sticker = web(samples.danmu(0, "张**", "嗨"),
                         samples.danmu(ALICE, "a", "赞", dm_type=1, sticker={"url": "http://s/x.png"}, ts_ms=7))  # fmt: skip
    assert (guest.user_id, guest.user_name, guest.extra["uid_crc32"]) == ("", "张**", "0bc8acd0")
    assert sticker.extra == {"emoticon_only": True, "emoticon_url": "http://s/x.png"}


def test_super_chat_message():
    """SUPER_CHAT_MESSAGE: a superchat in CNY with the sc id as msg id."""
    (e,) = web(samples.super_chat(77, ALICE, "Alice", "加油", 50))
    assert (e.kind, e.amount, e.currency, e.amount_cents, e.msg_id, e.text) == ("superchat", 50.0, "CNY", 5000, "sc:77", "加油")
    assert e.extra["duration_s"] == 60


def test_super_chat_message_delete():
    """SUPER_CHAT_MESSAGE_DELETE: one delete_superchat moderation event per id."""
    events = web(samples.super_chat_delete(77, 78))
    assert all(isinstance(e, ModerationEvent) for e in events)
    assert [(e.action, e.target_msg_id) for e in events] == [("delete_superchat", "sc:77"), ("delete_superchat", "sc:78")]


def test_send_gift():
    """SEND_GIFT: gold coins become CNY (1000 = 1 yuan); silver gifts are free."""
    gold, silver = web(samples.gift(BOB, "Bob", "小花花", 10, price=100, tid="g"),
                       samples.gift(BOB, "Bob", "辣条", 2, price=100, coin_type="silver", tid="s"))  # fmt: skip
    assert (gold.kind, gold.text, gold.amount_cents, gold.currency, gold.msg_id) == ("gift", "投喂了10个小花花", 100, "CNY", "gift:g")
    assert (silver.amount_cents, silver.currency, silver.paid) == (0, "", False)


def test_send_gift_v2_several_gifts_gold_silver_and_a_blind_box():
    """SEND_GIFT_V2: one gift per gift_list item, read like SEND_GIFT (CNY, tid, medal, guard, blind box name)."""
    broadcast = samples.gift_v2(BOB, "Bob", [
        samples.v2_item("小花花", 10, price=100, tid="v2-gold"),
        samples.v2_item("辣条", 5, price=100, coin_type="silver", tid="v2-silver"),
        samples.v2_item("浪漫城堡", 1, price=1_314_000, total_coin=150_000, gift_id=32132, tid="v2-blind"),
    ], guard=3, medal_level=21, blind=("心动盲盒", 150_000))  # fmt: skip
    gold, silver, blind = web(broadcast)
    assert (gold.kind, gold.text, gold.amount_cents, gold.currency, gold.msg_id) == (
        "gift", "投喂了10个小花花", 100, "CNY", "gift:v2-gold")
    assert (gold.user_id, gold.user_name, gold.flags.guard_level, gold.flags.medal_level) == (str(BOB), "Bob", 3, 21)
    assert (silver.text, silver.amount_cents, silver.currency, silver.paid) == ("投喂了5个辣条", 0, "", False)
    # named as the gift it gave; the amount is what the box cost
    assert (blind.text, blind.amount_cents, blind.extra["blind_box"]) == ("投喂了1个浪漫城堡", 15000, "心动盲盒")


def test_send_gift_v2_matches_send_gift():
    """The same gift as SEND_GIFT and as SEND_GIFT_V2 gives the same event (text, money, ids, flags)."""
    v1 = samples.gift(ALICE, "Alice", "小心心", 3, price=500, tid="same")
    v2 = samples.gift_v2(ALICE, "Alice", [samples.v2_item("小心心", 3, price=500, tid="same")])
    (old,), (new,) = web(v1), web(v2)
    assert (old.text, old.amount_cents, old.msg_id, old.user_id, old.kind) == (
        new.text, new.amount_cents, new.msg_id, new.user_id, new.kind)


def test_both_forms_of_one_gift_are_read_once():
    """A room sent SEND_GIFT and SEND_GIFT_V2 for one gift (same tid) thanks it once, with combos on too."""
    src = BilibiliSource(BilibiliConfig(room=samples.REAL_ROOM, gift_combo_s=5.0), room=samples.REAL_ROOM)
    frame = wire.message_frame([samples.gift(ALICE, "Alice", "小心心", 3, tid="t-1"),
                                samples.gift_v2(ALICE, "Alice", [samples.v2_item("小心心", 3, tid="t-1")])])  # fmt: skip
    items, _ = src.items_from_frame(frame, commands.HANDLERS, commands.IGNORED)
    (held,) = src.gifts.flush()
    assert items == [] and held.extra["num"] == 3 and src.stats.drift.dropped == {"duplicate": 1}


def test_send_gift_v2_truncated_or_garbage_pb_is_counted_and_warned():
    """A SEND_GIFT_V2 whose pb is truncated, not base64 or not protobuf is one unparsable SEND_GIFT_V2 each,
    warned with a sample; the good broadcast beside them is still read."""
    good = samples.gift_v2(BOB, "Bob", [samples.v2_item("小花花", 1, tid="ok")])
    truncated = dict(good, data={"pb": good["data"]["pb"][: len(good["data"]["pb"]) // 2]})
    bad = [truncated, samples.gift_v2(BOB, "Bob", [], pb="!!not base64!!"),
           samples.gift_v2(BOB, "Bob", [], pb="////////"), {"cmd": "SEND_GIFT_V2", "data": {"pb": 12}}]
    src = source()
    with structlog.testing.capture_logs() as logs:
        items, _ = src.items_from_frame(wire.message_frame([*bad, good]), commands.HANDLERS, commands.IGNORED)
    assert [e.msg_id for e in items] == ["gift:ok"]
    assert src.stats.drift.unparsable == {"SEND_GIFT_V2": 4} and src.stats.parse_errors == 4
    (warning,) = [e for e in logs if e["log_level"] == "warning"]  # once per kind, the rest at debug
    assert warning["kind"] == "SEND_GIFT_V2" and "SEND_GIFT_V2" in warning["sample"]
    assert src.stats.last_minute["unparsable_kinds"] == {"SEND_GIFT_V2": 4}


def test_guard_buy():
    """GUARD_BUY: a membership with its guard level and price."""
    (e,) = web(samples.guard_buy(ALICE, "Alice", level=1, num=1, price=19998000))
    assert (e.kind, e.text, e.amount_cents, e.flags.guard_level, e.user_name) == ("member", "开通了总督", 1999800, 1, "Alice")


def test_room_block_msg():
    """ROOM_BLOCK_MSG: a ban_user moderation event for that viewer."""
    (e,) = web(samples.room_block(BOB, "Bob"))
    assert isinstance(e, ModerationEvent)
    assert (e.action, e.target_user_id, e.target_user_name) == ("ban_user", str(BOB), "Bob")


def test_unknown_and_ignored_commands_are_counted():
    """An unknown command is counted by name and warned once (with a sample); a known-noise one is counted as
    ignored, silently; neither yields events."""
    src = source()
    frame = wire.message_frame([{"cmd": "SEND_GIFT_V3", "data": {"x": 1}}, {"cmd": "SEND_GIFT_V3"},
                                samples.watched()])  # fmt: skip
    with structlog.testing.capture_logs() as logs:
        items, _ = src.items_from_frame(frame, commands.HANDLERS, commands.IGNORED)
    assert items == [] and src.stats.drift.unknown == {"SEND_GIFT_V3": 2} and src.protocol.ignored_commands == 1
    (warning,) = [e for e in logs if e["log_level"] == "warning"]
    assert warning["kind"] == "SEND_GIFT_V3" and warning["source"] == src.name and '"x": 1' in warning["sample"]
    assert src.stats.last_minute == {"read": 0, "dropped": 0, "unknown": 2, "unparsable": 0,
                                     "unknown_kinds": {"SEND_GIFT_V3": 2}, "unparsable_kinds": {}}  # fmt: skip


# ------------------------------------------------------------------ open platform


def test_open_dm():
    """LIVE_OPEN_PLATFORM_DM: real name, open_id as user id, msg_id, guard and medal levels."""
    (e,), ended = opened(samples.open_dm("oid-1", "Alice", "你好", "m-1", guard=3, medal=12, admin=True))
    assert ended == ""
    assert (e.text, e.user_id, e.user_name, e.msg_id) == ("你好", "oid-1", "Alice", "m-1")
    assert (e.flags.guard_level, e.flags.medal_level, e.flags.moderator) == (3, 12, True)


def test_open_super_chat():
    """LIVE_OPEN_PLATFORM_SUPER_CHAT: CNY amount, message_id as the sc id."""
    (e,), _ = opened(samples.open_super_chat("oid-1", "Alice", "冲", 9001, 30))
    assert (e.kind, e.amount, e.currency, e.msg_id, e.extra["duration_s"]) == ("superchat", 30.0, "CNY", "sc:9001", 60)


def test_open_super_chat_del():
    """LIVE_OPEN_PLATFORM_SUPER_CHAT_DEL: delete_superchat for each message id."""
    events, _ = opened(samples.open_super_chat_del(9001, 9002))
    assert [(e.action, e.target_msg_id) for e in events] == [("delete_superchat", "sc:9001"), ("delete_superchat", "sc:9002")]


def test_open_send_gift():
    """LIVE_OPEN_PLATFORM_SEND_GIFT: paid gifts in CNY, free ones at zero."""
    (paid, free), _ = opened(samples.open_gift("oid-2", "Bob", "小心心", 3, 500, "g-1"),
                             samples.open_gift("oid-2", "Bob", "辣条", 1, 100, "g-2", paid=False))  # fmt: skip
    assert (paid.text, paid.amount_cents, paid.currency, paid.msg_id) == ("投喂了3个小心心", 150, "CNY", "g-1")
    assert (free.amount_cents, free.paid) == (0, False)


def test_open_send_gift_blind_box_and_union_id():
    """An open-platform blind-box gift (blind_gift object, union_id, combo_info present) is read, marked as a box."""
    cmd = samples.open_gift("oid-2", "Bob", "浪漫城堡", 1, 1_314_000, "g-blind")
    cmd["data"].update(union_id="U-1", combo_gift=False, combo_info={"combo_base_num": 1, "combo_count": 1,
                       "combo_id": "c", "combo_timeout": 3}, blind_gift={"blind_gift_id": 32251, "status": True})  # fmt: skip
    (gift,), _ = opened(cmd)
    assert (gift.text, gift.user_id, gift.extra["blind_box_id"]) == ("投喂了1个浪漫城堡", "oid-2", 32251)


def test_open_guard():
    """LIVE_OPEN_PLATFORM_GUARD: a membership with months and price."""
    (e,), _ = opened(samples.open_guard("oid-3", "Carol", 3, 2, 198000, "gd-1"))
    assert (e.kind, e.text, e.amount_cents, e.user_name, e.msg_id) == ("member", "开通了2个月舰长", 39600, "Carol", "gd-1")


def test_open_interaction_end():
    """LIVE_OPEN_PLATFORM_INTERACTION_END asks the source to start a new session."""
    items, ended = opened(samples.open_end("game-1"))
    assert items == [] and "INTERACTION_END" in ended


# ------------------------------------------------------------------ properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=30,
)
command_names = st.sampled_from([*commands.HANDLERS, *open_commands.HANDLERS, "DANMU_MSG:4:0:2", "X"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_names, json_values, json_values)
def test_wrong_shapes_never_escape(cmd, data, info):
    """A known command with arbitrary field shapes yields events or one parse error, never an exception."""
    src = source()
    body = json.dumps({"cmd": cmd, "data": data, "info": info}).encode()
    for table, ignored in ((commands.HANDLERS, commands.IGNORED), (open_commands.HANDLERS, open_commands.IGNORED)):
        items, _ = src.items_from_frame(wire.packet(5, body, ver=0), table, ignored)
        assert all(isinstance(i, (ChatEvent, ModerationEvent)) for i in items)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_malformed_json_and_invalid_utf8_are_parse_errors(body):
    """Any op-5 body that is not a JSON object counts one parse error and yields nothing."""
    src = source()
    try:
        ok = isinstance(json.loads(body), dict)
    except ValueError:
        ok = False
    items, _ = src.items_from_frame(wire.packet(5, body, ver=0), commands.HANDLERS, commands.IGNORED)
    if not ok:
        assert items == [] and src.stats.parse_errors == 1
