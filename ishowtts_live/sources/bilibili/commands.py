"""Web danmaku commands (op 5 JSON) → ChatEvent / ModerationEvent.

Layouts follow the captured samples in bilibili-API-collect's
``docs/live/message_stream.md`` and blivedm's models. A command whose shape
is wrong raises (KeyError, IndexError, TypeError, ValueError); the caller
counts that as a parse error for that one packet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import msgspec

from ishowtts_live.events import ChatEvent, ModerationEvent, SourceItem, UserFlags
from ishowtts_live.sources.bilibili import pb
from ishowtts_live.sources.bilibili.gifts import gift_text

PLATFORM = "bilibili"
GUARD_NAMES = {1: "总督", 2: "提督", 3: "舰长"}

# Commands seen in every busy room that carry nothing to read aloud (or
# duplicate one we read: COMBO_SEND sums SEND_GIFT, USER_TOAST_MSG repeats
# GUARD_BUY, SUPER_CHAT_MESSAGE_JPN repeats SUPER_CHAT_MESSAGE). They are
# counted as ignored, not as unknown.
# An unknown command is warned about (once per name), so this list also
# holds the noise blivedm's maintainers list as seen in busy rooms up to its
# 2026-08 release (its ``logged_unknown_cmds``).
IGNORED = frozenset(
    """COMBO_SEND DANMU_MSG_MIRROR DM_INTERACTION ENTRY_EFFECT ENTRY_EFFECT_MUST_RECEIVE GUARD_HONOR_THOUSAND
    HOT_RANK_CHANGED HOT_RANK_CHANGED_V2 INTERACT_WORD INTERACT_WORD_V2 LIKE_INFO_V3_CLICK LIKE_INFO_V3_UPDATE LIVE
    LIVE_INTERACTIVE_GAME LOG_IN_NOTICE NOTICE_MSG ONLINE_RANK_COUNT ONLINE_RANK_TOP3 ONLINE_RANK_V2 ONLINE_RANK_V3
    PK_BATTLE_END PK_BATTLE_FINAL_PROCESS PK_BATTLE_PROCESS PK_BATTLE_PROCESS_NEW PK_BATTLE_SETTLE
    PK_BATTLE_SETTLE_USER PK_BATTLE_SETTLE_V2 POPULAR_RANK_CHANGED POPULARITY_RED_POCKET_START
    POPULARITY_RED_POCKET_V2_WINNER_LIST POPULARITY_RED_POCKET_WINNER_LIST PREPARING RANK_CHANGED_V2 ROOM_CHANGE
    ROOM_REAL_TIME_MESSAGE_UPDATE STOP_LIVE_ROOM_LIST SUPER_CHAT_ENTRANCE SUPER_CHAT_MESSAGE_JPN USER_TOAST_MSG
    USER_TOAST_MSG_V2 WATCHED_CHANGE WIDGET_BANNER GIFT_STAR_PROCESS""".split()
)

_EMOT = re.compile(r"\[[^\[\]]{1,20}\]")


def as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) < 2**63:
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip() or default)
        except ValueError:
            return default
    return default


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def json_field(value: Any) -> dict[str, Any]:
    """Fields that hold a JSON object either as an object or as a string."""
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, bytes)) and value:
        try:
            decoded = msgspec.json.decode(value)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def command_name(msg: dict[str, Any]) -> str:
    """``DANMU_MSG:4:0:2:2:2:0`` → ``DANMU_MSG`` (suffixes are opaque)."""
    return as_str(msg.get("cmd")).partition(":")[0]


@dataclass
class RoomContext:
    """What the mapping needs to know about the room (filled by discovery)."""

    channel: str
    room_ids: frozenset[int] = frozenset()
    anchor_uid: int = 0
    stamp: tuple[float, float] = (0.0, 0.0)  # (monotonic, wall) of the frame being mapped
    guests_seen: int = 0  # danmaku with uid 0 (not logged in, or a masked viewer)

    def chat(self, **kw: Any) -> ChatEvent:
        mono, wall = self.stamp
        return ChatEvent(platform=PLATFORM, channel=self.channel, received_mono=mono, received_wall=wall, clock=mono, **kw)

    def moderation(self, **kw: Any) -> ModerationEvent:
        mono, wall = self.stamp
        return ModerationEvent(platform=PLATFORM, channel=self.channel, received_mono=mono, received_wall=wall, **kw)

    def own_medal(self, medal_room: int, medal_anchor: int) -> bool:
        return bool((medal_anchor and medal_anchor == self.anchor_uid) or (medal_room and medal_room in self.room_ids))


Handler = Callable[[dict[str, Any], RoomContext], list[SourceItem]]


def danmaku(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    info = msg["info"]
    meta, text, user = info[0], info[1], info[2]
    if not isinstance(text, str) or not isinstance(meta, list) or not isinstance(user, list):
        raise TypeError("info[0..2] has the wrong types")
    uid, name = as_int(user[0]), as_str(user[1])
    medal = info[3] if len(info) > 3 and isinstance(info[3], list) else []
    medal_level = 0
    if medal:
        medal_room = as_int(medal[3]) if len(medal) > 3 else 0
        medal_anchor = as_int(medal[12]) if len(medal) > 12 else 0
        if ctx.own_medal(medal_room, medal_anchor):
            medal_level = as_int(medal[0])
    mode_info = meta[15] if len(meta) > 15 and isinstance(meta[15], dict) else {}
    extra_in = json_field(mode_info.get("extra"))
    dm_type = as_int(meta[12]) if len(meta) > 12 else as_int(extra_in.get("dm_type"))
    crc = as_str(meta[7]) if len(meta) > 7 else ""
    msg_id = as_str(extra_in.get("id_str")) or f"dm:{uid or crc}:{as_int(meta[4]) if len(meta) > 4 else 0}:{as_int(meta[5]) if len(meta) > 5 else 0}"
    extra: dict[str, Any] = {}
    emots = extra_in.get("emots")
    if dm_type == 1:
        extra["emoticon_only"] = True
        sticker = json_field(meta[13]) if len(meta) > 13 else {}
        if sticker.get("url"):
            extra["emoticon_url"] = as_str(sticker["url"])
    elif isinstance(emots, dict) and emots and not _EMOT.sub(lambda m: "" if m.group(0) in emots else m.group(0), text).strip():
        extra["emoticon_only"] = True
    if extra_in.get("reply_uname"):
        extra["reply_to"] = as_str(extra_in["reply_uname"])
    if medal:
        extra["medal"] = {"name": as_str(medal[1]) if len(medal) > 1 else "", "level": as_int(medal[0])}
    if uid == 0:
        ctx.guests_seen += 1
        if crc:
            extra["uid_crc32"] = crc
    flags = UserFlags(
        moderator=len(user) > 2 and as_int(user[2]) == 1,
        broadcaster=bool(uid) and uid == ctx.anchor_uid,
        guard_level=as_int(info[7]) if len(info) > 7 else 0,
        medal_level=medal_level,
    )
    return [ctx.chat(msg_id=msg_id, text=text, user_id=str(uid) if uid else "", user_name=name, flags=flags, extra=extra)]


def super_chat(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    data = msg["data"]
    user = data.get("user_info") or {}
    medal = data.get("medal_info") or {}
    price = float(data["price"])  # yuan
    if not 0 <= price < 1e7:
        raise ValueError(f"bad price {data['price']!r}")
    uid = as_int(data.get("uid"))
    flags = UserFlags(
        moderator=as_int(user.get("manager")) == 1,
        broadcaster=bool(uid) and uid == ctx.anchor_uid,
        guard_level=as_int(user.get("guard_level")),
        medal_level=as_int(medal.get("medal_level"))
        if ctx.own_medal(as_int(medal.get("anchor_roomid")), as_int(medal.get("target_id")))
        else 0,
    )
    return [
        ctx.chat(
            msg_id=f"sc:{as_int(data['id'])}",
            text=as_str(data["message"]),
            user_id=str(uid) if uid else "",
            user_name=as_str(user.get("uname")),
            kind="superchat",
            amount=price,
            currency="CNY",
            amount_cents=round(price * 100),
            flags=flags,
            extra={"duration_s": as_int(data.get("time"))},
        )
    ]


def superchat_deletions(data: dict[str, Any], key: str, ctx: RoomContext) -> list[SourceItem]:
    """One ``delete_superchat`` per id in ``data[key]`` (both protocols send a list)."""
    ids = data[key]
    if not isinstance(ids, list):
        raise TypeError(f"data.{key} is not a list")
    return [ctx.moderation(action="delete_superchat", target_msg_id=f"sc:{as_int(i)}") for i in ids]


def super_chat_delete(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    return superchat_deletions(msg["data"], "ids", ctx)


def send_gift(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    return [gift_event(msg["data"], ctx)]


def send_gift_v2(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    """The protobuf gift broadcast: one gift event per ``gift_list`` item, read like SEND_GIFT."""
    gifts = pb.gift_commands(msg["data"]["pb"])
    events, tids = [], set()
    for data in gifts:
        if data["tid"] in tids:  # two gifts of one broadcast are two gifts, even if the server repeats a tid
            data["tid"] = f"{data['tid']}#{len(tids)}"
        tids.add(data["tid"])
        events.append(gift_event(data, ctx))
    return events


def gift_event(data: dict[str, Any], ctx: RoomContext) -> ChatEvent:
    """One gift from a ``SEND_GIFT`` ``data`` (or a SEND_GIFT_V2 item in that shape)."""
    uid, num = as_int(data.get("uid")), max(1, as_int(data.get("num"), 1))
    # a blind box (盲盒) is named as the gift it gave; total_coin is what the box cost
    name, action = as_str(data["giftName"]), as_str(data.get("action")) or "投喂"
    if not name:
        raise ValueError("gift without a name")
    gold = as_str(data.get("coin_type")) == "gold"
    coins = as_int(data.get("total_coin")) or as_int(data.get("price")) * num
    cents = coins // 10 if gold else 0  # 1000 gold coins = 1 CNY; silver gifts are free
    medal = data.get("medal_info") or {}
    flags = UserFlags(
        broadcaster=bool(uid) and uid == ctx.anchor_uid,
        guard_level=as_int(data.get("guard_level")),
        medal_level=as_int(medal.get("medal_level"))
        if ctx.own_medal(as_int(medal.get("anchor_roomid")), as_int(medal.get("target_id")))
        else 0,
    )
    tid = as_str(data.get("tid")) or as_str(data.get("rnd")) or f"{uid}:{as_int(data.get('timestamp'))}"
    extra = {"gift_id": as_int(data.get("giftId")), "gift_name": name, "num": num, "action": action,
             "coin_type": as_str(data.get("coin_type"))}  # fmt: skip
    blind = data.get("blind_gift")
    if isinstance(blind, dict) and as_str(blind.get("original_gift_name")):
        extra["blind_box"] = as_str(blind["original_gift_name"])
    return ctx.chat(
        msg_id=f"gift:{tid}",
        text=gift_text(action, name, num),
        user_id=str(uid) if uid else "",
        user_name=as_str(data.get("uname")),
        kind="gift",
        amount=cents / 100,
        currency="CNY" if gold else "",
        amount_cents=cents,
        flags=flags,
        extra=extra,
    )


def guard_buy(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    data = msg["data"]
    uid, level, num = as_int(data["uid"]), as_int(data.get("guard_level")), max(1, as_int(data.get("num"), 1))
    cents = as_int(data.get("price")) * num // 10  # price: gold coins per month, 1000 = 1 CNY
    role = as_str(data.get("gift_name")) or GUARD_NAMES.get(level, "大航海")
    text = f"开通了{role}" if num == 1 else f"开通了{num}个月{role}"
    return [
        ctx.chat(
            msg_id=f"guard:{uid}:{as_int(data.get('start_time'))}:{level}",
            text=text,
            user_id=str(uid) if uid else "",
            user_name=as_str(data.get("username")),
            kind="member",
            amount=cents / 100,
            currency="CNY",
            amount_cents=cents,
            flags=UserFlags(guard_level=level, broadcaster=bool(uid) and uid == ctx.anchor_uid),
            extra={"guard_level": level, "months": num},
        )
    ]


def room_block(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
    uid = as_int(data.get("uid")) or as_int(msg.get("uid"))
    name = as_str(data.get("uname")) or as_str(msg.get("uname"))
    if not uid and not name:
        raise ValueError("ROOM_BLOCK_MSG names nobody")
    return [ctx.moderation(action="ban_user", target_user_id=str(uid) if uid else "", target_user_name=name)]


HANDLERS: dict[str, Handler] = {
    "DANMU_MSG": danmaku,
    "SUPER_CHAT_MESSAGE": super_chat,
    "SUPER_CHAT_MESSAGE_DELETE": super_chat_delete,
    "SEND_GIFT": send_gift,
    "SEND_GIFT_V2": send_gift_v2,
    "GUARD_BUY": guard_buy,
    "ROOM_BLOCK_MSG": room_block,
}
