"""Open live platform commands (``LIVE_OPEN_PLATFORM_*``) → events.

Field names follow the open platform's documentation as mirrored in
blivedm's ``models/open_live.py``. Viewers are identified by ``open_id``
(stable per app) and their names are never masked.
"""

from __future__ import annotations

from typing import Any

from ishowtts_live.events import SourceItem, UserFlags
from ishowtts_live.sources.bilibili.commands import (
    GUARD_NAMES,
    Handler,
    RoomContext,
    as_int,
    as_str,
    superchat_deletions,
)
from ishowtts_live.sources.bilibili.gifts import gift_text

PREFIX = "LIVE_OPEN_PLATFORM_"
END = PREFIX + "INTERACTION_END"  # the server closed the project: start again
IGNORED = frozenset(PREFIX + s for s in ("LIKE", "LIVE_ROOM_ENTER", "LIVE_START", "LIVE_END", "DM_MIRROR"))


def _user(data: dict[str, Any]) -> tuple[str, str]:
    # Older payloads carried a numeric uid; current ones only open_id.
    uid = as_str(data.get("open_id")) or (str(as_int(data.get("uid"))) if as_int(data.get("uid")) else "")
    return uid, as_str(data.get("uname"))


def _flags(data: dict[str, Any]) -> UserFlags:
    return UserFlags(
        moderator=bool(data.get("is_admin")),
        guard_level=as_int(data.get("guard_level")),
        medal_level=as_int(data.get("fans_medal_level")),  # the medal of this room, worn or not
    )


def danmaku(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    data = msg["data"]
    user_id, name = _user(data)
    text = data["msg"]
    if not isinstance(text, str):
        raise TypeError("data.msg is not text")
    extra: dict[str, Any] = {}
    if as_int(data.get("dm_type")) == 1:
        extra["emoticon_only"] = True
        if data.get("emoji_img_url"):
            extra["emoticon_url"] = as_str(data["emoji_img_url"])
    if data.get("reply_uname"):
        extra["reply_to"] = as_str(data["reply_uname"])
    msg_id = as_str(data.get("msg_id")) or f"dm:{user_id}:{as_int(data.get('timestamp'))}:{text}"
    return [ctx.chat(msg_id=msg_id, text=text, user_id=user_id, user_name=name, flags=_flags(data), extra=extra)]


def super_chat(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    data = msg["data"]
    user_id, name = _user(data)
    rmb = float(data["rmb"])  # yuan
    if not 0 <= rmb < 1e7:
        raise ValueError(f"bad rmb {data['rmb']!r}")
    return [
        ctx.chat(
            # message_id is what _SUPER_CHAT_DEL names, so it is the id here too
            msg_id=f"sc:{as_int(data['message_id'])}",
            text=as_str(data["message"]),
            user_id=user_id,
            user_name=name,
            kind="superchat",
            amount=rmb,
            currency="CNY",
            amount_cents=round(rmb * 100),
            flags=_flags(data),
            extra={"duration_s": max(0, as_int(data.get("end_time")) - as_int(data.get("start_time")))},
        )
    ]


def super_chat_delete(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    return superchat_deletions(msg["data"], "message_ids", ctx)


def send_gift(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    data = msg["data"]
    user_id, name = _user(data)
    num = max(1, as_int(data.get("gift_num"), 1))
    gift = as_str(data["gift_name"])
    paid = bool(data.get("paid"))
    # price / r_price: per item, 1000 = 1 CNY; r_price is what was really paid
    unit = as_int(data.get("r_price")) or as_int(data.get("price"))
    cents = unit * num // 10 if paid else 0
    extra = {"gift_id": as_int(data.get("gift_id")), "gift_name": gift, "num": num, "action": "投喂", "paid": paid}
    # blind boxes: gift_name and r_price are those of the gift it gave (blivedm's 2026-08-12 fix was to
    # its own parsing of this object; it is only read as a marker here)
    blind = data.get("blind_gift")
    if isinstance(blind, dict) and blind.get("status"):
        extra["blind_box_id"] = as_int(blind.get("blind_gift_id"))
    msg_id = as_str(data.get("msg_id")) or f"gift:{user_id}:{as_int(data.get('timestamp'))}:{extra['gift_id']}"
    return [
        ctx.chat(
            msg_id=msg_id,
            text=gift_text("投喂", gift, num),
            user_id=user_id,
            user_name=name,
            kind="gift",
            amount=cents / 100,
            currency="CNY" if paid else "",
            amount_cents=cents,
            flags=_flags(data),
            extra=extra,
        )
    ]


def guard(msg: dict[str, Any], ctx: RoomContext) -> list[SourceItem]:
    data = msg["data"]
    user_id, name = _user(data.get("user_info") or {})
    level, num = as_int(data.get("guard_level")), max(1, as_int(data.get("guard_num"), 1))
    unit = as_str(data.get("guard_unit")) or "月"
    cents = as_int(data.get("price")) * num // 10  # gold coins per unit, 1000 = 1 CNY
    role = GUARD_NAMES.get(level, "大航海")
    if unit == "月":
        text = f"开通了{role}" if num == 1 else f"开通了{num}个月{role}"
    else:  # e.g. "*3天": the unit says it all
        text = f"开通了{role}（{unit.lstrip('*')}）"
    msg_id = as_str(data.get("msg_id")) or f"guard:{user_id}:{as_int(data.get('timestamp'))}:{level}"
    return [
        ctx.chat(
            msg_id=msg_id,
            text=text,
            user_id=user_id,
            user_name=name,
            kind="member",
            amount=cents / 100,
            currency="CNY",
            amount_cents=cents,
            flags=UserFlags(guard_level=level, medal_level=as_int(data.get("fans_medal_level"))),
            extra={"guard_level": level, "months": num, "unit": unit},
        )
    ]


HANDLERS: dict[str, Handler] = {
    PREFIX + "DM": danmaku,
    PREFIX + "SUPER_CHAT": super_chat,
    PREFIX + "SUPER_CHAT_DEL": super_chat_delete,
    PREFIX + "SEND_GIFT": send_gift,
    PREFIX + "GUARD": guard,
}
